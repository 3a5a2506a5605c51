package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/minicluster/mini/internal/testimage"
)

// actionYAML is the part of action.yml the test reads.
type actionYAML struct {
	Inputs map[string]struct {
		Default string `json:"default"`
	} `json:"inputs"`
	Runs struct {
		Using string `json:"using"`
		Steps []struct {
			ID    string            `json:"id"`
			Run   string            `json:"run"`
			Shell string            `json:"shell"`
			Env   map[string]string `json:"env"`
		} `json:"steps"`
	} `json:"runs"`
}

// action runs the action's script the way GitHub runs action.yml's step:
// the step's env with ${{ inputs.X }} replaced by with[X] or the input's
// default, GITHUB_ACTION_PATH at the repository, and GitHub's files in gh.
func action(t *testing.T, gh githubFiles, with map[string]string) result {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a actionYAML
	if err := yaml.Unmarshal(data, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	if a.Runs.Using != "composite" || len(a.Runs.Steps) != 1 || a.Runs.Steps[0].Shell != "bash" {
		t.Fatalf("action.yml: want a composite action with one bash step, got %+v", a.Runs)
	}
	for k := range with {
		if _, ok := a.Inputs[k]; !ok {
			t.Fatalf("the test passes input %q, which action.yml does not declare", k)
		}
	}
	step := a.Runs.Steps[0]
	expr := regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)
	env := []string{"GITHUB_ACTION_PATH=" + repoRoot, "GITHUB_ENV=" + gh.env, "GITHUB_PATH=" + gh.path,
		"GITHUB_OUTPUT=" + gh.output, "RUNNER_TEMP=" + gh.temp}
	used := map[string]bool{}
	for k, v := range step.Env {
		v = expr.ReplaceAllStringFunc(v, func(m string) string {
			in, ok := strings.CutPrefix(expr.FindStringSubmatch(m)[1], "inputs.")
			decl, known := a.Inputs[in]
			if !ok || !known {
				t.Fatalf("action.yml step env %s uses %s, which is not a declared input", k, m)
			}
			used[in] = true
			if w, ok := with[in]; ok {
				return w
			}
			return decl.Default
		})
		env = append(env, k+"="+v)
	}
	for in := range a.Inputs {
		if !used[in] {
			t.Errorf("action.yml declares input %q but its step does not pass it to the script", in)
		}
	}
	return run(t, 10*time.Minute, env, "bash", "-c", step.Run)
}

// githubFiles are the files a GitHub runner gives a step.
type githubFiles struct{ env, path, output, temp string }

func newGitHubFiles(t *testing.T) githubFiles {
	dir := t.TempDir()
	gh := githubFiles{env: filepath.Join(dir, "env"), path: filepath.Join(dir, "path"), output: filepath.Join(dir, "output"), temp: filepath.Join(dir, "runner-temp")}
	for _, f := range []string{gh.env, gh.path, gh.output} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(gh.temp, 0o755); err != nil {
		t.Fatal(err)
	}
	return gh
}

// keyValues reads KEY=VALUE lines.
func keyValues(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

func freeLocalPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestAction runs the GitHub action's script as action.yml would (building
// mini as on a runner), with fake GitHub files: a 1-node cluster with a
// published port and a loaded image; kubectl works with the exported
// KUBECONFIG and reaches a pod through the port; the delete invocation
// leaves nothing.
func TestAction(t *testing.T) {
	name := uniqueName("e2e-action")
	t.Cleanup(func() { deleteCluster(t, name) }) // in case the test fails half way
	echo := testImage(t, testimage.Echo)
	port := freeLocalPort(t)
	gh := newGitHubFiles(t)

	r := action(t, gh, map[string]string{"name": name, "nodes": "1", "ports": fmt.Sprintf("%d:30081", port),
		"images": echo, "node-base-image": os.Getenv("MINI_NODE_BASE_IMAGE")})
	if r.Code != 0 {
		t.Fatalf("the action's create: %s", r)
	}
	ghEnv, out := keyValues(t, gh.env), keyValues(t, gh.output)
	kc := ghEnv["KUBECONFIG"]
	if kc == "" || out["kubeconfig"] != kc || out["context"] != "mini-"+name || !strings.HasPrefix(out["api"], "127.0.0.1:") {
		t.Fatalf("GITHUB_ENV %v, GITHUB_OUTPUT %v; want KUBECONFIG and outputs kubeconfig (the same), context mini-%s, api 127.0.0.1:PORT", ghEnv, out, name)
	}
	binDir := strings.TrimSpace(readFile(t, gh.path))
	if v := run(t, time.Minute, nil, filepath.Join(binDir, "mini"), "version", "--client"); v.Code != 0 {
		t.Errorf("GITHUB_PATH %q has no working mini: %s", binDir, v)
	}

	// kubectl with nothing but the exported KUBECONFIG.
	kubectlKC := func(args ...string) string {
		t.Helper()
		r := run(t, 2*time.Minute, []string{"KUBECONFIG=" + kc}, kubectlBin, args...)
		if r.Code != 0 {
			t.Fatalf("KUBECONFIG=%s kubectl %s: %s", kc, strings.Join(args, " "), r)
		}
		return r.Stdout
	}
	node := nodeNames(name, 0)[0]
	if got := kubectlKC("get", "nodes", "-o", "name"); strings.TrimSpace(got) != "node/"+node {
		t.Errorf("kubectl get nodes: %q, want node/%s", got, node)
	}
	if !hasImage(t, node, echo) {
		t.Errorf("image %s is not in node %s", echo, node)
	}
	manifest := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - name: echo
        image: %s
        imagePullPolicy: Never
        env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  type: NodePort
  selector: {app: echo}
  ports: [{port: 8080, nodePort: 30081}]
`, echo)
	applyKC(t, kc, manifest)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitFor(t, 2*time.Minute, "the echo pod to answer through "+url, func() string {
		resp, err := http.Get(url)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !strings.HasPrefix(string(body), "pod=echo-") {
			return fmt.Sprintf("%s: %q", resp.Status, body)
		}
		return ""
	})

	r = action(t, gh, map[string]string{"name": name, "delete": "true"})
	if r.Code != 0 {
		t.Fatalf("the action's delete: %s", r)
	}
	if left := leftovers(t, name); left != "" {
		t.Errorf("after the action's delete these Docker objects remain:\n%s", left)
	}
	if _, err := os.Stat(kc); !os.IsNotExist(err) {
		t.Errorf("the action's delete left the kubeconfig %s (stat: %v)", kc, err)
	}
	// A second delete (a retried cleanup step) succeeds too.
	if r = action(t, gh, map[string]string{"name": name, "delete": "true"}); r.Code != 0 || !strings.Contains(r.Stdout, "does not exist") {
		t.Errorf("a second delete: want exit 0 and \"does not exist\", got %s", r)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// applyKC pipes a manifest into kubectl apply with the kubeconfig kc.
func applyKC(t *testing.T, kc, manifest string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, 2*time.Minute, []string{"KUBECONFIG=" + kc}, kubectlBin, "apply", "-f", f); r.Code != 0 {
		t.Fatalf("kubectl apply (KUBECONFIG=%s): %s\nmanifest:\n%s", kc, r, manifest)
	}
}
