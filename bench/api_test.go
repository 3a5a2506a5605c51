package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/store"
)

const (
	numPods     = 10000
	numClients  = 50
	numWatchers = 10
	watchWrites = 2000
)

// Targets from the design: mutating p99 and idle memory.
const (
	targetMutatingP99 = 100 * time.Millisecond
	targetIdleRSSMB   = 60
)

// result is one measured operation.
type result struct {
	name      string
	ops       int
	wall      time.Duration
	lat       []time.Duration
	serverCPU time.Duration // CPU the control plane process used (0: not measured)
	clientCPU time.Duration // CPU the benchmark process used
}

// perOp returns a CPU time per operation in microseconds, "-" if unknown.
func (r result) perOp(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0fµs", float64(d)/float64(r.ops)/1e3)
}

// measured runs f and records the CPU both processes used meanwhile.
func measured(b *testing.B, p *process, f func() result) result {
	s0, c0 := p.cpu(b), selfCPU()
	r := f()
	r.serverCPU, r.clientCPU = p.cpu(b)-s0, selfCPU()-c0
	if p.cmd == nil {
		r.serverCPU = 0 // one process: all of it is in clientCPU
	}
	return r
}

func (r result) rate() float64 { return float64(r.ops) / r.wall.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), r.lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// load runs n operations on workers goroutines; op gets the worker and the
// operation number (worker w runs the numbers congruent to w).
func load(b *testing.B, name string, n, workers int, op func(w, i int) error) result {
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				t0 := time.Now()
				if err := op(w, i); err != nil {
					failed.Store(fmt.Errorf("%s #%d: %w", name, i, err))
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return result{name: name, ops: n, wall: time.Since(start), lat: lat}
}

func benchPod(i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: "default",
			Labels: map[string]string{"app": "bench", "group": strconv.Itoa(i % 100)}},
		// A scheduler that does not run: the control plane's own scheduler
		// leaves these pods alone, so the benchmark's updates are the only
		// writes to them and measure the API server, not conflicts.
		Spec: corev1.PodSpec{SchedulerName: "bench-unscheduled", Containers: []corev1.Container{{
			Name: "app", Image: "registry.example/bench/app:1.0",
			Args:  []string{"--port=8080", "--verbose"},
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			Env:   []corev1.EnvVar{{Name: "MODE", Value: "bench"}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
		}}},
	}
}

