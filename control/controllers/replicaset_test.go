package controllers

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testclock "k8s.io/utils/clock/testing"
)

// pod builds a test pod: node "" = unscheduled; readySince zero = not ready.
func pod(name, node string, phase corev1.PodPhase, readySince time.Time, created time.Time) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name), CreationTimestamp: metav1.NewTime(created),
			Labels: map[string]string{"app": "web"}},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: phase},
	}
	if !readySince.IsZero() {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(readySince)}}
	}
	return p
}

func names(ps []*corev1.Pod) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ","
		}
		s += p.Name
	}
	return s
}

func TestPodsToDeleteOrder(t *testing.T) {
	now := t0.Add(24 * time.Hour)
	old, mid, young := now.Add(-20*time.Hour), now.Add(-2*time.Hour), now.Add(-time.Minute)
	restarted := pod("restarted", "n1", corev1.PodRunning, old, old)
	restarted.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: 4}}
	cheap := pod("cheap", "n1", corev1.PodRunning, old, old)
	cheap.Annotations = map[string]string{PodDeletionCostAnnotation: "-10"}
	for _, tc := range []struct {
		name    string
		pods    []*corev1.Pod
		related []*corev1.Pod
		n       int
		want    string
	}{
		{"unscheduled before scheduled", []*corev1.Pod{pod("sched", "n1", corev1.PodPending, time.Time{}, young), pod("unsched", "", corev1.PodPending, time.Time{}, old)}, nil, 1, "unsched"},
		{"pending before unknown before running", []*corev1.Pod{pod("run", "n1", corev1.PodRunning, time.Time{}, young), pod("unk", "n1", corev1.PodUnknown, time.Time{}, young), pod("pend", "n1", corev1.PodPending, time.Time{}, old)}, nil, 3, "run,unk,pend"},
		{"pending before unknown before running (2)", []*corev1.Pod{pod("run", "n1", corev1.PodRunning, time.Time{}, young), pod("unk", "n1", corev1.PodUnknown, time.Time{}, young), pod("pend", "n1", corev1.PodPending, time.Time{}, old)}, nil, 2, "pend,unk"},
		{"not ready before ready", []*corev1.Pod{pod("ready", "n1", corev1.PodRunning, mid, old), pod("notready", "n1", corev1.PodRunning, time.Time{}, old)}, nil, 1, "notready"},
		{"lower deletion cost first", []*corev1.Pod{pod("normal", "n1", corev1.PodRunning, old, young), cheap}, nil, 1, "cheap"},
		{"doubled up on a node first", []*corev1.Pod{pod("alone", "n2", corev1.PodRunning, old, old), pod("crowded", "n1", corev1.PodRunning, old, old)},
			[]*corev1.Pod{pod("x", "n1", corev1.PodRunning, old, old), pod("y", "n1", corev1.PodRunning, old, old)}, 1, "crowded"},
		{"ready for less time first", []*corev1.Pod{pod("long", "n1", corev1.PodRunning, old, old), pod("short", "n1", corev1.PodRunning, young, old)}, nil, 1, "short"},
		{"more restarts first", []*corev1.Pod{pod("fresh", "n1", corev1.PodRunning, old, old), restarted}, nil, 1, "restarted"},
		{"newer first", []*corev1.Pod{pod("older", "n1", corev1.PodPending, time.Time{}, old), pod("newer", "n1", corev1.PodPending, time.Time{}, young)}, nil, 1, "newer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			related := append(append([]*corev1.Pod(nil), tc.pods...), tc.related...)
			if got := names(podsToDelete(tc.pods, related, tc.n, now)); got != tc.want {
				t.Errorf("deleted %s, want %s", got, tc.want)
			}
		})
	}
}

func TestReplicaSetStatus(t *testing.T) {
	now := t0.Add(time.Hour)
	rs := testRS("rs", 4, 0, 0)
	rs.Generation = 3
	rs.Spec.MinReadySeconds = 30
	rs.Spec.Template.Labels = map[string]string{"app": "web", "tier": "front"}
	full := pod("full", "n1", corev1.PodRunning, now.Add(-time.Minute), t0)
	full.Labels["tier"] = "front"
	pods := []*corev1.Pod{
		full, // ready long enough: available
		pod("fresh", "n1", corev1.PodRunning, now.Add(-10*time.Second), t0), // ready, not yet available
		pod("waiting", "n1", corev1.PodPending, time.Time{}, t0),
	}
	st := replicaSetStatus(rs, pods, nil, now)
	if st.Replicas != 3 || st.FullyLabeledReplicas != 1 || st.ReadyReplicas != 2 || st.AvailableReplicas != 1 || st.ObservedGeneration != 3 {
		t.Errorf("status %+v, want replicas 3 fullyLabeled 1 ready 2 available 1 observedGeneration 3", st)
	}
	if d := nextAvailable(rs, pods, now); d != 20*time.Second+time.Millisecond {
		t.Errorf("next availability in %v, want 20.001s", d)
	}
	st = replicaSetStatus(rs, pods, errors.New("quota exceeded"), now)
	c := rsCondition(st.Conditions, appsv1.ReplicaSetReplicaFailure)
	if c == nil || c.Reason != "FailedCreate" || c.Message != "quota exceeded" || c.Status != corev1.ConditionTrue {
		t.Fatalf("failure condition %+v, want FailedCreate: quota exceeded", c)
	}
	rs.Status = st
	if st = replicaSetStatus(rs, pods, nil, now); rsCondition(st.Conditions, appsv1.ReplicaSetReplicaFailure) != nil {
		t.Error("the failure condition stayed after a successful sync")
	}
	rs.Status = appsv1.ReplicaSetStatus{}
	rs.Spec.Replicas = ptrTo(int32(1))
	if c := rsCondition(replicaSetStatus(rs, pods, errors.New("x"), now).Conditions, appsv1.ReplicaSetReplicaFailure); c.Reason != "FailedDelete" {
		t.Errorf("failure on scale-down has reason %s, want FailedDelete", c.Reason)
	}
}

