package controllers

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func ioPtr(s string) *intstr.IntOrString {
	v := intstr.Parse(s)
	return &v
}

func testDeployment(replicas int32, surge, unavailable string) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "d-uid", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:2"}}},
			},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ioPtr(surge), MaxUnavailable: ioPtr(unavailable)}},
			RevisionHistoryLimit:    ptrTo(int32(10)),
			ProgressDeadlineSeconds: ptrTo(int32(600)),
		},
	}
	return d
}

func ptrTo[T any](v T) *T { return &v }

// testRS returns a ReplicaSet of spec replicas whose status says all of
// them exist and avail are available; age orders creation.
func testRS(name string, spec, avail int32, age int) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Duration(age) * time.Minute))},
		Spec:   appsv1.ReplicaSetSpec{Replicas: &spec},
		Status: appsv1.ReplicaSetStatus{Replicas: spec, ReadyReplicas: avail, AvailableReplicas: avail},
	}
}

func TestFenceposts(t *testing.T) {
	for _, tc := range []struct {
		replicas                int32
		surge, unavailable      string
		wantSurge, wantUnavail  int32
		wantMaxUnavail, wantMax int32
	}{
		{10, "25%", "25%", 3, 2, 2, 3},
		{1, "25%", "25%", 1, 0, 0, 1},
		{4, "0", "1", 0, 1, 1, 0},
		{4, "1", "0", 1, 0, 0, 1},
		{3, "0", "0", 0, 1, 1, 0},
		{3, "0%", "10%", 0, 1, 1, 0}, // both round to 0: unavailable 1
		{2, "100%", "100%", 2, 2, 2, 2},
		{1, "0", "5", 0, 5, 1, 0}, // maxUnavailable capped at replicas
		{0, "25%", "25%", 0, 1, 0, 0},
	} {
		d := testDeployment(tc.replicas, tc.surge, tc.unavailable)
		s, u := fenceposts(d)
		if s != tc.wantSurge || u != tc.wantUnavail || maxUnavailable(d) != tc.wantMaxUnavail || maxSurge(d) != tc.wantMax {
			t.Errorf("replicas %d surge %s unavailable %s: got fenceposts (%d,%d) maxUnavailable %d maxSurge %d, want (%d,%d) %d %d",
				tc.replicas, tc.surge, tc.unavailable, s, u, maxUnavailable(d), maxSurge(d), tc.wantSurge, tc.wantUnavail, tc.wantMaxUnavail, tc.wantMax)
		}
	}
}

// TestPlanRollingSteps checks single sync decisions, from Kubernetes's
// rolling-update tests.
func TestPlanRollingSteps(t *testing.T) {
	for _, tc := range []struct {
		name               string
		replicas           int32
		surge, unavailable string
		newRS              *appsv1.ReplicaSet
		old                []*appsv1.ReplicaSet
		want               string
	}{
		{"first step surges the new RS", 10, "25%", "25%", testRS("new", 0, 0, 0), []*appsv1.ReplicaSet{testRS("old", 10, 10, 5)}, "new=3"},
		{"surge used: scale old down by maxUnavailable", 10, "25%", "25%", testRS("new", 3, 0, 0), []*appsv1.ReplicaSet{testRS("old", 10, 10, 5)}, "old=8"},
		{"new pods unavailable: wait", 10, "25%", "25%", testRS("new", 5, 0, 0), []*appsv1.ReplicaSet{testRS("old", 8, 8, 5)}, ""},
		{"new pods available: scale old down", 10, "25%", "25%", testRS("new", 5, 5, 0), []*appsv1.ReplicaSet{testRS("old", 8, 8, 5)}, "old=3"},
		{"maxSurge 0: scale down first", 4, "0", "1", testRS("new", 0, 0, 0), []*appsv1.ReplicaSet{testRS("old", 4, 4, 5)}, "old=3"},
		{"maxSurge 0: then up", 4, "0", "1", testRS("new", 0, 0, 0), []*appsv1.ReplicaSet{testRS("old", 3, 3, 5)}, "new=1"},
		{"maxUnavailable 0: no scale-down while new unavailable", 4, "1", "0", testRS("new", 1, 0, 0), []*appsv1.ReplicaSet{testRS("old", 4, 4, 5)}, ""},
		{"maxUnavailable 0: scale down once new available", 4, "1", "0", testRS("new", 1, 1, 0), []*appsv1.ReplicaSet{testRS("old", 4, 4, 5)}, "old=3"},
		{"unhealthy old replicas cleaned up first, oldest first", 10, "0", "2", testRS("new", 0, 0, 0),
			[]*appsv1.ReplicaSet{testRS("old2", 5, 5, 3), testRS("old1", 5, 3, 6)}, "old1=3"},
		{"stale old status bounded by spec", 10, "25%", "25%", testRS("new", 3, 3, 0),
			[]*appsv1.ReplicaSet{func() *appsv1.ReplicaSet { rs := testRS("old", 8, 10, 5); rs.Status.Replicas = 10; return rs }()}, "old=5"},
		{"surge counts pods an old RS still has", 10, "25%", "25%", testRS("new", 3, 0, 0),
			[]*appsv1.ReplicaSet{func() *appsv1.ReplicaSet { rs := testRS("old", 7, 7, 5); rs.Status.Replicas = 10; return rs }()}, ""},
		{"new RS above desired is scaled to desired", 4, "1", "1", testRS("new", 6, 6, 0), nil, "new=4"},
		{"complete: nothing", 4, "1", "1", testRS("new", 4, 4, 0), []*appsv1.ReplicaSet{testRS("old", 0, 0, 5)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDeployment(tc.replicas, tc.surge, tc.unavailable)
			if got := planString(planRolling(d, tc.newRS, tc.old)); got != tc.want {
				t.Errorf("plan %q, want %q", got, tc.want)
			}
		})
	}
}

