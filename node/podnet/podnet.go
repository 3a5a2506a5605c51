// Package podnet owns the pod network of a mini node: the inner dockerd's
// bridge network that holds this node's pod CIDR, host-gw routes to every
// other node's pod CIDR through that node's IP on the cluster's Docker
// network, forwarding of pod traffic (the inner dockerd's FORWARD rules would
// drop routed traffic to its containers), and masquerading of traffic that
// leaves the pod range only — pod-to-pod traffic keeps its source IP.
package podnet

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Chains owned by podnet.
const (
	ChainMasq    = "MINI-PODNET"         // nat POSTROUTING
	ChainForward = "MINI-PODNET-FORWARD" // filter FORWARD
)

// Config describes the networks.
type Config struct {
	NodeName    string
	ClusterCIDR string // all pods, e.g. 10.244.0.0/16
	ServiceCIDR string // e.g. 10.96.0.0/12
	PodCIDR     string // this node's slice of ClusterCIDR
}

// Route sends one pod CIDR to the node that holds it.
type Route struct {
	CIDR string
	Via  string
}

// DesiredRoutes returns a route for every other node that has a pod CIDR
// and an internal IP, sorted by CIDR.
func DesiredRoutes(self string, nodes []*corev1.Node) []Route {
	var out []Route
	for _, n := range nodes {
		if n.Name == self || n.Spec.PodCIDR == "" {
			continue
		}
		ip := InternalIP(n)
		if ip == "" {
			continue
		}
		out = append(out, Route{CIDR: n.Spec.PodCIDR, Via: ip})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CIDR < out[j].CIDR })
	return out
}

// InternalIP returns a node's InternalIP address ("" if none).
func InternalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

// Rules returns the iptables-restore document for masquerading and
// forwarding.
func Rules(c Config) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*nat\n:%s - [0:0]\n", ChainMasq)
	fmt.Fprintf(&b, "-A %s -s %s -d %s -j RETURN\n", ChainMasq, c.PodCIDR, c.ClusterCIDR)
	fmt.Fprintf(&b, "-A %s -s %s -j MASQUERADE\n", ChainMasq, c.PodCIDR)
	b.WriteString("COMMIT\n")
	fmt.Fprintf(&b, "*filter\n:%s - [0:0]\n", ChainForward)
	if c.ServiceCIDR != "" {
		// Service IPs that were not translated have no endpoints: leave them
		// to the service proxy's reject rules.
		fmt.Fprintf(&b, "-A %s -d %s -j RETURN\n", ChainForward, c.ServiceCIDR)
	}
	fmt.Fprintf(&b, "-A %s -s %s -j ACCEPT\n", ChainForward, c.ClusterCIDR)
	fmt.Fprintf(&b, "-A %s -d %s -j ACCEPT\n", ChainForward, c.ClusterCIDR)
	b.WriteString("COMMIT\n")
	return b.Bytes()
}

// Jumps hook podnet's chains into the built-in ones.
var Jumps = []struct{ Table, Chain, Target string }{
	{"nat", "POSTROUTING", ChainMasq},
	{"filter", "FORWARD", ChainForward},
}

// parseRoutes reads `ip -4 route show` output and returns the routes whose
// destination lies inside cidr and that go via a gateway.
func parseRoutes(out, cidr string) []Route {
	_, within, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil
	}
	var rs []Route
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[1] != "via" {
			continue
		}
		_, dst, err := net.ParseCIDR(f[0])
		if err != nil || !within.Contains(dst.IP) {
			continue
		}
		rs = append(rs, Route{CIDR: dst.String(), Via: f[2]})
	}
	return rs
}

// Kernel applies routes and rules.
type Kernel interface {
	Routes(ctx context.Context) (string, error)
	ReplaceRoute(ctx context.Context, r Route) error
	DeleteRoute(ctx context.Context, r Route) error
	Restore(ctx context.Context, rules []byte) error
	EnsureJump(ctx context.Context, table, chain, target string) error
}

// SyncRoutes makes the gateway routes inside the cluster CIDR equal to want.
func SyncRoutes(ctx context.Context, k Kernel, clusterCIDR string, want []Route) error {
	out, err := k.Routes(ctx)
	if err != nil {
		return err
	}
	have := map[Route]bool{}
	for _, r := range parseRoutes(out, clusterCIDR) {
		have[r] = true
	}
	wanted := map[string]bool{}
	for _, r := range want {
		wanted[r.CIDR] = true
		if !have[r] {
			if err := k.ReplaceRoute(ctx, r); err != nil {
				return err
			}
		}
	}
	for r := range have {
		if !wanted[r.CIDR] {
			if err := k.DeleteRoute(ctx, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// ApplyRules installs the masquerade and forward rules and their jumps.
func ApplyRules(ctx context.Context, k Kernel, c Config) error {
	if err := k.Restore(ctx, Rules(c)); err != nil {
		return err
	}
	for _, j := range Jumps {
		if err := k.EnsureJump(ctx, j.Table, j.Chain, j.Target); err != nil {
			return err
		}
	}
	return nil
}
