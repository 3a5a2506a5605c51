// Package kubelettest runs a real kubelet in a test: a control plane in
// process (plantest), a Node object, a Docker network of its own on the
// host's Docker daemon (standing in for a node's inner dockerd), and the
// kubelet with its agent server on a loopback port. Everything it creates
// in Docker is labelled mini.test=pod-runtime and removed when the test
// ends.
package kubelettest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	dockerclient "github.com/docker/docker/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/pki"
	"github.com/minicluster/mini/control/plane/plantest"
	"github.com/minicluster/mini/internal/testimage"
	"github.com/minicluster/mini/node/kubelet"
	"github.com/minicluster/mini/node/runtime"
)

// TestLabel marks everything the tests create in Docker.
const TestLabel = "mini.test"

// TestLabelValue is this branch's mark.
const TestLabelValue = "pod-runtime"

// Options tune the harness.
type Options struct {
	// BackOffInitial and BackOffMax override the kubelet's restart
	// back-off (defaults: Kubernetes's 10s and 5m).
	BackOffInitial, BackOffMax time.Duration
	// Verbose sends the kubelet's log to the test log.
	Verbose bool
	// NoKubelet leaves starting a kubelet to the test.
	NoKubelet bool
}

// Harness is a running kubelet for one node.
type Harness struct {
	T        testing.TB
	Ctx      context.Context
	Env      *plantest.Env
	Docker   *dockerclient.Client
	Node     string
	Network  string
	Subnet   string
	StateDir string
	// NodeClient authenticates with the node token (as a node agent does).
	NodeClient *client.Client
	Images     map[string]string // test program name → image tag

	opts   Options
	cancel context.CancelFunc
	done   chan error
	K      *kubelet.Kubelet
}

var (
	buildOnce sync.Once
	buildErr  error
	miniBin   string
	images    = map[string]string{}
)

// build compiles mini (for the pause image) and the test images once per
// test binary.
func build(ctx context.Context, dc *dockerclient.Client) error {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mini-kubelettest-")
		if err != nil {
			buildErr = err
			return
		}
		if miniBin, buildErr = testimage.MiniBinary(ctx, dir); buildErr != nil {
			return
		}
		for _, name := range []string{testimage.Echo, testimage.Crash, testimage.Sleep} {
			if images[name], buildErr = testimage.Build(ctx, dc, name); buildErr != nil {
				return
			}
		}
	})
	return buildErr
}

// Start brings up a control plane, a Node and a kubelet for it.
func Start(t testing.TB, o Options) *Harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dc, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	if _, err := dc.Ping(ctx); err != nil {
		t.Fatalf("these tests need a Docker daemon: %v", err)
	}
	bctx, bcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer bcancel()
	if err := build(bctx, dc); err != nil {
		t.Fatalf("building mini and the test images: %v", err)
	}
	env := plantest.Start(t, plantest.Options{})
	h := &Harness{T: t, Ctx: ctx, Env: env, Docker: dc, Node: "pr-" + randHex(4), StateDir: t.TempDir(), Images: images, opts: o}
	h.Network = "mini-test-" + h.Node
	if o.NoKubelet {
		h.Network = kubelet.NodeNetwork // what RunNode creates
	}
	t.Cleanup(h.cleanup)
	h.createNetwork(!o.NoKubelet)
	h.NodeClient = h.nodeClient()
	h.createNode()
	if !o.NoKubelet {
		h.StartKubelet()
	}
	return h
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// createNetwork makes the pod network with a free /24 of 10.250.0.0/16
// (or, unless keep, just finds one).
func (h *Harness) createNetwork(keep bool) {
	labels := map[string]string{TestLabel: TestLabelValue}
	var err error
	for i := 0; i < 20; i++ {
		n, _ := rand.Int(rand.Reader, big.NewInt(254))
		h.Subnet = fmt.Sprintf("10.250.%d.0/24", n.Int64()+1)
		if err = runtime.EnsureNetwork(h.Ctx, h.Docker, h.Network, h.Subnet, labels, nil); err == nil {
			if !keep {
				err = h.Docker.NetworkRemove(h.Ctx, h.Network)
			}
			if err != nil {
				break
			}
			return
		}
		if !strings.Contains(err.Error(), "overlap") {
			break
		}
	}
	h.T.Fatalf("creating the test network: %v", err)
}

func (h *Harness) nodeClient() *client.Client {
	creds, err := pki.Load(h.Env.Dir, nil)
	if err != nil {
		h.T.Fatalf("reading the plane's credentials: %v", err)
	}
	cfg, _, err := client.LoadKubeconfig(h.Env.Kubeconfig, "")
	if err != nil {
		h.T.Fatal(err)
	}
	cfg.Token = creds.Tokens.Node
	c, err := client.New(cfg)
	if err != nil {
		h.T.Fatal(err)
	}
	return c
}

func (h *Harness) createNode() {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: h.Node}, Spec: corev1.NodeSpec{PodCIDR: h.Subnet, PodCIDRs: []string{h.Subnet}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}}}
	if err := h.NodeClient.Create(h.Ctx, n); err != nil {
		h.T.Fatalf("creating node %s: %v", h.Node, err)
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
	if err := h.NodeClient.UpdateStatus(h.Ctx, n); err != nil {
		h.T.Fatalf("node %s status: %v", h.Node, err)
	}
}

