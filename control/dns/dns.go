// Package dns owns mini's cluster DNS: a control-plane component that serves
// the cluster domain (cluster.local) over UDP and TCP from memory, kept
// current by informers on Services and EndpointSlices, and forwards every
// other name to the upstream resolvers. It also keeps the kube-dns Service
// (10.96.0.10) and its Endpoints and EndpointSlice pointing at itself, so
// that pods reach it through the Service as they reach CoreDNS in
// Kubernetes.
//
// Messages are parsed and built by github.com/miekg/dns.
package dns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/minicluster/mini/control/client"
)

// Options configure the DNS server. Zero values take the defaults in
// parentheses.
type Options struct {
	// Listen is the UDP and TCP address (":53").
	Listen string
	// Advertise is the IP the kube-dns Service's endpoints point at; empty:
	// the kube-dns objects are left alone.
	Advertise string
	// Upstream resolvers, "ip" or "ip:port" (the nameservers of
	// /etc/resolv.conf).
	Upstream []string
	// Domain is the cluster domain ("cluster.local").
	Domain string
	// TTL of cluster answers in seconds (5).
	TTL uint32
	// UpstreamTimeout bounds one upstream exchange (2s).
	UpstreamTimeout time.Duration
	Logger          *log.Logger // (discard)
}

// Server is the cluster DNS component.
type Server struct {
	opts  Options
	zone  *zone
	fwd   *forwarder
	log   *log.Logger
	ready chan struct{}
	addr  string // bound UDP address, set before ready closes

	services, slices cache.SharedIndexInformer
	recompute        sync.Mutex // serializes zone updates per service
}

// Name of the component.
func (s *Server) Name() string { return "dns" }

// New returns a DNS server; Run starts it.
func New(o Options) *Server {
	if o.Listen == "" {
		o.Listen = ":53"
	}
	if o.Domain == "" {
		o.Domain = "cluster.local"
	}
	if o.TTL == 0 {
		o.TTL = 5
	}
	if o.UpstreamTimeout == 0 {
		o.UpstreamTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = log.New(io.Discard, "", 0)
	}
	domain := mdns.Fqdn(strings.ToLower(strings.Trim(o.Domain, ".")))
	return &Server{opts: o, zone: newZone(domain), log: o.Logger, ready: make(chan struct{})}
}

// Ready is closed once the server answers (caches synced, sockets bound).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the bound address (UDP and TCP share it) once Ready.
func (s *Server) Addr() string {
	select {
	case <-s.ready:
		return s.addr
	default:
		return ""
	}
}

// sliceByService indexes EndpointSlices by "namespace/service".
const sliceByService = "service"

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context, c *client.Client) error {
	if s.opts.Advertise != "" && net.ParseIP(s.opts.Advertise) == nil {
		return fmt.Errorf("advertise address %q is not an IP", s.opts.Advertise)
	}
	upstream, err := upstreams(s.opts.Upstream)
	if err != nil {
		return err
	}
	s.services = c.NewInformer(&corev1.Service{}, &corev1.ServiceList{}, "", 0, nil)
	s.slices = c.NewInformer(&discoveryv1.EndpointSlice{}, &discoveryv1.EndpointSliceList{}, "", 0, nil)
	if err := s.slices.AddIndexers(cache.Indexers{sliceByService: sliceServiceKey}); err != nil {
		return err
	}
	kick := make(chan struct{}, 1) // kube-dns objects may need fixing
	if err := s.watch(kick); err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, inf := range []cache.SharedIndexInformer{s.services, s.slices} {
		wg.Add(1)
		go func() { defer wg.Done(); inf.Run(ctx.Done()) }()
	}
	if !cache.WaitForCacheSync(ctx.Done(), s.services.HasSynced, s.slices.HasSynced) {
		return ctx.Err()
	}
	servers, err := s.listen()
	if err != nil {
		return err
	}
	s.fwd = newForwarder(upstream, s.addr, s.opts.UpstreamTimeout)
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- srv.ActivateAndServe() }()
	}
	if s.opts.Advertise != "" {
		wg.Add(1)
		go func() { defer wg.Done(); s.keepKubeDNS(ctx, c, kick) }()
	}
	s.log.Printf("cluster DNS serving %s on %s (udp, tcp); upstream %v", s.zone.domain, s.addr, upstream)
	close(s.ready)
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("dns server: %w", err)
	}
	for _, srv := range servers {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.ShutdownContext(sctx)
		scancel()
	}
	return err
}

