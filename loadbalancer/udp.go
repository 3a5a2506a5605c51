package loadbalancer

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// udpProxy forwards datagrams per client flow: the first datagram from a
// client address picks a backend and opens a connected socket to it; later
// datagrams of that client go through the same socket, and replies arriving
// on it go back to the client. A flow ends after UDPIdleTimeout without a
// datagram either way, or when the backend answers with ICMP port
// unreachable (the next datagram then opens a flow to another backend).
type udpProxy struct {
	conn *net.UDPConn
	pool *Pool
	cfg  *Config

	mu     sync.Mutex
	flows  map[netip.AddrPort]*udpFlow
	closed bool
	wg     sync.WaitGroup // reply readers and the expiry loop
	done   chan struct{}
	once   sync.Once
}

type udpFlow struct {
	client netip.AddrPort
	b      *backend
	conn   *net.UDPConn
	last   atomic.Int64 // clock time of the last datagram, UnixNano
	once   sync.Once
}

func listenUDP(addr string, pool *Pool, cfg *Config) (*udpProxy, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("udp listen address %q: %w", addr, err)
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("listen on udp %s: %w", addr, err)
	}
	u := &udpProxy{conn: c, pool: pool, cfg: cfg, flows: map[netip.AddrPort]*udpFlow{}, done: make(chan struct{})}
	u.wg.Add(1)
	go u.expire()
	return u, nil
}

// serve reads client datagrams until the socket is closed.
func (u *udpProxy) serve() error {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			continue // an ICMP error reported on the listener; nothing to do
		}
		u.forward(from, buf[:n])
	}
}

func (u *udpProxy) forward(from netip.AddrPort, pkt []byte) {
	f := u.flowFor(from, nil)
	if f == nil {
		return // no backend: drop, as a lost datagram
	}
	if _, err := f.conn.Write(pkt); err != nil { // e.g. refused after an ICMP error
		u.end(f)
		if f = u.flowFor(from, []*backend{f.b}); f == nil {
			return
		}
		if _, err := f.conn.Write(pkt); err != nil {
			u.end(f)
			return
		}
	}
	f.last.Store(u.cfg.Clock.Now().UnixNano())
}

// flowFor returns the client's flow, opening one to a backend not in
// exclude if there is none.
func (u *udpProxy) flowFor(client netip.AddrPort, exclude []*backend) *udpFlow {
	u.mu.Lock()
	defer u.mu.Unlock()
	if f, ok := u.flows[client]; ok || u.closed {
		return f
	}
	for tried := exclude; ; {
		b := u.pool.pick(tried)
		if b == nil {
			return nil
		}
		tried = append(tried, b)
		ra, err := net.ResolveUDPAddr("udp", b.addr)
		var c *net.UDPConn
		if err == nil {
			c, err = net.DialUDP("udp", nil, ra)
		}
		if err != nil {
			u.pool.release(b)
			continue
		}
		f := &udpFlow{client: client, b: b, conn: c}
		f.last.Store(u.cfg.Clock.Now().UnixNano())
		u.flows[client] = f
		u.wg.Add(1)
		go u.replies(f)
		return f
	}
}

// replies copies the backend's datagrams back to the client.
func (u *udpProxy) replies(f *udpFlow) {
	defer u.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := f.conn.Read(buf)
		if err != nil {
			u.end(f)
			return
		}
		f.last.Store(u.cfg.Clock.Now().UnixNano())
		u.conn.WriteToUDPAddrPort(buf[:n], f.client)
	}
}

// end removes a flow and closes its socket (once).
func (u *udpProxy) end(f *udpFlow) {
	f.once.Do(func() {
		u.mu.Lock()
		if u.flows[f.client] == f {
			delete(u.flows, f.client)
		}
		u.mu.Unlock()
		f.conn.Close()
		u.pool.release(f.b)
	})
}

// expire ends idle flows, checking every UDPIdleTimeout/4.
func (u *udpProxy) expire() {
	defer u.wg.Done()
	t := u.cfg.Clock.NewTicker(u.cfg.UDPIdleTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-u.done:
			return
		case <-t.C():
		}
		cutoff := u.cfg.Clock.Now().Add(-u.cfg.UDPIdleTimeout).UnixNano()
		u.mu.Lock()
		var idle []*udpFlow
		for _, f := range u.flows {
			if f.last.Load() <= cutoff {
				idle = append(idle, f)
			}
		}
		u.mu.Unlock()
		for _, f := range idle {
			u.end(f)
		}
	}
}

// flowCount returns the number of open flows.
func (u *udpProxy) flowCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.flows)
}

// close stops reading, ends every flow and waits for their readers.
func (u *udpProxy) close() {
	u.once.Do(func() {
		u.conn.Close()
		u.mu.Lock()
		u.closed = true
		flows := make([]*udpFlow, 0, len(u.flows))
		for _, f := range u.flows {
			flows = append(flows, f)
		}
		u.mu.Unlock()
		close(u.done)
		for _, f := range flows {
			u.end(f)
		}
		u.wg.Wait()
	})
}
