package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/minicluster/mini/control/client"
)

// TestNodeLifecycleInProcess: with a fake controller clock, a node whose
// lease stops being renewed goes Ready=Unknown after the grace period, is
// tainted unreachable, its pods are marked not ready, a pod without
// toleration is evicted (DisruptionTarget, then deleted) after the eviction
// timeout while one tolerating 30s stays; when the kubelet is back the
// taints go. Pods of a deleted node are removed.
func TestNodeLifecycleInProcess(t *testing.T) {
	const grace, evictAfter = 10 * time.Second, 10 * time.Second
	t0 := time.Now().Truncate(time.Second)
	fake := testingclock.NewFakeClock(t0)
	ctx, c := ipStart(t, Options{Only: []string{"nodelifecycle"}, Clock: fake, NodeGracePeriod: grace, PodEvictionTimeout: evictAfter})
	nudge := func() { fake.Step(time.Millisecond) } // lets retries of the fake-clocked queue run

	ipNode(ctx, t, c, "n1")
	renew := func() {
		t.Helper()
		mt := metav1.NewMicroTime(fake.Now())
		l := &coordinationv1.Lease{}
		err := c.Get(ctx, corev1.NamespaceNodeLease, "n1", l)
		if apierrors.IsNotFound(err) {
			holder, secs := "n1", int32(10)
			l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: corev1.NamespaceNodeLease},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &mt}}
			err = c.Create(ctx, l)
		} else if err == nil {
			l.Spec.RenewTime = &mt
			err = c.Update(ctx, l)
		}
		if err != nil {
			t.Fatalf("renew lease: %v", err)
		}
	}
	renew()
	pods := ipRecord(ctx, t, c, &corev1.PodList{}, "default")
	mkPod := func(name string, tol *int64) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}}}
		if tol != nil {
			p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
				Effect: corev1.TaintEffectNoExecute, TolerationSeconds: tol}}
		}
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := ipRun(ctx, c, "default", name, "n1", "10.244.0.9", true); err != nil {
			t.Fatal(err)
		}
	}
	mkPod("plain", nil)
	thirty := int64(30)
	mkPod("tolerant", &thirty)

	// Silence: step the controller clock until the node is marked lost.
	var node *corev1.Node
	ipWait(t, 30*time.Second, "node n1 to go Ready=Unknown", func() (bool, string) {
		node = &corev1.Node{}
		if err := c.Get(ctx, "", "n1", node); err != nil {
			return false, err.Error()
		}
		r := nlReady(node)
		return r.Status == corev1.ConditionUnknown, fmt.Sprintf("%+v at %s", r, fake.Now().Sub(t0))
	}, func() { fake.Step(500 * time.Millisecond) })
	r := nlReady(node)
	lost := r.LastTransitionTime.Time
	if lost.Before(t0.Add(grace)) || r.Reason != "NodeStatusUnknown" || r.Message != "Kubelet stopped posting node status." {
		t.Fatalf("Ready=%s since %s (%s after the last renewal), reason %q message %q; want Unknown at least %s after it",
			r.Status, lost, lost.Sub(t0), r.Reason, r.Message, grace)
	}
	ipWait(t, 30*time.Second, "unreachable taints and pods marked not ready", func() (bool, string) {
		node = &corev1.Node{}
		_ = c.Get(ctx, "", "n1", node)
		p := &corev1.Pod{}
		_ = c.Get(ctx, "default", "tolerant", p)
		return fmt.Sprint(ipTaintKeys(node)) == "[node.kubernetes.io/unreachable:NoSchedule node.kubernetes.io/unreachable:NoExecute]" && !IsPodReady(p),
			fmt.Sprintf("taints %v, tolerant ready %v", ipTaintKeys(node), IsPodReady(p))
	}, nudge)

	// The eviction timeout passes: the plain pod goes, the tolerant one stays.
	fake.SetTime(lost.Add(evictAfter + time.Second))
	ipWait(t, 30*time.Second, "pod plain to be evicted", func() (bool, string) {
		err := c.Get(ctx, "default", "plain", &corev1.Pod{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	}, nudge)
	var marked *corev1.PodCondition
	for _, ev := range pods.snapshot() {
		if p := ev.Object.(*corev1.Pod); p.Name == "plain" && ev.Type == watch.Modified {
			for i := range p.Status.Conditions {
				if x := p.Status.Conditions[i]; x.Type == corev1.DisruptionTarget && x.Status == corev1.ConditionTrue {
					marked = &x
				}
			}
		}
	}
	if marked == nil || marked.Reason != "DeletionByTaintManager" || marked.LastTransitionTime.Time.Before(lost.Add(evictAfter)) {
		t.Errorf("DisruptionTarget before deletion = %+v, want reason DeletionByTaintManager no earlier than %s after the taint", marked, evictAfter)
	}
	if err := c.Get(ctx, "default", "tolerant", &corev1.Pod{}); err != nil {
		t.Errorf("pod tolerating 30s was removed after %s: %v", evictAfter, err)
	}
	ipWantEvents(ctx, t, c, "NodeNotReady", "TaintManagerEviction")

	// The kubelet is back: lease renewed and Ready posted; the taints go.
	renew()
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		LastHeartbeatTime: metav1.NewTime(fake.Now()), LastTransitionTime: metav1.NewTime(fake.Now())}}
	if err := c.UpdateStatus(ctx, node); err != nil {
		t.Fatal(err)
	}
	ipWait(t, 30*time.Second, "taints to go once n1 is Ready again", func() (bool, string) {
		node = &corev1.Node{} // decoding into a used object would keep its taints
		_ = c.Get(ctx, "", "n1", node)
		return len(node.Spec.Taints) == 0, fmt.Sprint(ipTaintKeys(node))
	}, nudge)
	if err := c.Get(ctx, "default", "tolerant", &corev1.Pod{}); err != nil {
		t.Errorf("pod tolerant gone after the node recovered: %v", err)
	}

	// A deleted node's pods are removed.
	if err := c.Delete(ctx, &corev1.Node{}, "", "n1", nil); err != nil {
		t.Fatal(err)
	}
	ipWait(t, 30*time.Second, "the pods of deleted node n1 to be removed", func() (bool, string) {
		err := c.Get(ctx, "default", "tolerant", &corev1.Pod{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	}, nudge)
}

// TestNodeLifecycleStoppingNodeInProcess: a node whose agent reports
// Ready=False on its way out (docker stop) has its pods marked not ready at
// once, long before the grace period, so that endpoints drop them; a kubelet
// still alive that reports them ready again is not fought (marked once per
// transition, as Kubernetes does).
func TestNodeLifecycleStoppingNodeInProcess(t *testing.T) {
	ctx, c := ipStart(t, Options{Only: []string{"nodelifecycle"}, NodeGracePeriod: time.Hour, PodEvictionTimeout: time.Hour})
	node := ipNode(ctx, t, c, "n1")
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}}}
	if err := c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := ipRun(ctx, c, "default", "p", "n1", "10.244.0.9", true); err != nil {
		t.Fatal(err)
	}
	podReady := func() bool {
		got := &corev1.Pod{}
		if err := c.Get(ctx, "default", "p", got); err != nil {
			t.Fatal(err)
		}
		return IsPodReady(got)
	}
	ipWait(t, 30*time.Second, "the controller to see n1 Ready", func() (bool, string) {
		return podReady(), "pod p not ready"
	})
	time.Sleep(500 * time.Millisecond) // let the controller record n1 as Ready (no trace to wait on)

	if err := c.Get(ctx, "", "n1", node); err != nil {
		t.Fatal(err)
	}
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletStopping",
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if err := c.UpdateStatus(ctx, node); err != nil {
		t.Fatal(err)
	}
	ipWait(t, 30*time.Second, "pod p on the stopping node n1 to be marked not ready", func() (bool, string) {
		return !podReady(), "pod p still Ready"
	})

	// The kubelet (still running) says ready again; its pod update makes
	// the controller look at n1 (tainted NoExecute) again, without marking.
	if err := ipRun(ctx, c, "default", "p", "n1", "10.244.0.9", true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // a negative: nothing to wait for
	if !podReady() {
		t.Fatalf("pod p was marked not ready again after its kubelet reported it ready on a node still Ready=False; want once per transition")
	}
}

