package kubelet

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/node/runtime"
)

// minGrace is the least time a container gets between its stop signal and
// SIGKILL, as Kubernetes's kubelet gives.
const minGrace = 2 * time.Second

// podGrace is the grace period of a pod's deletion (or its spec's).
func podGrace(pod *corev1.Pod) time.Duration {
	g := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if s := pod.Spec.TerminationGracePeriodSeconds; s != nil {
		g = *s
	}
	if d := pod.DeletionGracePeriodSeconds; d != nil {
		g = *d
	}
	return max(time.Duration(g)*time.Second, minGrace)
}

// terminate stops a deleted pod gracefully: preStop hooks, then each
// container's stop signal and SIGKILL once the grace period is over; then
// its final status, the API delete (grace 0, on the pod's UID), and the
// removal of its sandbox, containers, volumes and files. gone says the pod already
// left the API (force deletion).
func (w *worker) terminate(ctx context.Context, pod *corev1.Pod, gone bool) error {
	w.probes.stopAll()
	st, err := w.k.rt.Pod(ctx, w.uid)
	if err != nil {
		return err
	}
	w.kill(ctx, pod, st, podGrace(pod))
	if !gone {
		if st, err = w.k.rt.Pod(ctx, w.uid); err != nil {
			return err
		}
		w.writeStatus(ctx, w.view(pod, st, true))
		zero, uid := int64(0), pod.UID
		err := w.k.c.Delete(ctx, &corev1.Pod{}, pod.Namespace, pod.Name,
			&metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("final delete: %w", err)
		}
	}
	for _, c := range st.All() {
		if err := w.k.rt.Remove(ctx, c.ID); err != nil {
			return err
		}
	}
	if err := w.k.rt.RemoveVolumes(ctx, pod.UID); err != nil {
		return err
	}
	return os.RemoveAll(w.k.podDir(pod.UID))
}

// kill stops every running container of the pod in parallel within grace,
// running preStop hooks first. The sandbox is left to the removal: once
// the containers are stopped nothing of the pod runs but the pause process,
// and removing it at once saves a stop.
func (w *worker) kill(ctx context.Context, pod *corev1.Pod, st *runtime.PodState, grace time.Duration) {
	deadline := w.k.clk.Now().Add(grace)
	podIP := ""
	if sb := st.Sandbox(); sb != nil && sb.Running() {
		podIP = w.k.rt.IP(sb)
	}
	var wg sync.WaitGroup
	for _, c := range st.All() {
		if c.Kind == runtime.KindSandbox || !c.Running() {
			continue
		}
		spec := findContainer(pod, c.Name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if spec != nil {
				ev := w.k.events.forContainer(pod, c.Name)
				ev(corev1.EventTypeNormal, "Killing", "Stopping container %s", c.Name)
				if h := spec.Lifecycle; h != nil && h.PreStop != nil {
					if err := w.runHook(ctx, pod, spec, h.PreStop, c.ID, podIP, deadline.Sub(w.k.clk.Now())); err != nil {
						ev(corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
					}
				}
			}
			w.k.rt.Stop(ctx, c.ID, max(deadline.Sub(w.k.clk.Now()), minGrace))
		}()
	}
	wg.Wait()
}

// runHook runs a lifecycle handler (exec in the container, HTTP GET to the
// pod, or sleep) within timeout.
func (w *worker) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, h *corev1.LifecycleHandler, id, podIP string, timeout time.Duration) error {
	if timeout <= 0 {
		return fmt.Errorf("no time left in the grace period")
	}
	if h.Sleep != nil {
		select {
		case <-ctx.Done():
		case <-w.k.clk.After(min(time.Duration(h.Sleep.Seconds)*time.Second, timeout)):
		}
		return nil
	}
	pr := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: h.Exec, HTTPGet: h.HTTPGet, TCPSocket: h.TCPSocket},
		TimeoutSeconds: int32((timeout + time.Second - 1) / time.Second)}
	if ok, msg := w.k.probes.probe(ctx, pr, c, id, podIP); !ok {
		return fmt.Errorf("%s", msg)
	}
	return nil
}
