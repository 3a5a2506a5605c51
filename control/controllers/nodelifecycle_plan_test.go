package controllers

import (
	"reflect"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func nlLease(renew time.Time) *coordinationv1.Lease {
	mt := metav1.NewMicroTime(renew)
	return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{RenewTime: &mt}}
}

// TestNLStaleLeaseToEviction walks one node through the lifecycle with a
// controller clock: lease renewals keep it healthy, silence for the grace
// period marks it Unknown and unreachable, and pods go after the eviction
// timeout or their toleration.
func TestNLStaleLeaseToEviction(t *testing.T) {
	const grace, evictAfter = 10 * time.Second, 10 * time.Second
	node := fxNode("n1", fxNodeReady(corev1.ConditionTrue))
	h := &nlHealth{}
	t0 := fxNow
	// The node's clock is an hour off: only changes of the values count.
	renew := t0.Add(-time.Hour)
	if p := nlObserve(h, nlLease(renew), node, t0); !p.Equal(t0) {
		t.Fatalf("first observation probe %v, want now", p)
	}
	renew = renew.Add(3 * time.Second)
	if p := nlObserve(h, nlLease(renew), node, t0.Add(3*time.Second)); !p.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("renewal not observed: probe %v", p)
	}
	probe := nlObserve(h, nlLease(renew), node, t0.Add(12*time.Second))
	if stale := t0.Add(12 * time.Second).Sub(probe); stale > grace {
		t.Fatalf("node stale after 9s of silence")
	}
	lost := t0.Add(14 * time.Second)
	probe = nlObserve(h, nlLease(renew), node, lost)
	if lost.Sub(probe) <= grace {
		t.Fatalf("node not stale after 11s of silence (probe %v)", probe)
	}
	conds, changed := nlMarkUnknown(node, lost)
	if !changed || conds[0].Status != corev1.ConditionUnknown || conds[0].Reason != "NodeStatusUnknown" ||
		conds[0].Message != "Kubelet stopped posting node status." || !conds[0].LastTransitionTime.Time.Equal(lost) ||
		!conds[0].LastHeartbeatTime.Time.Equal(fxNow.Add(-time.Minute)) {
		t.Fatalf("marked conditions %+v", conds)
	}
	node.Status.Conditions = conds
	if _, again := nlMarkUnknown(node, lost.Add(time.Second)); again {
		t.Errorf("marking an Unknown node again reports a change")
	}
	taints, changed := nlWantTaints(node, lost)
	want := []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: lost}}}
	if !changed || !reflect.DeepEqual(taints, want) {
		t.Fatalf("taints %+v, want %+v", taints, want)
	}
	node.Spec.Taints = taints

	plain := fxPod("plain")
	tolerant := fxPod("tolerant", func(p *corev1.Pod) {
		p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptrTo(int64(30))}}
	})
	forever := fxPod("daemon", func(p *corev1.Pod) { p.Spec.Tolerations = dsDefaultTolerations(false) })
	for _, c := range []struct {
		pod  *corev1.Pod
		at   time.Time
		ever bool
	}{{plain, lost.Add(evictAfter), true}, {tolerant, lost.Add(30 * time.Second), true}, {forever, time.Time{}, false}} {
		at, ok := nlEvictAt(c.pod, node.Spec.Taints, evictAfter, lost.Add(time.Second))
		if ok != c.ever || !at.Equal(c.at) {
			t.Errorf("pod %s: evict at %v (%v), want %v (%v)", c.pod.Name, at, ok, c.at, c.ever)
		}
	}

	// The kubelet comes back and posts Ready: the taints go.
	node.Status.Conditions[0].Status = corev1.ConditionTrue
	taints, changed = nlWantTaints(node, lost.Add(time.Minute))
	if !changed || len(taints) != 0 {
		t.Errorf("taints of a Ready node %+v, want none", taints)
	}
}

