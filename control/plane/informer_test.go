package plane_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/tools/cache"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/plane/plantest"
)

// recordingLW wraps a client ListerWatcher: it counts lists, records the
// options of every watch and the ERROR events watches return, and can hold a
// watch call until the test releases it. classic makes client-go fall back
// from watch-list to list+watch.
type recordingLW struct {
	inner   cache.ListerWatcherWithContext
	classic bool

	mu      sync.Mutex
	lists   int
	watches []metav1.ListOptions
	errors  []error
	hold    map[int]chan struct{} // watch call number -> released when closed
	timeout map[int]int64         // watch call number -> timeoutSeconds to ask for
}

func newRecordingLW(c *client.Client, list runtime.Object, ns string, classic bool) *recordingLW {
	return &recordingLW{inner: c.ListWatch(list, ns, nil).(cache.ListerWatcherWithContext), classic: classic, hold: map[int]chan struct{}{}, timeout: map[int]int64{}}
}

func (l *recordingLW) IsWatchListSemanticsUnSupported() bool { return l.classic }

func (l *recordingLW) List(o metav1.ListOptions) (runtime.Object, error) {
	return l.ListWithContext(context.Background(), o)
}

func (l *recordingLW) Watch(o metav1.ListOptions) (watch.Interface, error) {
	return l.WatchWithContext(context.Background(), o)
}

func (l *recordingLW) ListWithContext(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
	l.mu.Lock()
	l.lists++
	l.mu.Unlock()
	return l.inner.ListWithContext(ctx, o)
}

func (l *recordingLW) WatchWithContext(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	l.mu.Lock()
	l.watches = append(l.watches, o)
	gate := l.hold[len(l.watches)]
	if s, ok := l.timeout[len(l.watches)]; ok {
		o.TimeoutSeconds = &s
	}
	l.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	w, err := l.inner.WatchWithContext(ctx, o)
	if err != nil {
		return nil, err
	}
	fw := watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
		if e.Type == watch.Error {
			l.mu.Lock()
			l.errors = append(l.errors, apierrors.FromObject(e.Object))
			l.mu.Unlock()
		}
		return e, true
	})
	return fw, nil
}

// holdWatch makes watch call n wait until the returned func is called.
func (l *recordingLW) holdWatch(n int) func() {
	ch := make(chan struct{})
	l.mu.Lock()
	l.hold[n] = ch
	l.mu.Unlock()
	return sync.OnceFunc(func() { close(ch) })
}

func (l *recordingLW) snapshot() (lists int, watches []metav1.ListOptions, errs []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lists, append([]metav1.ListOptions(nil), l.watches...), append([]error(nil), l.errors...)
}

// podEvents records an informer's handler calls as "add p1", "update p1"...
type podEvents struct{ ch chan string }

func (e podEvents) handler() cache.ResourceEventHandlerFuncs {
	name := func(o any) string {
		if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
			o = d.Obj
		}
		return o.(*corev1.Pod).Name
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { e.ch <- "add " + name(o) },
		UpdateFunc: func(_, o any) { e.ch <- "update " + name(o) },
		DeleteFunc: func(o any) { e.ch <- "delete " + name(o) },
	}
}

func (e podEvents) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-e.ch:
			if got != w {
				t.Fatalf("informer event %q, want %q", got, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("informer: no event within 10s, want %q", w)
		}
	}
}

func newPod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}}}
}

// informerModes are the two ways client-go fills an informer: a watch with
// sendInitialEvents (WatchListClient, client-go's default) and the classic
// list then watch.
var informerModes = []struct {
	name    string
	classic bool
}{{"watch-list", false}, {"list-watch", true}}

