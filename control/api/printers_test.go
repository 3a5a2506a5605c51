package api

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func twoContainers() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}, {Name: "log", Image: "fluent:2"}}}}
}

func TestWorkloadRows(t *testing.T) {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	runRows(t, "Deployment", []rowCase{
		{"rolling", &appsv1.Deployment{ObjectMeta: objMeta("web"), Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: sel, Template: twoContainers()},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 1, AvailableReplicas: 2}},
			[]any{"web", "2/3", int64(1), int64(2), "60m", "web,log", "nginx:1.27,fluent:2", "app=web"}},
		{"bad selector", &appsv1.Deployment{ObjectMeta: objMeta("web"), Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}}},
			[]any{"web", "0/0", int64(0), int64(0), "60m", "", "", "<invalid>"}},
	})
	runRows(t, "ReplicaSet", []rowCase{
		{"scaled", &appsv1.ReplicaSet{ObjectMeta: objMeta("web-5d8f"), Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(3)), Selector: sel, Template: twoContainers()},
			Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1}},
			[]any{"web-5d8f", int64(3), int64(3), int64(1), "60m", "web,log", "nginx:1.27,fluent:2", "app=web"}},
	})
	runRows(t, "StatefulSet", []rowCase{
		{"ready", &appsv1.StatefulSet{ObjectMeta: objMeta("db"), Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(3)), Template: twoContainers()},
			Status: appsv1.StatefulSetStatus{ReadyReplicas: 3}}, []any{"db", "3/3", "60m", "web,log", "nginx:1.27,fluent:2"}},
	})
	ds := twoContainers()
	ds.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	runRows(t, "DaemonSet", []rowCase{
		{"spread", &appsv1.DaemonSet{ObjectMeta: objMeta("agent"), Spec: appsv1.DaemonSetSpec{Selector: sel, Template: ds},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 1, NumberAvailable: 2}},
			[]any{"agent", int64(3), int64(3), int64(2), int64(1), int64(2), "kubernetes.io/os=linux", "60m", "web,log", "nginx:1.27,fluent:2", "app=web"}},
		{"no node selector", &appsv1.DaemonSet{ObjectMeta: objMeta("agent"), Spec: appsv1.DaemonSetSpec{Selector: sel}},
			[]any{"agent", int64(0), int64(0), int64(0), int64(0), int64(0), "<none>", "60m", "", "", "app=web"}},
	})
	owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", Controller: ptr(true)}
	runRows(t, "ControllerRevision", []rowCase{
		{"owned", &appsv1.ControllerRevision{ObjectMeta: func() metav1.ObjectMeta {
			m := objMeta("db-7c9")
			m.OwnerReferences = []metav1.OwnerReference{owner}
			return m
		}(), Revision: 2}, []any{"db-7c9", "statefulset.apps/db", int64(2), "60m"}},
		{"orphan", &appsv1.ControllerRevision{ObjectMeta: objMeta("x"), Revision: 1}, []any{"x", "<none>", int64(1), "60m"}},
	})
}

func job(mod func(j *batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: objMeta("pi"), Spec: batchv1.JobSpec{Completions: ptr(int32(3)), Template: twoContainers(),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": "u1"}}}}
	mod(j)
	return j
}

func jobCond(t batchv1.JobConditionType) func(j *batchv1.Job) {
	return func(j *batchv1.Job) {
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue})
	}
}

