package podnet

import (
	"context"
	"fmt"
	"log"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/node/proxy"
)

// ExecKernel applies routes with `ip` and rules with the iptables binaries,
// optionally inside a named network namespace (tests).
type ExecKernel struct{ proxy.Exec }

// Routes implements Kernel.
func (k ExecKernel) Routes(ctx context.Context) (string, error) {
	out, err := k.Output(ctx, "ip", "-4", "route", "show")
	return string(out), err
}

// ReplaceRoute implements Kernel.
func (k ExecKernel) ReplaceRoute(ctx context.Context, r Route) error {
	_, err := k.Output(ctx, "ip", "route", "replace", r.CIDR, "via", r.Via)
	return err
}

// DeleteRoute implements Kernel.
func (k ExecKernel) DeleteRoute(ctx context.Context, r Route) error {
	_, err := k.Output(ctx, "ip", "route", "del", r.CIDR, "via", r.Via)
	return err
}

// Syncer keeps routes to other nodes' pod CIDRs and the pod traffic rules
// in place, following Nodes through the API.
type Syncer struct {
	cfg     Config
	k       Kernel
	log     *log.Logger
	nodes   cache.SharedIndexInformer
	changed chan struct{}
}

// New returns a syncer for this node.
func New(c *client.Client, cfg Config, k Kernel, logger *log.Logger) *Syncer {
	if k == nil {
		k = ExecKernel{}
	}
	if logger == nil {
		logger = log.Default()
	}
	s := &Syncer{cfg: cfg, k: k, log: logger, changed: make(chan struct{}, 1)}
	s.nodes = c.NewInformer(&corev1.Node{}, &corev1.NodeList{}, "", 0, nil)
	poke := func(any) {
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
	s.nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: poke, UpdateFunc: func(_, n any) { poke(n) }, DeleteFunc: poke})
	return s
}

// Run syncs until ctx ends; it re-checks every 30 s in case another program
// (the inner dockerd) rewrote the chains.
func (s *Syncer) Run(ctx context.Context) error {
	go s.nodes.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), s.nodes.HasSynced) {
		return fmt.Errorf("pod network: waiting for nodes: %w", ctx.Err())
	}
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		if err := s.sync(ctx); err != nil && ctx.Err() == nil {
			s.log.Printf("pod network: %v", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.changed:
		case <-tick.C:
		}
	}
}

func (s *Syncer) sync(ctx context.Context) error {
	var nodes []*corev1.Node
	for _, o := range s.nodes.GetStore().List() {
		nodes = append(nodes, o.(*corev1.Node))
	}
	if err := ApplyRules(ctx, s.k, s.cfg); err != nil {
		return err
	}
	return SyncRoutes(ctx, s.k, s.cfg.ClusterCIDR, DesiredRoutes(s.cfg.NodeName, nodes))
}
