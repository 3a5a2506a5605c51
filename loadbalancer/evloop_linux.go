//go:build linux

package loadbalancer

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Commands to a loop, a bit set (evLoop.send).
const (
	cmdStopAccept uint32 = 1 << iota // take the listener out; then close notAccepting
	cmdSweep                         // close connections idle for TCPIdleTimeout
	cmdDrain                         // return once no connection is left
	cmdAbort                         // close every connection and return
)

// Event data: Fd holds slot<<1|side of a connection (side 1: backend) or
// one of these; Pad holds the generation of the side's socket, so that an
// event of a socket closed earlier in the same batch is not taken for its
// successor's.
const (
	evListener = -1
	evWake     = -2
)

// evEdge is how connection sockets are watched: edge-triggered, both
// ways, with the peer's FIN reported (EPOLLRDHUP).
const evEdge = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET

// maxFreeBufs bounds the copy buffers (16 KiB) and pipes a loop keeps for
// reuse.
const maxFreeBufs = 256

// evLoop is one event loop: an epoll instance with the listener (shared
// by all loops, EPOLLEXCLUSIVE, so that one loop wakes per connection), an
// eventfd for commands, and the sockets of the connections it accepted,
// which no other goroutine touches.
type evLoop struct {
	t      *tcpProxy
	ep     int
	wakeFD int
	cmds   atomic.Uint32

	notAccepting chan struct{} // closed once the listener is out of the epoll
	notAccOnce   sync.Once

	events     []unix.EpollEvent
	conns      []*evConn // by slot; nil: free
	freeSlots  []int32
	spare      []*evConn // finished connections for reuse
	open       int
	gen        int32     // last socket generation handed out
	connecting []*evConn // connects in progress, for their deadlines
	accepting  bool      // the listener is in the epoll
	acceptAt   time.Time // when accepting resumes after an error (zero: never paused)
	backoff    time.Duration
	stopped    bool // cmdStopAccept came: never accept again
	draining   bool
	bufs       [][]byte
	pipes      [][2]int
	sockaddrs  map[string]unix.Sockaddr
}

func newEvLoop(t *tcpProxy) (*evLoop, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(ep)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	l := &evLoop{t: t, ep: ep, wakeFD: wake, notAccepting: make(chan struct{}),
		events: make([]unix.EpollEvent, 128), sockaddrs: map[string]unix.Sockaddr{}}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: evWake}); err != nil {
		l.close()
		return nil, fmt.Errorf("epoll_ctl eventfd: %w", err)
	}
	if err := l.listen(); err != nil {
		l.close()
		return nil, fmt.Errorf("epoll_ctl listener: %w", err)
	}
	return l, nil
}

// listen puts the listener in the epoll (level-triggered, exclusive
// wake-ups where the kernel has them).
func (l *evLoop) listen() error {
	ev := &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: evListener}
	err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, l.t.lfd, ev)
	if err == unix.EINVAL { // before Linux 4.5
		ev.Events = unix.EPOLLIN
		err = unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, l.t.lfd, ev)
	}
	l.accepting = err == nil
	return err
}

// close releases the loop's own descriptors; run has returned.
func (l *evLoop) close() {
	for _, p := range l.pipes {
		unix.Close(p[0])
		unix.Close(p[1])
	}
	l.pipes = nil
	unix.Close(l.ep)
	unix.Close(l.wakeFD)
}

// send sets command bits and wakes the loop.
func (l *evLoop) send(cmd uint32) {
	l.cmds.Or(cmd)
	one := [8]byte{1}
	unix.Write(l.wakeFD, one[:])
}

// run serves events until drained or aborted.
func (l *evLoop) run() {
	defer l.notAccOnce.Do(func() { close(l.notAccepting) })
	defer l.abortAll()
	for {
		n, err := unix.EpollWait(l.ep, l.events, l.waitMillis())
		if err != nil && err != unix.EINTR {
			l.t.cfg.Logger.Printf("%s: epoll_wait: %v; closing this loop's connections", l.t.pool.name, err)
			return
		}
		for _, ev := range l.events[:max(n, 0)] {
			switch ev.Fd {
			case evListener:
				l.accept()
			case evWake:
				if l.commands() {
					return
				}
			default:
				l.event(ev)
			}
		}
		l.timers()
		if l.draining && l.open == 0 {
			return
		}
		// Yield now and then: a goroutine busy for 10 ms gets preempted by
		// the runtime's sysmon, which then keeps polling every 20 µs.
		runtime.Gosched()
	}
}

