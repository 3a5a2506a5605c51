package controllers

import (
	"context"
	"encoding/json"
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
// shows them, and keeps their number in check as client-go's
// EventCorrelator does:
//
//   - aggregation: once an object has had more than maxSimilarEvents events
//     of the same type and reason with different messages within
//     eventWindow (a ReplicaSet's "Created pod: …" for each of its pods),
//     further ones fold into one event "(combined from similar events): …"
//     whose count goes up;
//   - deduplication: a repeat of the same event within eventWindow bumps
//     its count instead of creating a new one;
//   - spam filtering: each object may cause spamBurst event writes from one
//     component, then one more every spamRefill.
//
// Writes are asynchronous and best effort: a controller never waits for or
// fails on an event.
type Recorder struct {
	c         *client.Client
	component string
	clk       clock.Clock
	mu        sync.Mutex
	seen      map[string]*corev1.Event // dedup key -> last event written
	similar   map[string]*similarEvents
	spam      map[string]*tokenBucket // per involved object
	ch        chan *corev1.Event
}

// The EventCorrelator's defaults.
const (
	eventWindow      = 10 * time.Minute
	maxSimilarEvents = 10
	spamBurst        = 25
	spamRefill       = 5 * time.Minute
	maxTracked       = 4096 // entries kept per map; a quarter goes when full
)

// similarEvents are the distinct messages of one object's events of one
// type and reason (up to maxSimilarEvents+1 of them are kept).
type similarEvents struct {
	msgs map[string]bool
	last time.Time
}

// tokenBucket allows spamBurst writes, refilled one per spamRefill.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

func (b *tokenBucket) take(now time.Time) bool {
	b.tokens = min(spamBurst, b.tokens+float64(now.Sub(b.last))/float64(spamRefill))
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// NewRecorder returns a recorder reporting as component (e.g.
// "deployment-controller"). Run must be called to write events.
func NewRecorder(c *client.Client, component string, clk clock.Clock) *Recorder {
	return &Recorder{c: c, component: component, clk: clk, seen: map[string]*corev1.Event{},
		similar: map[string]*similarEvents{}, spam: map[string]*tokenBucket{}, ch: make(chan *corev1.Event, 1024)}
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
	if ev := r.correlate(ref, typ, reason, fmt.Sprintf(format, args...)); ev != nil {
		select {
		case r.ch <- ev:
		default: // overloaded: drop, as Kubernetes's broadcaster does
		}
	}
}

// correlate returns the event to write for a new occurrence, or nil when
// the spam filter drops it.
func (r *Recorder) correlate(ref corev1.ObjectReference, typ, reason, msg string) *corev1.Event {
	now := r.clk.Now()
	objKey := strings.Join([]string{ref.Kind, ref.Namespace, ref.Name, string(ref.UID)}, "\x00")
	simKey := strings.Join([]string{objKey, typ, reason}, "\x00")
	key := simKey + "\x00" + msg
	r.mu.Lock()
	defer r.mu.Unlock()
	sim := r.similar[simKey]
	if sim == nil || now.Sub(sim.last) > eventWindow {
		sim = &similarEvents{msgs: map[string]bool{}}
		r.similar[simKey] = sim
		evictSome(r.similar)
	}
	sim.last = now
	if len(sim.msgs) < maxSimilarEvents {
		sim.msgs[msg] = true
	}
	if len(sim.msgs) >= maxSimilarEvents {
		// As client-go: from the maxSimilarEvents-th distinct message on,
		// every event of this type and reason goes to the combined one.
		msg, key = "(combined from similar events): "+msg, simKey
	}
	ev, ok := r.seen[key]
	if ok && now.Sub(ev.LastTimestamp.Time) < eventWindow {
		ev = ev.DeepCopy()
		ev.Count++
		ev.LastTimestamp = metav1.NewTime(now)
		ev.Message = msg
	} else {
		ns := ref.Namespace
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		ev = &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", ref.Name, now.UnixNano()), Namespace: ns},
			InvolvedObject: ref, Reason: reason, Message: msg, Type: typ, Count: 1,
			FirstTimestamp: metav1.NewTime(now), LastTimestamp: metav1.NewTime(now),
			Source:              corev1.EventSource{Component: r.component},
			ReportingController: r.component, ReportingInstance: r.component,
		}
	}
	// The count goes up even when the spam filter drops the write, so the
	// next write carries it.
	r.seen[key] = ev
	evictSome(r.seen)
	b := r.spam[objKey]
	if b == nil {
		b = &tokenBucket{tokens: spamBurst, last: now}
		r.spam[objKey] = b
		evictSome(r.spam)
	}
	if !b.take(now) {
		return nil
	}
	return ev
}

// evictSome drops a quarter of m's entries, in map order (random), once it
// holds more than maxTracked: amortized O(1) per event.
func evictSome[V any](m map[string]V) {
	if len(m) <= maxTracked {
		return
	}
	for k := range m {
		delete(m, k)
		if len(m) <= maxTracked*3/4 {
			return
		}
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
		patch, _ := json.Marshal(map[string]any{"count": ev.Count, "lastTimestamp": ev.LastTimestamp, "message": ev.Message})
		if err := r.c.Patch(ctx, out, ev.Namespace, ev.Name, types.MergePatchType, patch, ""); err == nil {
			return
		}
	}
	out.ResourceVersion = ""
	_ = r.c.Create(ctx, out)
}
