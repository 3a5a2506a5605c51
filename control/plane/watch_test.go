package plane_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/control/api"
	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/plane/plantest"
)

// rawEvent is one watch event as sent on the wire.
type rawEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// meta decodes the event object's metadata.
func (e rawEvent) meta(t *testing.T) metav1.ObjectMeta {
	t.Helper()
	var o struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(e.Object, &o); err != nil {
		t.Fatalf("watch event %s: %v", e.Type, err)
	}
	return o.Metadata
}

// rawWatch is a watch read off the HTTP stream, without client-go.
type rawWatch struct {
	events chan rawEvent
	cancel context.CancelFunc
}

// openWatch starts a watch on configmaps in ns with the query parameters q.
func openWatch(t *testing.T, c *client.Client, ns string, q url.Values) *rawWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	q.Set("watch", "true")
	// The response headers must come at once, not with the first event.
	timer := time.AfterFunc(10*time.Second, cancel)
	body, err := c.Open(ctx, client.Request{Method: http.MethodGet, Path: "/api/v1/namespaces/" + ns + "/configmaps", Query: q})
	if !timer.Stop() {
		t.Fatalf("open watch ?%s: no response headers within 10s (err %v)", q.Encode(), err)
	}
	if err != nil {
		cancel()
		t.Fatalf("open watch ?%s: %v", q.Encode(), err)
	}
	w := &rawWatch{events: make(chan rawEvent, 1000), cancel: cancel}
	go func() {
		defer close(w.events)
		defer body.Close()
		dec := json.NewDecoder(body)
		for {
			var ev rawEvent
			if dec.Decode(&ev) != nil {
				return
			}
			w.events <- ev
		}
	}()
	t.Cleanup(cancel)
	return w
}

// next returns the next event, failing after timeout.
func (w *rawWatch) next(t *testing.T, timeout time.Duration) rawEvent {
	t.Helper()
	select {
	case ev, ok := <-w.events:
		if !ok {
			t.Fatalf("the watch ended while an event was expected")
		}
		return ev
	case <-time.After(timeout):
		t.Fatalf("no watch event within %s", timeout)
	}
	return rawEvent{}
}

// none fails if an event of one of the given types arrives within d.
func (w *rawWatch) none(t *testing.T, d time.Duration, types ...string) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-w.events:
			if !ok {
				return
			}
			for _, typ := range types {
				if ev.Type == typ {
					t.Fatalf("unexpected %s event: %s", ev.Type, ev.Object)
				}
			}
		case <-deadline:
			return
		}
	}
}

// expect reads len(want) events and compares "TYPE name" of each.
func (w *rawWatch) expect(t *testing.T, want ...string) []rawEvent {
	t.Helper()
	var got []rawEvent
	for i, wnt := range want {
		ev := w.next(t, 10*time.Second)
		if s := ev.Type + " " + ev.meta(t).Name; s != wnt {
			t.Fatalf("watch event %d: %q, want %q (object %s)", i, s, wnt, ev.Object)
		}
		got = append(got, ev)
	}
	return got
}

func createCM(t *testing.T, c *client.Client, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string]string{"v": "0"}}
	if err := c.Create(context.Background(), cm); err != nil {
		t.Fatalf("create configmap %s/%s: %v", ns, name, err)
	}
	return cm
}

func updateCM(t *testing.T, c *client.Client, cm *corev1.ConfigMap, v string) {
	t.Helper()
	cm.Data = map[string]string{"v": v}
	if err := c.Update(context.Background(), cm); err != nil {
		t.Fatalf("update configmap %s: %v", cm.Name, err)
	}
}

func rvOf(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q is not a number", s)
	}
	return n
}

func TestWatchResumesFromExactRevision(t *testing.T) {
	env := plantest.Start(t, plantest.Options{})
	c := env.Client
	a := createCM(t, c, "default", "a")
	rvA := a.ResourceVersion
	updateCM(t, c, a, "1")
	rvA2 := a.ResourceVersion
	createCM(t, c, "default", "b")
	createCM(t, c, "kube-system", "elsewhere") // another namespace: never seen

	w := openWatch(t, c, "default", url.Values{"resourceVersion": {rvA}})
	evs := w.expect(t, "MODIFIED a", "ADDED b")
	if got := evs[0].meta(t).ResourceVersion; got != rvA2 {
		t.Errorf("MODIFIED a carries resourceVersion %s, want %s", got, rvA2)
	}
	w.none(t, 300*time.Millisecond, "ADDED", "MODIFIED", "DELETED")

	w2 := openWatch(t, c, "default", url.Values{"resourceVersion": {rvA2}})
	w2.expect(t, "ADDED b")
	if err := c.Delete(context.Background(), &corev1.ConfigMap{}, "default", "a", nil); err != nil {
		t.Fatal(err)
	}
	w2.expect(t, "DELETED a")
}

// TestWatchAnswersBeforeFirstEvent opens a watch on a quiet collection: a
// client must get the response (and so know the watch is established)
// before anything changes.
func TestWatchAnswersBeforeFirstEvent(t *testing.T) {
	env := plantest.Start(t, plantest.Options{})
	c := env.Client
	cm := createCM(t, c, "default", "a")
	w := openWatch(t, c, "default", url.Values{"resourceVersion": {cm.ResourceVersion}})
	updateCM(t, c, cm, "1")
	w.expect(t, "MODIFIED a")
}