func TestJobRows(t *testing.T) {
	started, done := ago(10*time.Minute), ago(7*time.Minute)
	row := func(status, completions, duration string) []any {
		return []any{"pi", status, completions, duration, "60m", "web,log", "nginx:1.27,fluent:2", "batch.kubernetes.io/controller-uid=u1"}
	}
	runRows(t, "Job", []rowCase{
		{"not started", job(func(*batchv1.Job) {}), row("Running", "0/3", "")},
		{"running", job(func(j *batchv1.Job) { j.Status.StartTime, j.Status.Succeeded = &started, 1 }), row("Running", "1/3", "10m")},
		{"complete", job(func(j *batchv1.Job) {
			j.Status.StartTime, j.Status.CompletionTime, j.Status.Succeeded = &started, &done, 3
			jobCond(batchv1.JobComplete)(j)
		}), row("Complete", "3/3", "3m")},
		{"failed", job(jobCond(batchv1.JobFailed)), row("Failed", "0/3", "")},
		{"failure target", job(jobCond(batchv1.JobFailureTarget)), row("FailureTarget", "0/3", "")},
		{"suspended", job(jobCond(batchv1.JobSuspended)), row("Suspended", "0/3", "")},
		{"terminating", job(func(j *batchv1.Job) { now := metav1.NewTime(printNow); j.DeletionTimestamp = &now }), row("Terminating", "0/3", "")},
		{"condition false", job(func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionFalse}}
		}), row("Running", "0/3", "")},
		{"work queue", job(func(j *batchv1.Job) { j.Spec.Completions, j.Spec.Parallelism = nil, ptr(int32(4)) }), row("Running", "0/1 of 4", "")},
		{"single", job(func(j *batchv1.Job) { j.Spec.Completions, j.Spec.Parallelism = nil, ptr(int32(1)) }), row("Running", "0/1", "")},
	})
}

func svc(typ corev1.ServiceType, mod func(s *corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: objMeta("web"), Spec: corev1.ServiceSpec{Type: typ, ClusterIP: "10.96.0.20", ClusterIPs: []string{"10.96.0.20"},
		Selector: map[string]string{"app": "web"},
		Ports:    []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP}}}}
	mod(s)
	return s
}

