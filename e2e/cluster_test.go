package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wantNodes fails unless exactly the named nodes are Ready.
func wantNodes(t *testing.T, context string, names ...string) map[string]string {
	t.Helper()
	var got map[string]string
	waitFor(t, 60*time.Second, fmt.Sprintf("nodes %v to be Ready", names), func() string {
		got = nodeStates(t, context)
		if len(got) != len(names) {
			return fmt.Sprintf("%d nodes: %v", len(got), got)
		}
		for _, n := range names {
			if !strings.HasPrefix(got[n], "True@") {
				return fmt.Sprintf("%s is %q (all: %v)", n, got[n], got)
			}
		}
		return ""
	})
	return got
}

func nodeNames(cluster string, idx ...int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, fmt.Sprintf("mini-%s-node-%d", cluster, i))
	}
	return out
}

// buildTestImage builds a tiny image on the host (labelled for cleanup) and
// removes it when the test ends.
func buildTestImage(t *testing.T) string {
	t.Helper()
	ref := uniqueName("mini-e2e-load") + ":1"
	var ctx bytes.Buffer
	tw := tar.NewWriter(&ctx)
	for name, body := range map[string]string{"Dockerfile": "FROM scratch\nCOPY hello /hello\n", "hello": "hello from the host\n"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	cmd := exec.Command("docker", "build", "-q", "-t", ref, "--label", "mini.test=docker-cluster", "-")
	cmd.Stdin = &ctx
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", ref, err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", ref).Run() })
	return ref
}

// hasImage reports whether a node's inner Docker has ref.
func hasImage(t *testing.T, node, ref string) bool {
	t.Helper()
	return run(t, time.Minute, nil, "docker", "exec", node, "docker", "image", "inspect", ref).Code == 0
}

func TestClusterLifecycle(t *testing.T) {
	name := uniqueName("e2e-life")
	ctx := "mini-" + name
	createCluster(t, name, "--nodes", "3")
	before := wantNodes(t, ctx, nodeNames(name, 0, 1, 2)...)
	kubectl(t, "--context", ctx, "create", "configmap", "survivor", "--from-literal=k=v")

	r := runMini(t, "cluster", "list")
	if r.Code != 0 || !strings.Contains(r.Stdout, name) || !strings.Contains(r.Stdout, "3/3") || !strings.Contains(r.Stdout, "running") {
		t.Fatalf("mini cluster list does not show %s with 3/3 nodes running: %s", name, r)
	}

	// The node agent restarts a dockerd that dies.
	node0 := nodeNames(name, 0)[0]
	if r := run(t, time.Minute, nil, "docker", "exec", node0, "sh", "-c", "kill -9 $(pidof dockerd)"); r.Code != 0 {
		t.Fatalf("kill dockerd in %s: %s", node0, r)
	}
	waitFor(t, 60*time.Second, "the agent to restart dockerd", func() string {
		logs := run(t, time.Minute, nil, "docker", "logs", node0).Stderr
		if !strings.Contains(logs, "dockerd exited (killed by signal 9") || !strings.Contains(logs, "restarting in") {
			return "agent log:\n" + logs
		}
		if r := run(t, time.Minute, nil, "docker", "exec", node0, "docker", "version"); r.Code != 0 {
			return "inner docker does not answer yet: " + r.Stderr
		}
		return ""
	})
	wantNodes(t, ctx, nodeNames(name, 0, 1, 2)...)

	mustMini(t, "cluster", "stop", name)
	for _, n := range nodeNames(name, 0, 1, 2) {
		// SIGTERM: the agent stops dockerd gracefully and exits 0.
		if code := strings.TrimSpace(run(t, time.Minute, nil, "docker", "inspect", "-f", "{{.State.ExitCode}}", n).Stdout); code != "0" {
			t.Errorf("node %s exited %s on stop, want 0 (graceful)", n, code)
		}
		if logs := run(t, time.Minute, nil, "docker", "logs", n).Stderr; !strings.Contains(logs, "dockerd stopped") {
			t.Errorf("node %s's agent did not stop dockerd gracefully; log:\n%s", n, logs)
		}
	}
	if list := mustMini(t, "cluster", "list"); !strings.Contains(list, "stopped") {
		t.Fatalf("after stop, mini cluster list does not say stopped:\n%s", list)
	}
	mustMini(t, "cluster", "start", name)
	after := wantNodes(t, ctx, nodeNames(name, 0, 1, 2)...)
	for n, s := range before {
		if after[n] != s {
			t.Errorf("node %s was %s before the stop and is %s after the start (same IP expected)", n, s, after[n])
		}
	}
	if v := kubectl(t, "--context", ctx, "get", "configmap", "survivor", "-o", "jsonpath={.data.k}"); v != "v" {
		t.Fatalf("configmap created before the stop has data.k=%q after the start, want v", v)
	}

	img := buildTestImage(t)
	mustMini(t, "image", "load", img, "-c", name)
	for _, n := range nodeNames(name, 0, 1, 2) {
		if !hasImage(t, n, img) {
			t.Fatalf("after mini image load, node %s has no image %s", n, img)
		}
	}

	mustMini(t, "node", "create", "-c", name)
	four := wantNodes(t, ctx, nodeNames(name, 0, 1, 2, 3)...)
	if !strings.HasSuffix(four[nodeNames(name, 3)[0]], ".13") {
		t.Errorf("the 4th node's address is %s, want the next free one (.13)", four[nodeNames(name, 3)[0]])
	}
	if !hasImage(t, nodeNames(name, 3)[0], img) {
		t.Errorf("the node added after mini image load has no image %s", img)
	}
	mustMini(t, "node", "delete", nodeNames(name, 3)[0])
	wantNodes(t, ctx, nodeNames(name, 0, 1, 2)...)
	if out := run(t, time.Minute, nil, "docker", "ps", "-aq", "--filter", "name=^/"+nodeNames(name, 3)[0]+"$").Stdout; strings.TrimSpace(out) != "" {
		t.Errorf("node container %s remains after mini node delete", nodeNames(name, 3)[0])
	}

	deleteCluster(t, name)
	if data, _ := os.ReadFile(kubeconfig); strings.Contains(string(data), ctx) {
		t.Errorf("context %s remains in the kubeconfig after delete", ctx)
	}
	if r := runMini(t, "cluster", "delete", name); r.Code != 0 || !strings.Contains(r.Stdout, "does not exist") {
		t.Errorf("deleting a deleted cluster should succeed saying it does not exist; got %s", r)
	}
}

