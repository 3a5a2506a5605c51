package kubelet

import (
	"context"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// writeStatus writes the status of the view's pod unless the API already
// has it, retrying on conflicts with the pod read afresh.
func (w *worker) writeStatus(ctx context.Context, v podView) {
	pod := v.pod
	for attempt := 0; attempt < 5; attempt++ {
		v.pod = pod
		st := computeStatus(v)
		if sameStatus(&pod.Status, &st) {
			return
		}
		next := pod.DeepCopy()
		next.Status = st
		err := w.k.c.UpdateStatus(ctx, next)
		if err == nil {
			w.wrote(next)
			return
		}
		if apierrors.IsNotFound(err) || ctx.Err() != nil {
			return
		}
		if !apierrors.IsConflict(err) {
			w.logf(pod, "writing status: %v", err)
			return
		}
		fresh := &corev1.Pod{}
		if err := w.k.c.Get(ctx, pod.Namespace, pod.Name, fresh); err != nil || fresh.UID != pod.UID {
			return
		}
		w.remember(fresh)
		pod = fresh
	}
	w.logf(pod, "writing status: too many conflicting writes")
}

// sameStatus compares statuses as the API stores them (times to the
// second).
func sameStatus(a, b *corev1.PodStatus) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
