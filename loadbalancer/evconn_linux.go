//go:build linux

package loadbalancer

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// evSide is one socket of a connection and what epoll last said of it.
type evSide struct {
	fd       int // -1: none (a backend between connects)
	gen      int32
	readable bool // may have data or EOF to read
	hup      bool // the peer's FIN or an error came: read on to EOF
	writable bool // may take data
}

// evDir is one direction of a connection: src's bytes go to dst.
type evDir struct {
	src, dst *evSide
	buf      []byte // buf[off:n] is read and not yet written; nil when empty
	off, n   int
	pipe     [2]int // for splice(2): read end, write end; -1: none yet
	piped    int    // bytes in the pipe
	bulk     int    // bytes still to splice before reading through buf again
	eof      bool   // src's EOF was read
	done     bool   // and forwarded (or no longer needed)
}

// evConn is one proxied connection, owned by the loop that accepted it.
type evConn struct {
	slot         int32
	client, back evSide
	up, down     evDir // client → backend, backend → client
	backend      *backend
	tried        []*backend
	triedArr     [4]*backend
	connecting   bool
	connIdx      int       // index in evLoop.connecting
	deadline     time.Time // of the connect in progress
	active       bool      // a byte came since the last sweep
	quietSince   time.Time // when a sweep last saw it active
}

// start proxies a connection just accepted: it connects to a backend, or
// resets the client when none answers.
func (l *evLoop) start(fd int) {
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c := l.alloc()
	c.client = evSide{fd: fd, gen: l.nextGen()}
	if l.watch(c, &c.client, 0) != nil || !l.dial(c) {
		l.reset(c)
	}
}

// alloc returns a connection in a free slot, counted open.
func (l *evLoop) alloc() *evConn {
	var c *evConn
	if n := len(l.spare); n > 0 {
		c, l.spare = l.spare[n-1], l.spare[:n-1]
		*c = evConn{}
	} else {
		c = &evConn{}
	}
	if n := len(l.freeSlots); n > 0 {
		c.slot, l.freeSlots = l.freeSlots[n-1], l.freeSlots[:n-1]
		l.conns[c.slot] = c
	} else {
		c.slot = int32(len(l.conns))
		l.conns = append(l.conns, c)
	}
	c.back.fd = -1
	c.up = evDir{src: &c.client, dst: &c.back, pipe: [2]int{-1, -1}}
	c.down = evDir{src: &c.back, dst: &c.client, pipe: [2]int{-1, -1}}
	c.tried = c.triedArr[:0]
	c.active = true
	l.open++
	return c
}

// watch adds one side's socket to the epoll.
func (l *evLoop) watch(c *evConn, s *evSide, side int32) error {
	ev := unix.EpollEvent{Events: evEdge, Fd: c.slot<<1 | side, Pad: s.gen}
	return unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, s.fd, &ev)
}

// dial starts a connect to the next backend the pool picks (up to
// MaxConnectTries per connection); false: no backend left to try.
func (l *evLoop) dial(c *evConn) bool {
	p := l.t.pool
	for len(c.tried) < l.t.cfg.MaxConnectTries {
		b := p.pick(c.tried)
		if b == nil {
			return false
		}
		c.tried = append(c.tried, b)
		fd, err := l.connect(b.addr)
		if err == nil {
			c.back = evSide{fd: fd, gen: l.nextGen()}
			if err = l.watch(c, &c.back, 1); err != nil {
				unix.Close(fd)
				c.back.fd = -1
			}
		}
		if err != nil {
			p.release(b)
			p.connectFailed(b, err)
			continue
		}
		c.backend, c.connecting = b, true
		c.deadline = time.Now().Add(l.t.cfg.DialTimeout)
		c.connIdx = len(l.connecting)
		l.connecting = append(l.connecting, c)
		return true
	}
	return false
}

// connect starts a non-blocking connect to addr (host:port).
func (l *evLoop) connect(addr string) (int, error) {
	sa, err := l.sockaddr(addr)
	if err != nil {
		return -1, err
	}
	family := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("dial tcp %s: socket: %w", addr, err)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		unix.Close(fd)
		return -1, fmt.Errorf("dial tcp %s: connect: %w", addr, err)
	}
	return fd, nil
}

