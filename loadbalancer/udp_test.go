package loadbalancer

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// startUDPEcho runs a UDP backend that answers "name:payload".
func startUDPEcho(t *testing.T, name string) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort([]byte(name+":"+string(buf[:n])), from)
		}
	}()
	return c.LocalAddr().String()
}

func udpAsk(t *testing.T, c *net.UDPConn, msg string) string {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("send %q: %v", msg, err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("reply to %q: %v", msg, err)
	}
	return string(buf[:n])
}

// udpLB runs a load balancer with one UDP port whose pool the test fills
// directly (no node watch).
func udpLB(t *testing.T, clk Clock, backends ...string) (*LB, *udpProxy) {
	t.Helper()
	cfg := Config{UDPIdleTimeout: time.Minute, Clock: clk}
	cfg.defaults()
	l := &LB{cfg: cfg, byPort: map[PortMapping]*Pool{}}
	l.poolCtx, l.cancel = context.WithCancel(context.Background())
	p := l.newPool("udp test", nil)
	p.SetBackends(backends)
	u, err := listenUDP("127.0.0.1:0", p, &l.cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.udp = append(l.udp, u)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return l, u
}

func dialUDP(t *testing.T, addr net.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, addr.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestUDPFlowsStickAndExpire(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	a, b := startUDPEcho(t, "a"), startUDPEcho(t, "b")
	l, u := udpLB(t, clk, a, b)
	c1, c2 := dialUDP(t, l.UDPAddrs()[0]), dialUDP(t, l.UDPAddrs()[0])
	first := udpAsk(t, c1, "one")
	name1, _, _ := strings.Cut(first, ":")
	if first != name1+":one" {
		t.Fatalf("reply %q, want BACKEND:one", first)
	}
	for i := range 3 {
		if got := udpAsk(t, c1, "again"); got != name1+":again" {
			t.Fatalf("datagram %d of the same client answered %q, want %s:again (same flow, same backend)", i, got, name1)
		}
	}
	second := udpAsk(t, c2, "two")
	if name2, _, _ := strings.Cut(second, ":"); name2 == name1 {
		t.Fatalf("second client went to %s like the first, want the other backend (fewest flows)", name2)
	}
	if n := u.flowCount(); n != 2 {
		t.Fatalf("%d flows open, want 2", n)
	}
	for range 5 { // 75s of silence with a 1m idle timeout
		clk.Step(15 * time.Second)
		time.Sleep(5 * time.Millisecond)
	}
	eventually(t, 2*time.Second, "idle UDP flows to expire", func() bool { return u.flowCount() == 0 })
	if got := udpAsk(t, c1, "back"); !strings.HasSuffix(got, ":back") {
		t.Fatalf("reply after expiry %q, want BACKEND:back", got)
	}
}

func TestUDPFlowMovesOffRefusingBackend(t *testing.T) {
	live := startUDPEcho(t, "live")
	dc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	dead := dc.LocalAddr().String()
	dc.Close() // datagrams to it now draw ICMP port unreachable
	l, _ := udpLB(t, clocktesting.NewFakeClock(time.Now()), dead, live)
	c := dialUDP(t, l.UDPAddrs()[0])
	// The first datagram may go to the dead backend and be lost; a client
	// retries, and its flow then moves to the live one.
	buf := make([]byte, 100)
	for i := range 5 {
		c.Write([]byte("hi"))
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, err := c.Read(buf); err == nil {
			if got := string(buf[:n]); got != "live:hi" {
				t.Fatalf("reply %q, want live:hi", got)
			}
			t.Logf("answered on try %d", i+1)
			return
		}
	}
	t.Fatalf("no reply after 5 tries, want the flow to move to the live backend")
}