func ipTaintKeys(n *corev1.Node) []string {
	out := []string{}
	for _, t := range n.Spec.Taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	return out
}

// ipWantEvents waits for events with these reasons in any namespace.
func ipWantEvents(ctx context.Context, t *testing.T, c *client.Client, reasons ...string) {
	t.Helper()
	ipWait(t, 30*time.Second, fmt.Sprintf("events %v", reasons), func() (bool, string) {
		evs := &corev1.EventList{}
		if err := c.List(ctx, "", evs, client.ListOptions{}); err != nil {
			return false, err.Error()
		}
		have := map[string]bool{}
		for _, e := range evs.Items {
			have[e.Reason] = true
		}
		for _, r := range reasons {
			if !have[r] {
				return false, fmt.Sprint(have)
			}
		}
		return true, ""
	})
}

// TestNodeIPAMInProcess: nodes get distinct /24s of the cluster CIDR, a
// node's existing CIDR is kept, and a deleted node's CIDR is reused.
func TestNodeIPAMInProcess(t *testing.T) {
	ctx, c := ipStart(t, Options{Only: []string{"nodeipam"}})
	ipNode(ctx, t, c, "pre", func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.0.0/24", []string{"10.244.0.0/24"} })
	cidrOf := func(name string) string {
		var got string
		ipWait(t, 30*time.Second, "a pod CIDR for node "+name, func() (bool, string) {
			n := &corev1.Node{}
			err := c.Get(ctx, "", name, n)
			got = n.Spec.PodCIDR
			return got != "" && len(n.Spec.PodCIDRs) == 1 && n.Spec.PodCIDRs[0] == got, fmt.Sprint(err, n.Spec)
		})
		return got
	}
	ipNode(ctx, t, c, "a")
	ipNode(ctx, t, c, "b")
	got := map[string]string{"a": cidrOf("a"), "b": cidrOf("b"), "pre": cidrOf("pre")}
	if got["pre"] != "10.244.0.0/24" || got["a"] == got["b"] || got["a"] == "10.244.0.0/24" || got["b"] == "10.244.0.0/24" {
		t.Fatalf("pod CIDRs %v: want pre kept at 10.244.0.0/24 and distinct others", got)
	}
	if err := c.Delete(ctx, &corev1.Node{}, "", "a", nil); err != nil {
		t.Fatal(err)
	}
	ipNode(ctx, t, c, "c")
	if cc := cidrOf("c"); cc != got["a"] {
		t.Errorf("node c got %s, want the %s released by deleted node a", cc, got["a"])
	}
}
