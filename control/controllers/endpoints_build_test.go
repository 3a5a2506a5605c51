package controllers

import (
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func epService(opts ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-svc", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.20", Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("web")},
			{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9100)},
		}},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// epPod is a pod of the service exposing container port "web" as port.
func epPod(name, ip string, ready bool, port int32, opts ...func(*corev1.Pod)) *corev1.Pod {
	o := []func(*corev1.Pod){fxLabels("app", "web"), fxRunning(ip, ready), fxOnNode("n1"), func(p *corev1.Pod) {
		if port > 0 {
			p.Spec.Containers = []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: port, Protocol: corev1.ProtocolTCP}}}}
		}
	}}
	return fxPod(name, append(o, opts...)...)
}

func epAddrs(as []corev1.EndpointAddress) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.IP)
	}
	return out
}

func TestEpBuildSubsets(t *testing.T) {
	cases := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		// want: per subset "ports: ready / notReady"
		want []string
	}{
		{name: "named target port resolved per pod, readiness split", svc: epService(),
			pods: []*corev1.Pod{epPod("a", "10.244.0.2", true, 8080), epPod("b", "10.244.0.3", false, 8080), epPod("c", "10.244.1.2", true, 8081)},
			want: []string{"http/8080/TCP,metrics/9100/TCP,: [10.244.0.2] / [10.244.0.3]", "http/8081/TCP,metrics/9100/TCP,: [10.244.1.2] / []"}},
		{name: "pods without the named port keep the numeric one", svc: epService(),
			pods: []*corev1.Pod{epPod("a", "10.244.0.2", true, 0)},
			want: []string{"metrics/9100/TCP,: [10.244.0.2] / []"}},
		{name: "no IP, finished and terminating pods are left out", svc: epService(),
			pods: []*corev1.Pod{epPod("a", "", true, 8080), epPod("b", "10.244.0.3", true, 8080, fxPhase(corev1.PodSucceeded)),
				epPod("c", "10.244.0.4", true, 8080, fxTerminating()), epPod("d", "10.244.0.5", true, 8080)},
			want: []string{"http/8080/TCP,metrics/9100/TCP,: [10.244.0.5] / []"}},
		{name: "publishNotReadyAddresses puts every pod in addresses",
			svc:  epService(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
			pods: []*corev1.Pod{epPod("a", "10.244.0.2", false, 8080), epPod("b", "10.244.0.3", true, 8080)},
			want: []string{"http/8080/TCP,metrics/9100/TCP,: [10.244.0.2 10.244.0.3] / []"}},
		{name: "headless without ports", svc: epService(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.Ports = "None", nil }),
			pods: []*corev1.Pod{epPod("a", "10.244.0.2", true, 0)},
			want: []string{": [10.244.0.2] / []"}},
		{name: "no pods", svc: epService(), want: []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := []string{}
			for _, ss := range epBuildSubsets(tc.svc, tc.pods) {
				got = append(got, fmt.Sprintf("%s: %v / %v", epPortsKey(ss.Ports), epAddrs(ss.Addresses), epAddrs(ss.NotReadyAddresses)))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("subsets\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestEpAddressDetails(t *testing.T) {
	svc := epService(func(s *corev1.Service) { s.Name, s.Spec.ClusterIP = "nginx", "None" })
	p := epPod("web-0", "10.244.0.2", true, 8080, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "web-0", "nginx" })
	ss := epBuildSubsets(svc, []*corev1.Pod{p})
	a := ss[0].Addresses[0]
	if a.Hostname != "web-0" || a.NodeName == nil || *a.NodeName != "n1" || a.TargetRef == nil || a.TargetRef.Name != "web-0" || a.TargetRef.UID != p.UID {
		t.Errorf("address %+v, want hostname web-0, node n1 and a target ref to the pod", a)
	}
	other := epService() // not the pod's subdomain: no hostname
	if h := epBuildSubsets(other, []*corev1.Pod{p})[0].Addresses[0].Hostname; h != "" {
		t.Errorf("hostname %q for a service that is not the pod's subdomain", h)
	}
	if l := epLabels(svc); l[epHeadlessLabel] != "" || len(l) != 2 {
		t.Errorf("labels %v, want the service's plus the headless marker", l)
	}
}

func TestEpBuildSlices(t *testing.T) {
	svc := epService()
	pods := []*corev1.Pod{epPod("a", "10.244.0.2", true, 8080), epPod("b", "10.244.0.3", false, 8080), epPod("c", "10.244.0.4", true, 8080, fxTerminating())}
	slices := epBuildSlices(svc, pods)
	if len(slices) != 1 {
		t.Fatalf("%d slices, want 1", len(slices))
	}
	type cond struct{ ready, serving, terminating bool }
	got := map[string]cond{}
	for _, e := range slices[0].endpoints {
		got[e.Addresses[0]] = cond{*e.Conditions.Ready, *e.Conditions.Serving, *e.Conditions.Terminating}
	}
	want := map[string]cond{"10.244.0.2": {true, true, false}, "10.244.0.3": {false, false, false}, "10.244.0.4": {false, true, true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("endpoint conditions %v, want %v", got, want)
	}
	if n := len(slices[0].ports); n != 2 || *slices[0].ports[0].Name != "http" || *slices[0].ports[0].Port != 8080 {
		t.Errorf("ports %+v, want http:8080 and metrics:9100", slices[0].ports)
	}
	obj := epSliceObject(svc, slices[0])
	if obj.Labels["kubernetes.io/service-name"] != "web" || obj.Labels["endpointslice.kubernetes.io/managed-by"] != epManagedBy ||
		obj.Labels["team"] != "a" || len(obj.OwnerReferences) != 1 || obj.OwnerReferences[0].UID != svc.UID {
		t.Errorf("slice metadata %+v", obj.ObjectMeta)
	}

	var many []*corev1.Pod
	for i := 0; i < 250; i++ {
		many = append(many, epPod(fmt.Sprintf("p%d", i), fmt.Sprintf("10.244.%d.%d", i/200, i%200+2), true, 8080))
	}
	big := epBuildSlices(svc, many)
	if len(big) != 3 || len(big[0].endpoints) != 100 || len(big[2].endpoints) != 50 {
		t.Errorf("250 endpoints cut into %d slices, want 100+100+50", len(big))
	}
	names := map[string]bool{}
	for _, s := range big {
		names[s.name] = true
	}
	if len(names) != 3 {
		t.Errorf("slice names are not distinct: %v", names)
	}
	if again := epBuildSlices(svc, many); again[1].name != big[1].name {
		t.Errorf("slice names are not stable: %s then %s", big[1].name, again[1].name)
	}
	if empty := epBuildSlices(svc, nil); len(empty) != 1 || len(empty[0].endpoints) != 0 {
		t.Errorf("a service without pods gets %d slices, want one placeholder", len(empty))
	}
}