func TestServiceRows(t *testing.T) {
	runRows(t, "Service", []rowCase{
		{"cluster IP", svc(corev1.ServiceTypeClusterIP, func(*corev1.Service) {}),
			[]any{"web", "ClusterIP", "10.96.0.20", "<none>", "80/TCP,53/UDP", "60m", "app=web"}},
		{"node port", svc(corev1.ServiceTypeNodePort, func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }),
			[]any{"web", "NodePort", "10.96.0.20", "<none>", "80:30080/TCP,53/UDP", "60m", "app=web"}},
		{"external IPs", svc(corev1.ServiceTypeClusterIP, func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"192.0.2.1", "192.0.2.2"} }),
			[]any{"web", "ClusterIP", "10.96.0.20", "192.0.2.1,192.0.2.2", "80/TCP,53/UDP", "60m", "app=web"}},
		{"load balancer pending", svc(corev1.ServiceTypeLoadBalancer, func(*corev1.Service) {}),
			[]any{"web", "LoadBalancer", "10.96.0.20", "<pending>", "80/TCP,53/UDP", "60m", "app=web"}},
		{"load balancer", svc(corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "172.18.0.5"}, {Hostname: "lb.example.com"}, {IP: "172.18.0.5"}}
		}), []any{"web", "LoadBalancer", "10.96.0.20", "172.18.0.5,lb.example.com", "80/TCP,53/UDP", "60m", "app=web"}},
		{"headless without ports", svc(corev1.ServiceTypeClusterIP, func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.Ports, s.Spec.Selector = "None", []string{"None"}, nil, nil
		}), []any{"web", "ClusterIP", "None", "<none>", "<none>", "60m", "<none>"}},
		{"external name", &corev1.Service{ObjectMeta: objMeta("db"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}},
			[]any{"db", "ExternalName", "<none>", "db.example.com", "<none>", "60m", "<none>"}},
	})
	runRows(t, "Endpoints", []rowCase{
		{"none", &corev1.Endpoints{ObjectMeta: objMeta("web")}, []any{"web", "<none>", "60m"}},
		{"some", &corev1.Endpoints{ObjectMeta: objMeta("web"), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.244.1.5"}, {IP: "10.244.2.6"}}, Ports: []corev1.EndpointPort{{Port: 8080}}}}},
			[]any{"web", "10.244.1.5:8080,10.244.2.6:8080", "60m"}},
		{"more than three", &corev1.Endpoints{ObjectMeta: objMeta("web"), Subsets: []corev1.EndpointSubset{
			{Addresses: []corev1.EndpointAddress{{IP: "10.244.1.5"}, {IP: "10.244.2.6"}}, Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}},
			{Addresses: []corev1.EndpointAddress{{IP: "10.244.3.7"}}}}},
			[]any{"web", "10.244.1.5:80,10.244.2.6:80,10.244.1.5:443 + 2 more...", "60m"}},
	})
	port := func(n int32) discoveryv1.EndpointPort { return discoveryv1.EndpointPort{Port: ptr(n)} }
	runRows(t, "EndpointSlice", []rowCase{
		{"empty", &discoveryv1.EndpointSlice{ObjectMeta: objMeta("web-abc"), AddressType: discoveryv1.AddressTypeIPv4},
			[]any{"web-abc", "IPv4", "<unset>", "<unset>", "60m"}},
		{"filled", &discoveryv1.EndpointSlice{ObjectMeta: objMeta("web-abc"), AddressType: discoveryv1.AddressTypeIPv4,
			Ports:     []discoveryv1.EndpointPort{port(80), {Name: ptr("dns")}, {}, port(8080)},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}}, {Addresses: []string{"10.244.2.6"}}}},
			[]any{"web-abc", "IPv4", "80,dns,* + 1 more...", "10.244.1.5,10.244.2.6", "60m"}},
	})
	prefix := networkingv1.PathTypePrefix
	rule := func(host string) networkingv1.IngressRule {
		return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix}}}}}
	}
	runRows(t, "Ingress", []rowCase{
		{"catch all", &networkingv1.Ingress{ObjectMeta: objMeta("web"), Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule("")}}},
			[]any{"web", "<none>", "*", "", "80", "60m"}},
		{"hosts and tls", &networkingv1.Ingress{ObjectMeta: objMeta("web"), Spec: networkingv1.IngressSpec{IngressClassName: ptr("nginx"),
			Rules: []networkingv1.IngressRule{rule("a.example.com"), rule("b.example.com"), rule("c.example.com"), rule("d.example.com")},
			TLS:   []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}}}},
			Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "172.18.0.5"}}}}},
			[]any{"web", "nginx", "a.example.com,b.example.com,c.example.com + 1 more...", "172.18.0.5", "80, 443", "60m"}},
	})
}

func node(mod func(n *corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: objMeta("n1"), Status: corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: "172.18.0.3"}},
		NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.33.0-mini", OSImage: "Debian GNU/Linux 12", KernelVersion: "6.1.0", ContainerRuntimeVersion: "docker://24.0.5"},
	}}
	n.Namespace = ""
	mod(n)
	return n
}

func nodeRow(status, roles string) []any {
	return []any{"n1", status, roles, "60m", "v1.33.0-mini", "172.18.0.3", "<none>", "Debian GNU/Linux 12", "6.1.0", "docker://24.0.5"}
}

