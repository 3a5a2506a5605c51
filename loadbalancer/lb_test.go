package loadbalancer

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestParsePortMapping(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    PortMapping
		wantErr string
	}{
		{in: "8080:30080", want: PortMapping{Listen: ":8080", NodePort: 30080, Protocol: "tcp"}},
		{in: "5353:30053/udp", want: PortMapping{Listen: ":5353", NodePort: 30053, Protocol: "udp"}},
		{in: "127.0.0.1:80:30000/TCP", want: PortMapping{Listen: "127.0.0.1:80", NodePort: 30000, Protocol: "tcp"}},
		{in: "[::1]:80:30000", want: PortMapping{Listen: "[::1]:80", NodePort: 30000, Protocol: "tcp"}},
		{in: "8080", wantErr: "want LISTEN:NODEPORT"},
		{in: "8080:x", wantErr: `node port "x"`},
		{in: "8080:70000", wantErr: `node port "70000"`},
		{in: "8080:30080/sctp", wantErr: `protocol "sctp"`},
		{in: "99999:30080", wantErr: `listen port "99999"`},
	} {
		got, err := ParsePortMapping(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePortMapping(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParsePortMapping(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestPoolPicksLeastConnectionsRoundRobin(t *testing.T) {
	p := newPool(context.Background(), "test", nil, log.New(io.Discard, "", 0))
	p.SetBackends([]string{"b:1", "a:1", "c:1", "a:1"})
	var got []string
	var held []*backend
	for range 3 {
		b := p.pick(nil)
		got = append(got, b.addr)
		held = append(held, b)
	}
	if strings.Join(got, ",") != "a:1,b:1,c:1" {
		t.Fatalf("first three picks = %v, want each backend once in order a:1,b:1,c:1", got)
	}
	p.release(held[1]) // b:1 now has the fewest connections
	if b := p.pick(nil); b.addr != "b:1" {
		t.Fatalf("pick with b:1 least loaded = %s, want b:1", b.addr)
	}
	if b := p.pick([]*backend{held[0], held[1], held[2]}); b != nil {
		t.Fatalf("pick with every backend tried = %s, want none", b.addr)
	}
	// With one backend down, the others are picked; with all down, any.
	p.mu.Lock()
	for _, b := range p.backends {
		b.healthy = b.addr == "c:1"
	}
	p.mu.Unlock()
	for range 3 {
		if b := p.pick(nil); b.addr != "c:1" {
			t.Fatalf("pick with only c:1 healthy = %s, want c:1", b.addr)
		}
	}
	p.mu.Lock()
	p.backends[2].healthy = false
	p.mu.Unlock()
	if b := p.pick(nil); b == nil {
		t.Fatalf("pick with every backend down = none, want one anyway (fail open)")
	}
	p.SetBackends([]string{"c:1"})
	if st := p.Status(); len(st) != 1 || st[0].Addr != "c:1" || st[0].Active != 4 {
		t.Fatalf("status after removing a:1 and b:1 = %+v, want only c:1 keeping its 4 connections", st)
	}
}

// TestHealthCheckEjectsAndRestores steps an injected clock: two failed
// checks eject a backend, one success brings it back.
func TestHealthCheckEjectsAndRestores(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	s := startTagServer(t, "one", "127.0.0.1:0")
	addr := s.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	p := newPool(ctx, "test", &healthCheck{interval: time.Second, timeout: time.Second, clock: clk}, log.New(testWriter{t}, "", 0))
	t.Cleanup(func() { cancel(); p.wg.Wait() })
	p.SetBackends([]string{addr})
	b := p.backends[0]
	checks := int64(1)
	waitCheck := func() {
		eventually(t, 2*time.Second, fmt.Sprintf("health check %d", checks), func() bool { return b.checks.Load() == checks })
	}
	step := func() {
		clk.Step(time.Second)
		checks++
		waitCheck()
	}
	waitCheck() // the first check runs at once, and succeeds
	s.Stop()
	step()
	if !healthyOf(p)[addr] {
		t.Fatalf("backend down after one failed check, want up until %d", fall)
	}
	step()
	if healthyOf(p)[addr] {
		t.Fatalf("backend up after %d failed checks, want ejected", fall)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	defer ln.Close()
	step()
	if !healthyOf(p)[addr] {
		t.Fatalf("backend down after a good check, want it back")
	}
}

// TestEjectsDeadBackendWithinASecond measures, with the real clock and the
// default intervals, how long a stopped backend keeps being offered.
func TestEjectsDeadBackendWithinASecond(t *testing.T) {
	a, b := startTagServer(t, "a", "127.0.0.1:0"), startTagServer(t, "b", "127.0.0.1:0")
	l := startLB(t, Config{APIListen: "127.0.0.1:0", APIBackend: a.Addr()})
	p := l.pools[0]
	p.SetBackends([]string{a.Addr(), b.Addr()})
	b.Stop()
	took := eventually(t, 1500*time.Millisecond, "the stopped backend to be ejected", func() bool { return !healthyOf(p)[b.Addr()] })
	t.Logf("stopped backend ejected after %s", took)
	// Everything now goes to a, without a single failed connect.
	for i := range 6 {
		if name, _, err := ask(l.TCPAddrs()[0].String(), "x"); err != nil || name != "a" {
			t.Fatalf("request %d after ejection: backend %q, error %v; want backend a", i, name, err)
		}
	}
}

func TestRetriesRefusedConnectOnAnotherBackend(t *testing.T) {
	live := startTagServer(t, "live", "127.0.0.1:0")
	dead := freeAddr(t)
	// Health checks far apart: only the proxy's own connects find the dead one.
	l := startLB(t, Config{APIListen: "127.0.0.1:0", APIBackend: dead, HealthInterval: time.Hour})
	p := l.pools[0]
	p.SetBackends([]string{dead, live.Addr()})
	eventually(t, 2*time.Second, "the first health check to fail", func() bool { return failsOf(p, dead) > 0 })
	for i := range 4 {
		name, body, err := ask(l.TCPAddrs()[0].String(), "hello")
		if err != nil || name != "live" || body != "hello" {
			t.Fatalf("request %d: backend %q body %q error %v; want backend live echoing hello", i, name, body, err)
		}
	}
	if healthyOf(p)[dead] {
		t.Fatalf("backend %s still healthy after a refused connect, want ejected", dead)
	}
}

func TestNoBackendResetsClient(t *testing.T) {
	l := startLB(t, Config{APIListen: "127.0.0.1:0", APIBackend: freeAddr(t)})
	_, _, err := ask(l.TCPAddrs()[0].String(), "x")
	if err == nil {
		t.Fatalf("request with no live backend succeeded, want an error")
	}
}

// TestHalfClose checks both directions finish independently: the client
// half-closes and still reads the echo; the backend half-closes first and
// still reads what the client sends afterwards.
func TestHalfClose(t *testing.T) {
	echo := startTagServer(t, "echo", "127.0.0.1:0")
	l := startLB(t, Config{APIListen: "127.0.0.1:0", APIBackend: echo.Addr()})
	msg := strings.Repeat("0123456789", 100000)
	if name, body, err := ask(l.TCPAddrs()[0].String(), msg); err != nil || name != "echo" || body != msg {
		t.Fatalf("client half-close: backend %q, %d bytes back, error %v; want echo returning all %d bytes", name, len(body), err, len(msg))
	}

	// A backend that says hello, half-closes, then reports what it read
	// (health checks read nothing).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, "hello")
				c.(*net.TCPConn).CloseWrite()
				if b, _ := io.ReadAll(c); len(b) > 0 {
					got <- string(b)
				}
			}()
		}
	}()
	p := l.pools[0]
	p.SetBackends([]string{ln.Addr().String()})
	c, err := net.Dial("tcp", l.TCPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	first, err := io.ReadAll(c) // ends at the backend's half-close
	if err != nil || string(first) != "hello" {
		t.Fatalf("read until backend half-close: %q, %v; want hello then EOF", first, err)
	}
	io.WriteString(c, "after your EOF")
	c.(*net.TCPConn).CloseWrite()
	select {
	case s := <-got:
		if s != "after your EOF" {
			t.Fatalf("backend read %q after its half-close, want %q", s, "after your EOF")
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("backend did not see the client's bytes and EOF within 5s")
	}
}

func TestIdleConnectionClosed(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	echo := startTagServer(t, "echo", "127.0.0.1:0")
	l := startLB(t, Config{APIListen: "127.0.0.1:0", APIBackend: echo.Addr(), TCPIdleTimeout: time.Minute,
		HealthInterval: time.Hour, Clock: clk})
	name, c := greeting(t, l.TCPAddrs()[0].String())
	if name != "echo" {
		t.Fatalf("greeting %q, want echo", name)
	}
	buf := make([]byte, 4)
	// Traffic every 20s keeps it open for 3 minutes of fake time.
	for i := range 9 {
		for range 4 {
			clk.Step(5 * time.Second)
			time.Sleep(2 * time.Millisecond)
		}
		if _, err := io.WriteString(c, "ping"); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("echo %d after %s of fake time with traffic: %v; want the connection open", i, time.Duration(i+1)*20*time.Second, err)
		}
	}
	// Silence: closed once a minute of fake time passes without a byte.
	for elapsed := 15 * time.Second; elapsed <= 5*time.Minute; elapsed += 15 * time.Second {
		clk.Step(15 * time.Second)
		time.Sleep(5 * time.Millisecond)
		c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		n, err := c.Read(buf)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			continue // still open
		}
		if elapsed < time.Minute {
			t.Fatalf("connection ended (read %d, %v) after %s of silence, want it open for the 1m idle timeout", n, err, elapsed)
		}
		t.Logf("closed after %s of fake silence (read %d, %v)", elapsed, n, err)
		return
	}
	t.Fatalf("connection still open after 5m of fake silence with a 1m idle timeout")
}

// TestGracefulShutdown: on cancel the listener closes at once, open
// connections keep working until ShutdownGrace, then are closed.
func TestGracefulShutdown(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	echo := startTagServer(t, "echo", "127.0.0.1:0")
	l, err := New(Config{APIListen: "127.0.0.1:0", APIBackend: echo.Addr(), HealthInterval: time.Hour,
		ShutdownGrace: 10 * time.Second, Clock: clk, Logger: log.New(testWriter{t}, "lb: ", 0)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	front := l.TCPAddrs()[0].String()
	_, c := greeting(t, front)
	cancel()
	eventually(t, 2*time.Second, "the listener to close", func() bool {
		nc, err := net.Dial("tcp", front)
		if err == nil {
			nc.Close()
		}
		return err != nil
	})
	buf := make([]byte, 4)
	io.WriteString(c, "ping")
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("open connection during the grace period: %v, want it still echoing", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v with a connection open and grace left, want it to wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	// Step past the grace period (again, should the timer not be armed yet).
	for i := 0; ; i++ {
		clk.Step(10 * time.Second)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run returned %v, want nil", err)
			}
		case <-time.After(100 * time.Millisecond):
			if i == 30 {
				t.Fatalf("Run still running after the grace period ended")
			}
			continue
		}
		break
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := c.Read(buf); err == nil {
		t.Fatalf("read %d bytes after the grace period, want the connection closed", n)
	}
}
