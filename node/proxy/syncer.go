package proxy

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/minicluster/mini/control/client"
)

// Options configure a Syncer.
type Options struct {
	Config
	Runner Runner
	Logger *log.Logger
	// MinInterval spaces syncs after changes (100ms); FullResync re-applies
	// everything even without changes, in case another program flushed the
	// rules (30s).
	MinInterval, FullResync time.Duration
}

// Syncer keeps the kernel's service rules equal to the API's Services and
// EndpointSlices.
type Syncer struct {
	opts      Options
	services  cache.SharedIndexInformer
	slices    cache.SharedIndexInformer
	changed   chan struct{}
	lastRules []byte
	// Synced is closed after the first successful sync.
	Synced chan struct{}
}

// New returns a syncer over the client's Services and EndpointSlices.
func New(c *client.Client, o Options) *Syncer {
	if o.MinInterval == 0 {
		o.MinInterval = 100 * time.Millisecond
	}
	if o.FullResync == 0 {
		o.FullResync = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = log.Default()
	}
	if o.Runner == nil {
		o.Runner = Exec{}
	}
	s := &Syncer{opts: o, changed: make(chan struct{}, 1), Synced: make(chan struct{})}
	s.services = c.NewInformer(&corev1.Service{}, &corev1.ServiceList{}, "", 0, nil)
	s.slices = c.NewInformer(&discoveryv1.EndpointSlice{}, &discoveryv1.EndpointSliceList{}, "", 0, nil)
	poke := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.poke() },
		UpdateFunc: func(any, any) { s.poke() },
		DeleteFunc: func(any) { s.poke() },
	}
	s.services.AddEventHandler(poke)
	s.slices.AddEventHandler(poke)
	return s
}

func (s *Syncer) poke() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Run syncs until ctx ends.
func (s *Syncer) Run(ctx context.Context) error {
	go s.services.Run(ctx.Done())
	go s.slices.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), s.services.HasSynced, s.slices.HasSynced) {
		return fmt.Errorf("service proxy: waiting for services and endpoint slices: %w", ctx.Err())
	}
	full := time.NewTicker(s.opts.FullResync)
	defer full.Stop()
	synced := false
	for {
		if err := s.sync(ctx); err != nil {
			s.opts.Logger.Printf("service proxy: %v", err)
			// Retry soon: the kernel state is unknown.
			s.poke()
		} else if !synced {
			synced = true
			close(s.Synced)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.changed:
		case <-full.C:
			s.lastRules = nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.opts.MinInterval):
		}
	}
}

func (s *Syncer) sync(ctx context.Context) error {
	ports := Ports(listOf[*corev1.Service](s.services), listOf[*discoveryv1.EndpointSlice](s.slices))
	existing, err := s.opts.Runner.Chains(ctx, "nat")
	if err != nil {
		return err
	}
	rules := Build(s.opts.Config, ports, existing)
	if string(rules) == string(s.lastRules) && hasChain(existing, ChainServices) {
		return nil
	}
	if err := s.opts.Runner.Restore(ctx, rules); err != nil {
		return err
	}
	for _, j := range Jumps {
		if err := s.opts.Runner.EnsureJump(ctx, j.Table, j.Chain, j.Target); err != nil {
			return err
		}
	}
	s.lastRules = rules
	return nil
}

func hasChain(chains []string, c string) bool {
	for _, x := range chains {
		if x == c {
			return true
		}
	}
	return false
}

func listOf[T any](inf cache.SharedIndexInformer) []T {
	var out []T
	for _, o := range inf.GetStore().List() {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// Ports turns Services and their EndpointSlices into service ports with
// their ready endpoints.
func Ports(services []*corev1.Service, slices []*discoveryv1.EndpointSlice) []ServicePort {
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, sl := range slices {
		name := sl.Labels[discoveryv1.LabelServiceName]
		if name == "" || sl.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		bySvc[sl.Namespace+"/"+name] = append(bySvc[sl.Namespace+"/"+name], sl)
	}
	var out []ServicePort
	for _, svc := range services {
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		affinity := int32(0)
		if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
			affinity = 10800
			if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
				affinity = *c.ClientIP.TimeoutSeconds
			}
		}
		for _, p := range svc.Spec.Ports {
			sp := ServicePort{
				Namespace: svc.Namespace, Name: svc.Name, PortName: p.Name, ClusterIP: svc.Spec.ClusterIP,
				Port: p.Port, NodePort: p.NodePort, Protocol: strings.ToLower(string(p.Protocol)), AffinitySeconds: affinity,
			}
			if sp.Protocol == "" {
				sp.Protocol = "tcp"
			}
			seen := map[Endpoint]bool{}
			for _, sl := range bySvc[svc.Namespace+"/"+svc.Name] {
				port, ok := slicePort(sl, p)
				if !ok {
					continue
				}
				for _, ep := range sl.Endpoints {
					if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
						continue
					}
					for _, addr := range ep.Addresses {
						e := Endpoint{IP: addr, Port: port}
						if !seen[e] {
							seen[e] = true
							sp.Endpoints = append(sp.Endpoints, e)
						}
					}
				}
			}
			out = append(out, sp)
		}
	}
	return out
}

// slicePort finds the slice's port for a service port (by name and
// protocol, as kube-proxy matches them).
func slicePort(sl *discoveryv1.EndpointSlice, p corev1.ServicePort) (int32, bool) {
	for _, sp := range sl.Ports {
		name := ""
		if sp.Name != nil {
			name = *sp.Name
		}
		proto := corev1.ProtocolTCP
		if sp.Protocol != nil {
			proto = *sp.Protocol
		}
		if name == p.Name && proto == p.Protocol && sp.Port != nil {
			return *sp.Port, true
		}
	}
	return 0, false
}
