package cluster

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// NodePort range of the control plane's allocator.
const (
	NodePortMin = 30000
	NodePortMax = 32767
)

// DefaultHostIP is where published ports bind unless an IP is given.
const DefaultHostIP = "127.0.0.1"

// PortMapping is one -p [IP:]HOSTPORT:NODEPORT[/udp]@loadbalancer: the load
// balancer publishes HostIP:HostPort and forwards it to NodePort on every
// Ready node.
type PortMapping struct {
	HostIP   string
	HostPort int
	NodePort int
	Proto    string // "tcp" or "udp"
}

// String renders the mapping in the form ParsePortMapping reads (without
// the @loadbalancer suffix).
func (p PortMapping) String() string {
	return fmt.Sprintf("%s:%d:%d/%s", hostForm(p.HostIP), p.HostPort, p.NodePort, p.Proto)
}

func hostForm(ip string) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]"
	}
	return ip
}

// ParsePortMapping parses [IP:]HOSTPORT:NODEPORT[/udp|/tcp][@loadbalancer].
func ParsePortMapping(s string) (PortMapping, error) {
	bad := func(format string, a ...any) (PortMapping, error) {
		return PortMapping{}, fmt.Errorf("invalid port mapping %q: %s (want [IP:]HOSTPORT:NODEPORT[/udp]@loadbalancer)", s, fmt.Sprintf(format, a...))
	}
	spec := s
	if at := strings.LastIndex(spec, "@"); at >= 0 {
		if target := spec[at+1:]; target != "loadbalancer" && target != "lb" {
			return bad("ports can only be published on the load balancer, not %q", target)
		}
		spec = spec[:at]
	}
	p := PortMapping{Proto: "tcp"}
	if slash := strings.LastIndex(spec, "/"); slash >= 0 {
		p.Proto = strings.ToLower(spec[slash+1:])
		if p.Proto != "tcp" && p.Proto != "udp" {
			return bad("protocol %q is neither tcp nor udp", spec[slash+1:])
		}
		spec = spec[:slash]
	}
	host, rest, err := splitHost(spec)
	if err != nil {
		return bad("%v", err)
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 2 {
		return bad("need a host port and a node port separated by ':'")
	}
	if p.HostPort, err = parsePort(parts[0], 1, 65535); err != nil {
		return bad("host port: %v", err)
	}
	if p.NodePort, err = parsePort(parts[1], NodePortMin, NodePortMax); err != nil {
		return bad("node port: %v", err)
	}
	p.HostIP = host
	if p.HostIP == "" {
		p.HostIP = DefaultHostIP
	}
	return p, nil
}

// splitHost takes an optional leading IP (an IPv6 one in brackets) off
// "IP:A:B" and returns it and "A:B".
func splitHost(spec string) (string, string, error) {
	if strings.HasPrefix(spec, "[") {
		end := strings.Index(spec, "]:")
		if end < 0 {
			return "", "", fmt.Errorf("unterminated [IPv6] address")
		}
		ip := spec[1:end]
		if net.ParseIP(ip) == nil {
			return "", "", fmt.Errorf("%q is not an IP address", ip)
		}
		return ip, spec[end+2:], nil
	}
	parts := strings.Split(spec, ":")
	if len(parts) == 3 {
		if net.ParseIP(parts[0]) == nil || strings.Contains(parts[0], ":") {
			return "", "", fmt.Errorf("%q is not an IPv4 address (put an IPv6 one in brackets)", parts[0])
		}
		return parts[0], parts[1] + ":" + parts[2], nil
	}
	return "", spec, nil
}

func parsePort(s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is outside %d-%d", n, lo, hi)
	}
	return n, nil
}

// ParseAPIAddress parses --api-port [IP:]PORT; the IP defaults to 127.0.0.1.
func ParseAPIAddress(s string) (ip string, port int, err error) {
	host, p := "", s
	if i := strings.LastIndex(s, ":"); i >= 0 {
		host, p = strings.Trim(s[:i], "[]"), s[i+1:]
		if net.ParseIP(host) == nil {
			return "", 0, fmt.Errorf("invalid API address %q: %q is not an IP address (want [IP:]PORT)", s, host)
		}
	}
	port, err = parsePort(p, 1, 65535)
	if err != nil {
		return "", 0, fmt.Errorf("invalid API address %q: %v (want [IP:]PORT)", s, err)
	}
	if host == "" {
		host = DefaultHostIP
	}
	return host, port, nil
}

// CheckPorts refuses two mappings of the same host address (and the API
// address among them).
func CheckPorts(apiIP string, apiPort int, ports []PortMapping) error {
	seen := map[string]string{}
	key := func(ip string, port int, proto string) string { return fmt.Sprintf("%s/%d/%s", ip, port, proto) }
	if apiPort != 0 {
		seen[key(apiIP, apiPort, "tcp")] = "the API port"
	}
	for _, p := range ports {
		k := key(p.HostIP, p.HostPort, p.Proto)
		if prev, dup := seen[k]; dup {
			return fmt.Errorf("port mapping %s uses host port %s:%d/%s, already taken by %s", p, hostForm(p.HostIP), p.HostPort, p.Proto, prev)
		}
		seen[k] = "mapping " + p.String()
	}
	return nil
}

// EncodePorts renders mappings for the LabelPorts label.
func EncodePorts(ports []PortMapping) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// DecodePorts reads the LabelPorts label.
func DecodePorts(s string) ([]PortMapping, error) {
	if s == "" {
		return nil, nil
	}
	var out []PortMapping
	for _, part := range strings.Split(s, ",") {
		p, err := ParsePortMapping(part)
		if err != nil {
			return nil, fmt.Errorf("label %s: %w", LabelPorts, err)
		}
		out = append(out, p)
	}
	return out, nil
}
