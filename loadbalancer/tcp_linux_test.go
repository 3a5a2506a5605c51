package loadbalancer

import (
	"log"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// blackhole returns the address of a loopback listener whose accept queue
// is full, so that further connects hang (their SYNs are dropped).
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
	for i := range 4 { // the queue holds a connection or two
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr // this one hung: the queue is full
		}
		t.Cleanup(func() { c.Close() })
		if i == 3 {
			t.Skipf("%s still completes connects with %d in its accept queue (syncookies?)", addr, i+1)
		}
	}
	return addr
}

// TestConnectTimeoutRetriesElsewhere: a backend whose connects hang is
// given up after DialTimeout, ejected, and the client is served by another
// backend.
func TestConnectTimeoutRetriesElsewhere(t *testing.T) {
	hole := blackhole(t)
	live := startTagServer(t, "live", "127.0.0.1:0")
	var logs syncBuf
	l := startLB(t, Config{APIListen: "127.0.0.1:0", APIBackend: hole, HealthInterval: time.Hour, HealthTimeout: 10 * time.Second,
		DialTimeout: 100 * time.Millisecond, Logger: log.New(&logs, "", 0)})
	p := l.pools[0]
	p.SetBackends([]string{hole, live.Addr()})
	for i := range 4 {
		name, body, err := ask(l.TCPAddrs()[0].String(), "hello")
		if err != nil || name != "live" || body != "hello" {
			t.Fatalf("request %d: backend %q body %q error %v; want backend live echoing hello", i, name, body, err)
		}
	}
	if healthyOf(p)[hole] || !strings.Contains(logs.String(), "backend "+hole+" is down: dial tcp "+hole+": i/o timeout") {
		t.Fatalf("backend %s healthy %v after its connect hung; log:\n%s\nwant it down after an i/o timeout", hole, healthyOf(p)[hole], logs.String())
	}
}

// syncBuf is a log destination safe for concurrent writes.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
