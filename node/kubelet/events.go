package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/minicluster/mini/control/client"
)

// recorder writes the kubelet's Events about pods (source component
// "kubelet", host the node). A repeat of an event within ten minutes bumps
// the count of the first instead of creating another. Writes happen in the
// background and are dropped, never waited for, when the API lags.
type recorder struct {
	c    *client.Client
	node string
	clk  clock.Clock
	ch   chan *corev1.Event

	mu   sync.Mutex
	seen map[string]*corev1.Event
}

func newRecorder(c *client.Client, node string, clk clock.Clock) *recorder {
	return &recorder{c: c, node: node, clk: clk, ch: make(chan *corev1.Event, 512), seen: map[string]*corev1.Event{}}
}

// forContainer returns an event function about one container of a pod.
func (r *recorder) forContainer(pod *corev1.Pod, container string) func(typ, reason, format string, args ...any) {
	path := "spec.containers{" + container + "}"
	for _, c := range pod.Spec.InitContainers {
		if c.Name == container {
			path = "spec.initContainers{" + container + "}"
		}
	}
	return func(typ, reason, format string, args ...any) {
		r.event(pod, path, typ, reason, fmt.Sprintf(format, args...))
	}
}

// podEvent records an event about a pod as a whole.
func (r *recorder) podEvent(pod *corev1.Pod, typ, reason, format string, args ...any) {
	r.event(pod, "", typ, reason, fmt.Sprintf(format, args...))
}

func (r *recorder) event(pod *corev1.Pod, fieldPath, typ, reason, msg string) {
	now := metav1.NewTime(r.clk.Now())
	key := string(pod.UID) + "\x00" + fieldPath + "\x00" + reason + "\x00" + msg
	r.mu.Lock()
	ev := r.seen[key]
	if ev != nil && now.Sub(ev.LastTimestamp.Time) < 10*time.Minute {
		ev = ev.DeepCopy()
		ev.Count++
		ev.LastTimestamp = now
	} else {
		ev = &corev1.Event{
			ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace,
				Name: pod.Name + "." + strconv.FormatInt(now.UnixNano(), 16)},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
				UID: pod.UID, ResourceVersion: pod.ResourceVersion, FieldPath: fieldPath},
			Reason: reason, Message: msg, Type: typ, Count: 1, FirstTimestamp: now, LastTimestamp: now,
			Source:              corev1.EventSource{Component: "kubelet", Host: r.node},
			ReportingController: "kubelet", ReportingInstance: r.node,
		}
	}
	r.seen[key] = ev
	if len(r.seen) > 2048 {
		for k, e := range r.seen {
			if now.Sub(e.LastTimestamp.Time) > 10*time.Minute {
				delete(r.seen, k)
			}
		}
	}
	r.mu.Unlock()
	select {
	case r.ch <- ev:
	default:
	}
}

// run writes events until ctx ends.
func (r *recorder) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-r.ch:
			r.write(ctx, ev)
		}
	}
}

func (r *recorder) write(ctx context.Context, ev *corev1.Event) {
	if ev.Count > 1 {
		patch, _ := json.Marshal(map[string]any{"count": ev.Count, "lastTimestamp": ev.LastTimestamp})
		if err := r.c.Patch(ctx, &corev1.Event{}, ev.Namespace, ev.Name, types.MergePatchType, patch, ""); err == nil {
			return
		}
	}
	out := ev.DeepCopy()
	out.ResourceVersion = ""
	_ = r.c.Create(ctx, out)
}
