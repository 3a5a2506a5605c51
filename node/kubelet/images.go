package kubelet

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/minicluster/mini/node/runtime"
)

// imageManager applies imagePullPolicy. The rule when a pull fails:
//   - Never: the image must be present, else ErrImageNeverPull.
//   - IfNotPresent: a present image is used without pulling; a missing one
//     is pulled, and a failed pull is ErrImagePull, then ImagePullBackOff
//     while the back-off (10s doubling to 5m) runs.
//   - Always: the image is pulled; when the pull fails (no registry is
//     reachable) but the image is present on the node, the local copy is
//     used and a Warning event "Failed" says so; during the back-off after
//     such a failure the local copy is used without another pull.
type imageManager struct {
	rt           *runtime.Runtime
	events       *recorder
	clk          clock.Clock
	initial, max time.Duration

	mu      sync.Mutex
	backoff map[string]*pullBackOff // by image reference
}

func newImageManager(rt *runtime.Runtime, ev *recorder, clk clock.Clock, initial, max time.Duration) *imageManager {
	return &imageManager{rt: rt, events: ev, clk: clk, initial: initial, max: max, backoff: map[string]*pullBackOff{}}
}

// ensure makes a container's image available per its pull policy. It
// returns nil when the container can be created, else the waiting state to
// report and when to try again.
func (m *imageManager) ensure(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (*corev1.ContainerStateWaiting, time.Duration) {
	ev := m.events.forContainer(pod, c.Name)
	id, err := m.rt.ImageID(ctx, c.Image)
	if err != nil {
		ev(corev1.EventTypeWarning, "InspectFailed", "Failed to inspect image %q: %v", c.Image, err)
		return &corev1.ContainerStateWaiting{Reason: "ImageInspectError", Message: err.Error()}, 2 * time.Second
	}
	present := id != ""
	policy := c.ImagePullPolicy
	if policy == "" {
		policy = corev1.PullIfNotPresent
	}
	if present && policy != corev1.PullAlways {
		ev(corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
		return nil, 0
	}
	if policy == corev1.PullNever {
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		ev(corev1.EventTypeWarning, reasonErrImageNeverPull, "%s", msg)
		return &corev1.ContainerStateWaiting{Reason: reasonErrImageNeverPull, Message: msg}, 0
	}
	m.mu.Lock()
	b := m.backoff[c.Image]
	wait := b.wait(m.clk.Now())
	m.mu.Unlock()
	if wait > 0 {
		if present {
			return nil, 0 // Always, the last pull failed: the local copy it is
		}
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		ev(corev1.EventTypeNormal, "BackOff", "%s", msg)
		return &corev1.ContainerStateWaiting{Reason: reasonImagePullBackOff, Message: msg}, wait
	}
	return m.pull(ctx, c, present, ev)
}

// pull pulls a container's image and applies the rule above to a failure.
func (m *imageManager) pull(ctx context.Context, c *corev1.Container, present bool, ev func(string, string, string, ...any)) (*corev1.ContainerStateWaiting, time.Duration) {
	ev(corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	start := m.clk.Now()
	err := m.rt.Pull(ctx, c.Image)
	took := m.clk.Since(start).Round(time.Millisecond)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.backoff, c.Image)
		ev(corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %v (%v including waiting)", c.Image, took, took)
		return nil, 0
	}
	if m.backoff[c.Image] == nil {
		m.backoff[c.Image] = &pullBackOff{}
	}
	m.backoff[c.Image].failed(m.clk.Now(), m.initial, m.max)
	if present {
		ev(corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %v; using the image already present on the node", c.Image, err)
		return nil, 0
	}
	ev(corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.Image, err)
	ev(corev1.EventTypeWarning, "Failed", "Error: %s", reasonErrImagePull)
	// ErrImagePull shows until the next sync, half-way through the
	// back-off, which shows ImagePullBackOff until the next pull (as
	// Kubernetes's kubelet alternates them).
	return &corev1.ContainerStateWaiting{Reason: reasonErrImagePull, Message: fmt.Sprintf("failed to pull image %q: %v", c.Image, err)},
		m.backoff[c.Image].wait(m.clk.Now()) / 2
}
