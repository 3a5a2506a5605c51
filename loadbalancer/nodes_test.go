package loadbalancer

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/plane/plantest"
	"github.com/minicluster/mini/node/heartbeat"
)

// nodePortBackends starts one tag server per loopback IP 127.0.0.N, all on
// the same port (the "NodePort"), and returns that port.
func nodePortBackends(t *testing.T, names ...string) int {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		port := freePort(t)
		var lns []net.Listener
		for i := range names {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:%d", i+1, port))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if len(lns) < len(names) {
			continue
		}
		for i, n := range names {
			startTagServer(t, n, fmt.Sprintf("127.0.0.%d:%d", i+1, port))
		}
		return port
	}
	t.Fatalf("found no port free on 127.0.0.1-%d", len(names))
	return 0
}

func freePort(t *testing.T) int {
	_, p, _ := net.SplitHostPort(freeAddr(t))
	var n int
	fmt.Sscan(p, &n)
	return n
}

func registerNode(t *testing.T, c *client.Client, name, ip string) {
	t.Helper()
	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}}}
	if _, err := heartbeat.Register(ctx, c, n); err != nil {
		t.Fatal(err)
	}
	setReady(t, c, name, true)
}

func setReady(t *testing.T, c *client.Client, name string, ready bool) {
	t.Helper()
	if err := heartbeat.SetReady(context.Background(), c, name, ready, "Test", "", time.Now()); err != nil {
		t.Fatalf("set node %s ready=%v: %v", name, ready, err)
	}
}

// TestBackendsFollowNodes runs a real control plane and the load balancer
// with the read-only load balancer token, and changes the Nodes under it.
func TestBackendsFollowNodes(t *testing.T) {
	env := plantest.Start(t, plantest.Options{})
	port := nodePortBackends(t, "n1", "n2", "n3")
	lbc, err := client.New(client.Config{Server: env.Plane.URL, Token: env.Plane.Creds.Tokens.LB, CAData: env.Plane.Creds.CACertPEM})
	if err != nil {
		t.Fatal(err)
	}
	m := PortMapping{Listen: "127.0.0.1:0", NodePort: port, Protocol: "tcp"}
	l := startLB(t, Config{Ports: []PortMapping{m}, Client: lbc})
	front := l.TCPAddrs()[0].String()
	backendsAre := func(want ...string) {
		t.Helper()
		var addrs []string
		for i, ip := range want {
			want[i] = fmt.Sprintf("%s:%d", ip, port)
		}
		eventually(t, 5*time.Second, fmt.Sprintf("backends %v", want), func() bool {
			addrs = addrs[:0]
			for _, b := range l.Pool(m).Status() {
				addrs = append(addrs, b.Addr)
			}
			return slices.Equal(addrs, want)
		})
	}

	for i, n := range []string{"n1", "n2", "n3"} {
		registerNode(t, env.Client, n, fmt.Sprintf("127.0.0.%d", i+1))
	}
	backendsAre("127.0.0.1", "127.0.0.2", "127.0.0.3")
	seen := map[string]bool{}
	for range 6 {
		name, _ := greeting(t, front) // kept open: least-connections spreads them
		seen[name] = true
	}
	if len(seen) != 3 {
		t.Fatalf("6 open connections reached %v, want all of n1, n2, n3", seen)
	}

	setReady(t, env.Client, "n2", false)
	backendsAre("127.0.0.1", "127.0.0.3")
	if err := env.Client.Delete(context.Background(), &corev1.Node{}, "", "n3", nil); err != nil {
		t.Fatal(err)
	}
	backendsAre("127.0.0.1")
	for i := range 3 {
		if name, body, err := ask(front, "hi"); err != nil || name != "n1" || body != "hi" {
			t.Fatalf("request %d with only n1 Ready: backend %q body %q error %v; want n1 echoing hi", i, name, body, err)
		}
	}
	setReady(t, env.Client, "n2", true)
	registerNode(t, env.Client, "n3", "127.0.0.3")
	backendsAre("127.0.0.1", "127.0.0.2", "127.0.0.3")
	if name, _ := greeting(t, front); !strings.HasPrefix(name, "n") {
		t.Fatalf("greeting %q after nodes came back, want n1-n3", name)
	}
}
