// Package proxy owns service routing on a node, as kube-proxy's iptables
// mode does: every ClusterIP and NodePort service port becomes a chain that
// picks one ready endpoint at random (statistic module, equal
// probabilities), with ClientIP session affinity through the recent module,
// NodePort and hairpin traffic masqueraded, and ports without endpoints
// rejected. The rules are computed from Services and EndpointSlices by a pure
// function (Build) and applied atomically with iptables-restore; the Syncer
// re-applies them within about a second of any change.
package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"sort"
	"strings"
)

// Chain names. Per-service chains are MINI-SVC-<hash>, per-endpoint chains
// MINI-SEP-<hash>, NodePort entry chains MINI-EXT-<hash>.
const (
	ChainServices    = "MINI-SERVICES"
	ChainNodePorts   = "MINI-NODEPORTS"
	ChainPostrouting = "MINI-POSTROUTING"
	ChainMarkMasq    = "MINI-MARK-MASQ"
	ChainFirewall    = "MINI-FIREWALL" // filter table: rejects for ports without endpoints
	svcPrefix        = "MINI-SVC-"
	sepPrefix        = "MINI-SEP-"
	extPrefix        = "MINI-EXT-"
	masqMark         = "0x4000/0x4000"
)

// Endpoint is one ready backend of a service port.
type Endpoint struct {
	IP   string
	Port int32
}

// ServicePort is one port of one Service with its ready endpoints.
type ServicePort struct {
	Namespace, Name, PortName string
	ClusterIP                 string // "" or "None": no ClusterIP rules
	Port                      int32
	NodePort                  int32  // 0: none
	Protocol                  string // "tcp", "udp" or "sctp"
	AffinitySeconds           int32  // > 0: ClientIP session affinity
	Endpoints                 []Endpoint
}

func (sp ServicePort) id() string {
	return sp.Namespace + "/" + sp.Name + ":" + sp.PortName + "/" + sp.Protocol
}

// Config is what the rules need to know about the cluster.
type Config struct {
	// ClusterCIDR is the pod network; traffic to a ClusterIP from outside it
	// is masqueraded so replies come back through this node.
	ClusterCIDR string
}

// hashName derives a stable chain name suffix, as kube-proxy does.
func hashName(prefix, s string) string {
	h := sha256.Sum256([]byte(s))
	return prefix + base32.StdEncoding.EncodeToString(h[:])[:16]
}

