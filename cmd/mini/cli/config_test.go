package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/minicluster/mini/cluster"
)

// TestConfigInitParsesBack checks that mini config init's example parses,
// with the values it shows, and that each field shown commented out parses
// too once uncommented.
func TestConfigInitParsesBack(t *testing.T) {
	out, _, code := runCLI(t, "config", "init", "web")
	if code != 0 {
		t.Fatalf("mini config init: exit %d", code)
	}
	o, err := cluster.ParseConfig("example.yaml", []byte(out), cluster.CreateOptions{Nodes: 1})
	if err != nil {
		t.Fatalf("the example does not parse: %v\n%s", err, out)
	}
	if o.Name != "web" || o.Nodes != 2 || len(o.Ports) != 1 || o.Ports[0].NodePort != 30080 || o.Node.Labels["env"] != "dev" ||
		o.PerNode[1].Labels["disk"] != "ssd" || len(o.PerNode[1].Taints) != 1 || len(o.Images) != 0 {
		t.Errorf("the example parsed to %+v; want name web, 2 nodes, port 8080:30080, env=dev, node 1 disk=ssd with a taint, no images", o)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("the example's options do not validate: %v", err)
	}
	commented := regexp.MustCompile(`(?m)^# (\w+): .*$`)
	found := 0
	for _, m := range commented.FindAllStringSubmatch(out, -1) {
		line, field := m[0], m[1]
		// Drop the active one-line field of that name, uncomment this one.
		doc := regexp.MustCompile(`(?m)^`+field+`: .*\n`).ReplaceAllString(out, "")
		doc = strings.Replace(doc, line, strings.TrimPrefix(line, "# "), 1)
		if _, err := cluster.ParseConfig("example.yaml", []byte(doc), cluster.CreateOptions{Nodes: 1}); err != nil {
			t.Errorf("uncommenting %q: %v", line, err)
		}
		found++
	}
	if found < 3 {
		t.Errorf("found %d commented-out fields in the example, want at least apiPort, nodeBaseImage, nodeTaints, images", found)
	}
	if _, _, code := runCLI(t, "config", "init", "Bad_Name"); code != ExitUsage {
		t.Errorf("config init Bad_Name: exit %d, want %d", code, ExitUsage)
	}
}

// createOptions parses cluster create's command line (without running it).
func createOptions(t *testing.T, args ...string) (cluster.CreateOptions, error) {
	t.Helper()
	var fl createFlags
	cmd := &cobra.Command{Use: "create"}
	fl.register(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return fl.options(cmd.Flags().Changed, cmd.Flags().Args())
}

func TestCreateFlagsOverrideConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte(`apiVersion: mini.dev/v1alpha1
kind: Cluster
name: fromfile
nodes: 3
apiPort: 6550
ports: [8080:30080, 8081:30081]
nodeBaseImage: base:file
nodeLabels: {a: file}
nodeTaints: [t=file:NoSchedule]
nodeOverrides: [{index: 2, labels: {b: file}}]
images: [img:file]
`), 0o644)
	noSched := corev1.TaintEffectNoSchedule
	tests := []struct {
		name  string
		args  []string
		check func(o cluster.CreateOptions) bool
		err   string
	}{
		{"file alone", []string{"--config", file}, func(o cluster.CreateOptions) bool {
			return o.Name == "fromfile" && o.Nodes == 3 && o.APIPort == 6550 && len(o.Ports) == 2 && o.NodeBaseImage == "base:file" &&
				o.Node.Labels["a"] == "file" && o.Node.Taints[0].Value == "file" && o.PerNode[2].Labels["b"] == "file" &&
				reflect.DeepEqual(o.Images, []string{"img:file"}) && o.Wait && o.UpdateKubeconfig
		}, ""},
		{"argument names it", []string{"--config", file, "other"}, func(o cluster.CreateOptions) bool { return o.Name == "other" && o.Nodes == 3 }, ""},
		{"scalar flags win", []string{"--config", file, "--nodes", "4", "--api-port", "7000", "--node-base-image", "base:flag", "--wait=false"},
			func(o cluster.CreateOptions) bool {
				return o.Nodes == 4 && o.APIPort == 7000 && o.NodeBaseImage == "base:flag" && !o.Wait && len(o.Ports) == 2
			}, ""},
		{"list flags replace", []string{"--config", file, "-p", "9090:30090", "--node-label", "c=flag", "--node-taint", "u:NoExecute", "--load-image", "img:flag"},
			func(o cluster.CreateOptions) bool {
				return len(o.Ports) == 1 && o.Ports[0].HostPort == 9090 && reflect.DeepEqual(o.Node.Labels, map[string]string{"c": "flag"}) &&
					len(o.Node.Taints) == 1 && o.Node.Taints[0].Key == "u" && reflect.DeepEqual(o.Images, []string{"img:flag"}) &&
					o.PerNode[2].Labels["b"] == "file"
			}, ""},
		{"no file: flags and defaults", []string{"x", "--node-taint", "g=1:NoSchedule"}, func(o cluster.CreateOptions) bool {
			return o.Name == "x" && o.Nodes == 1 && o.APIPort == 0 && len(o.Ports) == 0 && len(o.Node.Taints) == 1 && o.Node.Taints[0].Effect == noSched
		}, ""},
		{"fewer nodes than an override", []string{"--config", file, "--nodes", "2"}, nil, "node index 2, but the cluster has 2 nodes"},
		{"no name", []string{"--nodes", "2"}, nil, "name the cluster"},
		{"bad taint flag", []string{"x", "--node-taint", "gpu"}, nil, "--node-taint: taint \"gpu\": no effect"},
		{"bad label flag", []string{"x", "--node-label", "novalue"}, nil, "--node-label: node label \"novalue\": want KEY=VALUE"},
		{"bad port flag", []string{"x", "-p", "80:80"}, nil, "--port: invalid port mapping"},
		{"bad api port flag", []string{"x", "--api-port", "host:1"}, nil, "--api-port: invalid API address"},
		{"bad image flag", []string{"x", "--load-image", "Not Valid"}, nil, "image to load"},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.yaml")}, nil, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := createOptions(t, tt.args...)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || exitCode(err) != ExitUsage {
					t.Fatalf("err %v (exit %d), want exit %d and one containing %q", err, exitCode(err), ExitUsage, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err %v", err)
			}
			if !tt.check(o) {
				t.Errorf("options %+v do not match", o)
			}
		})
	}
}
