package scheduler

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testclock "k8s.io/utils/clock/testing"
)

func popName(t *testing.T, q *schedulingQueue) (*queuedPod, string) {
	t.Helper()
	if a, _, _ := q.lens(); a == 0 {
		t.Fatal("pop on an empty active queue would block")
	}
	qp := q.pop()
	return qp, qp.info.Name
}

func wantLens(t *testing.T, q *schedulingQueue, active, backoff, unsched int) {
	t.Helper()
	a, b, u := q.lens()
	if a != active || b != backoff || u != unsched {
		t.Errorf("queue active/backoff/unschedulable = %d/%d/%d, want %d/%d/%d", a, b, u, active, backoff, unsched)
	}
}

func TestQueueOrder(t *testing.T) {
	q := newSchedulingQueue(testclock.NewFakeClock(time.Now()))
	hi := int32(10)
	q.add(newPodInfo(pod("first", "", "")))
	q.add(newPodInfo(pod("second", "", "")))
	q.add(newPodInfo(pod("urgent", "", "", func(p *corev1.Pod) { p.Spec.Priority = &hi })))
	for _, want := range []string{"urgent", "first", "second"} {
		if _, got := popName(t, q); got != want {
			t.Errorf("popped %s, want %s", got, want)
		}
	}
}

func TestQueueUnschedulableMovesOnClusterEvent(t *testing.T) {
	clk := testclock.NewFakeClock(time.Now())
	q := newSchedulingQueue(clk)
	q.add(newPodInfo(pod("p", "", "")))
	qp, _ := popName(t, q)
	q.failed(qp, true)
	wantLens(t, q, 0, 0, 1)

	q.moveAll() // a node appeared, but the pod's 1 s back-off runs
	wantLens(t, q, 0, 1, 0)
	q.flush()
	wantLens(t, q, 0, 1, 0)
	clk.Step(initialBackoff)
	q.flush()
	wantLens(t, q, 1, 0, 0)

	qp, _ = popName(t, q)
	q.failed(qp, true)
	if qp.attempts != 2 || !qp.backoffUntil.Equal(clk.Now().Add(2*time.Second)) {
		t.Errorf("second failure: attempts %d, back-off until +%s; want 2, +2s", qp.attempts, qp.backoffUntil.Sub(clk.Now()))
	}
	clk.Step(maxUnschedulableAge)
	q.flush() // nothing happened for a minute: retry anyway
	wantLens(t, q, 1, 0, 0)
}

func TestQueueEventDuringSchedulingMeansBackoffNotUnschedulable(t *testing.T) {
	clk := testclock.NewFakeClock(time.Now())
	q := newSchedulingQueue(clk)
	q.add(newPodInfo(pod("p", "", "")))
	qp, _ := popName(t, q)
	q.moveAll() // a node was added while the pod was being scheduled
	q.failed(qp, true)
	wantLens(t, q, 0, 1, 0)
}

func TestQueueRemoveWhileInFlight(t *testing.T) {
	q := newSchedulingQueue(testclock.NewFakeClock(time.Now()))
	p := pod("p", "", "")
	q.add(newPodInfo(p))
	qp, _ := popName(t, q)
	q.remove(p.UID)
	q.failed(qp, true)
	wantLens(t, q, 0, 0, 0)
	if len(q.pods) != 0 {
		t.Errorf("queue still tracks %d pods after the in-flight pod was deleted", len(q.pods))
	}
}

func TestQueueSpecChangeRequeuesUnschedulablePod(t *testing.T) {
	q := newSchedulingQueue(testclock.NewFakeClock(time.Now().Add(-time.Hour)))
	p := pod("p", "", "")
	q.add(newPodInfo(p))
	qp, _ := popName(t, q)
	q.failed(qp, true)
	q.clk.(*testclock.FakeClock).Step(time.Minute / 2)

	status := p.DeepCopy() // our own condition write: no move
	status.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}}
	q.add(newPodInfo(status))
	wantLens(t, q, 0, 0, 1)

	tol := status.DeepCopy()
	tol.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	q.add(newPodInfo(tol))
	wantLens(t, q, 1, 0, 0)
}

func TestBackoffFor(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := backoffFor(i + 1); got != w {
			t.Errorf("backoffFor(%d) = %s, want %s", i+1, got, w)
		}
	}
}

func TestResponsible(t *testing.T) {
	now := &metav1.Time{Time: time.Now()}
	cases := []struct {
		name string
		mod  func(*corev1.Pod)
		want bool
	}{
		{"pending", nil, true},
		{"no scheduler name", func(p *corev1.Pod) { p.Spec.SchedulerName = "" }, true},
		{"other scheduler", func(p *corev1.Pod) { p.Spec.SchedulerName = "custom" }, false},
		{"bound", func(p *corev1.Pod) { p.Spec.NodeName = "n" }, false},
		{"terminating", func(p *corev1.Pod) { p.DeletionTimestamp = now }, false},
		{"finished", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }, false},
		{"gated", func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "g"}} }, false},
	}
	for _, tc := range cases {
		p := pod("p", "", "")
		if tc.mod != nil {
			tc.mod(p)
		}
		if got := responsible(newPodInfo(p), corev1.DefaultSchedulerName); got != tc.want {
			t.Errorf("%s: responsible = %v, want %v", tc.name, got, tc.want)
		}
	}
}