func planString(p []resize) string {
	s := ""
	for i, r := range p {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s=%d", r.RS.Name, r.To)
	}
	return s
}

// world simulates pods under ReplicaSets for the rolling-update property
// test: the ReplicaSet controller and the kubelet act in random order
// between Deployment syncs, and their status lags behind the pods.
type world struct {
	d     *appsv1.Deployment
	rss   []*appsv1.ReplicaSet
	pods  map[string][]simPod // by RS name
	tick  int
	delay int // ticks from creation to ready
	rnd   *rand.Rand
}

type simPod struct{ readyAt int }

func (w *world) activePods() (total, ready int) {
	for _, ps := range w.pods {
		for _, p := range ps {
			total++
			if p.readyAt <= w.tick {
				ready++
			}
		}
	}
	return total, ready
}

// syncRS is the ReplicaSet controller for one ReplicaSet: pods to spec
// (unready and newest deleted first), then status.
func (w *world) syncRS(rs *appsv1.ReplicaSet) {
	ps := w.pods[rs.Name]
	for len(ps) < int(specOf(rs)) {
		ps = append(ps, simPod{readyAt: w.tick + w.delay})
	}
	for len(ps) > int(specOf(rs)) {
		victim := len(ps) - 1
		for i := len(ps) - 1; i >= 0; i-- {
			if ps[i].readyAt > w.tick {
				victim = i
				break
			}
		}
		ps = append(ps[:victim], ps[victim+1:]...)
	}
	w.pods[rs.Name] = ps
	w.writeStatus(rs)
}

func (w *world) writeStatus(rs *appsv1.ReplicaSet) {
	ready := 0
	for _, p := range w.pods[rs.Name] {
		if p.readyAt <= w.tick {
			ready++
		}
	}
	rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = int32(len(w.pods[rs.Name])), int32(ready), int32(ready)
	rs.Status.ObservedGeneration = rs.Generation
}

// syncDeployment is one Deployment sync; it creates the new RS when
// missing.
func (w *world) syncDeployment() {
	newRS, old := splitRSs(w.d, w.rss)
	if newRS == nil {
		newRS = testRS("new", 0, 0, -w.tick)
		newRS.Spec.Template = *w.d.Spec.Template.DeepCopy()
		n := newRSReplicas(w.d, withNew(old, newRS), newRS)
		newRS.Spec.Replicas = &n
		w.rss = append(w.rss, newRS)
		return
	}
	for _, r := range planRolling(w.d, newRS, old) {
		r.RS.Spec.Replicas = ptrTo(r.To)
		r.RS.Generation++
	}
}

