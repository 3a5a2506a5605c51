package kubelet_test

import (
	"context"
	"log"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minicluster/mini/node/kubelet"
	"github.com/minicluster/mini/node/kubelet/kubelettest"
)

// TestRunNodeRestartsOnSIGHUP runs the kubelet as a node agent does and
// restarts it with SIGHUP: the pod keeps its containers.
func TestRunNodeRestartsOnSIGHUP(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{NoKubelet: true})
	ctx, cancel := context.WithCancel(h.Ctx)
	logs := &syncWriter{b: &strings.Builder{}}
	done := make(chan error, 1)
	go func() {
		done <- kubelet.RunNode(ctx, kubelet.NodeConfig{Client: h.NodeClient, NodeName: h.Node, NodeIP: "127.0.0.1",
			DockerSocket: "/var/run/docker.sock", StateDir: h.StateDir, ListenAddr: "127.0.0.1:0",
			Logger: log.New(logs, "", 0), PauseBinary: kubelettest.MiniBinary()})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunNode: %v", err)
		}
	}()
	p := echoPod(h, "survivor")
	h.CreatePod(p)
	p = h.WaitPod("survivor", "Running", 90*time.Second, kubelettest.Running)
	before := ids(h.Pod(p))
	port := h.AgentPort()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for h.AgentPort() == port {
		if time.Now().After(deadline) {
			t.Fatalf("no new kubelet published its agent within 30s of SIGHUP; log:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	if after := ids(h.Pod(p)); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("containers changed across the kubelet restart:\nbefore %v\nafter  %v", before, after)
	}
	h.WaitPod("survivor", "Running", time.Second, kubelettest.Running)
	if !strings.Contains(logs.String(), "SIGHUP: restarting the kubelet") {
		t.Errorf("log does not tell of the restart:\n%s", logs.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
