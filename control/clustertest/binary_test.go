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
