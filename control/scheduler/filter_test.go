package scheduler

import (
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// node builds a Ready node with cpu (cores), memory and pods capacity.
func node(name string, cpu, mem string, pods int, mods ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem),
				corev1.ResourcePods: *resource.NewQuantity(int64(pods), resource.DecimalSI),
			},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
	for _, m := range mods {
		m(n)
	}
	return n
}

var podSeq int

// pod builds a pending pod with one container requesting cpu and memory
// ("" = no request).
func pod(name, cpu, mem string, mods ...func(*corev1.Pod)) *corev1.Pod {
	podSeq++
	req := corev1.ResourceList{}
	if cpu != "" {
		req[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		req[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(fmt.Sprintf("uid-%s-%d", name, podSeq))},
		Spec: corev1.PodSpec{SchedulerName: corev1.DefaultSchedulerName,
			Containers: []corev1.Container{{Name: "c", Image: "img", Resources: corev1.ResourceRequirements{Requests: req}}}},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func ownedBy(uid string) func(*corev1.Pod) {
	t := true
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: types.UID(uid), Controller: &t}}
	}
}

func infoOf(n *corev1.Node, bound ...*corev1.Pod) *nodeInfo {
	ni := newNodeInfo(n.Name)
	ni.setNode(n)
	for _, p := range bound {
		ni.addPod(newPodInfo(p))
	}
	return ni
}

func withTaint(key, value string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	}
}

func withToleration(t corev1.Toleration) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, t) }
}

func withHostPort(ip string, port int32, proto corev1.Protocol) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: 80, HostPort: port, HostIP: ip, Protocol: proto})
	}
}

func withRequired(terms ...corev1.NodeSelectorTerm) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
	}
}

func expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func labelled(kv ...string) func(*corev1.Node) {
	return func(n *corev1.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func TestFits(t *testing.T) {
	small := func(mods ...func(*corev1.Node)) *corev1.Node { return node("n1", "2", "4Gi", 3, mods...) }
	cases := []struct {
		name  string
		node  *corev1.Node
		bound []*corev1.Pod
		pod   *corev1.Pod
		want  []string
	}{
		{"empty node fits", small(), nil, pod("p", "1", "1Gi"), nil},
		{"cpu exhausted by bound pods", small(), []*corev1.Pod{pod("a", "1500m", "")}, pod("p", "1", ""), []string{"Insufficient cpu"}},
		{"cpu and memory both short", small(), []*corev1.Pod{pod("a", "1500m", "3Gi")}, pod("p", "1", "2Gi"), []string{"Insufficient cpu", "Insufficient memory"}},
		{"exact fit", small(), []*corev1.Pod{pod("a", "1", "2Gi")}, pod("p", "1", "2Gi"), nil},
		{"pod count", small(), []*corev1.Pod{pod("a", "", ""), pod("b", "", ""), pod("c", "", "")}, pod("p", "", ""), []string{"Too many pods"}},
		{"extended resource missing", small(), nil, pod("p", "", "", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse("1")
		}), []string{"Insufficient example.com/gpu"}},
		{"unschedulable node", small(func(n *corev1.Node) { n.Spec.Unschedulable = true }), nil, pod("p", "", ""), []string{reasonUnschedulable}},
		{"unschedulable tolerated", small(func(n *corev1.Node) { n.Spec.Unschedulable = true }), nil,
			pod("p", "", "", withToleration(corev1.Toleration{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})), nil},
		{"not ready is a condition taint", small(func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }), nil,
			pod("p", "", ""), []string{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}},
		{"unknown readiness is unreachable", small(func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionUnknown }), nil,
			pod("p", "", ""), []string{"node(s) had untolerated taint {node.kubernetes.io/unreachable: }"}},
		{"no Ready condition", small(func(n *corev1.Node) { n.Status.Conditions = nil }), nil,
			pod("p", "", ""), []string{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}},
		{"not ready tolerated", small(func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }), nil,
			pod("p", "", "", withToleration(corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists})), nil},
		{"NoSchedule taint", small(withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)), nil, pod("p", "", ""),
			[]string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{"NoExecute taint", small(withTaint("k", "", corev1.TaintEffectNoExecute)), nil, pod("p", "", ""),
			[]string{"node(s) had untolerated taint {k: }"}},
		{"PreferNoSchedule is not a filter", small(withTaint("k", "v", corev1.TaintEffectPreferNoSchedule)), nil, pod("p", "", ""), nil},
		{"taint tolerated by Equal", small(withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)), nil,
			pod("p", "", "", withToleration(corev1.Toleration{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule})), nil},
		{"toleration with another value", small(withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)), nil,
			pod("p", "", "", withToleration(corev1.Toleration{Key: "dedicated", Value: "cpu"})), []string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{"toleration of another effect", small(withTaint("k", "v", corev1.TaintEffectNoExecute)), nil,
			pod("p", "", "", withToleration(corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})),
			[]string{"node(s) had untolerated taint {k: v}"}},
		{"tolerate everything", small(withTaint("a", "b", corev1.TaintEffectNoSchedule), withTaint("c", "", corev1.TaintEffectNoExecute)), nil,
			pod("p", "", "", withToleration(corev1.Toleration{Operator: corev1.TolerationOpExists})), nil},
		{"nodeSelector matches", small(labelled("disk", "ssd")), nil, pod("p", "", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }), nil},
		{"nodeSelector misses", small(labelled("disk", "hdd")), nil, pod("p", "", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }),
			[]string{reasonAffinity}},
		{"affinity In", small(labelled("zone", "a")), nil, pod("p", "", "", withRequired(expr("zone", corev1.NodeSelectorOpIn, "a", "b"))), nil},
		{"affinity In misses", small(labelled("zone", "c")), nil, pod("p", "", "", withRequired(expr("zone", corev1.NodeSelectorOpIn, "a", "b"))), []string{reasonAffinity}},
		{"affinity NotIn", small(labelled("zone", "a")), nil, pod("p", "", "", withRequired(expr("zone", corev1.NodeSelectorOpNotIn, "a"))), []string{reasonAffinity}},
		{"affinity Exists", small(labelled("gpu", "")), nil, pod("p", "", "", withRequired(expr("gpu", corev1.NodeSelectorOpExists))), nil},
		{"affinity DoesNotExist", small(labelled("gpu", "")), nil, pod("p", "", "", withRequired(expr("gpu", corev1.NodeSelectorOpDoesNotExist))), []string{reasonAffinity}},
		{"affinity Gt", small(labelled("cores", "16")), nil, pod("p", "", "", withRequired(expr("cores", corev1.NodeSelectorOpGt, "8"))), nil},
		{"affinity Gt misses", small(labelled("cores", "4")), nil, pod("p", "", "", withRequired(expr("cores", corev1.NodeSelectorOpGt, "8"))), []string{reasonAffinity}},
		{"affinity Lt", small(labelled("cores", "4")), nil, pod("p", "", "", withRequired(expr("cores", corev1.NodeSelectorOpLt, "8"))), nil},
		{"terms are ORed", small(labelled("zone", "b")), nil,
			pod("p", "", "", withRequired(expr("zone", corev1.NodeSelectorOpIn, "a"), expr("zone", corev1.NodeSelectorOpIn, "b"))), nil},
		{"matchFields metadata.name", small(), nil, pod("p", "", "", withRequired(corev1.NodeSelectorTerm{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}})), nil},
		{"matchFields other node", small(), nil, pod("p", "", "", withRequired(corev1.NodeSelectorTerm{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n2"}}}})), []string{reasonAffinity}},
		{"empty term matches nothing", small(), nil, pod("p", "", "", withRequired(corev1.NodeSelectorTerm{})), []string{reasonAffinity}},
		{"bad operator fits nowhere", small(), nil, pod("p", "", "", withRequired(expr("a", "Near", "b"))), []string{reasonAffinity}},
		{"host port free", small(), []*corev1.Pod{pod("a", "", "", withHostPort("", 8080, ""))}, pod("p", "", "", withHostPort("", 8081, "")), nil},
		{"host port taken", small(), []*corev1.Pod{pod("a", "", "", withHostPort("", 8080, ""))}, pod("p", "", "", withHostPort("", 8080, corev1.ProtocolTCP)), []string{reasonPorts}},
		{"host port other protocol", small(), []*corev1.Pod{pod("a", "", "", withHostPort("", 53, corev1.ProtocolTCP))}, pod("p", "", "", withHostPort("", 53, corev1.ProtocolUDP)), nil},
		{"host port other address", small(), []*corev1.Pod{pod("a", "", "", withHostPort("10.0.0.1", 80, ""))}, pod("p", "", "", withHostPort("10.0.0.2", 80, "")), nil},
		{"host port wildcard vs address", small(), []*corev1.Pod{pod("a", "", "", withHostPort("10.0.0.1", 80, ""))}, pod("p", "", "", withHostPort("0.0.0.0", 80, "")), []string{reasonPorts}},
		{"unschedulable checked before resources", small(func(n *corev1.Node) { n.Spec.Unschedulable = true }), []*corev1.Pod{pod("a", "2", "")}, pod("p", "1", ""), []string{reasonUnschedulable}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := fits(newPodInfo(tc.pod), infoOf(tc.node, tc.bound...), nil)
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("fits() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPodRequests(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	cases := []struct {
		name         string
		mod          func(*corev1.Pod)
		wantCPU      int64
		wantMem      int64
		wantNZCPU    int64
		wantNZMemory int64
	}{
		{"containers summed", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}}})
		}, 750, 1 << 30, 750, 1<<30 + defaultMemoryRequest},
		{"bigger init container wins", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}}
		}, 2000, 1 << 30, 2000, 1 << 30},
		{"sidecars add up", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "s", RestartPolicy: &always, Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}
		}, 600, 1 << 30, 600, 1<<30 + defaultMemoryRequest},
		{"overhead added", func(p *corev1.Pod) {
			p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}
		}, 510, 1 << 30, 510, 1 << 30},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := pod("p", "500m", "1Gi", tc.mod)
			req, nz := podRequests(p)
			if req.milliCPU != tc.wantCPU || req.memory != tc.wantMem || nz.milliCPU != tc.wantNZCPU || nz.memory != tc.wantNZMemory {
				t.Errorf("requests = cpu %dm mem %d (non-zero %dm %d), want cpu %dm mem %d (non-zero %dm %d)",
					req.milliCPU, req.memory, nz.milliCPU, nz.memory, tc.wantCPU, tc.wantMem, tc.wantNZCPU, tc.wantNZMemory)
			}
		})
	}
}

