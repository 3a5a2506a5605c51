package podnet

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/internal/netnstest"
	"github.com/minicluster/mini/node/proxy"
)

func node(name, cidr, ip string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: cidr}}
	if ip != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
	}
	return n
}

func TestDesiredRoutes(t *testing.T) {
	nodes := []*corev1.Node{
		node("n2", "10.244.2.0/24", "172.30.0.3"),
		node("n1", "10.244.1.0/24", "172.30.0.2"),
		node("n3", "", "172.30.0.4"),    // no CIDR yet
		node("n4", "10.244.4.0/24", ""), // no address yet
		node("n0", "10.244.0.0/24", "172.30.0.1"),
	}
	got := DesiredRoutes("n0", nodes)
	want := []Route{{"10.244.1.0/24", "172.30.0.2"}, {"10.244.2.0/24", "172.30.0.3"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("routes %v, want %v", got, want)
	}
}

func TestParseRoutes(t *testing.T) {
	out := `default via 172.30.0.254 dev eth0
10.244.1.0/24 via 172.30.0.2 dev eth0
10.244.0.0/24 dev mini0 proto kernel scope link src 10.244.0.1
10.245.1.0/24 via 172.30.0.9 dev eth0
172.30.0.0/24 dev eth0 proto kernel scope link src 172.30.0.1
`
	got := parseRoutes(out, "10.244.0.0/16")
	if len(got) != 1 || got[0] != (Route{"10.244.1.0/24", "172.30.0.2"}) {
		t.Fatalf("parsed %v, want only the gateway route inside the cluster CIDR", got)
	}
}

// TestPodNetworkInKernel builds two nodes, each with one pod, out of
// network namespaces and checks that pods reach each other by IP without
// masquerading, and that traffic leaving the pod range is masqueraded.
func TestPodNetworkInKernel(t *testing.T) {
	nodeA, nodeB := netnstest.New(t), netnstest.New(t)
	podA, podB := netnstest.New(t), netnstest.New(t)
	// The cluster network between the nodes.
	link(t, nodeA, "eth0", "172.30.0.2/24", nodeB, "eth0", "172.30.0.3/24")
	// Each pod hangs off its node like a container off the bridge.
	link(t, nodeA, "mini0", "10.244.1.1/24", podA, "eth0", "10.244.1.5/24")
	link(t, nodeB, "mini0", "10.244.2.1/24", podB, "eth0", "10.244.2.5/24")
	podA.Run("ip", "route", "add", "default", "via", "10.244.1.1")
	podB.Run("ip", "route", "add", "default", "via", "10.244.2.1")
	for _, n := range []*netnstest.NS{nodeA, nodeB} {
		n.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	nodes := []*corev1.Node{node("a", "10.244.1.0/24", "172.30.0.2"), node("b", "10.244.2.0/24", "172.30.0.3")}
	ctx := context.Background()
	for _, x := range []struct {
		ns   *netnstest.NS
		name string
		cidr string
	}{{nodeA, "a", "10.244.1.0/24"}, {nodeB, "b", "10.244.2.0/24"}} {
		k := ExecKernel{proxy.Exec{NetNS: x.ns.Name}}
		cfg := Config{NodeName: x.name, ClusterCIDR: "10.244.0.0/16", ServiceCIDR: "10.96.0.0/12", PodCIDR: x.cidr}
		// The default FORWARD policy of a node with dockerd is DROP.
		x.ns.Run("iptables", "-P", "FORWARD", "DROP")
		if err := ApplyRules(ctx, k, cfg); err != nil {
			t.Fatal(err)
		}
		if err := SyncRoutes(ctx, k, cfg.ClusterCIDR, DesiredRoutes(x.name, nodes)); err != nil {
			t.Fatal(err)
		}
		// A second sync changes nothing and fails on nothing.
		if err := SyncRoutes(ctx, k, cfg.ClusterCIDR, DesiredRoutes(x.name, nodes)); err != nil {
			t.Fatalf("second sync: %v", err)
		}
	}
	// Pod B and node B's own address each report the peer address they see.
	peerServer(t, podB, "10.244.2.5:9000")
	peerServer(t, nodeB, "172.30.0.3:9001")

	if got := dial(t, podA, "10.244.2.5:9000"); got != "10.244.1.5" {
		t.Fatalf("pod B saw pod A as %q; want its pod IP 10.244.1.5 (no masquerade between pods)", got)
	}
	if got := dial(t, podA, "172.30.0.3:9001"); got != "172.30.0.2" {
		t.Fatalf("node B saw pod A as %q; want node A's IP 172.30.0.2 (masqueraded leaving the pod range)", got)
	}
	// Node B leaves: its route goes.
	k := ExecKernel{proxy.Exec{NetNS: nodeA.Name}}
	if err := SyncRoutes(ctx, k, "10.244.0.0/16", DesiredRoutes("a", nodes[:1])); err != nil {
		t.Fatal(err)
	}
	if out := nodeA.Run("ip", "-4", "route", "show"); strings.Contains(out, "10.244.2.0/24") {
		t.Fatalf("route to the departed node's CIDR remains:\n%s", out)
	}
}

func link(t *testing.T, a *netnstest.NS, aName, aAddr string, b *netnstest.NS, bName, bAddr string) {
	t.Helper()
	a.Run("ip", "link", "add", aName, "type", "veth", "peer", "name", "tmp-peer")
	a.Run("ip", "link", "set", "tmp-peer", "netns", b.Name)
	b.Run("ip", "link", "set", "tmp-peer", "name", bName)
	a.Run("ip", "addr", "add", aAddr, "dev", aName)
	b.Run("ip", "addr", "add", bAddr, "dev", bName)
	a.Run("ip", "link", "set", aName, "up")
	b.Run("ip", "link", "set", bName, "up")
}

func peerServer(t *testing.T, ns *netnstest.NS, addr string) {
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			io.WriteString(c, host)
			c.Close()
		}
	}()
}

func dial(t *testing.T, ns *netnstest.NS, addr string) string {
	t.Helper()
	var got string
	err := ns.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		b, err := io.ReadAll(c)
		got = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ns.Name, err)
	}
	return got
}
