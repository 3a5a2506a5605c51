//go:build linux

package loadbalancer

import (
	"fmt"
	"net"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// tcpProxy accepts on one listener and forwards each connection to a
// backend of its pool. It runs its own event loops (evloop_linux.go), one
// per GOMAXPROCS but one (at least one: a P stays free for the health
// checks and the node watch, and the runtime need not take a loop's P while
// it waits in epoll_wait), each an epoll instance that owns the
// connections it accepted, rather than Go's netpoller with two goroutines
// per connection:
// a proxied message then costs one read and one write, as in nginx, where
// the netpoller adds a read that finds nothing, goroutine switches and
// thread wake-ups (measured: ~1.6x nginx's CPU per new connection, ~1.4x per
// keep-alive request; about nginx's own with the loops).
type tcpProxy struct {
	lnAddr net.Addr
	lfd    int // the listening socket (a duplicate of the net.Listener's)
	pool   *Pool
	cfg    *Config

	mu       sync.Mutex
	started  bool // serve made the loops
	closed   bool // the listener is closed
	loopsEnd bool // the loops' descriptors are closed: no more commands
	loops    []*evLoop
	done     chan struct{} // closed once every loop has returned
}

func listenTCP(addr string, pool *Pool, cfg *Config) (*tcpProxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on tcp %s: %w", addr, err)
	}
	defer ln.Close()
	raw, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("listen on tcp %s: %w", addr, err)
	}
	lfd, derr := -1, error(nil)
	if err := raw.Control(func(fd uintptr) { lfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || derr != nil {
		return nil, fmt.Errorf("listen on tcp %s: duplicate the socket: %w", addr, firstErr(err, derr))
	}
	return &tcpProxy{lnAddr: ln.Addr(), lfd: lfd, pool: pool, cfg: cfg, done: make(chan struct{})}, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *tcpProxy) addr() net.Addr { return t.lnAddr }

// serve runs the event loops until they have drained (see drain); it
// returns at once when the listener was closed before.
func (t *tcpProxy) serve() error {
	t.mu.Lock()
	if t.closed || t.started {
		t.mu.Unlock()
		return nil
	}
	t.started = true
	for range max(1, runtime.GOMAXPROCS(0)-1) {
		l, err := newEvLoop(t)
		if err != nil {
			t.mu.Unlock()
			t.endLoops()
			return fmt.Errorf("%s: %w", t.pool.name, err)
		}
		t.loops = append(t.loops, l)
	}
	t.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range t.loops {
		wg.Add(1)
		go func() { defer wg.Done(); l.run() }()
	}
	stopSweeps := t.sweepIdle()
	wg.Wait()
	stopSweeps()
	t.endLoops()
	return nil
}

// endLoops closes the loops' descriptors and marks the loops done.
func (t *tcpProxy) endLoops() {
	t.mu.Lock()
	t.loopsEnd = true
	for _, l := range t.loops {
		l.close()
	}
	t.mu.Unlock()
	close(t.done)
}

// command sends cmd to every loop (none once they are over).
func (t *tcpProxy) command(cmd uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.loopsEnd {
		return
	}
	for _, l := range t.loops {
		l.send(cmd)
	}
}

// sweepIdle asks the loops to look for idle connections every quarter of
// TCPIdleTimeout, on the configured clock. It returns a function that stops.
func (t *tcpProxy) sweepIdle() (stop func()) {
	tk := t.cfg.Clock.NewTicker(t.cfg.TCPIdleTimeout / 4)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-tk.C():
				t.command(cmdSweep)
			}
		}
	}()
	return func() { tk.Stop(); close(quit); <-done }
}

// closeListener stops accepting: each loop takes the listener out of its
// epoll first, so that none accepts on a closed (or reused) descriptor.
func (t *tcpProxy) closeListener() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	if !t.loopsEnd {
		for _, l := range t.loops {
			l.send(cmdStopAccept)
		}
		for _, l := range t.loops {
			<-l.notAccepting
		}
	}
	unix.Close(t.lfd)
}

// drain waits for the open connections to finish, or until expired is
// closed, and then aborts the rest; the loops return. The listener must be
// closed first.
func (t *tcpProxy) drain(expired <-chan struct{}) {
	t.mu.Lock()
	started := t.started
	t.mu.Unlock()
	if !started {
		return
	}
	t.command(cmdDrain)
	select {
	case <-t.done:
		return
	case <-expired:
	}
	t.command(cmdAbort)
	<-t.done
}