// sockaddr returns the socket address of "ip:port" (kept for the next
// time) or of "name:port" (resolved each time).
func (l *evLoop) sockaddr(addr string) (unix.Sockaddr, error) {
	if sa, ok := l.sockaddrs[addr]; ok {
		return sa, nil
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Addr().Zone() != "" {
		ta, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("dial tcp %s: %w", addr, err)
		}
		return toSockaddr(ta.AddrPort()), nil
	}
	sa := toSockaddr(ap)
	l.sockaddrs[addr] = sa
	return sa, nil
}

func toSockaddr(ap netip.AddrPort) unix.Sockaddr {
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}
}

// event records what epoll says of one socket and moves the connection on.
func (l *evLoop) event(ev unix.EpollEvent) {
	slot, side := ev.Fd>>1, ev.Fd&1
	if ev.Fd < 0 || int(slot) >= len(l.conns) || l.conns[slot] == nil {
		return
	}
	c := l.conns[slot]
	s := &c.client
	if side == 1 {
		s = &c.back
	}
	if s.fd < 0 || s.gen != ev.Pad {
		return // a socket closed earlier in this batch
	}
	e := ev.Events
	if e&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		s.readable = true
	}
	if e&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		s.hup = true
	}
	if e&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		s.writable = true
	}
	if !c.connecting {
		l.progress(c)
	} else if side == 1 && s.writable {
		l.connected(c)
	}
}

