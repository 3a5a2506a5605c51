package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minicluster/mini/cluster"
	"github.com/minicluster/mini/control/client"
)

// runCLI runs one mini command line in process; it returns stdout, stderr
// and the exit code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), streams{out: &out, errOut: &errOut, in: strings.NewReader("")}, args)
	return out.String(), errOut.String(), code
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEverydayErrors runs command lines that go wrong in the usual ways and
// checks the exit code and that the message says what is wrong and what to
// do. (Those needing a Docker engine, a cluster that does not exist and a
// host port in use, are in e2e/config_test.go.)
func TestEverydayErrors(t *testing.T) {
	noSock := "unix://" + filepath.Join(t.TempDir(), "docker.sock")
	emptyKC := writeFile(t, "empty-kubeconfig", "")
	kc := writeFile(t, "kubeconfig", "")
	if err := (client.Kubeconfig{Context: "mini-gone", Server: "https://127.0.0.1:1", Token: "x"}).WriteFile(kc); err != nil {
		t.Fatal(err)
	}
	malformed := writeFile(t, "bad.yaml", "apiVersion: mini.dev/v1alpha1\nkind: Cluster\nnodes: 2\n  name: x\n")
	deployment := writeFile(t, "deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n")
	typo := writeFile(t, "typo.yaml", "apiVersion: mini.dev/v1alpha1\nkind: Cluster\nnodez: 2\n")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		has  []string
	}{
		{"Docker not running", map[string]string{"DOCKER_HOST": noSock}, []string{"cluster", "list"}, ExitDocker,
			[]string{"Docker is not reachable at " + noSock, "Start the Docker engine", "dockerd", "DOCKER_HOST=" + noSock}},
		{"Docker not running, create", map[string]string{"DOCKER_HOST": noSock}, []string{"cluster", "create", "x"}, ExitDocker,
			[]string{"Docker is not reachable"}},
		{"no current context", map[string]string{"KUBECONFIG": emptyKC}, []string{"version"}, ExitNotFound,
			[]string{"no current context", "mini cluster create NAME"}},
		{"context not in the kubeconfig", map[string]string{"KUBECONFIG": kc}, []string{"version", "--context", "mini-nope"}, ExitNotFound,
			[]string{`context "mini-nope" is not in the kubeconfig`}},
		{"API server not answering", map[string]string{"KUBECONFIG": kc}, []string{"version"}, ExitError,
			[]string{"https://127.0.0.1:1 does not answer", "is the cluster running?"}},
		{"malformed YAML", nil, []string{"cluster", "create", "--config", malformed}, ExitUsage,
			[]string{malformed + ":4: malformed YAML"}},
		{"unknown kind", nil, []string{"cluster", "create", "--config", deployment}, ExitUsage,
			[]string{deployment + `:2: kind: "Deployment" is not a mini cluster config (want kind: Cluster)`, "mini apply -f"}},
		{"unknown field", nil, []string{"cluster", "create", "--config", typo}, ExitUsage,
			[]string{typo + ":3: nodez: unknown field", "nodes"}},
		{"config file missing", nil, []string{"cluster", "create", "--config", "/nonexistent/c.yaml"}, ExitUsage,
			[]string{"/nonexistent/c.yaml", "no such file"}},
		{"bad cluster name", nil, []string{"cluster", "create", "Bad_Name"}, ExitUsage, []string{`invalid cluster name "Bad_Name"`}},
		{"unknown command", nil, []string{"clusters"}, ExitUsage, []string{`unknown command "clusters" for "mini"`}},
		{"unknown subcommand", nil, []string{"cluster", "remove"}, ExitUsage, []string{`unknown command "remove" for "mini cluster"`}},
		{"unknown flag", nil, []string{"cluster", "create", "x", "--nodess", "2"}, ExitUsage, []string{"unknown flag: --nodess", "mini cluster create --help"}},
		{"missing argument", nil, []string{"cluster", "stop"}, ExitUsage, []string{"accepts 1 arg(s), received 0", "mini cluster stop --help"}},
		{"bad --output", nil, []string{"version", "--client", "-o", "xml"}, ExitUsage, []string{`--output "xml"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, stderr, code := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("mini %s: exit %d, want %d; stderr:\n%s", strings.Join(tt.args, " "), code, tt.code, stderr)
			}
			for _, h := range tt.has {
				if !strings.Contains(stderr, h) {
					t.Errorf("mini %s: stderr lacks %q:\n%s", strings.Join(tt.args, " "), h, stderr)
				}
			}
		})
	}
}

// TestClusterErrCodes checks the exit codes and hints the cluster package's
// errors get.
func TestClusterErrCodes(t *testing.T) {
	tests := []struct {
		err  error
		code int
		has  string
	}{
		{&cluster.NotFoundError{What: `cluster "x"`}, ExitNotFound, "mini cluster list shows the clusters"},
		{&cluster.NotFoundError{What: `node "n"`}, ExitNotFound, `node "n" does not exist`},
		{&cluster.ExistsError{Cluster: "x"}, ExitExists, "mini cluster delete x"},
		{&cluster.PortInUseError{Addr: "127.0.0.1:8080", Err: errors.New("bind: address already in use")}, ExitUsage, "host port 127.0.0.1:8080 is already in use"},
		{&cluster.DockerUnreachableError{Host: "unix:///x", Err: errors.New("permission denied")}, ExitDocker, "docker group"},
		{errors.New("boom"), ExitError, "boom"},
	}
	for _, tt := range tests {
		err := clusterErr(tt.err)
		if exitCode(err) != tt.code || !strings.Contains(err.Error(), tt.has) {
			t.Errorf("clusterErr(%T) = %q, exit %d; want exit %d and %q", tt.err, err, exitCode(err), tt.code, tt.has)
		}
	}
}

func TestVerboseLogsDockerCalls(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "docker.sock"))
	_, stderr, code := runCLI(t, "--verbose", "cluster", "list")
	if code != ExitDocker || !strings.Contains(stderr, "docker: HEAD /_ping") {
		t.Errorf("--verbose cluster list without Docker: exit %d, stderr:\n%s\nwant exit %d and the failed HEAD /_ping logged", code, stderr, ExitDocker)
	}
	_, stderr, _ = runCLI(t, "cluster", "list")
	if strings.Contains(stderr, "docker: GET") {
		t.Errorf("without --verbose the Docker calls are logged:\n%s", stderr)
	}
}
