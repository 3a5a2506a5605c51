package dns

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestClusterNames serves Services and EndpointSlices created through a real
// control plane, over UDP and TCP.
func TestClusterNames(t *testing.T) {
	up := startUpstream(t)
	s, env := startDNS(t, Options{Listen: "127.0.0.1:0", Upstream: []string{up.addr}})
	c := env.Client
	web := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}
	create(t, c, web)
	create(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "db"},
			Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}}})
	create(t, c, headlessSlice("default", "db", "db-abc",
		endpoint("10.244.1.5", "db-0", true), endpoint("10.244.2.6", "db-1", true), endpoint("10.244.3.7", "db-2", false)))
	create(t, c, headlessSlice("default", "db", "db-def", endpoint("10.244.2.9", "", true)))
	create(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.test"}})
	ip := web.Spec.ClusterIP

	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			ok := mdns.RcodeSuccess
			expect(t, s, proto, "web.default.svc.cluster.local.", mdns.TypeA, ok, "A "+ip)
			expect(t, s, proto, "WEB.Default.svc.cluster.local.", mdns.TypeA, ok, "A "+ip)
			expect(t, s, proto, "web.default.svc.cluster.local.", mdns.TypeAAAA, ok) // NODATA
			expect(t, s, proto, "_http._tcp.web.default.svc.cluster.local.", mdns.TypeSRV, ok,
				"SRV 0 100 80 web.default.svc.cluster.local.")
			expect(t, s, proto, "db.default.svc.cluster.local.", mdns.TypeA, ok,
				"A 10.244.1.5", "A 10.244.2.6", "A 10.244.2.9")
			expect(t, s, proto, "db-1.db.default.svc.cluster.local.", mdns.TypeA, ok, "A 10.244.2.6")
			expect(t, s, proto, "10-244-2-9.db.default.svc.cluster.local.", mdns.TypeA, ok, "A 10.244.2.9")
			expect(t, s, proto, "db-2.db.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError) // not ready
			expect(t, s, proto, "_pg._tcp.db.default.svc.cluster.local.", mdns.TypeSRV, ok,
				"SRV 0 33 5432 10-244-2-9.db.default.svc.cluster.local.",
				"SRV 0 33 5432 db-0.db.default.svc.cluster.local.",
				"SRV 0 33 5432 db-1.db.default.svc.cluster.local.")
			expect(t, s, proto, "5.1.244.10.in-addr.arpa.", mdns.TypePTR, ok, "PTR db-0.db.default.svc.cluster.local.")
			rev, _ := mdns.ReverseAddr(ip)
			expect(t, s, proto, rev, mdns.TypePTR, ok, "PTR web.default.svc.cluster.local.")
			expect(t, s, proto, "10-244-7-8.default.pod.cluster.local.", mdns.TypeA, ok, "A 10.244.7.8")
			expect(t, s, proto, "nope.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError)
			expect(t, s, proto, "example.test.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError)
			expect(t, s, proto, "default.svc.cluster.local.", mdns.TypeA, ok)
			expect(t, s, proto, "ext.default.svc.cluster.local.", mdns.TypeA, ok,
				"A 192.0.2.1", "CNAME example.test.")
			expect(t, s, proto, "example.test.", mdns.TypeA, ok, "A 192.0.2.1")
			expect(t, s, proto, "missing.test.", mdns.TypeA, mdns.RcodeNameError)
		})
	}
	r := query(t, s, "udp", "_pg._tcp.db.default.svc.cluster.local.", mdns.TypeSRV)
	if len(r.Extra) != 3 || !r.Authoritative {
		t.Errorf("SRV reply: %d additional records, authoritative %v; want the 3 targets' A records, authoritative", len(r.Extra), r.Authoritative)
	}

	// Changes follow: an endpoint becomes ready, a Service goes away.
	es := &discoveryv1.EndpointSlice{}
	if err := c.Get(context.Background(), "default", "db-abc", es); err != nil {
		t.Fatal(err)
	}
	es.Endpoints[2].Conditions.Ready = ptr(true)
	if err := c.Update(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	expect(t, s, "udp", "db-2.db.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, "A 10.244.3.7")
	if err := c.Delete(context.Background(), &corev1.Service{}, "default", "web", nil); err != nil {
		t.Fatal(err)
	}
	expect(t, s, "udp", "web.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError)
}

// TestForwardTruncatedFallsBackToTCP: an upstream answer truncated over UDP
// is asked again over TCP, and the client gets it whole over TCP (or
// truncated again over UDP, as its buffer allows).
func TestForwardTruncatedFallsBackToTCP(t *testing.T) {
	up := startUpstream(t)
	s, _ := startDNS(t, Options{Listen: "127.0.0.1:0", Upstream: []string{up.addr}})
	m := new(mdns.Msg)
	m.SetQuestion("big.test.", mdns.TypeTXT)
	m.SetEdns0(8192, false)
	r, _, err := (&mdns.Client{Net: "udp", Timeout: 3 * time.Second, UDPSize: 8192}).Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 40 || r.Truncated || r.Id != m.Id {
		t.Fatalf("big.test over UDP with an 8 KiB buffer: %d answers, truncated %v, id %d; want 40, whole, id %d", len(r.Answer), r.Truncated, r.Id, m.Id)
	}
	var seen []string
	for len(up.seen) > 0 {
		seen = append(seen, <-up.seen)
	}
	if !slices.Equal(seen, []string{"udp big.test.", "tcp big.test."}) {
		t.Fatalf("upstream saw %q, want a UDP query then a TCP retry", seen)
	}
	small := query(t, s, "udp", "big.test.", mdns.TypeTXT)
	if !small.Truncated {
		t.Fatalf("big.test over UDP with 512 bytes: %d answers, not truncated; want the TC bit", len(small.Answer))
	}
}

func TestUnreachableUpstreamIsServFail(t *testing.T) {
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	dead := pc.LocalAddr().String()
	pc.Close()
	s, _ := startDNS(t, Options{Listen: "127.0.0.1:0", Upstream: []string{dead}, UpstreamTimeout: 200 * time.Millisecond})
	if r := query(t, s, "udp", "example.test.", mdns.TypeA); r.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("with a dead upstream: %s, want SERVFAIL", mdns.RcodeToString[r.Rcode])
	}
}
