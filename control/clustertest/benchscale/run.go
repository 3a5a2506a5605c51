package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/node/heartbeat"
	"github.com/minicluster/mini/node/sim"
)

const ns = "bench"

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "example.com/app:1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
		}}},
	}
}

// workload returns the objects to apply: Deployments, or bare pods.
func workload(cfg config, bare bool) []runtime.Object {
	var out []runtime.Object
	for d := 0; d < cfg.deployments; d++ {
		app := fmt.Sprintf("d%03d", d)
		if bare || cfg.mode == "pods" {
			for r := 0; r < cfg.replicas; r++ {
				t := podTemplate(app)
				out = append(out, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%03d", app, r), Namespace: ns, Labels: t.Labels}, Spec: t.Spec})
			}
			continue
		}
		n := int32(cfg.replicas)
		out = append(out, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
			Spec: appsv1.DeploymentSpec{Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				Template: podTemplate(app)},
		})
	}
	return out
}

// createAll creates objs with n workers and returns how long it took.
func createAll(ctx context.Context, c *client.Client, objs []runtime.Object, n int) (time.Duration, error) {
	start := time.Now()
	work := make(chan runtime.Object)
	var (
		wg   sync.WaitGroup
		once sync.Once
		ferr error
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				if err := c.Create(ctx, o); err != nil {
					once.Do(func() { ferr = err })
				}
			}
		}()
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	return time.Since(start), ferr
}

func createNamespace(ctx context.Context, c *client.Client) error {
	return c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
}

// baseline creates the workload's pods on a plane with nothing else running.
func baseline(ctx context.Context, cfg config) (time.Duration, error) {
	ch, err := startPlane(false, cfg, "", "")
	if err != nil {
		return 0, err
	}
	c := ch.admin
	defer ch.stop()
	if err := createNamespace(ctx, c); err != nil {
		return 0, err
	}
	return createAll(ctx, c, workload(cfg, true), cfg.workers)
}

func runOnce(ctx context.Context, cfg config, last bool) (result, error) {
	r := result{pods: cfg.deployments * cfg.replicas}
	var err error
	if !cfg.skipBaseline {
		if r.baseline, err = baseline(ctx, cfg); err != nil {
			return r, fmt.Errorf("baseline: %w", err)
		}
	}
	profile, memProfile := "", ""
	if last {
		profile, memProfile = cfg.cpuProfile, cfg.memProfile
	}
	ch, err := startPlane(true, cfg, profile, memProfile)
	if err != nil {
		return r, err
	}
	c := ch.admin
	defer ch.stop()
	stopSampling := ch.sampleMemory()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	ready, simDone := make(chan struct{}), make(chan error, 1)
	start := time.Now()
	go func() {
		simDone <- sim.Run(simCtx, ch.node, sim.Options{Count: cfg.nodes, Prefix: "sim", Workers: 64,
			Heartbeat: heartbeat.Timing{Interval: 2500 * time.Millisecond, LeaseDuration: 10 * time.Second},
			OnReady:   func([]string) { close(ready) }})
	}()
	select {
	case <-ready:
		r.nodesReady = time.Since(start)
	case err := <-simDone:
		return r, fmt.Errorf("simulated nodes: %w", err)
	case <-ctx.Done():
		return r, errors.New("simulated nodes were not Ready in time")
	}
	if err := createNamespace(ctx, c); err != nil {
		return r, err
	}
	if last && cfg.simProfile != "" {
		f, err := os.Create(cfg.simProfile)
		if err != nil {
			return r, err
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	w, err := watchPods(ctx, c, r.pods)
	if err != nil {
		return r, err
	}
	p := startProbe(ctx, ch.probe)
	planeCPU0, err := ch.cpuTime()
	if err != nil {
		return r, err
	}
	selfCPU0 := selfCPU()
	t0 := time.Now()
	go w.progress(ctx)
	applied, err := createAll(ctx, c, workload(cfg, false), cfg.workers)
	if err != nil {
		return r, fmt.Errorf("apply: %w", err)
	}
	fmt.Fprintf(os.Stderr, "  applied in %s\n", applied.Round(time.Millisecond))
	if err := w.wait(ctx); err != nil {
		return r, err
	}
	r.total, r.scheduled = w.running.Sub(t0), w.bound.Sub(t0)
	planeCPU1, err := ch.cpuTime()
	if err != nil {
		return r, err
	}
	r.planeCPU, r.selfCPU, r.load = planeCPU1-planeCPU0, selfCPU()-selfCPU0, loadAverage()
	lat := p.stop()
	r.probeCount = len(lat)
	r.p50, r.p99, r.m = percentile(lat, 0.50), percentile(lat, 0.99), percentile(lat, 1)
	mem := stopSampling()
	r.rss, r.anon = max(mem.hwm, mem.rss), mem.anon
	return r, nil
}

func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(q*float64(len(d))+0.5) - 1
	return d[min(max(i, 0), len(d)-1)].Round(100 * time.Microsecond)
}

// podWatcher follows the pods of the namespace with a raw watch that
// decodes only what it counts, to load the machine as little as possible.
type podWatcher struct {
	want           int
	bound, running time.Time // when the last pod was bound / went Running
	done           chan error
	nBound, nRun   atomic.Int64
}

type podEvent struct {
	Type   string `json:"type"`
	Object struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
		Spec struct {
			NodeName string `json:"nodeName"`
		} `json:"spec"`
		Status struct {
			Phase string `json:"phase"`
		} `json:"status"`
	} `json:"object"`
}

