package cluster

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/docker/docker/api/types/network"
)

// Fixed addresses inside a cluster's /24: the gateway is .1.
const (
	controlHost   = 2
	lbHost        = 3
	firstNodeHost = 10
	// MaxNodes is how many node addresses a /24 leaves (.10 to .254).
	MaxNodes = 254 - firstNodeHost + 1
)

// subnetCandidates are the /24s a cluster network may get, in order of
// preference: 172.30.0.0/24 … 172.31.255.0/24.
func subnetCandidates() []netip.Prefix {
	out := make([]netip.Prefix, 0, 512)
	for b := 30; b <= 31; b++ {
		for c := 0; c < 256; c++ {
			out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(b), byte(c), 0}), 24))
		}
	}
	return out
}

// chooseSubnet returns the first candidate overlapping none of used
// and not in skip.
func chooseSubnet(candidates, used []netip.Prefix, skip map[netip.Prefix]bool) (netip.Prefix, error) {
	for _, c := range candidates {
		if skip[c] {
			continue
		}
		free := true
		for _, u := range used {
			if c.Overlaps(u) {
				free = false
				break
			}
		}
		if free {
			return c, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 left in 172.30.0.0/15 for a cluster network (%d subnets in use)", len(used))
}

// hostAddr returns the address .n of a /24.
func hostAddr(subnet netip.Prefix, n int) netip.Addr {
	a := subnet.Masked().Addr().As4()
	a[3] = byte(n)
	return netip.AddrFrom4(a)
}

// NodeIP is the fixed address of node i.
func NodeIP(subnet netip.Prefix, i int) netip.Addr { return hostAddr(subnet, firstNodeHost+i) }

// usedSubnets lists the subnets of every Docker network and of the host's
// interfaces.
func usedSubnets(ctx context.Context, d *Docker) ([]netip.Prefix, error) {
	nets, err := d.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list Docker networks: %w", err)
	}
	var used []netip.Prefix
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil {
				used = append(used, p)
			}
		}
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			used = append(used, p.Masked())
		}
	}
	return used, nil
}

// createNetwork makes the cluster's bridge network on a free /24, retrying
// with the next candidate when another create took it meanwhile. A second
// network with the same name is refused by Docker (CheckDuplicate), which
// makes the name a lock against two concurrent creates.
func createNetwork(ctx context.Context, d *Docker, cluster, op string) (id string, subnet netip.Prefix, err error) {
	used, err := usedSubnets(ctx, d)
	if err != nil {
		return "", netip.Prefix{}, err
	}
	skip := map[netip.Prefix]bool{}
	for attempt := 0; attempt < 8; attempt++ {
		subnet, err = chooseSubnet(subnetCandidates(), used, skip)
		if err != nil {
			return "", netip.Prefix{}, err
		}
		var resp network.CreateResponse
		err = mutate(ctx, 30*time.Second, func(ctx context.Context) error {
			var err error
			resp, err = d.NetworkCreate(ctx, NetworkName(cluster), network.CreateOptions{
				Driver: "bridge",
				IPAM: &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{
					Subnet: subnet.String(), Gateway: hostAddr(subnet, 1).String(),
				}}},
				Options: map[string]string{"com.docker.network.bridge.enable_ip_masquerade": "true"},
				Labels:  labels(cluster, "network", op),
			})
			return err
		})
		if err == nil {
			return resp.ID, subnet, nil
		}
		if !strings.Contains(err.Error(), "overlaps") {
			if strings.Contains(err.Error(), "already exists") {
				return "", netip.Prefix{}, &ExistsError{Cluster: cluster}
			}
			return "", netip.Prefix{}, fmt.Errorf("create network %s on %s: %w", NetworkName(cluster), subnet, err)
		}
		skip[subnet] = true
	}
	return "", netip.Prefix{}, fmt.Errorf("create network %s: every subnet tried was taken meanwhile: %w", NetworkName(cluster), err)
}

// ExistsError refuses to create a cluster whose name is taken.
type ExistsError struct{ Cluster string }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("cluster %q already exists (delete it first with: mini cluster delete %s)", e.Cluster, e.Cluster)
}