func TestRollingUpdateInvariants(t *testing.T) {
	for _, tc := range []struct {
		replicas           int32
		surge, unavailable string
		delay              int
	}{
		{10, "25%", "25%", 1}, {10, "25%", "25%", 4}, {10, "0", "1", 2}, {10, "1", "0", 2},
		{10, "100%", "0", 1}, {10, "0", "100%", 1}, {3, "1", "1", 3}, {1, "25%", "25%", 2},
		{5, "2", "0", 0}, {7, "30%", "40%", 2},
	} {
		for seed := uint64(1); seed <= 20; seed++ {
			name := fmt.Sprintf("%d_surge%s_unavail%s_delay%d_seed%d", tc.replicas, tc.surge, tc.unavailable, tc.delay, seed)
			t.Run(name, func(t *testing.T) { runRollout(t, tc.replicas, tc.surge, tc.unavailable, tc.delay, seed) })
		}
	}
}

func runRollout(t *testing.T, replicas int32, surge, unavailable string, delay int, seed uint64) {
	d := testDeployment(replicas, surge, unavailable)
	oldRS := testRS("old", replicas, replicas, 10)
	oldRS.Spec.Template = *d.Spec.Template.DeepCopy()
	oldRS.Spec.Template.Spec.Containers[0].Image = "img:1"
	w := &world{d: d, rss: []*appsv1.ReplicaSet{oldRS}, pods: map[string][]simPod{"old": make([]simPod, replicas)}, delay: delay,
		rnd: rand.New(rand.NewPCG(seed, 42))}
	ms, mu := maxSurge(d), maxUnavailable(d)
	for step := 0; step < 2000; step++ {
		switch w.rnd.IntN(4) {
		case 0:
			w.syncDeployment()
		case 1:
			w.tick++
		default:
			w.syncRS(w.rss[w.rnd.IntN(len(w.rss))])
		}
		total, ready := w.activePods()
		if total > int(replicas+ms) {
			t.Fatalf("step %d: %d pods exist, more than replicas %d + maxSurge %d", step, total, replicas, ms)
		}
		if ready < int(replicas-mu) {
			t.Fatalf("step %d: %d pods ready, fewer than replicas %d - maxUnavailable %d", step, ready, replicas, mu)
		}
		newRS, old := splitRSs(d, w.rss)
		if newRS != nil && len(w.pods[newRS.Name]) == int(replicas) && ready == int(replicas) && sumSpec(old) == 0 && total == int(replicas) {
			return
		}
	}
	t.Fatalf("rollout did not finish in 2000 steps: %s", w.describe())
}

func (w *world) describe() string {
	s := ""
	for _, rs := range w.rss {
		s += fmt.Sprintf("%s spec=%d status=%d/%d pods=%d; ", rs.Name, specOf(rs), rs.Status.AvailableReplicas, rs.Status.Replicas, len(w.pods[rs.Name]))
	}
	return s
}

func annotated(rs *appsv1.ReplicaSet, desired, maxReplicas int32) *appsv1.ReplicaSet {
	rs.Annotations = map[string]string{DesiredReplicasAnnotation: strconv.Itoa(int(desired)), MaxReplicasAnnotation: strconv.Itoa(int(maxReplicas))}
	return rs
}

