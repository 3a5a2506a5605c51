// Package loadbalancer owns mini's L4 load balancer: the process that runs in
// a cluster's `lb` container and publishes host ports. It forwards one
// listener to the API server and each published port to that NodePort on
// every Ready node, whose addresses it follows through a watch on Nodes (so
// nodes joining or leaving change the backends without a restart).
//
// Per listener it keeps a pool of backends ("ip:port"). TCP backends are
// health-checked actively (a TCP connect every HealthInterval; two failures
// in a row eject, one success brings back) and passively (a failed proxy
// connect ejects at once); a failed connect is retried on another backend
// before the client sees an error. Among healthy backends the pool picks the
// one with the fewest active connections, ties broken round-robin. Short
// messages are copied through a 16 KiB buffer; bulk data (a read that fills
// it) moves with splice(2), never entering user space. Half-closes are
// forwarded (shutdown of the write side) and each direction finishes on its
// own; a connection with no byte either way for TCPIdleTimeout is closed.
// On Linux, TCP runs on the package's own epoll event loops, as nginx's
// workers do (tcp_linux.go); elsewhere on two goroutines per
// connection with io.Copy (tcp_other.go). UDP is forwarded per client flow
// (client address → one connected socket to a backend) and flows expire
// after UDPIdleTimeout.
package loadbalancer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/minicluster/mini/control/client"
)

// Clock is the time source: tickers for health checks and flow expiry,
// timers for idle connections.
type Clock interface {
	clock.WithTicker
	AfterFunc(d time.Duration, f func()) clock.Timer
}

// PortMapping is one published port: Listen (host:port) forwarded to
// NodePort on every Ready node, over Protocol "tcp" or "udp".
type PortMapping struct {
	Listen   string
	NodePort int
	Protocol string
}

func (m PortMapping) String() string {
	return fmt.Sprintf("%s:%d/%s", m.Listen, m.NodePort, m.Protocol)
}

// ParsePortMapping parses LISTEN:NODEPORT[/tcp|/udp], where LISTEN is a port
// ("8080", all addresses) or host:port ("127.0.0.1:8080").
func ParsePortMapping(s string) (PortMapping, error) {
	m := PortMapping{Protocol: "tcp"}
	spec := s
	if i := strings.LastIndexByte(spec, '/'); i >= 0 {
		m.Protocol = strings.ToLower(spec[i+1:])
		spec = spec[:i]
		if m.Protocol != "tcp" && m.Protocol != "udp" {
			return m, fmt.Errorf("port mapping %q: protocol %q is not tcp or udp", s, m.Protocol)
		}
	}
	i := strings.LastIndexByte(spec, ':')
	if i < 0 {
		return m, fmt.Errorf("port mapping %q: want LISTEN:NODEPORT[/udp]", s)
	}
	listen, np := spec[:i], spec[i+1:]
	port, err := strconv.Atoi(np)
	if err != nil || port < 1 || port > 65535 {
		return m, fmt.Errorf("port mapping %q: node port %q is not a port number", s, np)
	}
	m.NodePort = port
	if !strings.Contains(listen, ":") {
		listen = ":" + listen
	}
	if _, p, err := net.SplitHostPort(listen); err != nil {
		return m, fmt.Errorf("port mapping %q: listen address: %w", s, err)
	} else if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
		return m, fmt.Errorf("port mapping %q: listen port %q is not a port number", s, p)
	}
	m.Listen = listen
	return m, nil
}

// Config configures a load balancer. Zero durations take the defaults in
// parentheses.
type Config struct {
	// APIListen is forwarded to APIBackend (host:port); both empty: none.
	APIListen, APIBackend string
	// Ports are forwarded to their NodePort on every Ready node.
	Ports []PortMapping
	// Client watches Nodes; required when Ports is not empty.
	Client *client.Client

	HealthInterval  time.Duration // between health checks of a backend (250ms)
	HealthTimeout   time.Duration // of one health-check connect (300ms)
	DialTimeout     time.Duration // of one proxied connect before retrying elsewhere (1s)
	TCPIdleTimeout  time.Duration // a connection with no byte either way is closed (1h)
	UDPIdleTimeout  time.Duration // a flow with no packet either way is dropped (60s)
	ShutdownGrace   time.Duration // open connections may finish after shutdown starts (5s)
	MaxConnectTries int           // backends tried per client connection (3)

	Clock  Clock       // (real clock)
	Logger *log.Logger // (discard)
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HealthInterval, 250*time.Millisecond)
	def(&c.HealthTimeout, 300*time.Millisecond)
	def(&c.DialTimeout, time.Second)
	def(&c.TCPIdleTimeout, time.Hour)
	def(&c.UDPIdleTimeout, time.Minute)
	def(&c.ShutdownGrace, 5*time.Second)
	if c.MaxConnectTries <= 0 {
		c.MaxConnectTries = 3
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Logger == nil {
		c.Logger = log.New(io.Discard, "", 0)
	}
}

