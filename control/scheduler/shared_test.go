package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
)

// TestSharedPodHandlers feeds full pods, as the controller manager's
// shared informer delivers them, through sharedPodHandlers: a pending pod
// is queued, a bound one counted on its node, and a finished one forgotten
// as if deleted; the pods handed in are not modified.
func TestSharedPodHandlers(t *testing.T) {
	s := New(Options{})
	h := s.sharedPodHandlers().(toolscache.ResourceEventHandlerFuncs)
	pending := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Labels: map[string]string{"app": "a"}},
		Spec: corev1.PodSpec{SchedulerName: "default-scheduler"}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	before := pending.DeepCopy()
	queued := func() bool {
		s.queue.mu.Lock()
		defer s.queue.mu.Unlock()
		_, ok := s.queue.pods["u1"]
		return ok
	}
	counted := func() bool {
		s.cache.mu.Lock()
		defer s.cache.mu.Unlock()
		_, ok := s.cache.pods["u1"]
		return ok
	}

	h.AddFunc(pending)
	if !queued() || counted() {
		t.Fatalf("pending pod: queued %v counted %v, want queued only", queued(), counted())
	}
	bound := pending.DeepCopy()
	bound.Spec.NodeName = "n1"
	h.UpdateFunc(pending, bound)
	if queued() || !counted() {
		t.Fatalf("bound pod: queued %v counted %v, want counted only", queued(), counted())
	}
	done := bound.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	h.UpdateFunc(bound, done)
	if queued() || counted() {
		t.Fatalf("finished pod: queued %v counted %v, want neither", queued(), counted())
	}
	h.DeleteFunc(toolscache.DeletedFinalStateUnknown{Key: "ns/p", Obj: done})
	h.AddFunc(done) // a finished pod seen first (relist) is not scheduled
	if queued() || counted() {
		t.Fatal("a finished pod was queued or counted")
	}
	if pending.Spec.NodeName != before.Spec.NodeName || len(pending.Labels) != 1 {
		t.Fatal("a handler modified the pod it was given")
	}
}