// Build returns the iptables-restore input (nat and filter tables) for the
// service ports. existing lists the MINI-SVC/SEP/EXT chains currently in the
// nat table, so those no longer needed are deleted in the same transaction.
func Build(cfg Config, ports []ServicePort, existing []string) []byte {
	ports = append([]ServicePort(nil), ports...)
	sort.Slice(ports, func(i, j int) bool { return ports[i].id() < ports[j].id() })
	var nat, natChains, filter bytes.Buffer
	used := map[string]bool{}
	chain := func(name string) {
		if !used[name] {
			used[name] = true
			fmt.Fprintf(&natChains, ":%s - [0:0]\n", name)
		}
	}
	for _, c := range []string{ChainServices, ChainNodePorts, ChainPostrouting, ChainMarkMasq} {
		chain(c)
	}
	w := func(format string, args ...any) { fmt.Fprintf(&nat, format+"\n", args...) }
	w("-A %s -j MARK --set-xmark %s", ChainMarkMasq, masqMark)
	w("-A %s -m mark ! --mark %s -j RETURN", ChainPostrouting, masqMark)
	w("-A %s -j MARK --set-xmark 0x4000/0x0", ChainPostrouting)
	w("-A %s -j MASQUERADE", ChainPostrouting)

	var rejects []string
	for _, sp := range ports {
		proto := strings.ToLower(sp.Protocol)
		hasIP := sp.ClusterIP != "" && sp.ClusterIP != "None"
		if !hasIP && sp.NodePort == 0 {
			continue
		}
		if len(sp.Endpoints) == 0 {
			if hasIP {
				rejects = append(rejects, fmt.Sprintf("-A %s -d %s/32 -p %s -m %s --dport %d -j REJECT", ChainFirewall, sp.ClusterIP, proto, proto, sp.Port))
			}
			if sp.NodePort != 0 {
				rejects = append(rejects, fmt.Sprintf("-A %s -m addrtype --dst-type LOCAL -p %s -m %s --dport %d -j REJECT", ChainFirewall, proto, proto, sp.NodePort))
			}
			continue
		}
		svc := hashName(svcPrefix, sp.id())
		chain(svc)
		if hasIP {
			if cfg.ClusterCIDR != "" {
				w("-A %s ! -s %s -d %s/32 -p %s -m %s --dport %d -j %s", ChainServices, cfg.ClusterCIDR, sp.ClusterIP, proto, proto, sp.Port, ChainMarkMasq)
			}
			w("-A %s -d %s/32 -p %s -m %s --dport %d -j %s", ChainServices, sp.ClusterIP, proto, proto, sp.Port, svc)
		}
		if sp.NodePort != 0 {
			ext := hashName(extPrefix, sp.id())
			chain(ext)
			w("-A %s -p %s -m %s --dport %d -j %s", ChainNodePorts, proto, proto, sp.NodePort, ext)
			w("-A %s -j %s", ext, ChainMarkMasq)
			w("-A %s -j %s", ext, svc)
		}
		eps := append([]Endpoint(nil), sp.Endpoints...)
		sort.Slice(eps, func(i, j int) bool {
			if eps[i].IP != eps[j].IP {
				return eps[i].IP < eps[j].IP
			}
			return eps[i].Port < eps[j].Port
		})
		seps := make([]string, len(eps))
		for i, ep := range eps {
			seps[i] = hashName(sepPrefix, sp.id()+"/"+ep.IP+":"+fmt.Sprint(ep.Port))
			chain(seps[i])
		}
		if sp.AffinitySeconds > 0 {
			for _, sep := range seps {
				w("-A %s -m recent --name %s --rcheck --seconds %d --reap -j %s", svc, sep, sp.AffinitySeconds, sep)
			}
		}
		for i, sep := range seps {
			n := len(seps) - i
			if n > 1 {
				w("-A %s -m statistic --mode random --probability %.10f -j %s", svc, 1/float64(n), sep)
			} else {
				w("-A %s -j %s", svc, sep)
			}
		}
		for i, ep := range eps {
			w("-A %s -s %s/32 -j %s", seps[i], ep.IP, ChainMarkMasq)
			recent := ""
			if sp.AffinitySeconds > 0 {
				recent = fmt.Sprintf("-m recent --name %s --set ", seps[i])
			}
			w("-A %s -p %s -m %s %s-j DNAT --to-destination %s:%d", seps[i], proto, proto, recent, ep.IP, ep.Port)
		}
	}
	w("-A %s -m addrtype --dst-type LOCAL -j %s", ChainServices, ChainNodePorts)

	var out bytes.Buffer
	out.WriteString("*nat\n")
	out.Write(natChains.Bytes())
	var stale []string
	for _, c := range existing {
		if !used[c] && (strings.HasPrefix(c, svcPrefix) || strings.HasPrefix(c, sepPrefix) || strings.HasPrefix(c, extPrefix)) {
			fmt.Fprintf(&out, ":%s - [0:0]\n", c) // flush before delete
			stale = append(stale, c)
		}
	}
	out.Write(nat.Bytes())
	sort.Strings(stale)
	for _, c := range stale {
		fmt.Fprintf(&out, "-X %s\n", c)
	}
	out.WriteString("COMMIT\n")

	filter.WriteString("*filter\n")
	fmt.Fprintf(&filter, ":%s - [0:0]\n", ChainFirewall)
	for _, r := range rejects {
		filter.WriteString(r + "\n")
	}
	filter.WriteString("COMMIT\n")
	out.Write(filter.Bytes())
	return out.Bytes()
}

// Jumps are the rules that hook mini's chains into the built-in chains.
// They are ensured separately (iptables -C / -I) because other programs
// (the inner dockerd) also edit the built-in chains.
var Jumps = []struct{ Table, Chain, Target string }{
	{"nat", "PREROUTING", ChainServices},
	{"nat", "OUTPUT", ChainServices},
	{"nat", "POSTROUTING", ChainPostrouting},
	{"filter", "FORWARD", ChainFirewall},
	{"filter", "OUTPUT", ChainFirewall},
	{"filter", "INPUT", ChainFirewall},
}
