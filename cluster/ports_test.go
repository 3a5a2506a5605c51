package cluster

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePortMapping(t *testing.T) {
	tests := []struct {
		in      string
		want    PortMapping
		wantErr string
	}{
		{in: "8080:30080@loadbalancer", want: PortMapping{HostIP: "127.0.0.1", HostPort: 8080, NodePort: 30080, Proto: "tcp"}},
		{in: "8080:30080", want: PortMapping{HostIP: "127.0.0.1", HostPort: 8080, NodePort: 30080, Proto: "tcp"}},
		{in: "0.0.0.0:53:30053/udp@loadbalancer", want: PortMapping{HostIP: "0.0.0.0", HostPort: 53, NodePort: 30053, Proto: "udp"}},
		{in: "10.1.2.3:9000:32767/TCP@lb", want: PortMapping{HostIP: "10.1.2.3", HostPort: 9000, NodePort: 32767, Proto: "tcp"}},
		{in: "[::1]:8443:30443@loadbalancer", want: PortMapping{HostIP: "::1", HostPort: 8443, NodePort: 30443, Proto: "tcp"}},
		{in: "8080:30080@server:0", wantErr: "only be published on the load balancer"},
		{in: "8080", wantErr: "need a host port and a node port"},
		{in: "1:2:3:4", wantErr: "need a host port and a node port"},
		{in: "x:30080", wantErr: `host port: "x" is not a number`},
		{in: "0:30080", wantErr: "host port: 0 is outside 1-65535"},
		{in: "70000:30080", wantErr: "host port: 70000 is outside"},
		{in: "8080:80", wantErr: "node port: 80 is outside 30000-32767"},
		{in: "8080:30080/sctp", wantErr: `protocol "sctp"`},
		{in: "localhost:8080:30080", wantErr: `"localhost" is not an IPv4 address`},
		{in: "[::1:8080:30080", wantErr: "unterminated"},
		{in: "[zz]:8080:30080", wantErr: `"zz" is not an IP address`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePortMapping(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePortMapping(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.in) {
					t.Errorf("error %q does not quote the input %q", err, tt.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePortMapping(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParsePortMapping(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseAPIAddress(t *testing.T) {
	tests := []struct {
		in       string
		ip       string
		port     int
		errorHas string
	}{
		{in: "6550", ip: "127.0.0.1", port: 6550},
		{in: "0.0.0.0:6443", ip: "0.0.0.0", port: 6443},
		{in: "[::1]:6443", ip: "::1", port: 6443},
		{in: "host:6443", errorHas: `"host" is not an IP address`},
		{in: "99999", errorHas: "outside 1-65535"},
		{in: "", errorHas: "is not a number"},
	}
	for _, tt := range tests {
		ip, port, err := ParseAPIAddress(tt.in)
		if tt.errorHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errorHas) {
				t.Errorf("ParseAPIAddress(%q) error = %v, want one containing %q", tt.in, err, tt.errorHas)
			}
			continue
		}
		if err != nil || ip != tt.ip || port != tt.port {
			t.Errorf("ParseAPIAddress(%q) = %q, %d, %v; want %q, %d, nil", tt.in, ip, port, err, tt.ip, tt.port)
		}
	}
}

func TestPortsLabelRoundTrip(t *testing.T) {
	for _, ports := range [][]PortMapping{
		nil,
		{{HostIP: "127.0.0.1", HostPort: 8080, NodePort: 30080, Proto: "tcp"}},
		{{HostIP: "0.0.0.0", HostPort: 53, NodePort: 30053, Proto: "udp"}, {HostIP: "::1", HostPort: 8443, NodePort: 30443, Proto: "tcp"}},
	} {
		enc := EncodePorts(ports)
		got, err := DecodePorts(enc)
		if err != nil {
			t.Fatalf("DecodePorts(%q): %v", enc, err)
		}
		if !reflect.DeepEqual(got, ports) {
			t.Fatalf("DecodePorts(EncodePorts(%+v)) = %+v (label %q)", ports, got, enc)
		}
	}
	if _, err := DecodePorts("garbage"); err == nil || !strings.Contains(err.Error(), LabelPorts) {
		t.Fatalf("DecodePorts(garbage) error = %v, want one naming the label %s", err, LabelPorts)
	}
}

func TestCheckPorts(t *testing.T) {
	p := func(s string) PortMapping {
		m, err := ParsePortMapping(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name     string
		apiPort  int
		ports    []PortMapping
		errorHas string
	}{
		{name: "distinct", apiPort: 6443, ports: []PortMapping{p("8080:30080"), p("8081:30080"), p("8080:30080/udp")}},
		{name: "same host port twice", ports: []PortMapping{p("8080:30080"), p("8080:30081")}, errorHas: "already taken by mapping"},
		{name: "api port reused", apiPort: 8080, ports: []PortMapping{p("8080:30080")}, errorHas: "already taken by the API port"},
		{name: "other IP is fine", apiPort: 8080, ports: []PortMapping{p("0.0.0.0:8080:30080")}},
	}
	for _, tt := range tests {
		err := CheckPorts("127.0.0.1", tt.apiPort, tt.ports)
		if (err != nil) != (tt.errorHas != "") || (err != nil && !strings.Contains(err.Error(), tt.errorHas)) {
			t.Errorf("%s: CheckPorts error = %v, want %q", tt.name, err, tt.errorHas)
		}
	}
}

// FuzzParsePortMapping: parsing never panics, and whatever parses renders
// (String) into a form that parses back to the same mapping.
func FuzzParsePortMapping(f *testing.F) {
	for _, s := range []string{"8080:30080@loadbalancer", "0.0.0.0:53:30053/udp", "[::1]:8443:30443@lb", "x", "::", "[", "1:2:3:4/udp@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePortMapping(s)
		if err != nil {
			return
		}
		q, err := ParsePortMapping(p.String())
		if err != nil || q != p {
			t.Fatalf("%q parsed to %+v, rendered %q, which parses to %+v, %v", s, p, p.String(), q, err)
		}
	})
}