// commands runs the commands sent; true means return.
func (l *evLoop) commands() (exit bool) {
	var b [8]byte
	unix.Read(l.wakeFD, b[:])
	cmds := l.cmds.Swap(0)
	if cmds&cmdStopAccept != 0 {
		if l.accepting {
			unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, l.t.lfd, nil)
		}
		l.accepting, l.stopped = false, true
		l.notAccOnce.Do(func() { close(l.notAccepting) })
	}
	if cmds&cmdSweep != 0 {
		l.sweep()
	}
	if cmds&cmdDrain != 0 {
		l.draining = true
	}
	return cmds&cmdAbort != 0
}

// accept takes up to 64 waiting connections (leaving the rest to the
// other loops).
func (l *evLoop) accept() {
	for range 64 {
		fd, _, err := unix.Accept4(l.t.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch err {
		case nil:
			l.backoff = 0
			l.start(fd)
			continue
		case unix.EAGAIN, unix.EINTR, unix.ECONNABORTED:
			return
		}
		// e.g. out of file descriptors: pause, as net/http does.
		l.backoff = min(max(2*l.backoff, 5*time.Millisecond), time.Second)
		l.t.cfg.Logger.Printf("%s: accept: %v; retrying in %s", l.t.pool.name, err, l.backoff)
		unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, l.t.lfd, nil)
		l.accepting, l.acceptAt = false, time.Now().Add(l.backoff)
		return
	}
}

// waitMillis is how long epoll_wait may block: until the next connect
// deadline or accept retry, else for ever.
func (l *evLoop) waitMillis() int {
	var next time.Time
	for _, c := range l.connecting {
		if next.IsZero() || c.deadline.Before(next) {
			next = c.deadline
		}
	}
	if !l.acceptAt.IsZero() && (next.IsZero() || l.acceptAt.Before(next)) {
		next = l.acceptAt
	}
	if next.IsZero() {
		return -1
	}
	d := time.Until(next)
	if d <= 0 {
		return 0
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// timers fails connects past their deadline and resumes accepting after a
// pause.
func (l *evLoop) timers() {
	if len(l.connecting) == 0 && l.acceptAt.IsZero() {
		return
	}
	now := time.Now()
	for i := 0; i < len(l.connecting); {
		c := l.connecting[i]
		if now.Before(c.deadline) {
			i++
			continue
		}
		l.retry(c, fmt.Errorf("dial tcp %s: i/o timeout", c.backend.addr)) // takes c out of l.connecting
	}
	if !l.acceptAt.IsZero() && !now.Before(l.acceptAt) {
		l.acceptAt = time.Time{}
		if !l.stopped {
			l.listen()
		}
	}
}

// sweep closes connections that received no byte either way for
// TCPIdleTimeout: one seen active at a sweep is quiet from then on.
func (l *evLoop) sweep() {
	now := l.t.cfg.Clock.Now()
	for _, c := range l.conns {
		switch {
		case c == nil:
		case c.active || c.quietSince.IsZero():
			c.active, c.quietSince = false, now
		case now.Sub(c.quietSince) >= l.t.cfg.TCPIdleTimeout:
			l.finish(c)
		}
	}
}

// abortAll closes every connection.
func (l *evLoop) abortAll() {
	for _, c := range l.conns {
		if c != nil {
			l.finish(c)
		}
	}
}

// nextGen returns a socket generation not used before.
func (l *evLoop) nextGen() int32 {
	l.gen++
	return l.gen
}

func (l *evLoop) getBuf() []byte {
	if n := len(l.bufs); n > 0 {
		b := l.bufs[n-1]
		l.bufs = l.bufs[:n-1]
		return b
	}
	return make([]byte, copyBufSize)
}

func (l *evLoop) putBuf(b []byte) {
	if len(l.bufs) < maxFreeBufs {
		l.bufs = append(l.bufs, b)
	}
}

// getPipe returns an empty pipe for splice(2), as large as the kernel
// allows up to 1 MiB (fewer splices per byte).
func (l *evLoop) getPipe() ([2]int, error) {
	if n := len(l.pipes); n > 0 {
		p := l.pipes[n-1]
		l.pipes = l.pipes[:n-1]
		return p, nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return fds, err
	}
	unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, 1<<20)
	return fds, nil
}

// putPipe keeps an empty pipe for reuse, or closes it.
func (l *evLoop) putPipe(p [2]int, empty bool) {
	if empty && len(l.pipes) < maxFreeBufs {
		l.pipes = append(l.pipes, p)
		return
	}
	unix.Close(p[0])
	unix.Close(p[1])
}
