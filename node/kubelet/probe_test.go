package kubelet

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
)

// probeServer answers 200 while up, else 500, and counts requests.
type probeServer struct {
	up   atomic.Bool
	hits atomic.Int32
	port int
}

func newProbeServer(t *testing.T) *probeServer {
	s := &probeServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if !s.up.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	s.port, _ = strconv.Atoi(port)
	return s
}

func (s *probeServer) probe() *corev1.Probe {
	return &corev1.Probe{PeriodSeconds: 10, ProbeHandler: corev1.ProbeHandler{
		HTTPGet: &corev1.HTTPGetAction{Host: "127.0.0.1", Path: "/", Port: intstr.FromInt(s.port)}}}
}

// TestReadinessRetriedBeforeFirstSuccess: a readiness probe that failed
// (the server is not listening yet) is tried again within its period, and
// the container is Ready once it answers, long before the next period;
// those extra failures make no events. A liveness probe keeps its period.
func TestReadinessRetriedBeforeFirstSuccess(t *testing.T) {
	ready, live := newProbeServer(t), newProbeServer(t)
	spec := &corev1.Container{Name: "c", ReadinessProbe: ready.probe(), LivenessProbe: live.probe()}
	clk := clocktesting.NewFakeClock(time.Now())
	var mu sync.Mutex
	events := map[probeType]int{}
	pp := newPodProbes(newProber(nil), clk, func() {}, func(_ *corev1.Container, t probeType, _ string) {
		mu.Lock()
		events[t]++
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer pp.stopAll()
	start := clk.Now()
	pp.sync(ctx, []running{{id: "c1", spec: spec, startedAt: start, podIP: "127.0.0.1"}})

	// step moves the fake clock on in 10 ms steps, giving the probes real
	// time to run, until done or 5 s of fake time (half the period) passed.
	step := func(done func() bool) {
		t.Helper()
		for !done() && clk.Since(start) < 5*time.Second {
			time.Sleep(2 * time.Millisecond)
			clk.Step(10 * time.Millisecond)
		}
	}
	step(func() bool { return ready.hits.Load() >= 3 })
	if n := ready.hits.Load(); n < 3 {
		t.Fatalf("readiness probe of a container not ready yet: want tries within its 10 s period, got %d tries in %v", n, clk.Since(start))
	}
	if pp.state("c1", spec).ready {
		t.Fatal("container ready while its readiness probe fails")
	}
	ready.up.Store(true)
	step(func() bool { return pp.state("c1", spec).ready })
	if !pp.state("c1", spec).ready {
		t.Fatalf("want the container Ready once its server answers, still not after %v of its 10 s period (%d tries)", clk.Since(start), ready.hits.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if events[readiness] != 1 {
		t.Errorf("want 1 Unhealthy event (the first, regular, readiness failure), got %d", events[readiness])
	}
	if n := live.hits.Load(); n != 1 || events[liveness] != 1 {
		t.Errorf("liveness probe failing within its first period: want 1 try and 1 event, got %d tries and %d events", n, events[liveness])
	}
}