// TestPlanScale covers proportional scaling, with the cases of
// Kubernetes's TestScale.
func TestPlanScale(t *testing.T) {
	for _, tc := range []struct {
		name               string
		replicas, before   int32
		surge, unavailable string
		newRS              *appsv1.ReplicaSet
		old                []*appsv1.ReplicaSet
		want               string
	}{
		{"single active RS takes all", 8, 5, "0", "0", testRS("new", 5, 5, 0), []*appsv1.ReplicaSet{testRS("old", 0, 0, 5)}, "new=8"},
		{"no active RS: the new one", 3, 0, "0", "0", testRS("new", 0, 0, 0), []*appsv1.ReplicaSet{testRS("old", 0, 0, 5)}, "new=3"},
		{"proportional 5 -> 10", 10, 5, "0", "0", testRS("new", 2, 0, 0), []*appsv1.ReplicaSet{testRS("old", 3, 3, 5)}, "old=6 new=4"},
		{"proportional 5 -> 3", 3, 5, "0", "0", testRS("new", 2, 0, 0), []*appsv1.ReplicaSet{testRS("old", 3, 3, 5)}, "old=2 new=1"},
		{"proportional 9 -> 4", 4, 9, "0", "0", testRS("new", 8, 0, 0), []*appsv1.ReplicaSet{testRS("old", 1, 1, 5)}, "new=4 old=0"},
		{"leftover 3 -> 4 to the newest largest", 4, 3, "0", "0", testRS("v3", 1, 0, 0),
			[]*appsv1.ReplicaSet{testRS("v2", 1, 1, 5), testRS("v1", 1, 1, 9)}, "v3=2 v2=1 v1=1"},
		{"leftover 4 -> 3 from the largest", 3, 4, "0", "0", testRS("v3", 2, 0, 0),
			[]*appsv1.ReplicaSet{testRS("v2", 1, 1, 5), testRS("v1", 1, 1, 9)}, "v3=1 v1=1 v2=1"},
		{"with surge 10 -> 20 mid-rollout", 20, 10, "3", "2", testRS("new", 5, 0, 0), []*appsv1.ReplicaSet{testRS("old", 8, 8, 5)}, "old=14 new=9"},
		{"scale to zero", 0, 10, "3", "2", testRS("new", 5, 0, 0), []*appsv1.ReplicaSet{testRS("old", 8, 8, 5)}, "old=0 new=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDeployment(tc.replicas, tc.surge, tc.unavailable)
			before := testDeployment(tc.before, tc.surge, tc.unavailable)
			for _, rs := range withNew(tc.old, tc.newRS) {
				annotated(rs, tc.before, tc.before+maxSurge(before))
			}
			if got := planString(planScale(d, tc.newRS, tc.old)); got != tc.want {
				t.Errorf("plan %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSaturatedNewRSScalesOldToZero(t *testing.T) {
	d := testDeployment(4, "1", "1")
	newRS := annotated(testRS("new", 4, 4, 0), 4, 5)
	old := []*appsv1.ReplicaSet{testRS("old", 2, 2, 5)}
	if got := planString(planScale(d, newRS, old)); got != "old=0" {
		t.Errorf("plan %q, want old=0", got)
	}
	if !isScalingEvent(testDeployment(6, "1", "1"), newRS, old) {
		t.Error("replicas 4 -> 6 was not seen as a scaling event")
	}
	if isScalingEvent(d, newRS, old) {
		t.Error("unchanged replicas was seen as a scaling event")
	}
}

func TestPlanRecreate(t *testing.T) {
	recreate := func() *appsv1.Deployment {
		d := testDeployment(3, "0", "0")
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		return d
	}
	for _, tc := range []struct {
		name       string
		newRS      *appsv1.ReplicaSet
		old        []*appsv1.ReplicaSet
		running    bool
		want       string
		wantCreate bool
	}{
		{"old scaled down first, new untouched", nil, []*appsv1.ReplicaSet{testRS("a", 3, 3, 9), testRS("b", 1, 1, 5)}, true, "a=0 b=0", false},
		{"wait for old pods to terminate", nil, []*appsv1.ReplicaSet{testRS("a", 0, 0, 9)}, true, "", false},
		{"then create the new RS", nil, []*appsv1.ReplicaSet{testRS("a", 0, 0, 9)}, false, "", true},
		{"then scale it up fully", testRS("new", 0, 0, 0), []*appsv1.ReplicaSet{testRS("a", 0, 0, 9)}, false, "new=3", false},
		{"done", testRS("new", 3, 3, 0), nil, false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, create := planRecreate(recreate(), tc.newRS, tc.old, tc.running)
			if got := planString(plan); got != tc.want || create != tc.wantCreate {
				t.Errorf("plan %q create %v, want %q create %v", got, create, tc.want, tc.wantCreate)
			}
		})
	}
	d := recreate()
	if n := newRSReplicas(d, []*appsv1.ReplicaSet{testRS("a", 3, 3, 9)}, nil); n != 3 {
		t.Errorf("Recreate creates its new RS with %d replicas, want 3", n)
	}
}

func TestRevisionAnnotations(t *testing.T) {
	d := testDeployment(3, "1", "1")
	d.Annotations = map[string]string{"kubernetes.io/change-cause": "image 2", corev1.LastAppliedConfigAnnotation: "{}", RevisionAnnotation: "7"}
	rs := testRS("new", 0, 0, 0)
	if !setNewRSAnnotations(d, rs, 1, false) {
		t.Fatal("a new RS reported no annotation change")
	}
	want := map[string]string{"kubernetes.io/change-cause": "image 2", RevisionAnnotation: "1", DesiredReplicasAnnotation: "3", MaxReplicasAnnotation: "4"}
	if fmt.Sprint(rs.Annotations) != fmt.Sprint(want) {
		t.Errorf("annotations %v, want %v", rs.Annotations, want)
	}
	// A rollback to this RS raises its revision and keeps the old one.
	if !setNewRSAnnotations(d, rs, 3, true) || rs.Annotations[RevisionAnnotation] != "3" || rs.Annotations[RevisionHistoryAnnotation] != "1" {
		t.Errorf("after rollback: revision %q history %q, want 3 and 1", rs.Annotations[RevisionAnnotation], rs.Annotations[RevisionHistoryAnnotation])
	}
	setNewRSAnnotations(d, rs, 5, true)
	if rs.Annotations[RevisionHistoryAnnotation] != "1,3" {
		t.Errorf("history %q, want 1,3", rs.Annotations[RevisionHistoryAnnotation])
	}
	if setNewRSAnnotations(d, rs, 5, true) {
		t.Error("an unchanged RS reported a change")
	}
	if setNewRSAnnotations(d, rs, 4, true) || rs.Annotations[RevisionAnnotation] != "5" {
		t.Error("a lower revision lowered the RS's revision")
	}
}

func TestRSToPrune(t *testing.T) {
	d := testDeployment(3, "1", "1")
	d.Spec.RevisionHistoryLimit = ptrTo(int32(1))
	mk := func(name string, rev, spec int32) *appsv1.ReplicaSet {
		rs := testRS(name, spec, spec, int(10-rev))
		rs.Annotations = map[string]string{RevisionAnnotation: strconv.Itoa(int(rev))}
		return rs
	}
	busy := mk("r2", 2, 0)
	busy.Status.Replicas = 1 // pods still terminating
	old := []*appsv1.ReplicaSet{mk("r3", 3, 0), busy, mk("r1", 1, 0), mk("r4", 4, 1)}
	var got []string
	for _, rs := range rsToPrune(d, old) {
		got = append(got, rs.Name)
	}
	// r1, r2, r3 are beyond the limit of 1 by revision; r2 still has pods.
	if fmt.Sprint(got) != "[r1 r3]" {
		t.Errorf("pruned %v, want [r1 r3]", got)
	}
	d.Spec.RevisionHistoryLimit = nil
	if n := len(rsToPrune(d, old)); n != 0 {
		t.Errorf("no limit pruned %d ReplicaSets", n)
	}
}

func TestSplitRSsIgnoresHashLabel(t *testing.T) {
	d := testDeployment(3, "1", "1")
	a := testRS("a", 1, 1, 5)
	a.Spec.Template = *d.Spec.Template.DeepCopy()
	a.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = "abc"
	b := testRS("b", 1, 1, 9)
	b.Spec.Template = *d.Spec.Template.DeepCopy()
	b.Spec.Template.Spec.Containers[0].Image = "other"
	newRS, old := splitRSs(d, []*appsv1.ReplicaSet{b, a})
	if newRS != a || len(old) != 1 || old[0] != b {
		t.Errorf("new %v old %v, want a and [b]", newRS, old)
	}
}

func TestComputeHash(t *testing.T) {
	d := testDeployment(1, "1", "1")
	h1 := ComputeHash(&d.Spec.Template, nil)
	if h1 != ComputeHash(d.Spec.Template.DeepCopy(), nil) {
		t.Error("equal templates hash differently")
	}
	other := d.Spec.Template.DeepCopy()
	other.Spec.Containers[0].Image = "img:3"
	if h1 == ComputeHash(other, nil) {
		t.Error("different images hash the same")
	}
	if h1 == ComputeHash(&d.Spec.Template, ptrTo(int32(1))) {
		t.Error("a collision count does not change the hash")
	}
	for _, c := range h1 {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			t.Fatalf("hash %q is not a safe label value", h1)
		}
	}
}
