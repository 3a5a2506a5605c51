package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/minicluster/mini/control/store"
)

// The benchmarks here measure the server's own cost per request (no
// network, no TLS) for profiling; bench/ measures the whole process.

func benchServer(b *testing.B, dir string) *Server {
	st, err := store.Open(store.Options{Dir: dir, Attrs: StoreAttrs, Logf: func(string, ...any) {}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	srv, err := New(Config{Store: st, Tokens: map[string]User{"t": {Name: "admin"}}})
	if err != nil {
		b.Fatal(err)
	}
	serve(b, srv, "POST", "/api/v1/namespaces", `{"metadata":{"name":"default"}}`, http.StatusCreated)
	return srv
}

func serve(b *testing.B, srv *Server, method, path, body string, want int) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer t")
	if method == "PATCH" {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	srv.ServeHTTP(w, req)
	if w.Code != want {
		b.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body.String())
	}
	return w
}

func benchPodJSON(i int) string {
	return fmt.Sprintf(`{"metadata":{"name":"pod-%05d","labels":{"app":"bench","group":"%d"}},"spec":{"containers":[{"name":"app","image":"registry.example/bench/app:1.0","args":["--port=8080"],"ports":[{"name":"http","containerPort":8080}],"env":[{"name":"MODE","value":"bench"}],"resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]}}`, i, i%100)
}

// cpuTime is the CPU time the process has used (user and system). On a
// shared machine it is steadier than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureCPU resets the timer and, when the benchmark ends, reports the
// process CPU time per operation.
func measureCPU(b *testing.B) {
	start := cpuTime()
	b.ResetTimer()
	b.Cleanup(func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") })
}

func fillPods(b *testing.B, srv *Server, n int) {
	for i := 0; i < n; i++ {
		serve(b, srv, "POST", "/api/v1/namespaces/default/pods", benchPodJSON(i), http.StatusCreated)
	}
}

// BenchmarkListLabel100Of10k lists the 100 pods of one label out of 10,000.
func BenchmarkListLabel100Of10k(b *testing.B) {
	srv := benchServer(b, "")
	fillPods(b, srv, 10000)
	measureCPU(b)
	for i := 0; i < b.N; i++ {
		w := serve(b, srv, "GET", "/api/v1/namespaces/default/pods?labelSelector=group%3D"+strconv.Itoa(i%100), "", http.StatusOK)
		if i == 0 {
			var l corev1.PodList
			if json.Unmarshal(w.Body.Bytes(), &l); len(l.Items) != 100 {
				b.Fatalf("listed %d pods, want 100", len(l.Items))
			}
		}
	}
}

// BenchmarkListAll10k lists all 10,000 pods.
func BenchmarkListAll10k(b *testing.B) {
	srv := benchServer(b, "")
	fillPods(b, srv, 10000)
	measureCPU(b)
	for i := 0; i < b.N; i++ {
		serve(b, srv, "GET", "/api/v1/namespaces/default/pods", "", http.StatusOK)
	}
}

// BenchmarkCreatePod creates pods one after another on a disk store (each
// waits for its own fsync: this is the latency floor of a write).
func BenchmarkCreatePod(b *testing.B) {
	srv := benchServer(b, b.TempDir())
	measureCPU(b)
	for i := 0; i < b.N; i++ {
		serve(b, srv, "POST", "/api/v1/namespaces/default/pods", benchPodJSON(i), http.StatusCreated)
	}
}

// BenchmarkUpdatePod replaces a pod with a changed label each time.
func BenchmarkUpdatePod(b *testing.B) {
	srv := benchServer(b, b.TempDir())
	w := serve(b, srv, "POST", "/api/v1/namespaces/default/pods", benchPodJSON(0), http.StatusCreated)
	var pod corev1.Pod
	json.Unmarshal(w.Body.Bytes(), &pod)
	measureCPU(b)
	for i := 0; i < b.N; i++ {
		pod.Labels["rev"] = strconv.Itoa(i)
		body, _ := json.Marshal(&pod)
		w := serve(b, srv, "PUT", "/api/v1/namespaces/default/pods/pod-00000", string(body), http.StatusOK)
		pod = corev1.Pod{}
		json.Unmarshal(w.Body.Bytes(), &pod)
	}
}

// BenchmarkCreatePodParallel creates pods from 50 goroutines on a disk
// store, so that writes share fsyncs through the store's group commit, and
// reports the latency percentiles.
func BenchmarkCreatePodParallel(b *testing.B) {
	srv := benchServer(b, b.TempDir())
	var next atomic.Int64
	lat := make([]time.Duration, b.N)
	b.SetParallelism(25)
	measureCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			t0 := time.Now()
			serve(b, srv, "POST", "/api/v1/namespaces/default/pods", benchPodJSON(int(i)), http.StatusCreated)
			lat[i] = time.Since(t0)
		}
	})
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
}
