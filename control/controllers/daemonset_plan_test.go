package controllers

import (
	"reflect"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func dsFixture(opts ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	mu := intstr.FromInt32(1)
	d := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default", UID: "uid-agent", Generation: 3},
		Spec: appsv1.DaemonSetSpec{
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &mu}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}}},
		},
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

func TestDsFits(t *testing.T) {
	sel := func(k, v string) func(*corev1.PodSpec) {
		return func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{k: v} }
	}
	affinity := func(terms ...corev1.NodeSelectorTerm) func(*corev1.PodSpec) {
		return func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
		}
	}
	expr := func(k string, op corev1.NodeSelectorOperator, vs ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: k, Operator: op, Values: vs}}}
	}
	field := func(op corev1.NodeSelectorOperator, vs ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: op, Values: vs}}}
	}
	tolerate := func(key string, effect corev1.TaintEffect) func(*corev1.PodSpec) {
		return func(s *corev1.PodSpec) {
			s.Tolerations = append(s.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect})
		}
	}
	cases := []struct {
		name           string
		spec           []func(*corev1.PodSpec)
		node           *corev1.Node
		run, continues bool
	}{
		{name: "plain node", node: fxNode("n1"), run: true, continues: true},
		{name: "not ready node still runs daemons", node: fxNode("n1", fxNodeReady(corev1.ConditionFalse),
			fxTaint(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute), fxTaint(corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule)), run: false, continues: true},
		{name: "unreachable NoExecute is tolerated by default", node: fxNode("n1", fxTaint(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)), run: true, continues: true},
		{name: "cordoned node is tolerated", node: fxNode("n1", fxTaint(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)), run: true, continues: true},
		{name: "foreign NoSchedule taint blocks new pods only", node: fxNode("n1", fxTaint("dedicated", corev1.TaintEffectNoSchedule)), run: false, continues: true},
		{name: "foreign NoExecute taint removes pods", node: fxNode("n1", fxTaint("dedicated", corev1.TaintEffectNoExecute)), run: false, continues: false},
		{name: "tolerated foreign taint", spec: []func(*corev1.PodSpec){tolerate("dedicated", "")},
			node: fxNode("n1", fxTaint("dedicated", corev1.TaintEffectNoExecute)), run: true, continues: true},
		{name: "PreferNoSchedule ignored", node: fxNode("n1", fxTaint("soft", corev1.TaintEffectPreferNoSchedule)), run: true, continues: true},
		{name: "nodeSelector matches", spec: []func(*corev1.PodSpec){sel("disk", "ssd")}, node: fxNode("n1", fxNodeLabel("disk", "ssd")), run: true, continues: true},
		{name: "nodeSelector mismatch", spec: []func(*corev1.PodSpec){sel("disk", "ssd")}, node: fxNode("n1", fxNodeLabel("disk", "hdd"))},
		{name: "affinity In", spec: []func(*corev1.PodSpec){affinity(expr("zone", corev1.NodeSelectorOpIn, "a", "b"))},
			node: fxNode("n1", fxNodeLabel("zone", "b")), run: true, continues: true},
		{name: "affinity NotIn", spec: []func(*corev1.PodSpec){affinity(expr("zone", corev1.NodeSelectorOpNotIn, "b"))},
			node: fxNode("n1", fxNodeLabel("zone", "b"))},
		{name: "affinity terms are ORed", spec: []func(*corev1.PodSpec){affinity(expr("zone", corev1.NodeSelectorOpIn, "x"), expr("disk", corev1.NodeSelectorOpExists))},
			node: fxNode("n1", fxNodeLabel("disk", "any")), run: true, continues: true},
		{name: "affinity Gt", spec: []func(*corev1.PodSpec){affinity(expr("cores", corev1.NodeSelectorOpGt, "4"))},
			node: fxNode("n1", fxNodeLabel("cores", "8")), run: true, continues: true},
		{name: "affinity matchFields name", spec: []func(*corev1.PodSpec){affinity(field(corev1.NodeSelectorOpIn, "n2"))}, node: fxNode("n1")},
		{name: "empty term matches nothing", spec: []func(*corev1.PodSpec){affinity(corev1.NodeSelectorTerm{})}, node: fxNode("n1")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := &corev1.PodSpec{}
			for _, o := range tc.spec {
				o(spec)
			}
			run, cont := dsFits(spec, tc.node)
			if run != tc.run || cont != tc.continues {
				t.Errorf("dsFits = (run %v, continue %v), want (%v, %v)", run, cont, tc.run, tc.continues)
			}
		})
	}
}

// dsPod is a daemon pod of revision hash on node.
func dsPod(name, node, hash string, ready bool, opts ...func(*corev1.Pod)) *corev1.Pod {
	o := []func(*corev1.Pod){fxOnNode(node), fxLabels(appsv1.ControllerRevisionHashLabelKey, hash)}
	if ready {
		o = append(o, fxRunning("10.244.1.1", true))
	}
	return fxPod(name, append(o, opts...)...)
}