func TestPodInformer(t *testing.T) {
	if !clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient) {
		t.Fatal("client-go's WatchListClient feature is off; the watch-list mode would not be exercised")
	}
	for _, mode := range informerModes {
		t.Run(mode.name, func(t *testing.T) {
			env := plantest.Start(t, plantest.Options{})
			c := env.Client
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for _, n := range []string{"old-1", "old-2"} {
				if err := c.Create(ctx, newPod(n)); err != nil {
					t.Fatal(err)
				}
			}
			lw := newRecordingLW(c, &corev1.PodList{}, "", mode.classic)
			inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
			ev := podEvents{make(chan string, 100)}
			inf.AddEventHandler(ev.handler())
			go inf.RunWithContext(ctx)
			if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
				t.Fatal("informer did not sync")
			}
			got := []string{<-ev.ch, <-ev.ch}
			sort.Strings(got)
			if strings.Join(got, ",") != "add old-1,add old-2" {
				t.Fatalf("initial events %v, want adds of old-1 and old-2", got)
			}
			lists, watches, _ := lw.snapshot()
			if mode.classic && (lists != 1 || len(watches) != 1 || watches[0].SendInitialEvents != nil) {
				t.Errorf("list-watch: %d lists and watches %+v, want one list and one plain watch", lists, watches)
			}
			if !mode.classic && (lists != 0 || len(watches) != 1 || watches[0].SendInitialEvents == nil || !*watches[0].SendInitialEvents) {
				t.Errorf("watch-list: %d lists and watches %+v, want no list and one watch with sendInitialEvents", lists, watches)
			}

			p := newPod("p1")
			if err := c.Create(ctx, p); err != nil {
				t.Fatal(err)
			}
			ev.expect(t, "add p1")
			p.Labels = map[string]string{"a": "b"}
			if err := c.Update(ctx, p); err != nil {
				t.Fatal(err)
			}
			ev.expect(t, "update p1")
			if err := c.Delete(ctx, &corev1.Pod{}, "default", "p1", nil); err != nil {
				t.Fatal(err)
			}
			ev.expect(t, "delete p1")
			obj, ok, _ := inf.GetStore().GetByKey("default/old-1")
			if !ok || obj.(*corev1.Pod).UID == "" {
				t.Errorf("informer cache lost default/old-1")
			}
		})
	}
}

// TestInformerRelistsAfterFallingBehind holds an informer's watch while more
// writes than the server's history keeps are made, so that the watch it
// then opens is answered with 410 Expired; the informer must relist and end
// with exactly the server's state.
func TestInformerRelistsAfterFallingBehind(t *testing.T) {
	for _, mode := range informerModes {
		t.Run(mode.name, func(t *testing.T) {
			env := plantest.Start(t, plantest.Options{HistorySize: 16})
			c := env.Client
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			lw := newRecordingLW(c, &corev1.ConfigMapList{}, "default", mode.classic)
			// The server ends the first watch after 2s, as it ends every
			// watch after its timeout; the informer's next watch is held.
			lw.timeout[1] = 2
			release := lw.holdWatch(2)
			defer release()
			inf := cache.NewSharedIndexInformer(lw, &corev1.ConfigMap{}, 0, cache.Indexers{})
			go inf.RunWithContext(ctx)
			if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
				t.Fatal("informer did not sync")
			}
			seed := createCM(t, c, "default", "seed")
			waitInformerState(t, inf, map[string]string{"seed": seed.ResourceVersion})

			waitWatchCalls(t, lw, 2)
			var cms []*corev1.ConfigMap
			for i := 0; i < 40; i++ {
				cms = append(cms, createCM(t, c, "default", fmt.Sprintf("cm-%d", i)))
			}
			for _, cm := range cms[:10] {
				updateCM(t, c, cm, "changed")
			}
			for _, cm := range cms[30:] {
				if err := c.Delete(ctx, &corev1.ConfigMap{}, "default", cm.Name, nil); err != nil {
					t.Fatal(err)
				}
			}
			release()

			want := map[string]string{}
			list := &corev1.ConfigMapList{}
			if err := c.List(ctx, "default", list, client.ListOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, cm := range list.Items {
				want[cm.Name] = cm.ResourceVersion
			}
			waitInformerState(t, inf, want)
			_, _, errs := lw.snapshot()
			expired := false
			for _, err := range errs {
				expired = expired || apierrors.IsResourceExpired(err)
			}
			if !expired {
				t.Errorf("the held watch did not get 410 Expired (errors seen: %v); the test did not make the informer fall behind", errs)
			}
		})
	}
}

func waitWatchCalls(t *testing.T, lw *recordingLW, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, w, _ := lw.snapshot(); len(w) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the informer did not open watch number %d within 20s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitInformerState(t *testing.T, inf cache.SharedIndexInformer, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := map[string]string{}
		for _, o := range inf.GetStore().List() {
			cm := o.(*corev1.ConfigMap)
			got[cm.Name] = cm.ResourceVersion
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("informer cache did not converge within 30s:\ngot  %v\nwant %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