func TestIsPodActive(t *testing.T) {
	deleting := pod("d", "n", corev1.PodRunning, t0, t0)
	deleting.DeletionTimestamp = &metav1.Time{Time: t0}
	for _, tc := range []struct {
		p    *corev1.Pod
		want bool
	}{
		{pod("r", "n", corev1.PodRunning, t0, t0), true},
		{pod("p", "", corev1.PodPending, time.Time{}, t0), true},
		{pod("f", "n", corev1.PodFailed, time.Time{}, t0), false},
		{pod("s", "n", corev1.PodSucceeded, time.Time{}, t0), false},
		{deleting, false},
	} {
		if got := IsPodActive(tc.p); got != tc.want {
			t.Errorf("IsPodActive(%s) = %v, want %v", tc.p.Name, got, tc.want)
		}
	}
}

func TestSlowStartBatch(t *testing.T) {
	var calls atomic.Int32
	done, err := slowStartBatch(10, func() error { calls.Add(1); return nil })
	if done != 10 || err != nil || calls.Load() != 10 {
		t.Errorf("10 successes: done %d err %v calls %d", done, err, calls.Load())
	}
	calls.Store(0)
	// Batches 1, 2, 4: the fourth call fails, so the batch of 4 is the
	// last one run.
	done, err = slowStartBatch(20, func() error {
		if calls.Add(1) == 4 {
			return fmt.Errorf("boom")
		}
		return nil
	})
	if err == nil || done != 6 || calls.Load() != 7 {
		t.Errorf("failure in the third batch: done %d err %v calls %d, want 6, an error, 7", done, err, calls.Load())
	}
	calls.Store(0)
	done, err = slowStartBatch(3, func() error { calls.Add(1); return errSkip })
	if done != 3 || err != nil {
		t.Errorf("skips: done %d err %v, want 3 and no error", done, err)
	}
}

func TestExpectations(t *testing.T) {
	clk := testclock.NewFakeClock(t0)
	e := NewExpectations(clk)
	if !e.Satisfied("a") {
		t.Fatal("no record is not satisfied")
	}
	e.ExpectCreations("a", 2)
	e.CreationObserved("a")
	if e.Satisfied("a") {
		t.Fatal("satisfied with one creation pending")
	}
	e.CreationObserved("a")
	if !e.Satisfied("a") {
		t.Fatal("not satisfied after both creations")
	}
	e.ExpectDeletions("a", []string{"ns/p1", "ns/p2"})
	e.DeletionObserved("a", "ns/p1")
	e.DeletionObserved("a", "ns/p1") // seen twice (graceful delete, then gone)
	if e.Satisfied("a") {
		t.Fatal("satisfied with p2's deletion pending")
	}
	clk.Step(ExpectationsTimeout + time.Second)
	if !e.Satisfied("a") {
		t.Fatal("expired expectations still hold the controller")
	}
	e.ExpectCreations("b", 1)
	e.Forget("b")
	if !e.Satisfied("b") {
		t.Fatal("forgotten expectations still hold the controller")
	}
}

func TestPodFromTemplate(t *testing.T) {
	rs := testRS("web-abc", 1, 0, 0)
	rs.Spec.Template = corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}
	ref := newControllerRef(rs, gvkOf(rs))
	p := podFromTemplate(&rs.Spec.Template, rs, ref)
	if p.GenerateName != "web-abc-" || p.Namespace != "default" || p.Labels["app"] != "web" || p.Annotations["a"] != "b" {
		t.Errorf("pod meta %+v", p.ObjectMeta)
	}
	r := p.OwnerReferences[0]
	if r.Kind != "ReplicaSet" || r.APIVersion != "apps/v1" || r.UID != rs.UID || !*r.Controller || !*r.BlockOwnerDeletion {
		t.Errorf("owner reference %+v", r)
	}
	p.Labels["app"] = "changed"
	if rs.Spec.Template.Labels["app"] != "web" {
		t.Error("the pod shares its labels map with the template")
	}
}
