package controllers

import (
	"context"
	"fmt"
	"io"
	"log"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/minicluster/mini/control/client"
)

// DefaultPodEvictionTimeout is Options.PodEvictionTimeout's default.
const DefaultPodEvictionTimeout = 5 * time.Second

// DefaultNodeGracePeriod is how long a node that has no Lease (or one
// without a duration) may go without a status heartbeat before it is lost.
const DefaultNodeGracePeriod = 10 * time.Second

// Options tune the controllers. Zero values take the defaults in parentheses.
type Options struct {
	Clock  clock.WithTicker // (real clock)
	Logger *log.Logger      // (discard)
	// NodeGracePeriod is how old a node's Lease may get before the node is
	// marked Ready=Unknown and tainted (the duration the Lease declares,
	// 5s for mini's nodes; DefaultNodeGracePeriod for a node without one).
	NodeGracePeriod time.Duration
	// PodEvictionTimeout is how long pods stay on an unreachable node before
	// they are evicted and recreated elsewhere (5s; Kubernetes uses 5m). With
	// mini's 5 s leases, pods of a lost node are evicted about 10 s after
	// its last heartbeat.
	PodEvictionTimeout time.Duration
	// ClusterCIDR is split into per-node pod CIDRs of NodeCIDRMaskSize bits
	// (10.244.0.0/16, /24).
	ClusterCIDR      string
	NodeCIDRMaskSize int
	// APIServerAddress and APIServerPort are where pods reach the API server:
	// the endpoints of the default/kubernetes Service (no such Service when
	// the address is empty; port 6443).
	APIServerAddress string
	APIServerPort    int
	// Workers per controller (4).
	Workers int
	// Only, when non-empty, limits which controllers run (for tests).
	Only []string
	// Pods, when set, receives the manager's pod informer for another
	// component of the process to share (see PodSharer).
	Pods *PodSharer
}

// Manager runs the registered controllers over shared informers. It is a
// control plane component: Run(ctx, client) blocks until ctx ends.
type Manager struct {
	Opts      Options
	Client    *client.Client
	Informers *Informers
	Log       *log.Logger
	Clock     clock.WithTicker

	mu        sync.Mutex
	recorders []*Recorder
}

// controller is one registered controller: setup wires its informer
// handlers and returns the function that runs it.
type controller struct {
	name  string
	setup func(m *Manager) func(ctx context.Context)
}

var registry []controller

// register adds a controller; each controller file calls it from init.
func register(name string, setup func(m *Manager) func(ctx context.Context)) {
	registry = append(registry, controller{name: name, setup: setup})
}

// Names returns the registered controllers, sorted.
func Names() []string {
	var out []string
	for _, c := range registry {
		out = append(out, c.name)
	}
	sort.Strings(out)
	return out
}

// New returns a manager with defaults applied.
func New(o Options) *Manager {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = log.New(io.Discard, "", 0)
	}
	if o.PodEvictionTimeout == 0 {
		o.PodEvictionTimeout = DefaultPodEvictionTimeout
	}
	if o.ClusterCIDR == "" {
		o.ClusterCIDR = "10.244.0.0/16"
	}
	if o.NodeCIDRMaskSize == 0 {
		o.NodeCIDRMaskSize = 24
	}
	if o.APIServerPort == 0 {
		o.APIServerPort = 6443
	}
	if o.Workers == 0 {
		o.Workers = 4
	}
	return &Manager{Opts: o, Log: o.Logger, Clock: o.Clock}
}

// Name implements plane.Component.
func (m *Manager) Name() string { return "controller-manager" }

// Recorder returns an event recorder for a component name.
func (m *Manager) Recorder(component string) *Recorder {
	r := NewRecorder(m.Client, component, m.Clock)
	m.mu.Lock()
	m.recorders = append(m.recorders, r)
	m.mu.Unlock()
	return r
}

// Run starts the informers and every (selected) controller, and blocks until
// ctx ends.
func (m *Manager) Run(ctx context.Context, c *client.Client) error {
	m.Client = c
	m.Informers = NewInformers(c)
	only := map[string]bool{}
	for _, n := range m.Opts.Only {
		only[n] = true
	}
	var runs []func(context.Context)
	for _, ctl := range registry {
		if len(only) > 0 && !only[ctl.name] {
			continue
		}
		runs = append(runs, ctl.setup(m))
	}
	if m.Opts.Pods != nil {
		m.Opts.Pods.share(m.Informers.For(&corev1.Pod{}))
	}
	m.Informers.Start(ctx)
	if !m.Informers.WaitForSync(ctx) {
		return fmt.Errorf("informers did not sync: %w", ctx.Err())
	}
	var wg sync.WaitGroup
	m.mu.Lock()
	for _, r := range m.recorders {
		wg.Add(1)
		go func() { defer wg.Done(); r.Run(ctx) }()
	}
	m.mu.Unlock()
	for _, run := range runs {
		wg.Add(1)
		go func() { defer wg.Done(); run(ctx) }()
	}
	wg.Wait()
	return nil
}
