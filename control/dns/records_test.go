package dns

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodIP(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"10-244-1-5.default.pod.cluster.local.", "10.244.1.5"},
		{"10-244-1-256.default.pod.cluster.local.", ""},
		{"10-244-1.default.pod.cluster.local.", ""},
		{"10-244-1-5.pod.cluster.local.", ""},
		{"10-244-1-5.a.b.pod.cluster.local.", ""},
		{"x-244-1-5.default.pod.cluster.local.", ""},
		{"10-244-1-5.default.svc.cluster.local.", ""},
	} {
		got := ""
		if ip := podIP(tc.name, "cluster.local."); ip != nil {
			got = ip.String()
		}
		if got != tc.want {
			t.Errorf("podIP(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestUpstreams(t *testing.T) {
	got, err := upstreams([]string{"192.0.2.1", "192.0.2.2:5353", "::1"})
	if want := []string{"192.0.2.1:53", "192.0.2.2:5353", "[::1]:53"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("upstreams = %v, %v; want %v", got, err, want)
	}
	if _, err := upstreams([]string{"resolver.example"}); err == nil {
		t.Errorf("upstreams(resolver.example) accepted a name, want an error asking for ip or ip:port")
	}
	if fwd := newForwarder([]string{"127.0.0.1:53", "192.0.2.1:53"}, "127.0.0.1:53", time.Second); !slices.Equal(fwd.upstream, []string{"192.0.2.1:53"}) {
		t.Errorf("forwarder kept %v, want itself dropped", fwd.upstream)
	}
}

// recorder is a ResponseWriter that keeps the reply.
type recorder struct {
	mdns.ResponseWriter
	msg *mdns.Msg
}

func (r *recorder) WriteMsg(m *mdns.Msg) error { r.msg = m; return nil }
func (r *recorder) RemoteAddr() net.Addr       { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9} }

// benchServer holds n ClusterIP services in memory.
func benchServer(n int) *Server {
	s := New(Options{})
	for i := range n {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc%d", i), Namespace: "default"},
			Spec: corev1.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}
		names, ptrs := serviceRecords(s.zone.domain, svc, nil)
		s.zone.set("default/"+svc.Name, names, ptrs)
	}
	return s
}

// BenchmarkAnswerLocal measures answering a cluster name from memory among
// 10,000 services (the handler alone: lookup and building the reply).
func BenchmarkAnswerLocal(b *testing.B) {
	s := benchServer(10000)
	q := new(mdns.Msg)
	q.SetQuestion("svc4242.default.svc.cluster.local.", mdns.TypeA)
	w := &recorder{}
	b.ReportAllocs()
	for b.Loop() {
		s.ServeDNS(w, q)
	}
	if len(w.msg.Answer) != 1 {
		b.Fatalf("answer %v, want one A record", w.msg.Answer)
	}
}

// BenchmarkQueryUDP measures a full UDP round trip on loopback (client
// included) for a cluster name.
func BenchmarkQueryUDP(b *testing.B) {
	s := benchServer(10000)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: s}
	go srv.ActivateAndServe()
	defer srv.Shutdown()
	c := &mdns.Client{Net: "udp", Timeout: time.Second}
	conn, err := c.Dial(pc.LocalAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	q := new(mdns.Msg)
	q.SetQuestion("svc4242.default.svc.cluster.local.", mdns.TypeA)
	for b.Loop() {
		r, _, err := c.ExchangeWithConn(q, conn)
		if err != nil || len(r.Answer) != 1 {
			b.Fatalf("query: %v, %v; want one A record", r, err)
		}
	}
}
