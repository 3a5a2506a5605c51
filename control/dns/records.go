package dns

import (
	"bytes"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// rrset is what one name answers.
type rrset struct {
	a, aaaa []net.IP
	srv     []srv
	cname   string // ExternalName services
}

type srv struct {
	port   uint16
	target string // fully qualified
}

// zone holds the records of the cluster domain, indexed by lowercase fully
// qualified name, plus PTRs. Each Service owns its names; recomputing a
// Service replaces exactly the names it owned.
type zone struct {
	domain string // "cluster.local."

	mu       sync.RWMutex
	names    map[string]*rrset
	ptrs     map[string]map[string]string // reverse name → service key → target
	owned    map[string][]string          // service key → names
	ownedPTR map[string][]string          // service key → reverse names
}

func newZone(domain string) *zone {
	return &zone{domain: domain, names: map[string]*rrset{}, ptrs: map[string]map[string]string{},
		owned: map[string][]string{}, ownedPTR: map[string][]string{}}
}

// lookup returns the records of name (lowercase, fully qualified).
func (z *zone) lookup(name string) *rrset {
	z.mu.RLock()
	defer z.mu.RUnlock()
	return z.names[name]
}

// ptr returns the target of a reverse name ("" if unknown).
func (z *zone) ptr(name string) string {
	z.mu.RLock()
	defer z.mu.RUnlock()
	best := ""
	for _, target := range z.ptrs[name] {
		if best == "" || target < best {
			best = target
		}
	}
	return best
}

// set replaces the records of the service key with names and ptrs (nil:
// the service is gone).
func (z *zone) set(key string, names map[string]*rrset, ptrs map[string]string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, n := range z.owned[key] {
		delete(z.names, n)
	}
	for _, r := range z.ownedPTR[key] {
		delete(z.ptrs[r], key)
		if len(z.ptrs[r]) == 0 {
			delete(z.ptrs, r)
		}
	}
	delete(z.owned, key)
	delete(z.ownedPTR, key)
	for n, rs := range names {
		z.names[n] = rs
		z.owned[key] = append(z.owned[key], n)
	}
	for r, target := range ptrs {
		if z.ptrs[r] == nil {
			z.ptrs[r] = map[string]string{}
		}
		z.ptrs[r][key] = target
		z.ownedPTR[key] = append(z.ownedPTR[key], r)
	}
}

// serviceRecords computes the names and PTRs of one Service from it and its
// EndpointSlices, following the Kubernetes DNS specification:
//   - <svc>.<ns>.svc.<domain>: the ClusterIPs, or for a headless Service
//     the ready endpoint addresses, or a CNAME for an ExternalName Service;
//   - <host>.<svc>.<ns>.svc.<domain> for each endpoint of a headless
//     Service, host being the endpoint's hostname (StatefulSet pods) or its
//     address with dashes;
//   - _<port>._<proto>.<svc>.<ns>.svc.<domain> SRV for each named port;
//   - PTRs for ClusterIPs and headless endpoint addresses.
func serviceRecords(domain string, svc *corev1.Service, slices []*discoveryv1.EndpointSlice) (map[string]*rrset, map[string]string) {
	base := svc.Name + "." + svc.Namespace + ".svc." + domain
	names := map[string]*rrset{base: {}}
	ptrs := map[string]string{}
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		names[base].cname = mdns.Fqdn(strings.ToLower(svc.Spec.ExternalName))
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
		headlessRecords(base, svc, slices, names, ptrs)
	default:
		ips := svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips = []string{svc.Spec.ClusterIP}
		}
		for _, s := range ips {
			addIP(names[base], ptrs, s, base)
		}
		for _, p := range svc.Spec.Ports {
			if p.Name != "" {
				addSRV(names, base, p.Name, p.Protocol, uint16(p.Port), base)
			}
		}
	}
	return names, ptrs
}

func headlessRecords(base string, svc *corev1.Service, eps []*discoveryv1.EndpointSlice, names map[string]*rrset, ptrs map[string]string) {
	for _, es := range eps {
		for _, ep := range es.Endpoints {
			if !svc.Spec.PublishNotReadyAddresses && ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, addr := range ep.Addresses {
				ip := net.ParseIP(addr)
				if ip == nil {
					continue
				}
				host := dashed(ip)
				if ep.Hostname != nil && *ep.Hostname != "" {
					host = strings.ToLower(*ep.Hostname)
				}
				target := host + "." + base
				if names[target] == nil {
					names[target] = &rrset{}
				}
				addIP(names[target], ptrs, addr, target)
				addIP(names[base], nil, addr, "")
				for _, p := range es.Ports {
					if p.Name != nil && *p.Name != "" && p.Port != nil {
						proto := corev1.ProtocolTCP
						if p.Protocol != nil {
							proto = *p.Protocol
						}
						addSRV(names, base, *p.Name, proto, uint16(*p.Port), target)
					}
				}
			}
		}
	}
	for _, rs := range names {
		rs.a, rs.aaaa = sortIPs(rs.a), sortIPs(rs.aaaa)
		slices.SortFunc(rs.srv, func(x, y srv) int { return strings.Compare(x.target, y.target) })
		rs.srv = slices.Compact(rs.srv)
	}
}

func sortIPs(ips []net.IP) []net.IP {
	slices.SortFunc(ips, func(x, y net.IP) int { return bytes.Compare(x, y) })
	return slices.CompactFunc(ips, net.IP.Equal)
}

// addIP adds an address to rs and, when ptrs is set, its PTR to target.
func addIP(rs *rrset, ptrs map[string]string, addr, target string) {
	ip := net.ParseIP(addr)
	if ip == nil {
		return
	}
	if v4 := ip.To4(); v4 != nil {
		rs.a = append(rs.a, v4)
	} else {
		rs.aaaa = append(rs.aaaa, ip)
	}
	if ptrs != nil {
		if rev, err := mdns.ReverseAddr(addr); err == nil {
			ptrs[rev] = target
		}
	}
}

func addSRV(names map[string]*rrset, base, port string, proto corev1.Protocol, num uint16, target string) {
	n := "_" + strings.ToLower(port) + "._" + strings.ToLower(string(proto)) + "." + base
	if names[n] == nil {
		names[n] = &rrset{}
	}
	names[n].srv = append(names[n].srv, srv{port: num, target: target})
}

// dashed writes an address as a DNS label: 10.244.1.5 → 10-244-1-5.
func dashed(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return strings.ReplaceAll(v4.String(), ".", "-")
	}
	return strings.ReplaceAll(ip.String(), ":", "-")
}

// podIP parses <a-b-c-d>.<ns>.pod.<domain> into the address.
func podIP(name, domain string) net.IP {
	rest, ok := strings.CutSuffix(name, ".pod."+domain)
	if !ok {
		return nil
	}
	label, ns, ok := strings.Cut(rest, ".")
	if !ok || ns == "" || strings.Contains(ns, ".") {
		return nil
	}
	parts := strings.Split(label, "-")
	if len(parts) != 4 {
		return nil
	}
	for _, p := range parts {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 255 {
			return nil
		}
	}
	return net.ParseIP(strings.Join(parts, ".")).To4()
}
