package dns

import (
	"context"
	"fmt"
	"log"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/plane"
	"github.com/minicluster/mini/control/plane/plantest"
)

// fakeUpstream is a resolver on loopback (UDP and TCP) that knows
// example.test (A 192.0.2.1) and big.test (40 TXT records: truncated over
// UDP), and counts the queries it saw per transport.
type fakeUpstream struct {
	addr string
	seen chan string // "udp example.test." etc.
}

func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Skipf("tcp port of the fake upstream taken: %v", err)
	}
	u := &fakeUpstream{addr: pc.LocalAddr().String(), seen: make(chan string, 100)}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		q := r.Question[0]
		proto := "udp"
		if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
			proto = "tcp"
		}
		u.seen <- proto + " " + q.Name
		m := new(mdns.Msg)
		m.SetReply(r)
		switch q.Name {
		case "example.test.":
			rr, _ := mdns.NewRR("example.test. 60 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		case "big.test.":
			for i := range 40 {
				rr, _ := mdns.NewRR(fmt.Sprintf("big.test. 60 IN TXT %q", strings.Repeat(fmt.Sprint(i), 40)))
				m.Answer = append(m.Answer, rr)
			}
			if proto == "udp" {
				m.Truncate(mdns.MinMsgSize)
			}
		default:
			m.Rcode = mdns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go srv.ActivateAndServe()
		t.Cleanup(func() { srv.Shutdown() })
	}
	return u
}

// startDNS runs a control plane with the DNS component and waits until it
// answers.
func startDNS(t *testing.T, o Options) (*Server, *plantest.Env) {
	t.Helper()
	o.Logger = log.New(testWriter{t}, "dns: ", log.Lmicroseconds)
	s := New(o)
	env := plantest.Start(t, plantest.Options{Components: []plane.Component{s}})
	select {
	case <-s.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("DNS server not ready within 10s")
	}
	return s, env
}

func query(t *testing.T, s *Server, proto, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	c := &mdns.Client{Net: proto, Timeout: 3 * time.Second}
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("%s query %s %s: %v", proto, name, mdns.TypeToString[qtype], err)
	}
	if r.Id != m.Id {
		t.Fatalf("reply id %d, want the query's %d", r.Id, m.Id)
	}
	return r
}

// answers renders the answer section's data sorted, e.g. "A 10.96.0.20".
func answers(r *mdns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		h := rr.Header()
		out = append(out, strings.TrimPrefix(rr.String(), h.String()))
		out[len(out)-1] = mdns.TypeToString[h.Rrtype] + " " + out[len(out)-1]
	}
	sort.Strings(out)
	return out
}

// expect polls until the query answers rcode with exactly want (the caches
// follow the API asynchronously).
func expect(t *testing.T, s *Server, proto, name string, qtype uint16, rcode int, want ...string) {
	t.Helper()
	var r *mdns.Msg
	deadline := time.Now().Add(5 * time.Second)
	for {
		r = query(t, s, proto, name, qtype)
		got := answers(r)
		if r.Rcode == rcode && slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s %s: %s %q, want %s %q", proto, name, mdns.TypeToString[qtype],
				mdns.RcodeToString[r.Rcode], got, mdns.RcodeToString[rcode], want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func create(t *testing.T, c *client.Client, obj runtime.Object) {
	t.Helper()
	if err := c.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T: %v", obj, err)
	}
}

func ptr[T any](v T) *T { return &v }

func headlessSlice(ns, svc, name string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("pg"), Port: ptr(int32(5432)), Protocol: ptr(corev1.ProtocolTCP)}},
	}
}

func endpoint(ip, host string, ready bool) discoveryv1.Endpoint {
	ep := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
	if host != "" {
		ep.Hostname = &host
	}
	return ep
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func splitPort(addr string) (string, string, error) { return net.SplitHostPort(addr) }
