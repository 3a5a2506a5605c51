package proxy

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/minicluster/mini/internal/netnstest"
)

// TestRulesInKernel applies the rules in a real network namespace and sends
// real connections through them.
func TestRulesInKernel(t *testing.T) {
	ns := netnstest.New(t)
	ns.Run("ip", "link", "add", "pods0", "type", "veth", "peer", "name", "pods1")
	ns.Run("ip", "link", "set", "pods0", "up")
	ns.Run("ip", "link", "set", "pods1", "up")
	for _, a := range []string{"10.244.1.2/24", "10.244.1.3/24", "172.30.0.5/24"} {
		ns.Run("ip", "addr", "add", a, "dev", "pods0")
	}
	ns.Run("ip", "route", "add", "default", "dev", "pods0")

	// Two "pods" answer with their own address.
	for _, ip := range []string{"10.244.1.2", "10.244.1.3"} {
		var ln net.Listener
		if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", ip+":8080"); return }); err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				io.WriteString(c, ip)
				c.Close()
			}
		}()
		t.Cleanup(func() { ln.Close() })
	}
	run := Exec{NetNS: ns.Name}
	ctx := context.Background()
	apply := func(ports []ServicePort) {
		t.Helper()
		existing, err := run.Chains(ctx, "nat")
		if err != nil {
			t.Fatal(err)
		}
		if err := run.Restore(ctx, Build(Config{ClusterCIDR: "10.244.0.0/16"}, ports, existing)); err != nil {
			t.Fatal(err)
		}
		for _, j := range Jumps {
			if err := run.EnsureJump(ctx, j.Table, j.Chain, j.Target); err != nil {
				t.Fatal(err)
			}
		}
	}
	get := func(addr string) (string, error) {
		var body string
		// Dial on the namespace's thread (an http.Client would dial from
		// another goroutine, outside the namespace).
		err := ns.Do(func() error {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			b, err := io.ReadAll(c)
			body = string(b)
			return err
		})
		return body, err
	}
	web := ServicePort{Namespace: "d", Name: "web", ClusterIP: "10.96.0.20", Port: 80, NodePort: 30080, Protocol: "tcp",
		Endpoints: []Endpoint{{"10.244.1.2", 8080}, {"10.244.1.3", 8080}}}
	apply([]ServicePort{web})

	seen := map[string]int{}
	for i := 0; i < 40; i++ {
		body, err := get("10.96.0.20:80")
		if err != nil {
			t.Fatalf("request %d to the cluster IP: %v", i, err)
		}
		seen[body]++
	}
	if len(seen) != 2 {
		t.Fatalf("40 requests to the cluster IP reached %v; want both endpoints", seen)
	}
	if body, err := get("172.30.0.5:30080"); err != nil || !strings.HasPrefix(body, "10.244.1.") {
		t.Fatalf("node port: %q, %v; want an endpoint's answer", body, err)
	}

	// One endpoint left: all traffic goes to it; the removed chains are gone.
	web.Endpoints = web.Endpoints[1:]
	apply([]ServicePort{web})
	for i := 0; i < 10; i++ {
		if body, err := get("10.96.0.20:80"); err != nil || body != "10.244.1.3" {
			t.Fatalf("after removing an endpoint: %q, %v; want 10.244.1.3", body, err)
		}
	}
	chains, _ := run.Chains(ctx, "nat")
	if n := countPrefix(chains, sepPrefix); n != 1 {
		t.Fatalf("%d endpoint chains after the update, want 1: %v", n, chains)
	}

	// No endpoints: the connection is refused at once, not left hanging.
	web.Endpoints = nil
	apply([]ServicePort{web})
	start := time.Now()
	_, err := get("10.96.0.20:80")
	if err == nil || !strings.Contains(err.Error(), "refused") || time.Since(start) > time.Second {
		t.Fatalf("service without endpoints: err=%v after %v; want connection refused at once", err, time.Since(start))
	}
}

func countPrefix(list []string, p string) int {
	n := 0
	for _, s := range list {
		if strings.HasPrefix(s, p) {
			n++
		}
	}
	return n
}
