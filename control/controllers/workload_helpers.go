package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

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

// wlObservePods returns pod handlers that settle expectations of the pod's
// controller (of kind) and then enqueue it on q.
func wlObservePods(q *Queue, kind string, exp *Expectations) cache.ResourceEventHandler {
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
					exp.DeletionObserved(k, podKey(p))
				}
				exp.CreationObserved(k)
				q.Add(k)
			}
		},
		UpdateFunc: func(_, cur any) {
			if k, p := key(cur); k != "" {
				if p.DeletionTimestamp != nil {
					exp.DeletionObserved(k, podKey(p))
				}
				q.Add(k)
			}
		},
		DeleteFunc: func(obj any) {
			if k, p := key(obj); k != "" {
				exp.DeletionObserved(k, podKey(p))
				q.Add(k)
			}
		},
	}
}

// wlPodOps creates and deletes an owner's pods under expectations, with
// Kubernetes's events (SuccessfulCreate "Created pod: x" and so on). It
// goes on after a failure and returns the first one.
func wlPodOps(ctx context.Context, c *client.Client, rec *Recorder, exp *Expectations, key string, owner runtime.Object,
	creates, deletes []*corev1.Pod) error {
	exp.ExpectCreations(key, len(creates))
	keys := make([]string, len(deletes))
	for i, p := range deletes {
		keys[i] = podKey(p)
	}
	exp.ExpectDeletions(key, keys)
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
			exp.DeletionObserved(key, podKey(p))
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
