package loadbalancer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// tagServer is a TCP backend on loopback that greets each connection with
// its name and a newline, then echoes until EOF and half-closes.
type tagServer struct {
	name string
	ln   net.Listener
	wg   sync.WaitGroup
}

func startTagServer(t *testing.T, name, addr string) *tagServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("backend %s: listen on %s: %v", name, addr, err)
	}
	s := &tagServer{name: name, ln: ln}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.Stop)
	return s
}

func (s *tagServer) Addr() string { return s.ln.Addr().String() }

func (s *tagServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			fmt.Fprintf(c, "%s\n", s.name)
			io.Copy(c, c)
			c.(*net.TCPConn).CloseWrite()
		}()
	}
}

// Stop closes the listener (new connects are refused) and waits for open
// connections to end.
func (s *tagServer) Stop() {
	s.ln.Close()
	s.wg.Wait()
}

// ask connects to addr, sends msg, half-closes and returns the backend's
// name and the echoed body.
func ask(addr, msg string) (name, body string, err error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return "", "", fmt.Errorf("write: %w", err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return "", "", fmt.Errorf("close write: %w", err)
	}
	all, err := io.ReadAll(c)
	if err != nil {
		return "", "", fmt.Errorf("read: %w", err)
	}
	name, body, ok := strings.Cut(string(all), "\n")
	if !ok {
		return "", "", fmt.Errorf("reply %q has no greeting line", all)
	}
	return name, body, nil
}

// greeting connects to addr and returns the backend's greeting, keeping the
// connection open until the test ends.
func greeting(t *testing.T, addr string) (string, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read greeting through %s: %v", addr, err)
	}
	c.SetReadDeadline(time.Time{})
	return strings.TrimSuffix(line, "\n"), c
}

// freeAddr returns a loopback address that was free a moment ago and whose
// connects are refused now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// startLB builds and runs a load balancer until the test ends.
func startLB(t *testing.T, cfg Config) *LB {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = log.New(testWriter{t}, "lb: ", log.Lmicroseconds)
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("new load balancer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("load balancer ended with %v, want no error", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("load balancer did not stop within 10s of cancel")
		}
	})
	return l
}

// eventually polls cond every 10ms until it holds or budget passes.
func eventually(t *testing.T, budget time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > budget {
			t.Fatalf("waited %s for %s", budget, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func healthyOf(p *Pool) map[string]bool {
	out := map[string]bool{}
	for _, b := range p.Status() {
		out[b.Addr] = b.Healthy
	}
	return out
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func failsOf(p *Pool, addr string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.backends {
		if b.addr == addr {
			return b.fails
		}
	}
	return -1
}