// StartKubelet starts a kubelet instance (again, after StopKubelet).
func (h *Harness) StartKubelet() {
	h.T.Helper()
	logger := log.New(io.Discard, "", 0)
	if h.opts.Verbose {
		logger = log.New(testWriter{h.T}, "kubelet: ", log.Lmicroseconds)
	}
	cfg := kubelet.Config{Client: h.NodeClient, NodeName: h.Node, NodeIP: "127.0.0.1", PodCIDR: h.Subnet, Docker: h.Docker,
		Network: h.Network, StateDir: h.StateDir, Logger: logger, ListenAddr: "127.0.0.1:0", PauseBinary: miniBin,
		ExtraLabels: map[string]string{TestLabel: TestLabelValue}, BackOffInitial: h.opts.BackOffInitial, BackOffMax: h.opts.BackOffMax,
		Resync: 2 * time.Second}
	ctx, cancel := context.WithCancel(h.Ctx)
	k, err := kubelet.New(ctx, cfg)
	if err != nil {
		cancel()
		h.T.Fatalf("kubelet: %v", err)
	}
	prev := h.agentPort()
	h.K, h.cancel, h.done = k, cancel, make(chan error, 1)
	go func() { h.done <- k.Run(ctx) }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if p := h.agentPort(); p != 0 && p != prev {
			return
		}
		if time.Now().After(deadline) {
			h.T.Fatalf("the kubelet did not publish its agent server on node %s within 30s", h.Node)
		}
	}
}

// MiniBinary is the mini binary built for the pause image.
func MiniBinary() string { return miniBin }

// AgentPort is the agent port the Node publishes (0 if none).
func (h *Harness) AgentPort() int32 { return h.agentPort() }

// agentPort is the agent port the Node publishes (0 if none).
func (h *Harness) agentPort() int32 {
	n := &corev1.Node{}
	if err := h.Env.Client.Get(h.Ctx, "", h.Node, n); err != nil || n.Annotations[kubelet.ServingCertAnnotation] == "" {
		return 0
	}
	return n.Status.DaemonEndpoints.KubeletEndpoint.Port
}

// StopKubelet stops the kubelet (the pods keep running).
func (h *Harness) StopKubelet() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.T.Errorf("kubelet exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		h.T.Errorf("kubelet did not stop within 15s")
	}
}

// cleanup stops the kubelet and removes every container, volume and the
// network the test made.
func (h *Harness) cleanup() {
	h.StopKubelet()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", runtime.LabelNode+"="+h.Node))
	cs, err := h.Docker.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		h.T.Errorf("cleanup: %v", err)
	}
	for _, c := range cs {
		if err := h.Docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			h.T.Errorf("cleanup: %v", err)
		}
	}
	vs, _ := h.Docker.VolumeList(ctx, volume.ListOptions{Filters: f})
	for _, v := range vs.Volumes {
		h.Docker.VolumeRemove(ctx, v.Name, true)
	}
	if err := h.Docker.NetworkRemove(ctx, h.Network); err != nil && !strings.Contains(err.Error(), "not found") {
		h.T.Errorf("cleanup: removing network %s: %v", h.Network, err)
	}
}

// CreatePod creates a pod bound to the harness's node (namespace default
// unless set).
func (h *Harness) CreatePod(pod *corev1.Pod) *corev1.Pod {
	h.T.Helper()
	if pod.Namespace == "" {
		pod.Namespace = "default"
	}
	pod.Spec.NodeName = h.Node
	if err := h.Env.Client.Create(h.Ctx, pod); err != nil {
		h.T.Fatalf("creating pod %s: %v", pod.Name, err)
	}
	return pod
}

// WaitPod polls the pod until cond holds, failing with its last status
// after timeout.
func (h *Harness) WaitPod(name, what string, timeout time.Duration, cond func(*corev1.Pod) bool) *corev1.Pod {
	h.T.Helper()
	deadline := time.Now().Add(timeout)
	var last *corev1.Pod
	for time.Now().Before(deadline) {
		p := &corev1.Pod{}
		if err := h.Env.Client.Get(h.Ctx, "default", name, p); err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.T.Fatalf("pod %s: waited %v for %s; last status:\n%s", name, timeout, what, Describe(last))
	return nil
}

// Describe renders a pod's status for failure messages.
func Describe(p *corev1.Pod) string {
	if p == nil {
		return "(no pod read)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s podIP=%s\n", p.Status.Phase, p.Status.PodIP)
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(&b, "  condition %s=%s %s %s\n", c.Type, c.Status, c.Reason, c.Message)
	}
	for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, "  container %s ready=%v restarts=%d state=%s last=%s\n", s.Name, s.Ready, s.RestartCount, state(s.State), state(s.LastTerminationState))
	}
	return b.String()
}

func state(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running since " + s.Running.StartedAt.String()
	case s.Terminated != nil:
		return fmt.Sprintf("terminated(%d %s %q)", s.Terminated.ExitCode, s.Terminated.Reason, s.Terminated.Message)
	case s.Waiting != nil:
		return fmt.Sprintf("waiting(%s %q)", s.Waiting.Reason, s.Waiting.Message)
	}
	return "-"
}

// Running reports whether the pod is Running with every container ready.
func Running(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Pod reads the pod's containers from Docker.
func (h *Harness) Pod(p *corev1.Pod) *runtime.PodState {
	h.T.Helper()
	rt, err := runtime.New(runtime.Config{Docker: h.Docker, Node: h.Node, Network: h.Network, PauseImage: "unused"})
	if err != nil {
		h.T.Fatal(err)
	}
	st, err := rt.Pod(h.Ctx, p.UID)
	if err != nil {
		h.T.Fatal(err)
	}
	return st
}

// Events lists the events about a pod, "Reason: message" each.
func (h *Harness) Events(pod string) []string {
	var list corev1.EventList
	if err := h.Env.Client.List(h.Ctx, "default", &list, client.ListOptions{}); err != nil {
		h.T.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name == pod {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	return out
}

// PodDir is where the kubelet keeps the pod's files.
func (h *Harness) PodDir(p *corev1.Pod) string {
	return filepath.Join(h.StateDir, "pods", string(p.UID))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