func TestWatchWithoutRevisionSendsCurrentState(t *testing.T) {
	env := plantest.Start(t, plantest.Options{})
	c := env.Client
	a := createCM(t, c, "default", "a")
	updateCM(t, c, a, "1")
	createCM(t, c, "default", "b")
	for _, q := range []url.Values{{}, {"resourceVersion": {"0"}}} {
		w := openWatch(t, c, "default", q)
		evs := w.expect(t, "ADDED a", "ADDED b")
		if got := evs[0].meta(t).ResourceVersion; got != a.ResourceVersion {
			t.Errorf("?%s: ADDED a carries resourceVersion %s, want the current %s", q.Encode(), got, a.ResourceVersion)
		}
		w.none(t, 200*time.Millisecond, "ADDED", "MODIFIED")
		updateCM(t, c, a, "2"+q.Encode())
		w.expect(t, "MODIFIED a")
		w.cancel()
	}
}

func TestWatchFromCompactedRevisionIsExpired(t *testing.T) {
	env := plantest.Start(t, plantest.Options{HistorySize: 16})
	c := env.Client
	first := createCM(t, c, "default", "first")
	for i := 0; i < 40; i++ {
		createCM(t, c, "default", fmt.Sprintf("cm-%d", i))
	}
	w := openWatch(t, c, "default", url.Values{"resourceVersion": {first.ResourceVersion}})
	ev := w.next(t, 10*time.Second)
	var st metav1.Status
	if ev.Type != "ERROR" || json.Unmarshal(ev.Object, &st) != nil || st.Kind != "Status" || st.Code != http.StatusGone ||
		st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("watch from compacted revision %s: %s %s, want ERROR with a 410 Expired Status", first.ResourceVersion, ev.Type, ev.Object)
	}
	if _, ok := <-w.events; ok {
		t.Errorf("the watch went on after the ERROR event")
	}

	// The typed client reports it as an Expired error.
	wi, err := c.Watch(context.Background(), &corev1.ConfigMapList{}, "default", client.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer wi.Stop()
	select {
	case e := <-wi.ResultChan():
		if err := apierrors.FromObject(e.Object); e.Type != "ERROR" || !apierrors.IsResourceExpired(err) {
			t.Errorf("client watch from a compacted revision: %s %v, want ERROR Expired", e.Type, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client watch: no event")
	}
}

func TestWatchBookmarks(t *testing.T) {
	old := api.BookmarkInterval
	api.BookmarkInterval = 200 * time.Millisecond
	defer func() { api.BookmarkInterval = old }()
	env := plantest.Start(t, plantest.Options{})
	c := env.Client
	cm := createCM(t, c, "default", "a")

	w := openWatch(t, c, "default", url.Values{"resourceVersion": {cm.ResourceVersion}, "allowWatchBookmarks": {"true"}})
	ev := w.next(t, 5*time.Second)
	if ev.Type != "BOOKMARK" {
		t.Fatalf("idle watch with bookmarks: %s %s, want BOOKMARK", ev.Type, ev.Object)
	}
	var bm corev1.ConfigMap
	if err := json.Unmarshal(ev.Object, &bm); err != nil || bm.Kind != "ConfigMap" || bm.APIVersion != "v1" {
		t.Errorf("bookmark object %s: want a v1 ConfigMap", ev.Object)
	}
	if rvOf(t, bm.ResourceVersion) < rvOf(t, cm.ResourceVersion) {
		t.Errorf("bookmark resourceVersion %s is older than the watch start %s", bm.ResourceVersion, cm.ResourceVersion)
	}
	// A write elsewhere advances the bookmarks past it.
	other := createCM(t, c, "kube-system", "other")
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev := w.next(t, 5*time.Second)
		if ev.Type != "BOOKMARK" {
			t.Fatalf("event %s %s, want only bookmarks", ev.Type, ev.Object)
		}
		if rvOf(t, ev.meta(t).ResourceVersion) >= rvOf(t, other.ResourceVersion) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bookmarks never reached resourceVersion %s", other.ResourceVersion)
		}
	}

	plain := openWatch(t, c, "default", url.Values{"resourceVersion": {cm.ResourceVersion}})
	plain.none(t, 3*api.BookmarkInterval, "BOOKMARK")
}

func TestWatchSendInitialEvents(t *testing.T) {
	env := plantest.Start(t, plantest.Options{})
	c := env.Client
	a := createCM(t, c, "default", "a")
	createCM(t, c, "default", "b")
	updateCM(t, c, a, "1")

	w := openWatch(t, c, "default", url.Values{"sendInitialEvents": {"true"}, "allowWatchBookmarks": {"true"},
		"resourceVersionMatch": {"NotOlderThan"}, "resourceVersion": {a.ResourceVersion}})
	w.expect(t, "ADDED a", "ADDED b")
	ev := w.next(t, 5*time.Second)
	m := ev.meta(t)
	if ev.Type != "BOOKMARK" || m.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
		t.Fatalf("after the initial events: %s %s, want a BOOKMARK annotated %s", ev.Type, ev.Object, metav1.InitialEventsAnnotationKey)
	}
	if rvOf(t, m.ResourceVersion) < rvOf(t, a.ResourceVersion) {
		t.Errorf("initial-events-end bookmark at %s, older than the requested %s", m.ResourceVersion, a.ResourceVersion)
	}
	createCM(t, c, "default", "c")
	w.expect(t, "ADDED c")

	// Without bookmarks the end of the initial events cannot be marked.
	_, err := c.Do(context.Background(), client.Request{Method: http.MethodGet, Path: "/api/v1/namespaces/default/configmaps",
		Query: url.Values{"watch": {"true"}, "sendInitialEvents": {"true"}, "resourceVersionMatch": {"NotOlderThan"}}})
	if !apierrors.IsInvalid(err) {
		t.Errorf("sendInitialEvents without allowWatchBookmarks: %v, want 422 Invalid", err)
	}
}
