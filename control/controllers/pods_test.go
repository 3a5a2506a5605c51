package controllers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPodAvailability pins the one availability rule every controller
// shares: available once ready for strictly more than minReadySeconds, and
// the recheck a millisecond past that instant.
func TestPodAvailability(t *testing.T) {
	readyAt := fxNow.Add(-10 * time.Second)
	ready := func(at time.Time) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}
		}
	}
	for _, tc := range []struct {
		name      string
		pod       *corev1.Pod
		minReady  int32
		available bool
		in        time.Duration
	}{
		{name: "not ready", pod: fxPod("p", fxRunning("10.0.0.1", false)), minReady: 5},
		{name: "ready, no minReadySeconds", pod: fxPod("p", ready(readyAt)), available: true},
		{name: "ready long enough", pod: fxPod("p", ready(readyAt)), minReady: 9, available: true},
		{name: "exactly at the instant: not yet", pod: fxPod("p", ready(readyAt)), minReady: 10, in: time.Millisecond},
		{name: "waiting", pod: fxPod("p", ready(readyAt)), minReady: 30, in: 20*time.Second + time.Millisecond},
		{name: "ready without a transition time never becomes available", pod: fxPod("p", ready(time.Time{})), minReady: 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsPodAvailable(tc.pod, tc.minReady, fxNow); got != tc.available {
				t.Errorf("IsPodAvailable = %v, want %v", got, tc.available)
			}
			if got := availableIn(tc.pod, tc.minReady, fxNow); got != tc.in {
				t.Errorf("availableIn = %v, want %v", got, tc.in)
			}
		})
	}
	pods := []*corev1.Pod{
		fxPod("late", ready(readyAt)), fxPod("soon", ready(readyAt.Add(-15*time.Second))), fxPod("never", ready(time.Time{})),
	}
	if got, want := nextAvailableIn(pods, 30, fxNow), 5*time.Second+time.Millisecond; got != want {
		t.Errorf("nextAvailableIn = %v, want %v (the sooner pod; none for the pod without a ready time)", got, want)
	}
}
