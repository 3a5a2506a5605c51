package dns

import (
	"context"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/minicluster/mini/control/client"
)

// kubeDNSState describes the kube-dns objects in one line, or says what is
// missing.
func kubeDNSState(c *client.Client) string {
	ctx := context.Background()
	svc, ep, es := &corev1.Service{}, &corev1.Endpoints{}, &discoveryv1.EndpointSlice{}
	if err := c.Get(ctx, "kube-system", "kube-dns", svc); err != nil {
		return "service: " + err.Error()
	}
	if err := c.Get(ctx, "kube-system", "kube-dns", ep); err != nil {
		return "endpoints: " + err.Error()
	}
	if err := c.Get(ctx, "kube-system", sliceName, es); err != nil {
		return "endpointslice: " + err.Error()
	}
	s := svc.Spec.ClusterIP + " " + svc.Labels["k8s-app"]
	for _, p := range svc.Spec.Ports {
		s += " " + p.Name + "/" + string(p.Protocol) + "/" + p.TargetPort.String()
	}
	if svc.Spec.Selector != nil {
		s += " selector"
	}
	for _, ss := range ep.Subsets {
		for _, a := range ss.Addresses {
			s += " ep=" + a.IP
		}
	}
	for _, e := range es.Endpoints {
		s += " slice=" + e.Addresses[0]
	}
	s += " " + es.Labels[discoveryv1.LabelManagedBy] + " " + es.Labels[discoveryv1.LabelServiceName]
	if len(es.OwnerReferences) == 1 && es.OwnerReferences[0].UID == svc.UID {
		s += " owned"
	}
	return s
}

func waitKubeDNS(t *testing.T, c *client.Client, want string) {
	t.Helper()
	var got string
	deadline := time.Now().Add(5 * time.Second)
	for got = kubeDNSState(c); got != want; got = kubeDNSState(c) {
		if time.Now().After(deadline) {
			t.Fatalf("kube-dns objects: %q, want %q", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestKeepsKubeDNSService(t *testing.T) {
	s, env := startDNS(t, Options{Listen: "127.0.0.1:0", Advertise: "127.0.0.1", Upstream: []string{"127.0.0.1:1"}})
	c := env.Client
	_, port, _ := splitPort(s.Addr())
	want := "10.96.0.10 kube-dns dns/UDP/" + port + " dns-tcp/TCP/" + port + " ep=127.0.0.1 slice=127.0.0.1 mini-dns kube-dns owned"
	waitKubeDNS(t, c, want)
	expect(t, s, "udp", "kube-dns.kube-system.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, "A 10.96.0.10")

	// Someone breaks it: a selector and a changed port; the slice deleted.
	ctx := context.Background()
	svc := &corev1.Service{}
	if err := c.Get(ctx, "kube-system", "kube-dns", svc); err != nil {
		t.Fatal(err)
	}
	svc.Spec.Selector = map[string]string{"k8s-app": "kube-dns"}
	svc.Spec.Ports = svc.Spec.Ports[:1]
	if err := c.Update(ctx, svc); err != nil {
		t.Fatal(err)
	}
	waitKubeDNS(t, c, want)
	if err := c.Delete(ctx, &discoveryv1.EndpointSlice{}, "kube-system", sliceName, nil); err != nil {
		t.Fatal(err)
	}
	waitKubeDNS(t, c, want)
	// Deleted outright: recreated, and the slice follows the new UID.
	if err := c.Delete(ctx, &corev1.Service{}, "kube-system", "kube-dns", nil); err != nil {
		t.Fatal(err)
	}
	waitKubeDNS(t, c, want)
}