func TestTwoClustersSideBySide(t *testing.T) {
	a, b := uniqueName("e2e-a"), uniqueName("e2e-b")
	createCluster(t, a, "--nodes", "1", "--kubeconfig-switch-context=false")
	createCluster(t, b, "--nodes", "1")
	wantNodes(t, "mini-"+a, nodeNames(a, 0)...)
	wantNodes(t, "mini-"+b, nodeNames(b, 0)...)

	r := runMini(t, "cluster", "create", a, "--nodes", "1")
	if r.Code != 5 || !strings.Contains(r.Stderr, "already exists") {
		t.Fatalf("a second create of %s: want exit 5 and 'already exists', got %s", a, r)
	}
	// The refused create must not have touched the existing cluster.
	wantNodes(t, "mini-"+a, nodeNames(a, 0)...)

	// mini kubeconfig get prints a kubeconfig stock kubectl can use.
	kc := mustMini(t, "kubeconfig", "get", a)
	path := t.TempDir() + "/a.yaml"
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := kubectl(t, "--kubeconfig", path, "get", "nodes", "-o", "name"); strings.TrimSpace(out) != "node/"+nodeNames(a, 0)[0] {
		t.Fatalf("kubectl with mini kubeconfig get %s lists %q", a, out)
	}
}

func TestCreateInterruptedLeavesNothing(t *testing.T) {
	name := uniqueName("e2e-int")
	t.Cleanup(func() { deleteCluster(t, name) })
	cmd := exec.Command(miniBin, "cluster", "create", name, "--nodes", "2")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the control plane container exists: mid-create.
	waitFor(t, 3*time.Minute, "the control plane container to be created", func() string {
		r := run(t, time.Minute, nil, "docker", "ps", "-aq", "--filter", "label=mini.cluster="+name, "--filter", "label=mini.role=control")
		if strings.TrimSpace(r.Stdout) == "" {
			return "not yet; create says: " + out.String()
		}
		return ""
	})
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("an interrupted create exited 0:\n%s", out.String())
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("create did not exit within 2m of SIGINT:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "interrupted") || !strings.Contains(out.String(), "Rolling back") {
		t.Errorf("the interrupted create should say it was interrupted and rolled back:\n%s", out.String())
	}
	if left := leftovers(t, name); left != "" {
		t.Fatalf("an interrupted create left:\n%s\noutput:\n%s", left, out.String())
	}
}

func TestCreateBadInput(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name    string
		args    []string
		env     []string
		code    int
		message string
	}{
		{name: "malformed -p", args: []string{"-p", "8080"}, code: 2, message: "invalid port mapping"},
		{name: "-p to a non-NodePort", args: []string{"-p", "8080:80@loadbalancer"}, code: 2, message: "outside 30000-32767"},
		{name: "host port in use", args: []string{"-p", fmt.Sprintf("%d:30080", busyPort)}, code: 2, message: "already in use"},
		{name: "API port in use", args: []string{"--api-port", fmt.Sprint(busyPort)}, code: 2, message: "already in use"},
		{name: "unknown base image", args: []string{"--node-base-image", "mini-e2e-no-such-image:0"}, code: 2, message: "could not be pulled"},
		{name: "zero nodes", args: []string{"--nodes", "0"}, code: 2, message: "1 to"},
		{name: "bad name", args: nil, code: 2, message: "invalid cluster name"},
		{name: "Docker not running", env: []string{"DOCKER_HOST=unix:///nonexistent"}, code: 4, message: "Docker is not reachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := uniqueName("e2e-bad")
			if tt.name == "bad name" {
				name = "Bad_Name"
			}
			r := run(t, 5*time.Minute, tt.env, miniBin, append([]string{"cluster", "create", name}, tt.args...)...)
			if r.Code != tt.code || !strings.Contains(r.Stderr, tt.message) {
				t.Fatalf("want exit %d and %q, got %s", tt.code, tt.message, r)
			}
			if left := leftovers(t, name); left != "" {
				t.Fatalf("a refused create left:\n%s", left)
			}
		})
	}
}