func TestDsPlan(t *testing.T) {
	nodes := []*corev1.Node{fxNode("n1"), fxNode("n2"), fxNode("n3", fxTaint("dedicated", corev1.TaintEffectNoExecute))}
	cases := []struct {
		name        string
		ds          *appsv1.DaemonSet
		pods        []*corev1.Pod
		create, del []string
		status      appsv1.DaemonSetStatus
	}{
		{name: "one pod per eligible node", ds: dsFixture(), create: []string{"n1", "n2"},
			status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, NumberUnavailable: 2}},
		{name: "covers a new node, removes from an ineligible one and from a deleted one", ds: dsFixture(),
			pods:   []*corev1.Pod{dsPod("a", "n1", "h1", true), dsPod("b", "n3", "h1", true), dsPod("c", "gone", "h1", true)},
			create: []string{"n2"}, del: []string{"c", "b"},
			status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 1, NumberReady: 1, NumberAvailable: 1,
				UpdatedNumberScheduled: 1, NumberMisscheduled: 1, NumberUnavailable: 1}},
		{name: "pending pod found by its node affinity", ds: dsFixture(),
			pods:   []*corev1.Pod{dsNewPodNamed(dsFixture(), "n1", "h1", "p1")},
			create: []string{"n2"},
			status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 1, UpdatedNumberScheduled: 1, NumberUnavailable: 2}},
		{name: "duplicates and failed pods go", ds: dsFixture(),
			pods: []*corev1.Pod{dsPod("old", "n1", "h1", true, fxCreated(2*time.Hour)), dsPod("dup", "n1", "h1", true),
				dsPod("f", "n2", "h1", false, fxPhase(corev1.PodFailed))},
			del: []string{"dup", "f"},
			status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, NumberReady: 1, NumberAvailable: 1,
				UpdatedNumberScheduled: 2, NumberUnavailable: 1}},
		{name: "no new pod while the old one terminates", ds: dsFixture(),
			pods: []*corev1.Pod{dsPod("a", "n1", "h1", true), dsPod("b", "n2", "h0", true, fxTerminating())},
			status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 1, NumberReady: 1, NumberAvailable: 1,
				UpdatedNumberScheduled: 1, NumberUnavailable: 1}},
		{name: "rolling update replaces one available old pod at a time", ds: dsFixture(),
			pods:   []*corev1.Pod{dsPod("a", "n1", "h0", true), dsPod("b", "n2", "h0", true)},
			del:    []string{"a"},
			status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, NumberReady: 2, NumberAvailable: 2}},
		{name: "rolling update waits for the new pod to be available", ds: dsFixture(),
			pods: []*corev1.Pod{dsPod("a", "n1", "h1", false), dsPod("b", "n2", "h0", true)},
			status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, NumberReady: 1, NumberAvailable: 1,
				UpdatedNumberScheduled: 1, NumberUnavailable: 1}},
		{name: "unavailable old pods are replaced at once", ds: dsFixture(),
			pods:   []*corev1.Pod{dsPod("a", "n1", "h0", false), dsPod("b", "n2", "h0", false)},
			del:    []string{"a", "b"},
			status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, NumberUnavailable: 2}},
		{name: "OnDelete keeps old pods", ds: dsFixture(func(d *appsv1.DaemonSet) {
			d.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
		}),
			pods:   []*corev1.Pod{dsPod("a", "n1", "h0", true), dsPod("b", "n2", "h0", true)},
			status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, NumberReady: 2, NumberAvailable: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := dsPlanFor(tc.ds, nodes, tc.pods, "h1", fxNow)
			if !reflect.DeepEqual(append([]string{}, plan.create...), append([]string{}, tc.create...)) {
				t.Errorf("creates on %v, want %v", plan.create, tc.create)
			}
			got, want := fxPodNames(plan.delete), append([]string{}, tc.del...)
			sort.Strings(got)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("deletes %v, want %v", got, want)
			}
			tc.status.ObservedGeneration = 3
			if !reflect.DeepEqual(plan.status, tc.status) {
				t.Errorf("status\n got %+v\nwant %+v", plan.status, tc.status)
			}
		})
	}
}

func dsNewPodNamed(ds *appsv1.DaemonSet, node, hash, name string) *corev1.Pod {
	p := dsNewPod(ds, node, hash)
	p.Name, p.UID = name, types.UID("uid-"+name)
	return p
}

func TestDsNewPod(t *testing.T) {
	ds := dsFixture()
	ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}}
	p := dsNewPod(ds, "n7", "h1")
	if dsNodeOf(p) != "n7" || p.Spec.NodeName != "" {
		t.Errorf("pod is for node %q (nodeName %q), want n7 by affinity", dsNodeOf(p), p.Spec.NodeName)
	}
	if p.Labels[appsv1.ControllerRevisionHashLabelKey] != "h1" || p.Labels["app"] != "agent" || p.Labels[dsTemplateGenerationLabel] != "3" {
		t.Errorf("labels %v", p.Labels)
	}
	if n := len(p.Spec.Tolerations); n != 6 {
		t.Errorf("%d tolerations, want 6 (the defaults, the template's unreachable one not doubled): %+v", n, p.Spec.Tolerations)
	}
	if run, _ := dsFits(&p.Spec, fxNode("n7")); !run {
		t.Errorf("the pod's own spec does not fit its node")
	}
	if run, _ := dsFits(&p.Spec, fxNode("n8")); run {
		t.Errorf("the pod's affinity admits another node")
	}
}
