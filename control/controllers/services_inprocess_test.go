package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/minicluster/mini/control/client"
)

// ipWebPod creates a pod of app=web exposing container port "http" on
// port, and runs it with ip and readiness.
func ipWebPod(ctx context.Context, t testing.TB, c *client.Client, name, ip string, port int32, ready bool) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}}}}}}
	if err := c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := ipRun(ctx, c, "default", name, "n1", ip, ready); err != nil {
		t.Fatal(err)
	}
}

// ipSetReady flips a running pod's readiness as a kubelet would.
func ipSetReady(ctx context.Context, c *client.Client, name string, ready bool) error {
	p := &corev1.Pod{}
	if err := c.Get(ctx, "default", name, p); err != nil {
		return err
	}
	ipSetRunning(p, p.Status.PodIP, ready)
	return c.UpdateStatus(ctx, p)
}

// ipEndpointsView summarises Endpoints and the managed slices of a service
// as "ready:[ip:port ...] notready:[...]".
func ipEndpointsView(ctx context.Context, c *client.Client, svc string) (string, string) {
	ep := &corev1.Endpoints{}
	var eps string
	if err := c.Get(ctx, "default", svc, ep); err != nil {
		eps = err.Error()
	} else {
		var ready, notReady []string
		for _, ss := range ep.Subsets {
			for _, a := range ss.Addresses {
				ready = append(ready, fmt.Sprintf("%s:%d", a.IP, ss.Ports[0].Port))
			}
			for _, a := range ss.NotReadyAddresses {
				notReady = append(notReady, fmt.Sprintf("%s:%d", a.IP, ss.Ports[0].Port))
			}
		}
		sort.Strings(ready)
		sort.Strings(notReady)
		eps = fmt.Sprintf("ready:%v notready:%v", ready, notReady)
	}
	slices := &discoveryv1.EndpointSliceList{}
	if err := c.List(ctx, "default", slices, client.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc +
		"," + discoveryv1.LabelManagedBy + "=" + epManagedBy}); err != nil {
		return eps, err.Error()
	}
	var ready, notReady []string
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			v := fmt.Sprintf("%s:%d", e.Addresses[0], *s.Ports[0].Port)
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				ready = append(ready, v)
			} else {
				notReady = append(notReady, v)
			}
		}
	}
	sort.Strings(ready)
	sort.Strings(notReady)
	return eps, fmt.Sprintf("ready:%v notready:%v", ready, notReady)
}

// TestEndpointsInProcess: Endpoints and EndpointSlices of a service follow
// its pods' readiness, with named target ports resolved per pod; a service
// without selector is left alone.
func TestEndpointsInProcess(t *testing.T) {
	ctx, c := ipStart(t, Options{Only: []string{"endpoints", "endpointslice"}})
	manual := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "manual", Namespace: "default"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}
	for _, s := range []*corev1.Service{manual, svc} {
		if err := c.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	ipWebPod(ctx, t, c, "a", "10.244.0.2", 8080, true)
	ipWebPod(ctx, t, c, "b", "10.244.0.3", 9090, false)
	want := func(what, view string) {
		t.Helper()
		ipWait(t, 30*time.Second, what, func() (bool, string) {
			eps, slices := ipEndpointsView(ctx, c, "web")
			return eps == view && slices == view, "endpoints " + eps + "; slices " + slices
		})
	}
	want("a ready, b not ready", "ready:[10.244.0.2:8080] notready:[10.244.0.3:9090]")
	if err := ipSetReady(ctx, c, "b", true); err != nil {
		t.Fatal(err)
	}
	want("b ready too", "ready:[10.244.0.2:8080 10.244.0.3:9090] notready:[]")
	if err := ipSetReady(ctx, c, "a", false); err != nil {
		t.Fatal(err)
	}
	want("a not ready", "ready:[10.244.0.3:9090] notready:[10.244.0.2:8080]")
	zero := int64(0)
	if err := c.Delete(ctx, &corev1.Pod{}, "default", "a", &metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	want("a gone", "ready:[10.244.0.3:9090] notready:[]")
	if err := c.Get(ctx, "default", "manual", &corev1.Endpoints{}); !apierrors.IsNotFound(err) {
		t.Errorf("a service without selector got Endpoints (err %v), want none", err)
	}
	if err := c.Delete(ctx, &corev1.Service{}, "default", "web", nil); err != nil {
		t.Fatal(err)
	}
	ipWait(t, 30*time.Second, "endpoints and slices of the deleted service to go", func() (bool, string) {
		eps, slices := ipEndpointsView(ctx, c, "web")
		return strings.Contains(eps, "not found") && slices == "ready:[] notready:[]", eps + "; " + slices
	})
}

// TestServiceAccountsInProcess: every namespace gets a default
// ServiceAccount, also after it is deleted.
func TestServiceAccountsInProcess(t *testing.T) {
	ctx, c := ipStart(t, Options{Only: []string{"serviceaccount"}})
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}); err != nil {
		t.Fatal(err)
	}
	has := func(ns string) func() (bool, string) {
		return func() (bool, string) {
			err := c.Get(ctx, ns, "default", &corev1.ServiceAccount{})
			return err == nil, fmt.Sprint(err)
		}
	}
	for _, ns := range []string{"default", "kube-system", "team"} {
		ipWait(t, 30*time.Second, "service account default in "+ns, has(ns))
	}
	if err := c.Delete(ctx, &corev1.ServiceAccount{}, "team", "default", nil); err != nil {
		t.Fatal(err)
	}
	ipWait(t, 30*time.Second, "service account default in team to be recreated", has("team"))
}