func watchPods(ctx context.Context, c *client.Client, want int) (*podWatcher, error) {
	body, err := c.Open(ctx, client.Request{Method: http.MethodGet, Path: "/api/v1/namespaces/" + ns + "/pods",
		Query: url.Values{"watch": {"1"}}})
	if err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	w := &podWatcher{want: want, done: make(chan error, 1)}
	go func() {
		defer body.Close()
		dec := json.NewDecoder(body)
		bound, running := map[string]bool{}, map[string]bool{}
		for {
			var ev podEvent
			if err := dec.Decode(&ev); err != nil {
				w.done <- fmt.Errorf("pod watch ended after %d bound, %d running: %w", len(bound), len(running), err)
				return
			}
			o := ev.Object
			if ev.Type == "ERROR" {
				w.done <- fmt.Errorf("pod watch error event after %d bound, %d running", len(bound), len(running))
				return
			}
			if o.Spec.NodeName != "" && !bound[o.Metadata.UID] {
				bound[o.Metadata.UID] = true
				w.bound = time.Now()
				w.nBound.Add(1)
			}
			if o.Status.Phase == string(corev1.PodRunning) && !running[o.Metadata.UID] {
				running[o.Metadata.UID] = true
				w.running = time.Now()
				w.nRun.Add(1)
			}
			if len(running) >= want && len(bound) >= want {
				w.done <- nil
				return
			}
		}
	}()
	return w, nil
}

// progress prints the counts every 5s until ctx ends or the watch is done.
func (w *podWatcher) progress(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for w.nRun.Load() < int64(w.want) {
		select {
		case <-t.C:
			fmt.Fprintf(os.Stderr, "  … %d bound, %d running of %d\n", w.nBound.Load(), w.nRun.Load(), w.want)
		case <-ctx.Done():
			return
		}
	}
}

func (w *podWatcher) wait(ctx context.Context) error {
	for {
		select {
		case err := <-w.done:
			return err
		case <-ctx.Done():
			return fmt.Errorf("timed out with %d of %d pods bound and %d running", w.nBound.Load(), w.want, w.nRun.Load())
		}
	}
}

// probe measures mutating requests (create, update, delete of ConfigMaps)
// while the workload runs, one at a time every 20ms.
type probe struct {
	cancel context.CancelFunc
	done   chan []time.Duration
}

func startProbe(ctx context.Context, c *client.Client) *probe {
	ctx, cancel := context.WithCancel(ctx)
	p := &probe{cancel: cancel, done: make(chan []time.Duration, 1)}
	go func() {
		var lat []time.Duration
		timed := func(f func() error) {
			t := time.Now()
			if err := f(); err == nil {
				lat = append(lat, time.Since(t))
			}
		}
		for i := 0; ctx.Err() == nil; i++ {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("probe-", i), Namespace: ns}, Data: map[string]string{"n": "0"}}
			timed(func() error { return c.Create(ctx, cm) })
			cm.Data["n"] = "1"
			timed(func() error { return c.Update(ctx, cm) })
			timed(func() error { return c.Delete(ctx, &corev1.ConfigMap{}, ns, cm.Name, nil) })
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
		p.done <- lat
	}()
	return p
}

func (p *probe) stop() []time.Duration {
	p.cancel()
	return <-p.done
}
