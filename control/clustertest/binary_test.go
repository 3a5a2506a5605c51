package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/minicluster/mini/control/client"
)

// buildMini builds the mini binary into dir.
func buildMini(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("finding the module root: %v (%s)", err, out)
	}
	bin := filepath.Join(dir, "mini")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/mini")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/mini: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process runs a command until the test ends; Stop sends SIGTERM.
type process struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer // stderr, for failure messages
	done chan error
}

func startProcess(t *testing.T, name string, args ...string) (*process, *bufio.Scanner) {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), out: &bytes.Buffer{}, done: make(chan error, 1)}
	p.cmd.Stderr = p.out
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.stop(t) })
	return p, bufio.NewScanner(stdout)
}

func (p *process) stop(t *testing.T) error {
	if p.cmd.ProcessState != nil {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		t.Errorf("%s did not stop within 10s of SIGTERM", p.cmd.Path)
		return <-p.done
	}
}

func TestBinaryControlPlaneSimulatedNodesAndKubectl(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed")
	}
	dir := t.TempDir()
	mini := buildMini(t, dir)
	data := filepath.Join(dir, "data")
	plane, _ := startProcess(t, mini, "control-plane", "--data-dir", data, "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	kc := filepath.Join(data, "kubeconfig.yaml")
	WaitFor(t, 30*time.Second, "the control plane to write its kubeconfig", func() (bool, string) {
		_, err := os.Stat(kc)
		return err == nil, plane.out.String()
	})

	nodes, lines := startProcess(t, mini, "node", "simulate", "--kubeconfig", kc, "--count", "3", "--prefix", "bin")
	ready := make(chan string, 1)
	go func() {
		if lines.Scan() {
			ready <- lines.Text()
		}
		close(ready)
	}()
	select {
	case line := <-ready:
		if want := "3 simulated nodes (bin-0 … bin-2) registered and Ready in "; !strings.HasPrefix(line, want) {
			t.Fatalf("mini node simulate printed %q, want a line starting %q", line, want)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("mini node simulate --count 3 did not report its nodes Ready within 60s (does `mini control-plane` run the node IPAM?); its log:\n%s\ncontrol plane log:\n%s",
			nodes.out, plane.out)
	}

	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kc}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	manifest := filepath.Join(dir, "web.yaml")
	os.WriteFile(manifest, []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: example.com/web:1
`), 0o644)
	run("apply", "-f", manifest)
	WaitFor(t, 30*time.Second, "3 web pods Running on the simulated nodes (kubectl get pods; pods that stay Pending without a node mean `mini control-plane` runs no scheduler)", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", kc, "get", "pods", "-l", "app=web",
			"-o", `jsonpath={range .items[*]}{.status.phase}@{.spec.nodeName} {end}`).CombinedOutput()
		if err != nil {
			return false, fmt.Sprintf("%v: %s", err, out)
		}
		f := strings.Fields(string(out))
		for _, s := range f {
			if !strings.HasPrefix(s, "Running@bin-") {
				return false, string(out)
			}
		}
		return len(f) == 3, string(out)
	})
	if out := run("get", "nodes", "-l", "type=simulated", "-o", "name"); strings.Count(out, "node/bin-") != 3 {
		t.Errorf("kubectl get nodes -l type=simulated: %q, want the 3 bin-* nodes", out)
	}
	if err := nodes.stop(t); err != nil {
		t.Errorf("mini node simulate exited with %v after SIGTERM, want 0; log:\n%s", err, nodes.out)
	}
}

// TestKilledSimulateProcessPodsMove is issue 3's must-show with mini's
// default timings: two `mini node simulate` processes with their own
// prefixes, a Deployment spread over both, then kill -9 of one process. Its
// nodes must go NotReady and all replicas must run on the other process's
// nodes within 15 s (mini's nodes declare 5 s leases, pods are evicted 5 s
// after the lease runs out).
func TestKilledSimulateProcessPodsMove(t *testing.T) {
	dir := t.TempDir()
	mini := buildMini(t, dir)
	data := filepath.Join(dir, "data")
	plane, _ := startProcess(t, mini, "control-plane", "--data-dir", data, "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	kc := filepath.Join(data, "kubeconfig.yaml")
	WaitFor(t, 30*time.Second, "the control plane to write its kubeconfig", func() (bool, string) {
		_, err := os.Stat(kc)
		return err == nil, plane.out.String()
	})
	cfg, _, err := client.LoadKubeconfig(kc, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	keep, keepOut := startProcess(t, mini, "node", "simulate", "--kubeconfig", kc, "--count", "2", "--prefix", "keep")
	doomed, doomedOut := startProcess(t, mini, "node", "simulate", "--kubeconfig", kc, "--count", "2", "--prefix", "doomed")
	for _, s := range []*bufio.Scanner{keepOut, doomedOut} {
		if !s.Scan() {
			t.Fatalf("mini node simulate ended before its nodes were Ready; logs:\n%s\n%s", keep.out, doomed.out)
		}
	}
	ctx := context.Background()
	if err := c.Create(ctx, deployment("web", 8, "example.com/web:1")); err != nil {
		t.Fatal(err)
	}
	placed := func(prefix string) (ready, elsewhere int) {
		for _, p := range webPods(t, c) {
			if p.DeletionTimestamp != nil {
				continue
			}
			if strings.HasPrefix(p.Spec.NodeName, prefix) && PodReady(&p) {
				ready++
			} else {
				elsewhere++
			}
		}
		return
	}
	WaitFor(t, 30*time.Second, "8 web pods Ready, some on the doomed nodes", func() (bool, string) {
		onKeep, onDoomed := placed("keep-")
		return onKeep+onDoomed == 8 && onDoomed > 0 && onKeep > 0, fmt.Sprintf("keep %d, elsewhere %d", onKeep, onDoomed)
	})
	start := time.Now()
	if err := doomed.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 60*time.Second, "the doomed nodes not Ready and 8 web pods Ready on the keep nodes", func() (bool, string) {
		nodes := &corev1.NodeList{}
		if err := c.List(ctx, "", nodes, client.ListOptions{}); err != nil {
			return false, err.Error()
		}
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if strings.HasPrefix(n.Name, "doomed-") && cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					return false, n.Name + " is still Ready"
				}
			}
		}
		onKeep, other := placed("keep-")
		return onKeep == 8, fmt.Sprintf("%d Ready on keep nodes, %d not", onKeep, other)
	})
	checkBudget(t, "moving the pods of a killed simulate process", time.Since(start), 15*time.Second)
}

func webPods(t *testing.T, c *client.Client) []corev1.Pod {
	t.Helper()
	l := &corev1.PodList{}
	if err := c.List(context.Background(), "default", l, client.ListOptions{LabelSelector: "app=web"}); err != nil {
		t.Fatal(err)
	}
	return l.Items
}