func TestClusterRows(t *testing.T) {
	runRows(t, "Node", []rowCase{
		{"ready", node(func(*corev1.Node) {}), nodeRow("Ready", "<none>")},
		{"not ready", node(func(n *corev1.Node) { n.Status.Conditions[1].Status = corev1.ConditionUnknown }), nodeRow("NotReady", "<none>")},
		{"no conditions", node(func(n *corev1.Node) { n.Status.Conditions = nil }), nodeRow("Unknown", "<none>")},
		{"cordoned", node(func(n *corev1.Node) { n.Spec.Unschedulable = true }), nodeRow("Ready,SchedulingDisabled", "<none>")},
		{"roles", node(func(n *corev1.Node) {
			n.Labels = map[string]string{"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "",
				"kubernetes.io/role": "edge", "node-role.kubernetes.io/": "x"}
		}), nodeRow("Ready", "control-plane,edge,worker")},
		{"bare", &corev1.Node{ObjectMeta: objMeta("n1")},
			[]any{"n1", "Unknown", "<none>", "60m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
	})
	runRows(t, "Namespace", []rowCase{
		{"active", &corev1.Namespace{ObjectMeta: objMeta("dev"), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}, []any{"dev", "Active", "60m"}},
		{"terminating", &corev1.Namespace{ObjectMeta: objMeta("old"), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			[]any{"old", "Terminating", "60m"}},
	})
	runRows(t, "ConfigMap", []rowCase{
		{"data", &corev1.ConfigMap{ObjectMeta: objMeta("cfg"), Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": {1}}},
			[]any{"cfg", int64(3), "60m"}},
	})
	runRows(t, "Secret", []rowCase{
		{"tls", &corev1.Secret{ObjectMeta: objMeta("tls"), Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}},
			[]any{"tls", "kubernetes.io/tls", int64(2), "60m"}},
	})
	runRows(t, "ServiceAccount", []rowCase{
		{"default", &corev1.ServiceAccount{ObjectMeta: objMeta("default")}, []any{"default", int64(0), "60m"}},
	})
	runRows(t, "Lease", []rowCase{
		{"held", &coordinationv1.Lease{ObjectMeta: objMeta("n1"), Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("n1")}}, []any{"n1", "n1", "60m"}},
		{"free", &coordinationv1.Lease{ObjectMeta: objMeta("x")}, []any{"x", "", "60m"}},
	})
	creationNow := objMeta("x")
	creationNow.CreationTimestamp = metav1.NewTime(printNow)
	runRows(t, "Pod", []rowCase{{"just created", &corev1.Pod{ObjectMeta: creationNow},
		[]any{"x", "0/0", "", "0", "0s", "<none>", "<none>", "<none>", "<none>"}}})
}

func TestEventRows(t *testing.T) {
	ref := corev1.ObjectReference{Kind: "Pod", Name: "web-1", FieldPath: "spec.containers{web}"}
	legacy := &corev1.Event{ObjectMeta: objMeta("web-1.17f"), InvolvedObject: ref, Type: corev1.EventTypeNormal, Reason: "Pulled",
		Message: " Container image pulled \n", Source: corev1.EventSource{Component: "kubelet", Host: "n1"},
		FirstTimestamp: ago(5 * time.Minute), LastTimestamp: ago(2 * time.Minute), Count: 4}
	series := &corev1.Event{ObjectMeta: objMeta("web-1.18a"), InvolvedObject: ref, Type: corev1.EventTypeWarning, Reason: "BackOff",
		EventTime: metav1.NewMicroTime(printNow.Add(-30 * time.Minute)), ReportingController: "kubelet", ReportingInstance: "n2",
		Series: &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(printNow.Add(-40 * time.Second))}}
	single := &corev1.Event{ObjectMeta: objMeta("n1.19b"), InvolvedObject: corev1.ObjectReference{Kind: "Node"}, Type: corev1.EventTypeNormal,
		Reason: "RegisteredNode", EventTime: metav1.NewMicroTime(printNow.Add(-90 * time.Second)), ReportingController: "node-controller"}
	runRows(t, "Event", []rowCase{
		{"legacy", legacy, []any{"2m", "Normal", "Pulled", "pod/web-1", "spec.containers{web}", "kubelet, n1", "Container image pulled", "5m", int64(4), "web-1.17f"}},
		{"series", series, []any{"40s", "Warning", "BackOff", "pod/web-1", "spec.containers{web}", "kubelet, n2", "", "30m", int64(7), "web-1.18a"}},
		{"single new-style", single, []any{"90s", "Normal", "RegisteredNode", "node", "", "node-controller", "", "90s", int64(1), "n1.19b"}},
	})
	if got := fmt.Sprint(age(metav1.Time{}, printNow)); got != "<unknown>" {
		t.Errorf("age of a zero time: want <unknown>, got %s", got)
	}
}
