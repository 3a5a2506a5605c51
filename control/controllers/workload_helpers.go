package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/minicluster/mini/control/client"
)

// Helpers shared by the StatefulSet, DaemonSet and Job controllers.

// wlEnqueueOwner returns an informer handler that enqueues the controller
// (of kind) of each pod event on q.
func wlEnqueueOwner(q *Queue, kind string) cache.ResourceEventHandler {
	enqueue := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		m, ok := obj.(metav1.Object)
		if !ok {
			return
		}
		if ref := metav1.GetControllerOf(m); ref != nil && ref.Kind == kind {
			q.Add(m.GetNamespace() + "/" + ref.Name)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, cur any) {
			enqueue(cur)
			if o, c := old.(metav1.Object), cur.(metav1.Object); !wlSameRef(metav1.GetControllerOf(o), metav1.GetControllerOf(c)) {
				enqueue(old)
			}
		},
		DeleteFunc: enqueue,
	}
}

func wlSameRef(a, b *metav1.OwnerReference) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.UID == b.UID
}

// podOpExpectations remembers pod creations and deletions a controller made
// and has not yet seen in its informer, so that a reconcile running on a
// stale cache does not act twice (Kubernetes's ControllerExpectations).
// Expectations lapse after a timeout in case an event was missed.
type podOpExpectations struct {
	clk     clock.Clock
	timeout time.Duration
	mu      sync.Mutex
	m       map[string]*podOpExp
}

type podOpExp struct {
	adds int
	dels map[types.UID]bool
	at   time.Time
}

func newPodOpExpectations(clk clock.Clock) *podOpExpectations {
	return &podOpExpectations{clk: clk, timeout: 30 * time.Second, m: map[string]*podOpExp{}}
}

// Satisfied reports whether every expected operation for key was observed.
func (e *podOpExpectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if (x.adds <= 0 && len(x.dels) == 0) || e.clk.Since(x.at) > e.timeout {
		delete(e.m, key)
		return true
	}
	return false
}

func (e *podOpExpectations) get(key string) *podOpExp {
	x, ok := e.m[key]
	if !ok {
		x = &podOpExp{dels: map[types.UID]bool{}}
		e.m[key] = x
	}
	x.at = e.clk.Now()
	return x
}

// ExpectCreations records n creations about to be made.
func (e *podOpExpectations) ExpectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(key).adds += n
}

// ExpectDeletion records a deletion about to be made.
func (e *podOpExpectations) ExpectDeletion(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(key).dels[uid] = true
}

// CreationObserved counts one creation as seen (or as failed).
func (e *podOpExpectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

// DeletionObserved counts a deletion as seen (or as failed).
func (e *podOpExpectations) DeletionObserved(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.dels, uid)
	}
}

// Forget drops all expectations of key (its owner is gone).
func (e *podOpExpectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// wlObservePods returns pod handlers that settle expectations of the pod's
// controller (of kind) and then enqueue it on q.
func wlObservePods(q *Queue, kind string, exp *podOpExpectations) cache.ResourceEventHandler {
	key := func(obj any) (string, *corev1.Pod) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return "", nil
		}
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.Kind != kind {
			return "", p
		}
		return p.Namespace + "/" + ref.Name, p
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if k, p := key(obj); k != "" {
				if p.DeletionTimestamp != nil {
					exp.DeletionObserved(k, p.UID)
				}
				exp.CreationObserved(k)
				q.Add(k)
			}
		},
		UpdateFunc: func(_, cur any) {
			if k, p := key(cur); k != "" {
				if p.DeletionTimestamp != nil {
					exp.DeletionObserved(k, p.UID)
				}
				q.Add(k)
			}
		},
		DeleteFunc: func(obj any) {
			if k, p := key(obj); k != "" {
				exp.DeletionObserved(k, p.UID)
				q.Add(k)
			}
		},
	}
}

// wlPodOps creates and deletes an owner's pods under expectations, with
// Kubernetes's events (SuccessfulCreate "Created pod: x" and so on). It
// goes on after a failure and returns the first one.
func wlPodOps(ctx context.Context, c *client.Client, rec *Recorder, exp *podOpExpectations, key string, owner runtime.Object,
	creates, deletes []*corev1.Pod) error {
	exp.ExpectCreations(key, len(creates))
	for _, p := range deletes {
		exp.ExpectDeletion(key, p.UID)
	}
	var firstErr error
	for _, p := range creates {
		if err := c.Create(ctx, p); err != nil {
			exp.CreationObserved(key)
			rec.Eventf(owner, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			if firstErr == nil {
				firstErr = fmt.Errorf("create pod: %w", err)
			}
			continue
		}
		rec.Eventf(owner, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", p.Name)
	}
	for _, p := range deletes {
		uid := p.UID
		err := c.Delete(ctx, &corev1.Pod{}, p.Namespace, p.Name, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil {
			exp.DeletionObserved(key, p.UID)
			if !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && firstErr == nil {
				rec.Eventf(owner, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
				firstErr = fmt.Errorf("delete pod %s: %w", p.Name, err)
			}
			continue
		}
		rec.Eventf(owner, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
	}
	return firstErr
}
