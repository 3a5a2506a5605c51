package proxy

import (
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	cfg := Config{ClusterCIDR: "10.244.0.0/16"}
	three := []Endpoint{{"10.244.1.2", 8080}, {"10.244.2.2", 8080}, {"10.244.3.2", 8080}}
	tests := []struct {
		name     string
		ports    []ServicePort
		existing []string
		want     []string // substrings that must appear, in order
		absent   []string
	}{
		{
			name:  "three endpoints get equal probabilities",
			ports: []ServicePort{{Namespace: "d", Name: "web", ClusterIP: "10.96.0.20", Port: 80, Protocol: "tcp", Endpoints: three}},
			want: []string{
				"! -s 10.244.0.0/16 -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j MINI-MARK-MASQ",
				"-d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j MINI-SVC-",
				"--probability 0.3333333333 -j MINI-SEP-",
				"--probability 0.5000000000 -j MINI-SEP-",
				"DNAT --to-destination 10.244.1.2:8080",
				"DNAT --to-destination 10.244.3.2:8080",
				"-A MINI-SERVICES -m addrtype --dst-type LOCAL -j MINI-NODEPORTS",
			},
			absent: []string{"REJECT", "recent"},
		},
		{
			name:  "node port jumps through an external chain that masquerades",
			ports: []ServicePort{{Namespace: "d", Name: "web", ClusterIP: "10.96.0.20", Port: 80, NodePort: 30080, Protocol: "tcp", Endpoints: three[:1]}},
			want: []string{
				"-A MINI-NODEPORTS -p tcp -m tcp --dport 30080 -j MINI-EXT-",
				"-j MINI-MARK-MASQ",
				"-A MINI-SVC-",
			},
			absent: []string{"probability"},
		},
		{
			name:  "no endpoints rejects the cluster IP and node port",
			ports: []ServicePort{{Namespace: "d", Name: "web", ClusterIP: "10.96.0.20", Port: 80, NodePort: 30080, Protocol: "tcp"}},
			want: []string{
				"-A MINI-FIREWALL -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j REJECT",
				"-A MINI-FIREWALL -m addrtype --dst-type LOCAL -p tcp -m tcp --dport 30080 -j REJECT",
			},
			absent: []string{"MINI-SVC-", "DNAT"},
		},
		{
			name:  "client IP affinity checks recent before the random choice",
			ports: []ServicePort{{Namespace: "d", Name: "web", ClusterIP: "10.96.0.20", Port: 80, Protocol: "udp", AffinitySeconds: 60, Endpoints: three[:2]}},
			want: []string{
				"-m recent --name MINI-SEP-", "--rcheck --seconds 60 --reap",
				"--probability 0.5000000000",
				"-p udp -m udp -m recent --name MINI-SEP-",
			},
		},
		{
			name:     "stale chains are flushed and deleted",
			ports:    nil,
			existing: []string{"MINI-SVC-OLD", "MINI-SEP-OLD", "DOCKER", "MINI-SERVICES"},
			want:     []string{":MINI-SVC-OLD - [0:0]", "-X MINI-SEP-OLD", "-X MINI-SVC-OLD"},
			absent:   []string{"-X DOCKER", "-X MINI-SERVICES"},
		},
		{
			name:   "headless services get no rules",
			ports:  []ServicePort{{Namespace: "d", Name: "h", ClusterIP: "None", Port: 80, Protocol: "tcp", Endpoints: three}},
			absent: []string{"MINI-SVC-", "REJECT"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(Build(cfg, tc.ports, tc.existing))
			rest := got
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("rules lack %q (in order); got:\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			for _, a := range tc.absent {
				if strings.Contains(got, a) {
					t.Fatalf("rules contain %q; got:\n%s", a, got)
				}
			}
		})
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	ports := []ServicePort{
		{Namespace: "b", Name: "x", ClusterIP: "10.96.0.21", Port: 80, Protocol: "tcp", Endpoints: []Endpoint{{"10.244.2.2", 80}, {"10.244.1.2", 80}}},
		{Namespace: "a", Name: "y", ClusterIP: "10.96.0.22", Port: 53, Protocol: "udp", Endpoints: []Endpoint{{"10.244.1.3", 53}}},
	}
	a := Build(Config{}, ports, nil)
	ports[0], ports[1] = ports[1], ports[0]
	ports[1].Endpoints[0], ports[1].Endpoints[1] = ports[1].Endpoints[1], ports[1].Endpoints[0]
	if b := Build(Config{}, ports, nil); string(a) != string(b) {
		t.Fatalf("order of input changed the rules:\n%s\nvs\n%s", a, b)
	}
}
