package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/minicluster/mini/control/client"
)

// Recorder writes core/v1 Events about objects, the way kubectl describe
// shows them. Repeats of the same event within ten minutes bump its count
// instead of creating a new one. Writes are asynchronous and best effort:
// a controller never waits for or fails on an event.
type Recorder struct {
	c         *client.Client
	component string
	clk       clock.Clock
	mu        sync.Mutex
	seen      map[string]*corev1.Event
	ch        chan *corev1.Event
}

// NewRecorder returns a recorder reporting as component (e.g.
// "deployment-controller"). Run must be called to write events.
func NewRecorder(c *client.Client, component string, clk clock.Clock) *Recorder {
	return &Recorder{c: c, component: component, clk: clk, seen: map[string]*corev1.Event{}, ch: make(chan *corev1.Event, 1024)}
}

// Eventf records an event of type (Normal or Warning) about obj.
func (r *Recorder) Eventf(obj runtime.Object, typ, reason, format string, args ...any) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind == "" {
		if info, err := client.InfoFor(obj); err == nil {
			gvk = info.GVK()
		}
	}
	ref := corev1.ObjectReference{
		Kind: gvk.Kind, APIVersion: gvk.GroupVersion().String(), Namespace: m.GetNamespace(),
		Name: m.GetName(), UID: m.GetUID(), ResourceVersion: m.GetResourceVersion(),
	}
	msg := fmt.Sprintf(format, args...)
	ns := m.GetNamespace()
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	now := metav1.NewTime(r.clk.Now())
	key := strings.Join([]string{string(ref.UID), ref.Name, typ, reason, msg}, "\x00")
	r.mu.Lock()
	ev, ok := r.seen[key]
	if ok && r.clk.Since(ev.LastTimestamp.Time) < 10*time.Minute {
		ev = ev.DeepCopy()
		ev.Count++
		ev.LastTimestamp = now
	} else {
		ev = &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", m.GetName(), now.UnixNano()), Namespace: ns},
			InvolvedObject: ref, Reason: reason, Message: msg, Type: typ, Count: 1,
			FirstTimestamp: now, LastTimestamp: now,
			Source:              corev1.EventSource{Component: r.component},
			ReportingController: r.component, ReportingInstance: r.component,
		}
	}
	r.seen[key] = ev
	if len(r.seen) > 4096 {
		// Evict a quarter, in map order (random): amortized O(1) per event,
		// where scanning for expired entries on every event was O(n).
		for k := range r.seen {
			delete(r.seen, k)
			if len(r.seen) <= 3072 {
				break
			}
		}
	}
	r.mu.Unlock()
	select {
	case r.ch <- ev:
	default: // overloaded: drop, as Kubernetes's broadcaster does
	}
}

// Run writes events until ctx ends.
func (r *Recorder) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-r.ch:
			r.write(ctx, ev)
		}
	}
}

func (r *Recorder) write(ctx context.Context, ev *corev1.Event) {
	out := ev.DeepCopy()
	if ev.Count > 1 {
		patch := fmt.Sprintf(`{"count":%d,"lastTimestamp":%q}`, ev.Count, ev.LastTimestamp.UTC().Format(time.RFC3339))
		if err := r.c.Patch(ctx, out, ev.Namespace, ev.Name, types.MergePatchType, []byte(patch), ""); err == nil {
			return
		}
	}
	out.ResourceVersion = ""
	_ = r.c.Create(ctx, out)
}