// storeBaseline measures raw store transactions (badger on disk, group
// commit) with the same concurrency and value size as the pod creates.
func storeBaseline(b *testing.B, valueSize int) result {
	s, err := store.Open(store.Options{Dir: b.TempDir(), Logf: func(string, ...any) {}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	value := make([]byte, valueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	return load(b, "store Txn create (baseline)", numPods, numClients, func(_, i int) error {
		_, _, err := s.Txn(context.Background(), store.Op{Key: fmt.Sprintf("core/pods/default/pod-%05d", i), Cond: store.CondAbsent,
			Build: func(int64, *store.Entry) ([]byte, any, error) { return value, nil, nil }})
		return err
	})
}

// BenchmarkAPI measures the control plane as a separate process over
// loopback HTTPS: create, get, list and update of 10,000 pods from 50
// clients, watch delivery to 10 watchers, and the process's memory. Run it
// with -benchtime 1x (scripts/bench-api).
func BenchmarkAPI(b *testing.B) {
	for n := 0; n < b.N; n++ {
		benchOnce(b)
	}
}

func benchOnce(b *testing.B) {
	ctx := context.Background()
	p := startProcess(b)
	time.Sleep(time.Second)
	idleRSS := p.rssMB(b)
	cs := p.clients(b, numClients)
	noop := measured(b, p, func() result {
		return load(b, "HTTPS no-op GET /healthz (baseline)", numPods, numClients, func(w, _ int) error {
			_, err := cs[w].Do(ctx, client.Request{Method: http.MethodGet, Path: "/healthz"})
			return err
		})
	})

	pods := make([]*corev1.Pod, numPods)
	create := measured(b, p, func() result {
		return load(b, "create pod", numPods, numClients, func(w, i int) error {
			pods[i] = benchPod(i)
			return cs[w].Create(ctx, pods[i])
		})
	})
	loadedRSS := p.rssMB(b)
	update := measured(b, p, func() result {
		return load(b, "update pod", numPods, numClients, func(w, i int) error {
			pods[i].Labels["rev"] = "2"
			return cs[w].Update(ctx, pods[i])
		})
	})
	podJSON, _ := json.Marshal(pods[0])
	base := storeBaseline(b, len(podJSON))

	get := measured(b, p, func() result {
		return load(b, "get pod", numPods, numClients, func(w, _ int) error {
			return cs[w].Get(ctx, "default", fmt.Sprintf("pod-%05d", rand.IntN(numPods)), &corev1.Pod{})
		})
	})
	listSel := measured(b, p, func() result {
		return load(b, "list 100 of 10k pods (label)", 1000, numClients, func(w, i int) error {
			l := &corev1.PodList{}
			err := cs[w].List(ctx, "default", l, client.ListOptions{LabelSelector: "group=" + strconv.Itoa(i%100)})
			if err == nil && len(l.Items) != numPods/100 {
				err = fmt.Errorf("listed %d pods, want %d", len(l.Items), numPods/100)
			}
			return err
		})
	})
	listAll := measured(b, p, func() result {
		return load(b, "list all 10k pods", 20, 5, func(w, _ int) error {
			l := &corev1.PodList{}
			err := cs[w].List(ctx, "default", l, client.ListOptions{})
			if err == nil && len(l.Items) != numPods {
				err = fmt.Errorf("listed %d pods, want %d", len(l.Items), numPods)
			}
			return err
		})
	})
	watchRes, watchWall := watchDelivery(b, cs)
	finalRSS := p.rssMB(b)

	results := []result{base, noop, create, update, get, listSel, listAll, watchRes}
	printTable(results, watchWall)
	fmt.Printf("RSS: idle %.1f MB (target ≤ %d), after %d pods %.1f MB, at end %.1f MB\n",
		idleRSS, targetIdleRSSMB, numPods, loadedRSS, finalRSS)
	fmt.Printf("ratios: create/store-Txn throughput %.2f, update/store-Txn %.2f, get p50 / no-op p50 %.2f, create p50 / store p50 %.2f\n",
		create.rate()/base.rate(), update.rate()/base.rate(),
		float64(get.pct(0.5))/float64(noop.pct(0.5)), float64(create.pct(0.5))/float64(base.pct(0.5)))
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	fmt.Printf("targets: mutating p99 ≤ %s: create %s, update %s (%s); idle RSS ≤ %d MB: %.1f (%s)\n",
		targetMutatingP99, ms(create.pct(0.99)), ms(update.pct(0.99)),
		verdict(create.pct(0.99) <= targetMutatingP99 && update.pct(0.99) <= targetMutatingP99),
		targetIdleRSSMB, idleRSS, verdict(idleRSS <= targetIdleRSSMB))

	b.ReportMetric(create.rate(), "create/s")
	b.ReportMetric(msf(create.pct(0.99)), "create-p99-ms")
	b.ReportMetric(float64(create.serverCPU)/float64(create.ops)/1e3, "create-server-cpu-µs")
	b.ReportMetric(update.rate(), "update/s")
	b.ReportMetric(msf(update.pct(0.99)), "update-p99-ms")
	b.ReportMetric(get.rate(), "get/s")
	b.ReportMetric(msf(get.pct(0.99)), "get-p99-ms")
	b.ReportMetric(listSel.rate(), "list100/s")
	b.ReportMetric(msf(listAll.pct(0.5)), "listall-p50-ms")
	b.ReportMetric(watchRes.rate(), "watch-events/s")
	b.ReportMetric(msf(watchRes.pct(0.99)), "watch-p99-ms")
	b.ReportMetric(base.rate(), "store-txn/s")
	b.ReportMetric(msf(noop.pct(0.5)), "noop-p50-ms")
	b.ReportMetric(idleRSS, "idle-RSS-MB")
	b.ReportMetric(loadedRSS, "10k-RSS-MB")
}

// watchDelivery opens watchers on pods, makes watchWrites patches from 10
// writers and measures, for every watcher and write, the time from the
// write's acknowledgement to the event's arrival.
func watchDelivery(b *testing.B, cs []*client.Client) (result, time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type key struct{ name, rv string }
	var mu sync.Mutex
	acks := map[key]time.Time{}
	recv := make([]map[key]time.Time, numWatchers)
	var wg sync.WaitGroup
	var last atomic.Int64
	for w := 0; w < numWatchers; w++ {
		wi, err := cs[w].Watch(ctx, &corev1.PodList{}, "default", client.ListOptions{ResourceVersion: currentRV(b, cs[0])})
		if err != nil {
			b.Fatal(err)
		}
		recv[w] = map[key]time.Time{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer wi.Stop()
			for ev := range wi.ResultChan() {
				if ev.Type != watch.Modified {
					continue
				}
				now := time.Now()
				pod := ev.Object.(*corev1.Pod)
				recv[w][key{pod.Name, pod.ResourceVersion}] = now
				last.Store(now.UnixNano())
				if len(recv[w]) == watchWrites {
					return
				}
			}
		}()
	}
	start := time.Now()
	load(b, "watch writes", watchWrites, 10, func(w, i int) error {
		pod := &corev1.Pod{}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{"seq":"%d"}}}`, i)
		err := cs[numWatchers+w].Patch(ctx, pod, "default", fmt.Sprintf("pod-%05d", i), types.MergePatchType, []byte(patch), "")
		if err == nil {
			mu.Lock()
			acks[key{pod.Name, pod.ResourceVersion}] = time.Now()
			mu.Unlock()
		}
		return err
	})
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("watchers did not receive all %d events within 60s", watchWrites)
	}
	var lat []time.Duration
	for w := range recv {
		for k, t := range recv[w] {
			a, ok := acks[k]
			if !ok {
				b.Fatalf("watcher %d got %s@%s that no write acknowledged", w, k.name, k.rv)
			}
			lat = append(lat, max(0, t.Sub(a)))
		}
	}
	wall := time.Unix(0, last.Load()).Sub(start)
	return result{name: fmt.Sprintf("watch delivery (%d watchers)", numWatchers), ops: len(lat), wall: wall, lat: lat}, wall
}

func currentRV(b *testing.B, c *client.Client) string {
	l := &corev1.PodList{}
	if err := c.List(context.Background(), "kube-system", l, client.ListOptions{}); err != nil {
		b.Fatal(err)
	}
	return l.ResourceVersion
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", msf(d)) }
func msf(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

func printTable(rs []result, watchWall time.Duration) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tops\tops/s\tp50\tp99\tmax\tserver CPU/op\tclient CPU/op\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t\n", r.name, r.ops, r.rate(), ms(r.pct(0.5)), ms(r.pct(0.99)), ms(r.pct(1)),
			r.perOp(r.serverCPU), r.perOp(r.clientCPU))
	}
	tw.Flush()
	fmt.Printf("(watch delivery: latency from write ack to event, events/s over %s across all watchers)\n", watchWall.Round(time.Millisecond))
}
