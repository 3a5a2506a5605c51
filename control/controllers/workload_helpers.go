package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/minicluster/mini/control/client"
)

// Helpers shared by the StatefulSet, DaemonSet and Job controllers.

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