// listen binds UDP and then TCP on the same port (the UDP one when the
// configured port is 0).
func (s *Server) listen() ([]*mdns.Server, error) {
	pc, err := net.ListenPacket("udp", s.opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("dns listen on udp %s: %w", s.opts.Listen, err)
	}
	host, _, _ := net.SplitHostPort(s.opts.Listen)
	port := pc.LocalAddr().(*net.UDPAddr).Port
	ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("dns listen on tcp port %d: %w", port, err)
	}
	s.addr = pc.LocalAddr().String()
	return []*mdns.Server{
		{PacketConn: pc, Handler: s, UDPSize: mdns.DefaultMsgSize},
		{Listener: ln, Handler: s, ReadTimeout: 10 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }},
	}, nil
}

// watch recomputes a service's records on every change to it or its
// slices, and kicks the kube-dns keeper on changes to kube-dns.
func (s *Server) watch(kick chan struct{}) error {
	onKey := func(key string) {
		s.update(key)
		if key == kubeDNSNamespace+"/"+kubeDNSName {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	}
	_, err := s.services.AddEventHandler(keyHandler(func(obj any) []string {
		k, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
		if err != nil {
			return nil
		}
		return []string{k}
	}, onKey))
	if err != nil {
		return err
	}
	_, err = s.slices.AddEventHandler(keyHandler(func(obj any) []string {
		keys, _ := sliceServiceKey(tombstoned(obj))
		return keys
	}, onKey))
	return err
}

// keyHandler calls f for the keys of an object's old and new versions.
func keyHandler(keys func(any) []string, f func(string)) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			for _, k := range keys(o) {
				f(k)
			}
		},
		UpdateFunc: func(old, o any) {
			seen := map[string]bool{}
			for _, k := range append(keys(old), keys(o)...) {
				if !seen[k] {
					seen[k] = true
					f(k)
				}
			}
		},
		DeleteFunc: func(o any) {
			for _, k := range keys(o) {
				f(k)
			}
		},
	}
}

func tombstoned(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

func sliceServiceKey(obj any) ([]string, error) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	svc := es.Labels[discoveryv1.LabelServiceName]
	if svc == "" {
		return nil, nil
	}
	return []string{es.Namespace + "/" + svc}, nil
}

// update recomputes the records of the service key from the caches.
func (s *Server) update(key string) {
	s.recompute.Lock()
	defer s.recompute.Unlock()
	obj, ok, err := s.services.GetIndexer().GetByKey(key)
	if err != nil || !ok {
		s.zone.set(key, nil, nil)
		return
	}
	objs, _ := s.slices.GetIndexer().ByIndex(sliceByService, key)
	eps := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		eps = append(eps, o.(*discoveryv1.EndpointSlice))
	}
	names, ptrs := serviceRecords(s.zone.domain, obj.(*corev1.Service), eps)
	s.zone.set(key, names, ptrs)
}

var errNoUpstream = errors.New("no upstream resolver")

// upstreams normalizes the configured resolvers, defaulting to those of
// /etc/resolv.conf.
func upstreams(list []string) ([]string, error) {
	port := "53"
	if len(list) == 0 {
		cfg, err := mdns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("no upstream resolvers given and /etc/resolv.conf unreadable: %w", err)
		}
		list, port = cfg.Servers, cfg.Port
	}
	out := make([]string, 0, len(list))
	for _, u := range list {
		if net.ParseIP(u) != nil {
			u = net.JoinHostPort(u, port)
		}
		if _, _, err := net.SplitHostPort(u); err != nil {
			return nil, fmt.Errorf("upstream resolver %q: want ip or ip:port", u)
		}
		out = append(out, u)
	}
	return out, nil
}
