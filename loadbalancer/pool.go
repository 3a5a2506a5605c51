package loadbalancer

import (
	"context"
	"log"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// fall is how many failed health checks in a row eject a backend; one
// success brings it back.
const fall = 2

// Pool is the set of backends ("ip:port") of one listener and their health.
// It is safe for concurrent use.
type Pool struct {
	name string
	hc   *healthCheck // nil: no active checks (UDP)
	log  *log.Logger
	ctx  context.Context
	wg   sync.WaitGroup // health checkers

	mu       sync.Mutex
	backends []*backend // sorted by address
	next     int        // round-robin cursor for ties
}

type backend struct {
	addr   string
	active atomic.Int64 // open connections or flows
	checks atomic.Int64 // health checks done

	// guarded by Pool.mu
	healthy bool
	fails   int
	removed bool
	stop    context.CancelFunc
}

// BackendStatus describes one backend of a pool.
type BackendStatus struct {
	Addr    string
	Healthy bool
	Active  int64
}

// newPool returns an empty pool named name (for logs). With hc set, each
// backend is health-checked until it leaves the pool or ctx ends.
func newPool(ctx context.Context, name string, hc *healthCheck, logger *log.Logger) *Pool {
	return &Pool{name: name, hc: hc, log: logger, ctx: ctx}
}

// SetBackends replaces the set of backends. Backends that stay keep their
// health and connections; new ones start healthy (a failed connect or two
// failed checks eject them); removed ones stop being picked, and their open
// connections run on.
func (p *Pool) SetBackends(addrs []string) {
	addrs = slices.Clone(addrs)
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	p.mu.Lock()
	defer p.mu.Unlock()
	old := map[string]*backend{}
	for _, b := range p.backends {
		old[b.addr] = b
	}
	next := make([]*backend, 0, len(addrs))
	for _, a := range addrs {
		if b, ok := old[a]; ok {
			next = append(next, b)
			delete(old, a)
			continue
		}
		b := &backend{addr: a, healthy: true}
		next = append(next, b)
		p.log.Printf("%s: backend %s added", p.name, a)
		if p.hc != nil {
			ctx, cancel := context.WithCancel(p.ctx)
			b.stop = cancel
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.hc.run(ctx, p, b) }()
		}
	}
	for _, b := range old {
		b.removed = true
		if b.stop != nil {
			b.stop()
		}
		p.log.Printf("%s: backend %s removed", p.name, b.addr)
	}
	p.backends = next
}

// Status returns the backends in address order.
func (p *Pool) Status() []BackendStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]BackendStatus, len(p.backends))
	for i, b := range p.backends {
		out[i] = BackendStatus{Addr: b.addr, Healthy: b.healthy, Active: b.active.Load()}
	}
	return out
}

// pick returns the healthy backend not in tried with the fewest active
// connections (ties round-robin) and counts a connection on it. When no
// backend is healthy it fails open and picks among all untried ones, since
// the checks may be wrong (or not have run yet). Nil: nothing left to try.
func (p *Pool) pick(tried []*backend) *backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.backends)
	anyHealthy := false
	for _, b := range p.backends {
		anyHealthy = anyHealthy || b.healthy
	}
	var best *backend
	bestIdx := 0
	for i := range n {
		idx := (p.next + i) % n
		b := p.backends[idx]
		if (anyHealthy && !b.healthy) || slices.Contains(tried, b) {
			continue
		}
		if best == nil || b.active.Load() < best.active.Load() {
			best, bestIdx = b, idx
		}
	}
	if best == nil {
		return nil
	}
	p.next = bestIdx + 1
	best.active.Add(1)
	return best
}

// release ends a connection counted by pick.
func (p *Pool) release(b *backend) { b.active.Add(-1) }

// observe records a health-check result.
func (p *Pool) observe(b *backend, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b.checks.Add(1)
	if b.removed {
		return
	}
	if err == nil {
		b.fails = 0
		if !b.healthy {
			b.healthy = true
			p.log.Printf("%s: backend %s is up", p.name, b.addr)
		}
		return
	}
	b.fails++
	if b.healthy && b.fails >= fall {
		b.healthy = false
		p.log.Printf("%s: backend %s is down: %v", p.name, b.addr, err)
	}
}

// connectFailed ejects a backend whose proxied connect failed (passive
// check); the active checks bring it back. Pools without active checks
// never eject.
func (p *Pool) connectFailed(b *backend, err error) {
	if p.hc == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if b.healthy && !b.removed {
		b.healthy = false
		b.fails = fall
		p.log.Printf("%s: backend %s is down: %v", p.name, b.addr, err)
	}
}

// healthCheck connects to each backend every interval.
type healthCheck struct {
	interval, timeout time.Duration
	clock             Clock
}

// run checks b until ctx ends: at once, then on every tick.
func (h *healthCheck) run(ctx context.Context, p *Pool, b *backend) {
	t := h.clock.NewTicker(h.interval)
	defer t.Stop()
	d := net.Dialer{Timeout: h.timeout}
	for {
		c, err := d.DialContext(ctx, "tcp", b.addr)
		if err == nil {
			c.Close()
		}
		if ctx.Err() != nil {
			return
		}
		p.observe(b, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}
