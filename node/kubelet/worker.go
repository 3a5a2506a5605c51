package kubelet

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minicluster/mini/node/runtime"
)

// worker converges one pod. Its goroutine is the only one that acts on the
// pod's containers; informer updates, Docker events and probe results only
// wake it.
type worker struct {
	k      *Kubelet
	uid    types.UID
	wakeCh chan struct{}
	probes *podProbes

	mu      sync.Mutex
	pod     *corev1.Pod
	deleted bool   // the pod is gone from the API
	written []byte // the status this worker wrote last, as JSON

	// owned by the worker goroutine
	waiting  map[string]*corev1.ContainerStateWaiting
	messages map[string]string // termination messages by container ID
	vols     map[string]volume
	volsAt   time.Time
}

func newWorker(k *Kubelet, pod *corev1.Pod) *worker {
	w := &worker{k: k, uid: pod.UID, wakeCh: make(chan struct{}, 1), pod: pod,
		waiting: map[string]*corev1.ContainerStateWaiting{}, messages: map[string]string{}}
	w.probes = newPodProbes(k.probes, k.clk, w.wake, func(c *corev1.Container, t probeType, msg string) {
		p, _ := w.snapshot()
		k.events.forContainer(p, c.Name)(corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", t, msg)
	})
	return w
}

// update records a newer version of the pod, or its deletion, and wakes
// the worker unless the update is the echo of its own status write: as the
// kubelet ignores status-only updates, so that a state such as
// ErrImagePull stays visible until the sync it asked for.
func (w *worker) update(pod *corev1.Pod, deleted bool) {
	w.mu.Lock()
	wake := deleted || !w.isEcho(pod)
	if newer(pod, w.pod) {
		w.pod = pod
	}
	w.deleted = w.deleted || deleted
	w.mu.Unlock()
	if wake {
		w.wake()
	}
}

// isEcho reports whether pod differs from the worker's latest version only
// by the status the worker wrote last (and the resourceVersion and fields
// that come with a write). A status written by someone else (the node
// lifecycle controller marking pods not ready) is no echo: the worker
// syncs and writes its own again. Callers hold w.mu.
func (w *worker) isEcho(pod *corev1.Pod) bool {
	cur := w.pod
	if cur == nil || w.written == nil || cur.UID != pod.UID || cur.Generation != pod.Generation ||
		!equality.Semantic.DeepEqual(cur.DeletionTimestamp, pod.DeletionTimestamp) ||
		!equality.Semantic.DeepEqual(cur.DeletionGracePeriodSeconds, pod.DeletionGracePeriodSeconds) ||
		!equality.Semantic.DeepEqual(cur.Labels, pod.Labels) ||
		!equality.Semantic.DeepEqual(cur.Annotations, pod.Annotations) ||
		!equality.Semantic.DeepEqual(cur.Spec, pod.Spec) {
		return false
	}
	st, err := json.Marshal(&pod.Status)
	return err == nil && bytes.Equal(st, w.written)
}

// wrote records the status the worker has just written, with the pod the
// API returned.
func (w *worker) wrote(pod *corev1.Pod) {
	st, _ := json.Marshal(&pod.Status)
	w.mu.Lock()
	w.written = st
	if newer(pod, w.pod) {
		w.pod = pod
	}
	w.mu.Unlock()
}

// remember records a version of the pod the worker itself read or wrote,
// without waking it.
func (w *worker) remember(pod *corev1.Pod) {
	w.mu.Lock()
	if newer(pod, w.pod) {
		w.pod = pod
	}
	w.mu.Unlock()
}

// newer reports whether a is a later version than b (resourceVersions are
// the store's revision numbers).
func newer(a, b *corev1.Pod) bool {
	ra, err1 := strconv.ParseUint(a.ResourceVersion, 10, 64)
	rb, err2 := strconv.ParseUint(b.ResourceVersion, 10, 64)
	return err1 != nil || err2 != nil || ra >= rb
}

func (w *worker) wake() {
	select {
	case w.wakeCh <- struct{}{}:
	default:
	}
}

func (w *worker) snapshot() (*corev1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.deleted
}

// run syncs the pod on every wake-up and at least every resync interval
// until the pod is gone or ctx ends.
func (w *worker) run(ctx context.Context) {
	defer w.probes.stopAll()
	for {
		next, done := w.sync(ctx)
		if done {
			_, deleted := w.snapshot()
			w.k.workerDone(w, deleted)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wakeCh:
		case <-w.k.clk.After(next):
		}
	}
}

// sync runs one convergence of the pod and writes its status. It returns
// when to sync again without an event, and whether the pod is gone.
func (w *worker) sync(ctx context.Context) (time.Duration, bool) {
	pod, deleted := w.snapshot()
	if deleted || pod.DeletionTimestamp != nil {
		if err := w.terminate(ctx, pod, deleted); err != nil {
			if ctx.Err() == nil {
				w.k.log.Printf("kubelet: terminating pod %s/%s: %v", pod.Namespace, pod.Name, err)
			}
			return time.Second, false
		}
		return 0, true
	}
	st, err := w.k.rt.Pod(ctx, w.uid)
	if err != nil {
		w.logf(pod, "%v", err)
		return 2 * time.Second, false
	}
	next, changed := w.converge(ctx, pod, st)
	if changed {
		if st, err = w.k.rt.Pod(ctx, w.uid); err != nil {
			w.logf(pod, "%v", err)
			return 2 * time.Second, false
		}
	}
	w.gc(ctx, st)
	v := w.view(pod, st, false)
	w.writeStatus(ctx, v)
	w.syncProbes(ctx, pod, st, v.podIP)
	if next <= 0 || next > w.k.cfg.Resync {
		next = w.k.cfg.Resync
	}
	return next, false
}

func (w *worker) logf(pod *corev1.Pod, format string, args ...any) {
	if pod != nil {
		format = "kubelet: pod " + pod.Namespace + "/" + pod.Name + ": " + format
	}
	w.k.log.Printf(format, args...)
}

// view gathers what the pod's status is computed from.
func (w *worker) view(pod *corev1.Pod, st *runtime.PodState, terminal bool) podView {
	v := podView{pod: pod, state: st, nodeIP: w.k.cfg.NodeIP, waiting: w.waiting, probes: w.probes.state,
		message: w.message, now: w.k.clk.Now(), terminal: terminal}
	if sb := st.Sandbox(); sb != nil && sb.Running() {
		v.sandboxReady = true
		v.podIP = w.k.rt.IP(sb)
		if pod.Spec.HostNetwork {
			v.podIP = w.k.cfg.NodeIP
		}
	}
	return v
}

// syncProbes runs the probes of the pod's running containers.
func (w *worker) syncProbes(ctx context.Context, pod *corev1.Pod, st *runtime.PodState, podIP string) {
	var rs []running
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		l := st.Latest(c.Name)
		if l == nil || !l.Running() {
			continue
		}
		r := running{id: l.ID, spec: c, startedAt: l.StartedAt(), podIP: podIP}
		for _, s := range pod.Status.ContainerStatuses {
			if s.Name == c.Name && s.ContainerID == runtime.ContainerID(l.ID) {
				r.seed = probeState{started: s.Started != nil && *s.Started, ready: s.Ready}
			}
		}
		rs = append(rs, r)
	}
	w.probes.sync(ctx, rs)
}

