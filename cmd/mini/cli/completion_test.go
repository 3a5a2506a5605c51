package cli

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/cluster"
	"github.com/minicluster/mini/control/plane/plantest"
)

// completions runs mini's hidden __complete command and returns the
// candidates (without descriptions or the directive line).
func completions(t *testing.T, args ...string) []string {
	t.Helper()
	out, stderr, code := runCLI(t, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %v: exit %d\n%s", args, code, stderr)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" || strings.HasPrefix(l, ":") || strings.HasPrefix(l, "_activeHelp_") {
			continue
		}
		name, _, _ := strings.Cut(l, "\t")
		got = append(got, name)
	}
	return got
}

// fakeDocker replaces the cluster and image listers for one test.
func fakeDocker(t *testing.T, infos []cluster.Info, images []string, err error) {
	t.Helper()
	lc, li := listClusters, listImages
	t.Cleanup(func() { listClusters, listImages = lc, li })
	listClusters = func(context.Context) ([]cluster.Info, error) { return infos, err }
	listImages = func(context.Context) ([]string, error) { return images, err }
}

func TestCompleteClustersNodesImages(t *testing.T) {
	fakeDocker(t, []cluster.Info{
		{Name: "alpha", Nodes: []cluster.NodeInfo{{Name: "mini-alpha-node-0"}, {Name: "mini-alpha-node-1"}}},
		{Name: "beta", Nodes: []cluster.NodeInfo{{Name: "mini-beta-node-0"}}},
	}, []string{"echo:1", "busybox:1.36"}, nil)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"cluster", "delete", ""}, []string{"alpha", "beta"}},
		{[]string{"cluster", "delete", "al"}, []string{"alpha"}},
		{[]string{"cluster", "delete", "alpha", ""}, []string{"beta"}},
		{[]string{"cluster", "stop", ""}, []string{"alpha", "beta"}},
		{[]string{"cluster", "stop", "alpha", ""}, nil},
		{[]string{"cluster", "start", "b"}, []string{"beta"}},
		{[]string{"kubeconfig", "get", ""}, []string{"alpha", "beta"}},
		{[]string{"node", "delete", ""}, []string{"mini-alpha-node-0", "mini-alpha-node-1", "mini-beta-node-0"}},
		{[]string{"node", "delete", "mini-b"}, []string{"mini-beta-node-0"}},
		{[]string{"node", "create", "-c", ""}, []string{"alpha", "beta"}},
		{[]string{"image", "load", "-c", "alpha", "e"}, []string{"echo:1"}},
		{[]string{"cluster", "list", ""}, nil},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish", "powershell"}},
		{[]string{"clu"}, []string{"cluster"}},
	}
	for _, tt := range tests {
		if got := completions(t, tt.args...); !slices.Equal(got, tt.want) {
			t.Errorf("complete %q: got %q, want %q", tt.args, got, tt.want)
		}
	}
	fakeDocker(t, nil, nil, errors.New("Docker is not reachable"))
	if got := completions(t, "cluster", "delete", ""); len(got) != 0 {
		t.Errorf("without Docker: got %q, want no candidates", got)
	}
}

func TestCompletionScripts(t *testing.T) {
	for shell, has := range map[string]string{"bash": "__start_mini", "zsh": "#compdef mini", "fish": "complete -c mini", "powershell": "Register-ArgumentCompleter"} {
		out, _, code := runCLI(t, "completion", shell)
		if code != 0 || !strings.Contains(out, has) {
			t.Errorf("completion %s: exit %d, output lacks %q", shell, code, has)
		}
	}
	if _, _, code := runCLI(t, "completion", "tcsh"); code != ExitUsage {
		t.Errorf("completion tcsh: exit %d, want %d", code, ExitUsage)
	}
}

// TestCompleteObjectNamesAndVersion runs a real control plane in process:
// object names come from it, and mini version prints its version.
func TestCompleteObjectNamesAndVersion(t *testing.T) {
	env := plantest.Start(t, plantest.Options{})
	ctx := context.Background()
	for _, ns := range []string{"team"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct{ ns, name string }{{"default", "web-1"}, {"default", "web-2"}, {"default", "db-0"}, {"team", "api-0"}} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: p.name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "echo:1"}}}}
		if err := env.Client.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("KUBECONFIG", env.Kubeconfig)

	// A verb the way the verbs use the helpers.
	verbs := func(st streams) *cobra.Command {
		p := &cobra.Command{Use: "testverbs"}
		logs := &cobra.Command{Use: "logs", ValidArgsFunction: completeObjectNames("po"), RunE: func(*cobra.Command, []string) error { return nil }}
		get := &cobra.Command{Use: "get", ValidArgsFunction: completeKindThenNames, RunE: func(*cobra.Command, []string) error { return nil }}
		for _, c := range []*cobra.Command{logs, get} {
			addKubeconfigFlags(c)
			c.Flags().StringP("namespace", "n", "", "namespace")
		}
		p.AddCommand(logs, get)
		return p
	}
	extraCommands = append(extraCommands, verbs)
	t.Cleanup(func() { extraCommands = extraCommands[:len(extraCommands)-1] })

	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"testverbs", "logs", "web"}, []string{"web-1", "web-2"}},
		{[]string{"testverbs", "logs", "-n", "team", ""}, []string{"api-0"}},
		{[]string{"testverbs", "get", "pods", "d"}, []string{"db-0"}},
		{[]string{"testverbs", "get", "namespaces", "t"}, []string{"team"}},
		{[]string{"testverbs", "get", "deploy"}, []string{"deployments"}},
		{[]string{"testverbs", "get", "--context", ""}, []string{"mini"}},
	}
	for _, tt := range tests {
		if got := completions(t, tt.args...); !slices.Equal(got, tt.want) {
			t.Errorf("complete %q: got %q, want %q", tt.args, got, tt.want)
		}
	}

	out, stderr, code := runCLI(t, "version")
	if code != 0 || !strings.Contains(out, "Client Version: "+Version) || !strings.Contains(out, "Server Version: v1.34.0-mini+test (at https://127.0.0.1:") {
		t.Errorf("mini version: exit %d\nstdout:\n%s\nstderr:\n%s\nwant client %s and the plane's server version", code, out, stderr, Version)
	}
	out, _, code = runCLI(t, "version", "-o", "json")
	if code != 0 || !strings.Contains(out, `"gitVersion": "v1.34.0-mini+test"`) || !strings.Contains(out, `"clientVersion"`) {
		t.Errorf("mini version -o json: exit %d\n%s", code, out)
	}
}
