package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/minicluster/mini/internal/testimage"
)

// TestConfigFile creates a cluster from a config file, with a flag that
// wins over one of its fields, and checks the Node's labels and taints, the
// loaded image, scheduling against the taint, plain piped output, shell
// completion, mini version and --verbose on it; then a node added later
// registers with the cluster's labels and taints.
func TestConfigFile(t *testing.T) {
	name := uniqueName("e2e-cfg")
	ctx := "mini-" + name
	echo := testImage(t, testimage.Echo)
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	writeConfig(t, file, fmt.Sprintf(`apiVersion: mini.dev/v1alpha1
kind: Cluster
name: %s
nodes: 3            # --nodes 1 wins
nodeLabels:
  e2e: config
nodeTaints:
  - dedicated=e2e:NoSchedule
nodeOverrides:
  - index: 0
    labels: {first: "yes"}
images:
  - %s
`, name, echo))
	t.Cleanup(func() { deleteCluster(t, name) })
	out := mustMini(t, "cluster", "create", "--config", file, "--nodes", "1")
	if strings.ContainsAny(out, "\x1b\r") {
		t.Errorf("piped create output has escape codes or carriage returns:\n%q", out)
	}
	if !strings.Contains(out, "Loading "+echo+" into the nodes") || !strings.Contains(out, "1 node (") {
		t.Errorf("create output lacks the image load step or 1 node:\n%s", out)
	}
	node := nodeNames(name, 0)[0]
	wantNodes(t, ctx, node)
	checkNode(t, ctx, node, map[string]string{"e2e": "config", "first": "yes"}, "dedicated=e2e:NoSchedule")
	if !hasImage(t, node, echo) {
		t.Errorf("image %s was not loaded into %s", echo, node)
	}

	kubectlApply(t, ctx, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: tolerates}
spec:
  tolerations: [{key: dedicated, value: e2e, effect: NoSchedule}]
  nodeSelector: {first: "yes"}
  containers: [{name: echo, image: %[1]s, imagePullPolicy: Never}]
---
apiVersion: v1
kind: Pod
metadata: {name: intolerant}
spec:
  containers: [{name: echo, image: %[1]s, imagePullPolicy: Never}]
`, echo))
	waitFor(t, 2*time.Minute, "pod tolerates to run on "+node, func() string {
		got := kubectl(t, "--context", ctx, "get", "pod", "tolerates", "-o", "jsonpath={.spec.nodeName} {.status.phase}")
		if got != node+" Running" {
			return got
		}
		return ""
	})
	waitFor(t, time.Minute, "pod intolerant to be Unschedulable", func() string {
		got := kubectl(t, "--context", ctx, "get", "pod", "intolerant", "-o", `jsonpath={.status.conditions[?(@.type=="PodScheduled")].reason}`)
		if got != "Unschedulable" {
			return fmt.Sprintf("PodScheduled reason %q", got)
		}
		return ""
	})

	for _, c := range []struct{ args, want string }{
		{"cluster delete " + name[:len(name)-3], name},
		{"node delete " + node[:len(node)-1], node},
		{"node create -c " + name[:len(name)-3], name},
	} {
		if got := mustMini(t, append([]string{"__complete"}, strings.Fields(c.args+" ")...)...); !strings.Contains(got, c.want+"\n") {
			t.Errorf("mini __complete %s: %q lacks %s", c.args, got, c.want)
		}
	}
	if v := mustMini(t, "version", "--context", ctx); !strings.Contains(v, "Server Version: v1.34.0-mini+") {
		t.Errorf("mini version --context %s:\n%s\nwant a Server Version line", ctx, v)
	}
	if r := runMini(t, "--verbose", "kubeconfig", "get", name); r.Code != 0 || !strings.Contains(r.Stderr, "docker: GET /v") || strings.Contains(r.Stdout, "docker:") {
		t.Errorf("mini --verbose kubeconfig get: want the Docker calls on stderr only, got %s", r)
	}

	// A node added later gets every node's labels and taints, not node 0's.
	mustMini(t, "node", "create", "-c", name)
	added := nodeNames(name, 1)[0]
	wantNodes(t, ctx, node, added)
	checkNode(t, ctx, added, map[string]string{"e2e": "config", "first": ""}, "dedicated=e2e:NoSchedule")
}

func writeConfig(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkNode fails unless the Node has the labels (value "" : absent) and
// exactly the taint given (KEY=VALUE:EFFECT).
func checkNode(t *testing.T, ctx, node string, labels map[string]string, taint string) {
	t.Helper()
	var n corev1.Node
	if err := json.Unmarshal([]byte(kubectl(t, "--context", ctx, "get", "node", node, "-o", "json")), &n); err != nil {
		t.Fatal(err)
	}
	for k, v := range labels {
		if got, ok := n.Labels[k]; got != v || (v == "") == ok {
			t.Errorf("node %s label %s = %q (present %v), want %q", node, k, got, ok, v)
		}
	}
	var taints []string
	for _, tt := range n.Spec.Taints {
		taints = append(taints, fmt.Sprintf("%s=%s:%s", tt.Key, tt.Value, tt.Effect))
	}
	if len(taints) != 1 || taints[0] != taint {
		t.Errorf("node %s taints %v, want [%s]", node, taints, taint)
	}
}

// TestConfigEverydayErrors checks the everyday errors that need a Docker
// engine (the others are cmd/mini/cli's TestEverydayErrors): exit code,
// message, and that nothing was left behind.
func TestConfigEverydayErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	name := uniqueName("e2e-err")
	dir := t.TempDir()
	portsFile := filepath.Join(dir, "ports.yaml")
	writeConfig(t, portsFile, fmt.Sprintf("apiVersion: mini.dev/v1alpha1\nkind: Cluster\nname: %s\nports:\n  - %d:30080\n", name, busyPort))
	malformed := filepath.Join(dir, "bad.yaml")
	writeConfig(t, malformed, "apiVersion: mini.dev/v1alpha1\nkind: Cluster\nnodeLabels:\n  a: b\n c: d\n")
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		has  []string
	}{
		{"cluster not found", nil, []string{"cluster", "stop", name}, 3, []string{fmt.Sprintf("cluster %q does not exist", name), "mini cluster list"}},
		{"cluster not found, kubeconfig", nil, []string{"kubeconfig", "get", name}, 3, []string{"does not exist"}},
		{"node not found", nil, []string{"node", "delete", "mini-" + name + "-node-0"}, 3, []string{"does not exist"}},
		{"API port in use", nil, []string{"cluster", "create", name, "--api-port", fmt.Sprint(busyPort)}, 2,
			[]string{fmt.Sprintf("host port 127.0.0.1:%d is already in use", busyPort), "choose another"}},
		{"config port in use", nil, []string{"cluster", "create", "--config", portsFile}, 2, []string{"already in use"}},
		{"image to load missing", nil, []string{"cluster", "create", name, "--load-image", "mini-e2e-absent:1"}, 3,
			[]string{"image mini-e2e-absent:1 in the host's Docker (build or pull it first) does not exist"}},
		{"malformed YAML", nil, []string{"cluster", "create", "--config", malformed}, 2, []string{malformed + ":4: malformed YAML: did not find expected key", "indentation"}},
		{"Docker not running", []string{"DOCKER_HOST=unix://" + filepath.Join(dir, "no.sock")}, []string{"cluster", "list"}, 4,
			[]string{"Docker is not reachable", "Start the Docker engine", "DOCKER_HOST"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, 2*time.Minute, tt.env, miniBin, tt.args...)
			if r.Code != tt.code {
				t.Errorf("mini %s: want exit %d, got %s", strings.Join(tt.args, " "), tt.code, r)
			}
			for _, h := range tt.has {
				if !strings.Contains(r.Stderr, h) {
					t.Errorf("mini %s: stderr lacks %q: %s", strings.Join(tt.args, " "), h, r)
				}
			}
			if left := leftovers(t, name); left != "" {
				t.Errorf("mini %s left Docker objects behind:\n%s", strings.Join(tt.args, " "), left)
			}
		})
	}
}