// connected finishes a connect the backend socket reported on.
func (l *evLoop) connected(c *evConn) {
	l.stopConnecting(c)
	soErr, err := unix.GetsockoptInt(c.back.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soErr != 0 {
		err = unix.Errno(soErr)
	}
	if err != nil {
		l.retry(c, fmt.Errorf("dial tcp %s: connect: %w", c.backend.addr, err))
		return
	}
	l.progress(c)
}

// retry ejects the backend whose connect failed and tries another one.
func (l *evLoop) retry(c *evConn, err error) {
	l.stopConnecting(c)
	b := c.backend
	unix.Close(c.back.fd)
	c.back, c.backend = evSide{fd: -1}, nil
	l.t.pool.release(b)
	l.t.pool.connectFailed(b, err)
	if !l.dial(c) {
		l.reset(c)
	}
}

// stopConnecting takes c out of the connects in progress.
func (l *evLoop) stopConnecting(c *evConn) {
	if !c.connecting {
		return
	}
	last := len(l.connecting) - 1
	moved := l.connecting[last]
	l.connecting[c.connIdx], moved.connIdx = moved, c.connIdx
	l.connecting[last] = nil
	l.connecting = l.connecting[:last]
	c.connecting = false
}

// progress moves data both ways; an error, or both directions over, ends
// the connection.
func (l *evLoop) progress(c *evConn) {
	err := l.pump(c, &c.up, &c.down)
	if err == nil {
		err = l.pump(c, &c.down, &c.up)
	}
	if err != nil || c.up.done && c.down.done {
		l.finish(c)
	}
}

// pump moves d's bytes until a socket would block, then forwards src's
// EOF as a half-close, unless the other direction is already over and both
// sockets are about to close anyway (with both receive queues read to EOF,
// close sends the same FIN). An error aborts the connection.
func (l *evLoop) pump(c *evConn, d, other *evDir) error {
	for !d.done {
		if blocked, err := l.flush(d); err != nil || blocked {
			return err
		}
		if d.eof {
			d.done = true
			if !other.done {
				return unix.Shutdown(d.dst.fd, unix.SHUT_WR)
			}
			return nil
		}
		if !d.src.readable {
			return nil
		}
		if err := l.fill(c, d); err != nil {
			return err
		}
	}
	return nil
}

// flush writes what d holds (in its pipe, then its buffer); blocked: dst
// takes no more for now.
func (l *evLoop) flush(d *evDir) (blocked bool, err error) {
	for d.piped > 0 || d.off < d.n {
		if !d.dst.writable {
			return true, nil
		}
		var n int
		if d.piped > 0 {
			var m int64
			m, err = splice(d.pipe[0], d.dst.fd, d.piped)
			n = int(m)
		} else {
			n, err = unix.Write(d.dst.fd, d.buf[d.off:d.n])
		}
		switch {
		case err == nil && d.piped > 0:
			d.piped -= n
		case err == nil:
			d.off += n
		case err == unix.EAGAIN:
			d.dst.writable = false
			return true, nil
		case err != unix.EINTR:
			return false, err
		}
	}
	if d.buf != nil {
		l.putBuf(d.buf)
		d.buf, d.off, d.n = nil, 0, 0
	}
	return false, nil
}

// splice moves up to n bytes from rfd to wfd without blocking (one of them
// is a pipe).
func splice(rfd, wfd, n int) (int64, error) {
	m, err := unix.Splice(rfd, nil, wfd, nil, n, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
	return int64(m), err
}

// fill reads once from d.src into d's buffer (or, for bulk, its pipe). A
// short read means the socket is drained (more data, or the FIN, brings a
// new edge) unless a FIN was reported, which must be read.
func (l *evLoop) fill(c *evConn, d *evDir) error {
	if d.bulk > 0 {
		return l.fillPipe(c, d)
	}
	if d.buf == nil {
		d.buf = l.getBuf()
	}
	n, err := unix.Read(d.src.fd, d.buf)
	got, err := readOutcome(c, d, n, err)
	if !got {
		l.putBuf(d.buf)
		d.buf = nil
		return err
	}
	d.off, d.n = 0, n
	if n == len(d.buf) { // bulk: the next bytes go by splice(2)
		d.bulk = spliceChunk
	} else if !d.src.hup {
		d.src.readable = false
	}
	return nil
}

// fillPipe moves bytes from d.src into d's (empty) pipe with splice(2), so
// that they never enter user space.
func (l *evLoop) fillPipe(c *evConn, d *evDir) error {
	if d.pipe[0] < 0 {
		p, err := l.getPipe()
		if err != nil {
			d.bulk = 0 // copy through the buffer instead
			return nil
		}
		d.pipe = p
	}
	n, err := splice(d.src.fd, d.pipe[1], min(d.bulk, 1<<20))
	got, err := readOutcome(c, d, int(n), err)
	if got {
		d.piped = int(n)
		d.bulk = max(d.bulk-int(n), 0)
	}
	return err
}

// readOutcome records what a read (or splice) from d.src returned: got
// means n bytes came; EOF and "nothing now" are noted in d; err is fatal.
func readOutcome(c *evConn, d *evDir, n int, err error) (got bool, _ error) {
	switch {
	case err == unix.EAGAIN:
		d.src.readable = false
	case err == unix.EINTR:
	case err != nil:
		return false, err
	case n == 0:
		d.eof = true
	default:
		c.active = true
		return true, nil
	}
	return false, nil
}

// reset ends a connection no backend took with a TCP reset, so that the
// client sees an error rather than an empty reply.
func (l *evLoop) reset(c *evConn) {
	unix.SetsockoptLinger(c.client.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	l.finish(c)
}

// finish closes both sockets (which takes them out of the epoll) and frees
// the connection's slot, buffers and pipes.
func (l *evLoop) finish(c *evConn) {
	l.stopConnecting(c)
	unix.Close(c.client.fd)
	if c.back.fd >= 0 {
		unix.Close(c.back.fd)
	}
	if c.backend != nil {
		l.t.pool.release(c.backend)
	}
	for _, d := range [2]*evDir{&c.up, &c.down} {
		if d.buf != nil {
			l.putBuf(d.buf)
		}
		if d.pipe[0] >= 0 {
			l.putPipe(d.pipe, d.piped == 0)
		}
	}
	l.conns[c.slot] = nil
	l.freeSlots = append(l.freeSlots, c.slot)
	l.open--
	if len(l.spare) < maxFreeBufs {
		l.spare = append(l.spare, c)
	}
}