// LB is a load balancer with its listeners bound.
type LB struct {
	cfg     Config
	tcp     []*tcpProxy
	udp     []*udpProxy
	byPort  map[PortMapping]*Pool // NodePort pools, fed by the node watch
	pools   []*Pool
	poolCtx context.Context
	cancel  context.CancelFunc
}

// New validates cfg and binds every listener, so that a port already in use
// fails here; Run serves them.
func New(cfg Config) (*LB, error) {
	cfg.defaults()
	if (cfg.APIListen == "") != (cfg.APIBackend == "") {
		return nil, errors.New("--api-listen and --api-backend go together")
	}
	if len(cfg.Ports) > 0 && cfg.Client == nil {
		return nil, errors.New("published ports need an API client to watch Nodes")
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &LB{cfg: cfg, byPort: map[PortMapping]*Pool{}, poolCtx: ctx, cancel: cancel}
	hc := &healthCheck{interval: cfg.HealthInterval, timeout: cfg.HealthTimeout, clock: cfg.Clock}
	if cfg.APIListen != "" {
		p := l.newPool("api "+cfg.APIListen, hc)
		p.SetBackends([]string{cfg.APIBackend})
		if err := l.addTCP(cfg.APIListen, p); err != nil {
			l.Close()
			return nil, err
		}
	}
	for _, m := range cfg.Ports {
		name := m.Listen + "/" + m.Protocol
		if m.Protocol == "udp" {
			p := l.newPool(name, nil)
			u, err := listenUDP(m.Listen, p, &l.cfg)
			if err != nil {
				l.Close()
				return nil, err
			}
			l.udp = append(l.udp, u)
			l.byPort[m] = p
			continue
		}
		p := l.newPool(name, hc)
		if err := l.addTCP(m.Listen, p); err != nil {
			l.Close()
			return nil, err
		}
		l.byPort[m] = p
	}
	return l, nil
}

func (l *LB) newPool(name string, hc *healthCheck) *Pool {
	p := newPool(l.poolCtx, name, hc, l.cfg.Logger)
	l.pools = append(l.pools, p)
	return p
}

func (l *LB) addTCP(addr string, p *Pool) error {
	t, err := listenTCP(addr, p, &l.cfg)
	if err != nil {
		return err
	}
	l.tcp = append(l.tcp, t)
	return nil
}

// TCPAddrs returns the bound TCP listener addresses: the API listener first
// (if any), then the TCP ports in the order of Config.Ports.
func (l *LB) TCPAddrs() []net.Addr {
	out := make([]net.Addr, len(l.tcp))
	for i, t := range l.tcp {
		out[i] = t.addr()
	}
	return out
}

// UDPAddrs returns the bound UDP listener addresses in the order of
// Config.Ports.
func (l *LB) UDPAddrs() []net.Addr {
	out := make([]net.Addr, len(l.udp))
	for i, u := range l.udp {
		out[i] = u.conn.LocalAddr()
	}
	return out
}

// Pool returns the backend pool of a published port (nil if unknown).
func (l *LB) Pool(m PortMapping) *Pool { return l.byPort[m] }

// Run serves until ctx ends, then stops accepting, gives open TCP
// connections ShutdownGrace to finish and closes the rest.
func (l *LB) Run(ctx context.Context) error {
	l.cfg.Logger.Printf("load balancer serving %d TCP and %d UDP listeners", len(l.tcp), len(l.udp))
	var wg sync.WaitGroup
	errc := make(chan error, len(l.tcp)+len(l.udp)+1)
	for _, t := range l.tcp {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- t.serve() }()
	}
	for _, u := range l.udp {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- u.serve() }()
	}
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		if len(l.byPort) > 0 {
			errc <- l.watchNodes(wctx)
		}
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stopWatch()
	<-watched // no pool changes from here on
	l.shutdown()
	wg.Wait()
	return err
}

func (l *LB) shutdown() {
	l.cfg.Logger.Printf("load balancer shutting down; open connections have %s to finish", l.cfg.ShutdownGrace)
	for _, t := range l.tcp {
		t.closeListener()
	}
	for _, u := range l.udp {
		u.close()
	}
	expired := make(chan struct{})
	timer := l.cfg.Clock.AfterFunc(l.cfg.ShutdownGrace, func() { close(expired) })
	defer timer.Stop()
	for _, t := range l.tcp {
		t.drain(expired)
	}
	l.stopChecks()
}

func (l *LB) stopChecks() {
	l.cancel()
	for _, p := range l.pools {
		p.wg.Wait()
	}
}

// Close releases the listeners of an LB that was never run (and aborts
// what a listener served on its own, as benchmarks do).
func (l *LB) Close() {
	expired := make(chan struct{})
	close(expired)
	for _, t := range l.tcp {
		t.closeListener()
		t.drain(expired)
	}
	for _, u := range l.udp {
		u.close()
	}
	l.stopChecks()
}
