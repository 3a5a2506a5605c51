package controllers

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/minicluster/mini/control/client"
)

// podControl creates and deletes the pods of a controller's owners under
// the controller's expectations, as Kubernetes's controllers do, recording
// on the owner the events kubectl shows: SuccessfulCreate "Created pod: x",
// FailedCreate "Error creating: ...", SuccessfulDelete "Deleted pod: x",
// FailedDelete "Error deleting: ...".
type podControl struct {
	c   *client.Client
	rec *Recorder
	exp *Expectations
}

// apply creates creates and deletes deletes for the owner of key (the
// deletions even when creations fail) and returns the first error.
func (pc podControl) apply(ctx context.Context, key string, owner runtime.Object, creates, deletes []*corev1.Pod) error {
	cerr := pc.createPods(ctx, key, owner, creates)
	derr := pc.deletePods(ctx, key, owner, deletes)
	if cerr != nil {
		return cerr
	}
	return derr
}

// createPods creates pods for the owner of key in slow-start batches that
// stop after the first batch with a failure, so that a refusing quota or
// admission costs a few calls, not hundreds. Creations not made are counted
// as observed at once; a pod refused because its namespace is being deleted
// is skipped without an event.
func (pc podControl) createPods(ctx context.Context, key string, owner runtime.Object, pods []*corev1.Pod) error {
	if len(pods) == 0 {
		return nil
	}
	pc.exp.ExpectCreations(key, len(pods))
	var next atomic.Int64
	done, err := slowStartBatch(len(pods), func() error { return pc.createPod(ctx, owner, pods[next.Add(1)-1]) })
	for i := done; i < len(pods); i++ {
		pc.exp.CreationObserved(key)
	}
	return err
}

func (pc podControl) createPod(ctx context.Context, owner runtime.Object, pod *corev1.Pod) error {
	if len(pod.Labels) == 0 {
		return fmt.Errorf("unable to create pods, no labels")
	}
	if err := pc.c.Create(ctx, pod); err != nil {
		if namespaceTerminating(err) {
			return errSkip
		}
		pc.rec.Eventf(owner, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return err
	}
	pc.rec.Eventf(owner, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", pod.Name)
	return nil
}

// deletePods deletes victims for the owner of key, in parallel, each
// guarded by its UID. A failed deletion is counted as observed at once; a
// pod already gone or replaced is not an error.
func (pc podControl) deletePods(ctx context.Context, key string, owner runtime.Object, victims []*corev1.Pod) error {
	if len(victims) == 0 {
		return nil
	}
	keys := make([]string, len(victims))
	for i, p := range victims {
		keys[i] = podKey(p)
	}
	pc.exp.ExpectDeletions(key, keys)
	errs := make([]error, len(victims))
	var wg sync.WaitGroup
	for i, p := range victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uid := p.UID
			err := pc.c.Delete(ctx, &corev1.Pod{}, p.Namespace, p.Name, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			if err == nil {
				pc.rec.Eventf(owner, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", p.Name)
				return
			}
			// The informer will not see this deletion.
			pc.exp.DeletionObserved(key, podKey(p))
			if !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				pc.rec.Eventf(owner, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return joinErrors(out)
}

// errSkip marks a creation that did not happen and is not an error.
var errSkip = fmt.Errorf("skipped")

// slowStartBatch calls fn count times, in parallel batches of 1, 2, 4, ...
// and stops after the first batch with a failure. It returns how many calls
// succeeded (or were skipped) and the first error.
func slowStartBatch(count int, fn func() error) (int, error) {
	done := 0
	for batch := 1; done < count; batch *= 2 {
		n := min(batch, count-done)
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil && err != errSkip {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		failed := len(errs)
		done += n - failed
		if failed > 0 {
			return done, <-errs
		}
	}
	return done, nil
}