func TestSameConstraints(t *testing.T) {
	base := pod("p", "100m", "", withToleration(corev1.Toleration{Key: "a", Operator: corev1.TolerationOpExists}))
	cases := []struct {
		name string
		mod  func(*corev1.Pod)
		same bool
	}{
		{"status only", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}}
		}, true},
		{"image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "other" }, true},
		{"toleration added", func(p *corev1.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "b"}) }, false},
		{"label", func(p *corev1.Pod) { p.Labels = map[string]string{"x": "y"} }, false},
		{"selector", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }, false},
		{"affinity", withRequired(expr("zone", corev1.NodeSelectorOpIn, "a")), false},
		{"requests", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1")
		}, false},
		{"gate added", func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "g"}} }, false},
	}
	for _, tc := range cases {
		n := base.DeepCopy()
		tc.mod(n)
		if got := sameConstraints(newPodInfo(base), newPodInfo(n)); got != tc.same {
			t.Errorf("%s: sameConstraints = %v, want %v", tc.name, got, tc.same)
		}
	}
}

func TestPodInfoKeepsTheScheduledCondition(t *testing.T) {
	p := pod("p", "", "", func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady}, {Type: corev1.PodScheduled, Reason: "Unschedulable", Message: "m"}}
	})
	pi := newPodInfo(p)
	if pi.scheduled == nil || pi.scheduled.Message != "m" || pi.GetObjectKind().GroupVersionKind().Kind != "Pod" || pi.GetName() != "p" {
		t.Errorf("podInfo scheduled %+v kind %q name %q", pi.scheduled, pi.GetObjectKind().GroupVersionKind().Kind, pi.GetName())
	}
	if cp := pi.DeepCopyObject().(*podInfo); cp == pi || cp.key != pi.key {
		t.Error("DeepCopyObject returned the same pointer or lost fields")
	}
}
