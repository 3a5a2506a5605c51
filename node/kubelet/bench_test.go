package kubelet_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/internal/testimage"
	"github.com/minicluster/mini/node/kubelet/kubelettest"
)

// BenchmarkPodStartup measures, on one kubelet over the host's Docker, the
// time from creating 10 pods (one echo container each) to all Ready, and
// against it the floor: the same 10 containers started with plain Docker
// create and start on the same network. It reports both and their ratio.
func BenchmarkPodStartup(b *testing.B) {
	const n = 10
	h := kubelettest.Start(b, kubelettest.Options{})
	img := h.Images[testimage.Echo]
	var kube, floor []time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		var wg sync.WaitGroup
		for j := 0; j < n; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.CreatePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("b%d-%d", i, j)},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "echo", Image: img}}}})
			}()
		}
		wg.Wait()
		for j := 0; j < n; j++ {
			h.WaitPod(fmt.Sprintf("b%d-%d", i, j), "Ready", 120*time.Second, kubelettest.Running)
		}
		kube = append(kube, time.Since(start))
		floor = append(floor, dockerFloor(b, h, img, n, i))
	}
	med := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	b.ReportMetric(med(kube).Seconds(), "s/10pods")
	b.ReportMetric(med(floor).Seconds(), "s/10docker-runs")
	b.ReportMetric(float64(med(kube))/float64(med(floor)), "ratio")
}

// dockerFloor starts n echo containers with plain Docker calls on the
// harness's network and returns how long until all run.
func dockerFloor(b *testing.B, h *kubelettest.Harness, img string, n, round int) time.Duration {
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	ids := make([]string, n)
	for j := 0; j < n; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := h.Docker.ContainerCreate(ctx, &container.Config{Image: img, Labels: map[string]string{kubelettest.TestLabel: kubelettest.TestLabelValue, "mini.node": h.Node}},
				&container.HostConfig{NetworkMode: container.NetworkMode(h.Network)},
				&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{h.Network: {}}}, nil, fmt.Sprintf("floor-%s-%d-%d", h.Node, round, j))
			if err != nil {
				b.Error(err)
				return
			}
			ids[j] = resp.ID
			if err := h.Docker.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for _, id := range ids {
		if id != "" {
			h.Docker.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
		}
	}
	return took
}
