package controllers

import (
	"context"
	"fmt"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	testclock "k8s.io/utils/clock/testing"
)

// TestPodOwnerEvents: pod events enqueue the pod's controller of the
// watched kind (and the former one when the pod changes hands) and settle
// its expectations.
func TestPodOwnerEvents(t *testing.T) {
	clk := testclock.NewFakeClock(fxNow)
	q := NewQueue("test", clk, nil, func(context.Context, string) error { return nil })
	exp := newExpectations(clk, workloadExpectationsTimeout)
	h := podOwnerEvents(q, "DaemonSet", exp)
	ownedBy := func(kind, name string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{*newControllerRef(&metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)},
				dsGVK.GroupVersion().WithKind(kind))}
		}
	}
	drain := func() string {
		var keys []string
		for q.Len() > 0 {
			k, _ := q.q.Get()
			q.q.Done(k)
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return fmt.Sprint(keys)
	}

	exp.ExpectCreations("default/agent", 1)
	exp.ExpectDeletions("default/agent", []string{"default/b"})
	h.OnAdd(fxPod("a", ownedBy("DaemonSet", "agent")), false)
	h.OnAdd(fxPod("x", ownedBy("ReplicaSet", "web")), false)
	if got := drain(); got != "[default/agent]" {
		t.Errorf("after adds, queued %s, want [default/agent] (not the ReplicaSet's)", got)
	}
	h.OnDelete(cache.DeletedFinalStateUnknown{Key: "default/b", Obj: fxPod("b", ownedBy("DaemonSet", "agent"))})
	if !exp.Satisfied("default/agent") {
		t.Error("the creation of a and the deletion of b were seen, but the DaemonSet is still held")
	}
	h.OnUpdate(fxPod("c", ownedBy("DaemonSet", "old")), fxPod("c", ownedBy("DaemonSet", "new")))
	if got := drain(); got != "[default/agent default/new default/old]" {
		t.Errorf("after a delete and a change of controller, queued %s, want [default/agent default/new default/old]", got)
	}
}
