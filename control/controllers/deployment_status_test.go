package controllers

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func progressing(reason string, status corev1.ConditionStatus, at time.Time) appsv1.DeploymentCondition {
	return appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: status, Reason: reason,
		LastUpdateTime: metav1.NewTime(at), LastTransitionTime: metav1.NewTime(at)}
}

func TestRolloutStatus(t *testing.T) {
	now := t0.Add(time.Hour)
	for _, tc := range []struct {
		name          string
		prior         appsv1.DeploymentStatus
		newRS         *appsv1.ReplicaSet
		old           []*appsv1.ReplicaSet
		wantAvailable corev1.ConditionStatus
		wantReason    string
		wantStatus    corev1.ConditionStatus
		wantCounts    [5]int32 // replicas, updated, ready, available, unavailable
	}{
		{"complete", appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{progressing(reasonRSUpdated, corev1.ConditionTrue, now)}},
			testRS("new", 4, 4, 0), []*appsv1.ReplicaSet{testRS("old", 0, 0, 5)}, corev1.ConditionTrue, reasonNewRSAvailable, corev1.ConditionTrue, [5]int32{4, 4, 4, 4, 0}},
		{"progress seen", appsv1.DeploymentStatus{Replicas: 5, UpdatedReplicas: 1, Conditions: []appsv1.DeploymentCondition{progressing(reasonNewRSCreated, corev1.ConditionTrue, t0)}},
			testRS("new", 2, 1, 0), []*appsv1.ReplicaSet{testRS("old", 3, 3, 5)}, corev1.ConditionTrue, reasonRSUpdated, corev1.ConditionTrue, [5]int32{5, 2, 4, 4, 1}},
		{"no progress past the deadline", appsv1.DeploymentStatus{Replicas: 5, UpdatedReplicas: 2, ReadyReplicas: 3, AvailableReplicas: 3,
			Conditions: []appsv1.DeploymentCondition{progressing(reasonRSUpdated, corev1.ConditionTrue, now.Add(-11*time.Minute))}},
			testRS("new", 2, 0, 0), []*appsv1.ReplicaSet{testRS("old", 3, 3, 5)}, corev1.ConditionFalse, reasonTimedOut, corev1.ConditionFalse, [5]int32{5, 2, 3, 3, 2}},
		{"no progress within the deadline", appsv1.DeploymentStatus{Replicas: 5, UpdatedReplicas: 2, ReadyReplicas: 3, AvailableReplicas: 3,
			Conditions: []appsv1.DeploymentCondition{progressing(reasonRSUpdated, corev1.ConditionTrue, now.Add(-9*time.Minute))}},
			testRS("new", 2, 0, 0), []*appsv1.ReplicaSet{testRS("old", 3, 3, 5)}, corev1.ConditionFalse, reasonRSUpdated, corev1.ConditionTrue, [5]int32{5, 2, 3, 3, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDeployment(4, "1", "0")
			d.Status = tc.prior
			st := rolloutStatus(d, withNew(tc.old, tc.newRS), tc.newRS, now)
			got := [5]int32{st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas, st.UnavailableReplicas}
			if got != tc.wantCounts {
				t.Errorf("counts %v, want %v", got, tc.wantCounts)
			}
			if st.ObservedGeneration != d.Generation {
				t.Errorf("observedGeneration %d, want %d", st.ObservedGeneration, d.Generation)
			}
			a := deploymentCondition(&st, appsv1.DeploymentAvailable)
			if a == nil || a.Status != tc.wantAvailable {
				t.Errorf("Available condition %+v, want status %s", a, tc.wantAvailable)
			}
			p := deploymentCondition(&st, appsv1.DeploymentProgressing)
			if p == nil || p.Reason != tc.wantReason || p.Status != tc.wantStatus {
				t.Fatalf("Progressing condition %+v, want %s/%s", p, tc.wantStatus, tc.wantReason)
			}
		})
	}
}

func TestProgressCheckAfter(t *testing.T) {
	d := testDeployment(4, "1", "0")
	st := appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{progressing(reasonRSUpdated, corev1.ConditionTrue, t0)}}
	if got := progressCheckAfter(d, &st, t0.Add(time.Minute)); got != 9*time.Minute+time.Millisecond {
		t.Errorf("check after %v, want 9m0.001s", got)
	}
	st.Conditions[0].Reason = reasonNewRSAvailable
	if got := progressCheckAfter(d, &st, t0); got != 0 {
		t.Errorf("complete rollout checks again after %v", got)
	}
}

func TestPausedCondition(t *testing.T) {
	d := testDeployment(4, "1", "0")
	d.Spec.Paused = true
	st := appsv1.DeploymentStatus{}
	if !pausedCondition(d, &st, t0) {
		t.Fatal("pausing changed nothing")
	}
	if c := deploymentCondition(&st, appsv1.DeploymentProgressing); c.Reason != reasonPaused || c.Status != corev1.ConditionUnknown {
		t.Errorf("paused condition %+v", c)
	}
	if pausedCondition(d, &st, t0) {
		t.Error("pausing twice changed the status again")
	}
	d.Spec.Paused = false
	if !pausedCondition(d, &st, t0) || deploymentCondition(&st, appsv1.DeploymentProgressing).Reason != reasonResumed {
		t.Errorf("resume: %+v", st.Conditions)
	}
	st.Conditions = []appsv1.DeploymentCondition{progressing(reasonTimedOut, corev1.ConditionFalse, t0)}
	d.Spec.Paused = true
	if pausedCondition(d, &st, t0) {
		t.Error("pausing overwrote ProgressDeadlineExceeded")
	}
}

func TestReplicaFailureSurfaces(t *testing.T) {
	d := testDeployment(2, "1", "0")
	newRS := testRS("new", 2, 0, 0)
	newRS.Status.Conditions = []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
		Reason: "FailedCreate", Message: "quota"}}
	st := rolloutStatus(d, []*appsv1.ReplicaSet{newRS}, newRS, t0)
	c := deploymentCondition(&st, appsv1.DeploymentReplicaFailure)
	if c == nil || c.Reason != "FailedCreate" || c.Message != "quota" {
		t.Errorf("ReplicaFailure condition %+v", c)
	}
}