// gc removes what Docker holds beyond what status needs: sandboxes older
// than the newest, and attempts of a container older than the previous one
// (kept for `kubectl logs --previous`).
func (w *worker) gc(ctx context.Context, st *runtime.PodState) {
	var old []*runtime.Container
	for i, sb := range st.Sandboxes {
		if i > 0 && !sb.Running() {
			old = append(old, sb)
		}
	}
	for _, cs := range st.Containers {
		for i, c := range cs {
			if i > 1 && !c.Running() {
				old = append(old, c)
			}
		}
	}
	for _, c := range old {
		if err := w.k.rt.Remove(ctx, c.ID); err != nil {
			w.k.log.Printf("kubelet: %v", err)
		}
		delete(w.messages, c.ID)
	}
}

// termFile is the node file a container attempt writes its termination
// message to.
func (w *worker) termFile(pod *corev1.Pod, name string, attempt int) string {
	return filepath.Join(w.k.podDir(pod.UID), "containers", name, strconv.Itoa(attempt))
}

// message returns the termination message of an exited container: its
// termination message file, or with FallbackToLogsOnError and a failure,
// the tail of its log.
func (w *worker) message(c *runtime.Container, spec *corev1.Container) string {
	if m, ok := w.messages[c.ID]; ok {
		return m
	}
	pod, _ := w.snapshot()
	var msg string
	if f, err := os.Open(w.termFile(pod, c.Name, c.Attempt)); err == nil {
		buf := make([]byte, 4096)
		n, _ := f.Read(buf)
		f.Close()
		msg = string(buf[:n])
	}
	if msg == "" && spec.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError && c.ExitCode() != 0 {
		msg = w.logTail(c)
	}
	w.messages[c.ID] = msg
	return msg
}

func (w *worker) logTail(c *runtime.Container) string {
	ctx, cancel := context.WithTimeout(w.k.runCtx, 2*time.Second)
	defer cancel()
	tail := int64(80)
	var b limitedBuffer
	b.max = 2048
	w.k.rt.Logs(ctx, c, runtime.LogOptions{TailLines: &tail}, &b)
	return string(b.buf)
}

// limitedBuffer keeps the last max bytes written.
type limitedBuffer struct {
	buf []byte
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = b.buf[len(b.buf)-b.max:]
	}
	return len(p), nil
}

// hashOf hashes a container spec; a running container whose spec hash
// differs (a new image) is restarted.
func hashOf(c *corev1.Container) string {
	data, _ := json.Marshal(c)
	h := fnv.New64a()
	h.Write(data)
	return strconv.FormatUint(h.Sum64(), 16)
}

// getObject reads an API object (for env and volumes).
func (w *worker) getObject(ctx context.Context, ns, name string, obj kruntime.Object) error {
	return w.k.c.Get(ctx, ns, name, obj)
}