// TestKubernetesServiceInProcess: default/kubernetes at 10.96.0.1:443 with
// endpoints at the API server's address, restored when changed.
func TestKubernetesServiceInProcess(t *testing.T) {
	ctx, c := ipStart(t, Options{Only: []string{"kubernetes-service"}, APIServerAddress: "172.18.0.2", APIServerPort: 6443})
	ipWait(t, 30*time.Second, "the kubernetes service and its endpoints", func() (bool, string) {
		svc, ep, sl := &corev1.Service{}, &corev1.Endpoints{}, &discoveryv1.EndpointSlice{}
		if err := c.Get(ctx, "default", "kubernetes", svc); err != nil {
			return false, err.Error()
		}
		if err := c.Get(ctx, "default", "kubernetes", ep); err != nil {
			return false, err.Error()
		}
		if err := c.Get(ctx, "default", "kubernetes", sl); err != nil {
			return false, err.Error()
		}
		p := svc.Spec.Ports
		ok := svc.Spec.ClusterIP == "10.96.0.1" && svc.Spec.Selector == nil && len(p) == 1 && p[0].Name == "https" && p[0].Port == 443 &&
			p[0].TargetPort.IntValue() == 6443 && len(ep.Subsets) == 1 && ep.Subsets[0].Addresses[0].IP == "172.18.0.2" &&
			ep.Subsets[0].Ports[0].Port == 6443 && sl.Endpoints[0].Addresses[0] == "172.18.0.2" && *sl.Ports[0].Port == 6443 &&
			sl.Labels[discoveryv1.LabelServiceName] == "kubernetes"
		return ok, fmt.Sprintf("svc %+v; ep %+v; slice %+v", svc.Spec, ep.Subsets, sl.Endpoints)
	})
	ep := &corev1.Endpoints{}
	if err := c.Get(ctx, "default", "kubernetes", ep); err != nil {
		t.Fatal(err)
	}
	ep.Subsets[0].Addresses[0].IP = "1.2.3.4"
	if err := c.Update(ctx, ep); err != nil {
		t.Fatal(err)
	}
	ipWait(t, 30*time.Second, "the kubernetes endpoints to be restored", func() (bool, string) {
		ep := &corev1.Endpoints{}
		err := c.Get(ctx, "default", "kubernetes", ep)
		return err == nil && ep.Subsets[0].Addresses[0].IP == "172.18.0.2", fmt.Sprint(err, ep.Subsets)
	})
}

// BenchmarkEndpointSliceReadiness measures how long a pod readiness change
// takes to show in its service's EndpointSlice, through the real API
// server, informers and controller.
func BenchmarkEndpointSliceReadiness(b *testing.B) {
	ctx, c := ipStart(b, Options{Only: []string{"endpointslice"}})
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}
	if err := c.Create(ctx, svc); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		ipWebPod(ctx, b, c, fmt.Sprintf("p%d", i), fmt.Sprintf("10.244.0.%d", i+2), 8080, true)
	}
	readyIn := func(want bool) bool {
		sl := &discoveryv1.EndpointSliceList{}
		if err := c.List(ctx, "default", sl, client.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"}); err != nil {
			return false
		}
		for _, s := range sl.Items {
			for _, e := range s.Endpoints {
				if e.TargetRef.Name == "p0" {
					return *e.Conditions.Ready == want
				}
			}
		}
		return false
	}
	// Baseline in the same run: the status write itself (the kubelet's
	// request). Reported: the extra time until the slice shows the change.
	var write, total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		want := i%2 == 1
		start := time.Now()
		if err := ipSetReady(ctx, c, "p0", want); err != nil {
			b.Fatal(err)
		}
		write += time.Since(start)
		deadline := time.Now().Add(10 * time.Second)
		for !readyIn(want) {
			if time.Now().After(deadline) {
				b.Fatalf("slice did not show p0 ready=%v within 10s", want)
			}
			time.Sleep(100 * time.Microsecond)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64((total-write).Microseconds())/float64(b.N)/1000, "propagation-ms/op")
	b.ReportMetric(float64(total)/float64(write), "x-status-write")
}