func TestNLWantTaints(t *testing.T) {
	added := metav1.NewTime(fxNow.Add(-time.Hour))
	cases := []struct {
		name    string
		node    *corev1.Node
		want    []string
		changed bool
	}{
		{name: "ready False gets not-ready", node: fxNode("n", fxNodeReady(corev1.ConditionFalse)),
			want: []string{"node.kubernetes.io/not-ready:NoSchedule", "node.kubernetes.io/not-ready:NoExecute"}, changed: true},
		{name: "Unknown swaps not-ready for unreachable and keeps foreign taints", node: fxNode("n", fxNodeReady(corev1.ConditionUnknown),
			fxTaint("dedicated", corev1.TaintEffectNoSchedule), fxTaint(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)),
			want: []string{"dedicated:NoSchedule", "node.kubernetes.io/unreachable:NoSchedule", "node.kubernetes.io/unreachable:NoExecute"}, changed: true},
		{name: "already tainted is no change", node: fxNode("n", fxNodeReady(corev1.ConditionFalse),
			fxTaint(corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule), func(n *corev1.Node) {
				n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added})
			}),
			want: []string{"node.kubernetes.io/not-ready:NoSchedule", "node.kubernetes.io/not-ready:NoExecute"}},
		{name: "never reported is left alone", node: fxNode("n", fxTaint(corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule)),
			want: []string{"node.kubernetes.io/not-ready:NoSchedule"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			taints, changed := nlWantTaints(tc.node, fxNow)
			got := []string{}
			for _, x := range taints {
				got = append(got, x.Key+":"+string(x.Effect))
			}
			if !reflect.DeepEqual(got, tc.want) || changed != tc.changed {
				t.Errorf("taints %v (changed %v), want %v (%v)", got, changed, tc.want, tc.changed)
			}
			for _, x := range taints {
				if x.Effect == corev1.TaintEffectNoExecute && x.TimeAdded == nil {
					t.Errorf("NoExecute taint %s without timeAdded", x.Key)
				}
			}
		})
	}
}

func TestNLEvictAt(t *testing.T) {
	ts := metav1.NewTime(fxNow)
	taint := func(k string) corev1.Taint {
		return corev1.Taint{Key: k, Effect: corev1.TaintEffectNoExecute, TimeAdded: &ts}
	}
	tol := func(k string, secs *int64) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: k, Operator: corev1.TolerationOpExists, TolerationSeconds: secs})
		}
	}
	cases := []struct {
		name   string
		pod    *corev1.Pod
		taints []corev1.Taint
		after  time.Duration
		evict  bool
	}{
		{name: "foreign untolerated NoExecute: at once", pod: fxPod("p"), taints: []corev1.Taint{taint("dedicated")}, after: 0, evict: true},
		{name: "unreachable without toleration: the default wait", pod: fxPod("p"), taints: []corev1.Taint{taint(corev1.TaintNodeUnreachable)}, after: 10 * time.Second, evict: true},
		{name: "tolerationSeconds", pod: fxPod("p", tol(corev1.TaintNodeNotReady, ptrTo(int64(3)))), taints: []corev1.Taint{taint(corev1.TaintNodeNotReady)}, after: 3 * time.Second, evict: true},
		{name: "shortest of several", pod: fxPod("p", tol("a", ptrTo(int64(60)))), taints: []corev1.Taint{taint("a"), taint(corev1.TaintNodeUnreachable)}, after: 10 * time.Second, evict: true},
		{name: "tolerated forever", pod: fxPod("p", tol("a", nil)), taints: []corev1.Taint{taint("a")}},
		{name: "NoSchedule does not evict", pod: fxPod("p"), taints: []corev1.Taint{{Key: "a", Effect: corev1.TaintEffectNoSchedule}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at, ok := nlEvictAt(tc.pod, tc.taints, 10*time.Second, fxNow.Add(time.Second))
			if ok != tc.evict || (ok && !at.Equal(fxNow.Add(tc.after))) {
				t.Errorf("evict at %v (%v), want %v after the taint (%v)", at, ok, tc.after, tc.evict)
			}
		})
	}
}

func TestNLGraceOf(t *testing.T) {
	secs := func(n int32) *int32 { return &n }
	lease := func(d *int32) *coordinationv1.Lease {
		return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: d}}
	}
	for _, tc := range []struct {
		name   string
		option time.Duration
		lease  *coordinationv1.Lease
		want   time.Duration
	}{
		{"the lease's declared duration", 0, lease(secs(5)), 5 * time.Second},
		{"a kubelet's 40 s lease", 0, lease(secs(40)), 40 * time.Second},
		{"the option wins over the lease", 3 * time.Second, lease(secs(40)), 3 * time.Second},
		{"no lease", 0, nil, DefaultNodeGracePeriod},
		{"a lease without a duration", 0, lease(nil), DefaultNodeGracePeriod},
		{"a lease with a zero duration", 0, lease(secs(0)), DefaultNodeGracePeriod},
	} {
		c := &nlController{m: &Manager{Opts: Options{NodeGracePeriod: tc.option}}}
		if got := c.graceOf(tc.lease); got != tc.want {
			t.Errorf("%s: grace %s, want %s", tc.name, got, tc.want)
		}
	}
}
