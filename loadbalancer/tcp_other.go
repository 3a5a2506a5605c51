//go:build !linux

package loadbalancer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// tcpProxy accepts on one listener and forwards each connection to a
// backend of its pool, with two goroutines per connection (the portable
// engine; Linux has its own event loops, tcp_linux.go).
type tcpProxy struct {
	ln     *net.TCPListener
	pool   *Pool
	cfg    *Config
	dialer net.Dialer

	wg       sync.WaitGroup // one per accepted connection
	mu       sync.Mutex
	conns    map[*tcpConn]struct{}
	draining bool // grace expired: new pipes are aborted at once
}

func listenTCP(addr string, pool *Pool, cfg *Config) (*tcpProxy, error) {
	// No TCP keep-alive on either side (as nginx by default): it costs four
	// setsockopt calls per socket, and the idle timeout ends dead peers.
	ln, err := (&net.ListenConfig{KeepAlive: -1}).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on tcp %s: %w", addr, err)
	}
	return &tcpProxy{
		ln: ln.(*net.TCPListener), pool: pool, cfg: cfg,
		dialer: net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: -1},
		conns:  map[*tcpConn]struct{}{},
	}, nil
}

// serve accepts until the listener is closed.
func (t *tcpProxy) serve() error {
	var backoff time.Duration
	for {
		c, err := t.ln.AcceptTCP()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil { // e.g. out of file descriptors: wait, as net/http does
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t.cfg.Logger.Printf("%s: accept: %v; retrying in %s", t.pool.name, err, backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		t.wg.Add(1)
		go t.handle(c)
	}
}

func (t *tcpProxy) handle(c *net.TCPConn) {
	defer t.wg.Done()
	b, bc := t.connect()
	if bc == nil {
		c.SetLinger(0) // reset: the client sees an error, not an empty reply
		c.Close()
		return
	}
	defer t.pool.release(b)
	pc := &tcpConn{client: c, backend: bc}
	if !t.track(pc) {
		pc.abort()
		return
	}
	defer t.untrack(pc)
	pc.pipe(t.cfg.Clock, t.cfg.TCPIdleTimeout)
}

// connect dials backends in the pool's order until one answers, ejecting
// each that fails, up to MaxConnectTries.
func (t *tcpProxy) connect() (*backend, *net.TCPConn) {
	var tried []*backend
	for len(tried) < t.cfg.MaxConnectTries {
		b := t.pool.pick(tried)
		if b == nil {
			return nil, nil
		}
		tried = append(tried, b)
		c, err := t.dialer.Dial("tcp", b.addr)
		if err == nil {
			return b, c.(*net.TCPConn)
		}
		t.pool.release(b)
		t.pool.connectFailed(b, err)
	}
	return nil, nil
}

func (t *tcpProxy) addr() net.Addr { return t.ln.Addr() }

// closeListener stops accepting.
func (t *tcpProxy) closeListener() { t.ln.Close() }

func (t *tcpProxy) track(pc *tcpConn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.draining {
		return false
	}
	t.conns[pc] = struct{}{}
	return true
}

func (t *tcpProxy) untrack(pc *tcpConn) {
	t.mu.Lock()
	delete(t.conns, pc)
	t.mu.Unlock()
}

// drain waits for the open connections to finish, or until expired is
// closed, and then aborts the rest. The listener must be closed first.
func (t *tcpProxy) drain(expired <-chan struct{}) {
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-expired:
	}
	t.mu.Lock()
	t.draining = true
	for pc := range t.conns {
		pc.abort()
	}
	t.mu.Unlock()
	<-done
}

// tcpConn is one proxied connection.
type tcpConn struct {
	client, backend *net.TCPConn
	once            sync.Once
}

// abort closes both sides, ending both copies.
func (pc *tcpConn) abort() {
	pc.once.Do(func() {
		pc.client.Close()
		pc.backend.Close()
	})
}

// pipe copies both ways until each direction has seen EOF (forwarded as a
// half-close) or either fails (which aborts both), or nothing moved for
// idle.
func (pc *tcpConn) pipe(clk Clock, idle time.Duration) {
	stop := pc.watchIdle(clk, idle)
	defer stop()
	fromClient, fromBackend := make(chan struct{}), make(chan struct{}) // closed when over
	go func() {
		pc.oneWay(pc.backend, pc.client, fromBackend)
		close(fromClient)
	}()
	pc.oneWay(pc.client, pc.backend, fromClient)
	close(fromBackend)
	<-fromClient
	pc.abort()
}

// oneWay copies src to dst and forwards EOF as a half-close, unless the
// other direction (other closed) is already over and both sockets are about
// to close anyway (with both receive queues read to EOF, close sends the
// same FIN). An error aborts both directions.
func (pc *tcpConn) oneWay(dst, src *net.TCPConn, other <-chan struct{}) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	if err := copyConn(dst, src, *bp); err != nil {
		pc.abort()
		return
	}
	select {
	case <-other:
	default:
		dst.CloseWrite()
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// copyConn copies src to dst until EOF. Messages shorter than buf go through
// it (one read and one write: for a few hundred bytes cheaper than two
// splice(2) calls through a pipe, measured ~15% less CPU per keep-alive
// request). Once a read fills buf the data is bulk, and the next
// spliceChunk bytes move with io.Copy between the two *net.TCPConn, which
// Linux serves with splice(2): those bytes never enter user space.
func copyConn(dst, src *net.TCPConn, buf []byte) error {
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if n < len(buf) {
			continue
		}
		m, err := io.Copy(dst, &io.LimitedReader{R: src, N: spliceChunk})
		if err != nil {
			return err
		}
		if m < spliceChunk { // the copy ended at EOF
			return nil
		}
	}
}

// watchIdle aborts the connection once no byte has been received on either
// socket for idle, checking every idle/4. It reads the kernel's byte
// counters (TCP_INFO) so that the copies can stay in splice(2) without
// read deadlines. It returns a function that stops watching.
func (pc *tcpConn) watchIdle(clk Clock, idle time.Duration) (stop func()) {
	period := idle / 4
	var (
		mu         sync.Mutex
		stopped    bool
		timer      clock.Timer
		last       uint64 // 0: the first check sees any traffic as new
		lastChange = clk.Now()
		check      func()
	)
	// Checks run on their own goroutine: a fake clock may call AfterFunc's
	// function while holding its lock.
	later := func() { go check() }
	check = func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		now := clk.Now()
		if n := pc.received(); n != last {
			last, lastChange = n, now
		} else if now.Sub(lastChange) >= idle {
			pc.abort()
			return
		}
		timer = clk.AfterFunc(period, later)
	}
	mu.Lock()
	timer = clk.AfterFunc(period, later)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		timer.Stop()
		mu.Unlock()
	}
}

// received is the number of bytes received so far on both sockets.
func (pc *tcpConn) received() uint64 {
	return bytesReceived(pc.client) + bytesReceived(pc.backend)
}
