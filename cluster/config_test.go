package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

const goodConfig = `# a comment
apiVersion: mini.dev/v1alpha1
kind: Cluster
name: ci
nodes: 3
apiPort: 127.0.0.1:6550
ports:
  - 8080:30080@loadbalancer
  - 0.0.0.0:5353:30053/udp@loadbalancer
nodeBaseImage: mini-node-base:bookworm
nodeLabels:
  tier: web
  ssd: true
nodeTaints:
  - dedicated=ci:NoSchedule
  - example.com/slow:PreferNoSchedule
nodeOverrides:
  - index: 2
    labels: {gpu: "yes"}
    taints: ["gpu=yes:NoExecute"]
images:
  - &echo echo:1
  - registry.example.com/team/app:v2
  - *echo
`

func TestParseConfigGood(t *testing.T) {
	o, err := ParseConfig("c.yaml", []byte(goodConfig), CreateOptions{Nodes: 1, Wait: true})
	if err != nil {
		t.Fatalf("ParseConfig(good) = %v", err)
	}
	want := CreateOptions{
		Name: "ci", Nodes: 3, APIHost: "127.0.0.1", APIPort: 6550, Wait: true,
		Ports: []PortMapping{{HostIP: "127.0.0.1", HostPort: 8080, NodePort: 30080, Proto: "tcp"},
			{HostIP: "0.0.0.0", HostPort: 5353, NodePort: 30053, Proto: "udp"}},
		NodeBaseImage: "mini-node-base:bookworm",
		Node: NodeSettings{Labels: map[string]string{"tier": "web", "ssd": "true"}, Taints: []corev1.Taint{
			{Key: "dedicated", Value: "ci", Effect: corev1.TaintEffectNoSchedule},
			{Key: "example.com/slow", Effect: corev1.TaintEffectPreferNoSchedule}}},
		PerNode: map[int]NodeSettings{2: {Labels: map[string]string{"gpu": "yes"},
			Taints: []corev1.Taint{{Key: "gpu", Value: "yes", Effect: corev1.TaintEffectNoExecute}}}},
		Images: []string{"echo:1", "registry.example.com/team/app:v2", "echo:1"},
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("ParseConfig(good) =\n%+v\nwant\n%+v", o, want)
	}
	if err := o.validateNodes(); err != nil {
		t.Errorf("validateNodes of the parsed file: %v", err)
	}
}

// TestParseConfigKeepsUnset checks that fields the file leaves out (or sets
// to null) keep the values they had.
func TestParseConfigKeepsUnset(t *testing.T) {
	base := CreateOptions{Name: "fromarg", Nodes: 2, Images: []string{"a:1"}, Wait: true}
	o, err := ParseConfig("c.yaml", []byte("apiVersion: mini.dev/v1alpha1\nkind: Cluster\nimages:\nnodes: 1\n"), base)
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != "fromarg" || o.Nodes != 1 || !reflect.DeepEqual(o.Images, []string{"a:1"}) || !o.Wait {
		t.Errorf("got name %q nodes %d images %v wait %v; want fromarg, 1 (from the file), [a:1], true", o.Name, o.Nodes, o.Images, o.Wait)
	}
}

func TestParseConfigErrors(t *testing.T) {
	head := "apiVersion: mini.dev/v1alpha1\nkind: Cluster\n"
	tests := []struct {
		name, doc string
		line      int
		field     string
		has       string
	}{
		{"empty file", "", 0, "", "the file is empty"},
		{"malformed YAML", head + "nodes: 3\n ports: [\n", 4, "", "malformed YAML"},
		{"tab indentation", head + "nodeLabels:\n\ttier: web\n", 4, "", "malformed YAML"},
		{"bad indentation", head + "nodeLabels:\n  a: b\n c: d\n", 4, "", "block starting on this line"},
		{"not a mapping", "- a\n- b\n", 1, "", "want a mapping"},
		{"two documents", head + "---\n" + head, 3, "", "one YAML document"},
		{"missing kind", "apiVersion: mini.dev/v1alpha1\nname: x\n", 1, "kind", "is missing"},
		{"missing apiVersion", "kind: Cluster\n", 1, "apiVersion", "is missing"},
		{"unknown kind", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", 2, "kind", `"Deployment" is not a mini cluster config`},
		{"wrong apiVersion", "apiVersion: mini.dev/v2\nkind: Cluster\n", 1, "apiVersion", "want apiVersion: mini.dev/v1alpha1"},
		{"unknown field", head + "nodes: 1\nnode: 2\n", 4, "node", "unknown field"},
		{"field twice", head + "nodes: 1\nnodes: 2\n", 4, "nodes", "given twice"},
		{"bad name", head + "name: Bad_Name\n", 3, "name", "invalid cluster name"},
		{"name not a string", head + "name: [a]\n", 3, "name", "want a string"},
		{"nodes not a number", head + "nodes: three\n", 3, "nodes", "want a whole number"},
		{"nodes zero", head + "nodes: 0\n", 3, "nodes", "1 to"},
		{"nodes too many", head + "nodes: 1000\n", 3, "nodes", "1 to"},
		{"bad apiPort", head + "apiPort: localhost:6550\n", 3, "apiPort", "not an IP address"},
		{"ports not a list", head + "ports: 8080:30080\n", 3, "ports", "want a list"},
		{"bad port", head + "ports:\n  - 8080:30080\n  - 8081:80\n", 5, "ports[1]", "node port"},
		{"port twice", head + "ports:\n  - 8080:30080\n  - 8080:30081\n", 3, "ports", "already taken"},
		{"api port taken by a mapping", head + "apiPort: 8080\nports: [8080:30080]\n", 4, "ports", "the API port"},
		{"bad base image", head + "nodeBaseImage: 'UPPER:case'\n", 3, "nodeBaseImage", "not an image reference"},
		{"labels not a mapping", head + "nodeLabels: [a=b]\n", 3, "nodeLabels", "want a mapping"},
		{"bad label key", head + "nodeLabels:\n  'bad key': x\n", 4, "nodeLabels.bad key", "invalid"},
		{"bad label value", head + "nodeLabels:\n  tier: 'has space'\n", 4, "nodeLabels.tier", "invalid"},
		{"reserved label", head + "nodeLabels:\n  kubernetes.io/hostname: x\n", 4, "nodeLabels.kubernetes.io/hostname", "set by mini"},
		{"taint without effect", head + "nodeTaints: [gpu=yes]\n", 3, "nodeTaints[0]", "no effect"},
		{"taint bad effect", head + "nodeTaints:\n  - gpu=yes:NoRun\n", 4, "nodeTaints[0]", `unknown effect "NoRun"`},
		{"taint twice", head + "nodeTaints: [a:NoSchedule, a=b:NoSchedule]\n", 3, "nodeTaints", "given twice"},
		{"override index missing", head + "nodes: 2\nnodeOverrides:\n  - labels: {a: b}\n", 5, "nodeOverrides[0].index", "want the node's index"},
		{"override index out of range", head + "nodes: 2\nnodeOverrides:\n  - index: 2\n", 5, "nodeOverrides[0].index", "has 2 nodes"},
		{"override unknown field", head + "nodeOverrides:\n  - index: 0\n    label: {a: b}\n", 5, "nodeOverrides[0].label", "unknown field"},
		{"override bad taint", head + "nodeOverrides:\n  - index: 0\n    taints: [x:Never]\n", 5, "nodeOverrides[0].taints[0]", "unknown effect"},
		{"override twice", head + "nodes: 2\nnodeOverrides:\n  - index: 1\n  - index: 1\n", 6, "nodeOverrides[1].index", "two overrides"},
		{"bad image", head + "images:\n  - ok:1\n  - 'no good'\n", 5, "images[1]", "not an image reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("c.yaml", []byte(tt.doc), CreateOptions{Nodes: 1})
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("want a *ConfigError, got %T %v", err, err)
			}
			if ce.File != "c.yaml" || ce.Line != tt.line || ce.Field != tt.field || !strings.Contains(err.Error(), tt.has) {
				t.Errorf("got %q (line %d, field %q); want line %d, field %q, containing %q", err, ce.Line, ce.Field, tt.line, tt.field, tt.has)
			}
			if want := "c.yaml:"; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := LoadConfig(p, CreateOptions{})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), p) {
		t.Errorf("LoadConfig(missing) = %v; want a not-exist error naming %s", err, p)
	}
}

func TestParseTaint(t *testing.T) {
	tests := []struct {
		in   string
		want corev1.Taint
		err  string
	}{
		{in: "a=b:NoSchedule", want: corev1.Taint{Key: "a", Value: "b", Effect: corev1.TaintEffectNoSchedule}},
		{in: "example.com/a:NoExecute", want: corev1.Taint{Key: "example.com/a", Effect: corev1.TaintEffectNoExecute}},
		{in: "a=:PreferNoSchedule", want: corev1.Taint{Key: "a", Effect: corev1.TaintEffectPreferNoSchedule}},
		{in: "a=b", err: "no effect"},
		{in: "a=b:noschedule", err: "unknown effect"},
		{in: "=b:NoSchedule", err: "invalid key"},
		{in: "a=b c:NoSchedule", err: "invalid value"},
	}
	for _, tt := range tests {
		got, err := ParseTaint(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseTaint(%q) error %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseTaint(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseNodeLabels(t *testing.T) {
	if m, err := ParseNodeLabels([]string{"a=1", "example.com/b="}); err != nil || !reflect.DeepEqual(m, map[string]string{"a": "1", "example.com/b": ""}) {
		t.Errorf("ParseNodeLabels = %v, %v", m, err)
	}
	for in, want := range map[string]string{"novalue": "want KEY=VALUE", "a=1,a=2": "twice", "kubernetes.io/os=x": "set by mini"} {
		if _, err := ParseNodeLabels(strings.Split(in, ",")); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseNodeLabels(%q) error %v, want one containing %q", in, err, want)
		}
	}
}

func TestNodeSettingsMergeAndEnv(t *testing.T) {
	every := NodeSettings{Labels: map[string]string{"a": "1", "b": "1"},
		Taints: []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectNoSchedule}, {Key: "y", Effect: corev1.TaintEffectNoSchedule}}}
	one := NodeSettings{Labels: map[string]string{"b": "2"}, Taints: []corev1.Taint{{Key: "x", Value: "v", Effect: corev1.TaintEffectNoSchedule}}}
	got := every.merge(one)
	want := NodeSettings{Labels: map[string]string{"a": "1", "b": "2"},
		Taints: []corev1.Taint{{Key: "y", Effect: corev1.TaintEffectNoSchedule}, {Key: "x", Value: "v", Effect: corev1.TaintEffectNoSchedule}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merge = %+v, want %+v", got, want)
	}
	if every.Labels["b"] != "1" {
		t.Errorf("merge changed its receiver: %v", every.Labels)
	}
	env := strings.Join(got.env(), "\n")
	if !strings.Contains(env, `MINI_NODE_LABELS={"a":"1","b":"2"}`) || !strings.Contains(env, `MINI_NODE_TAINTS=[{"key":"y","effect":"NoSchedule"},{"key":"x","value":"v","effect":"NoSchedule"}]`) {
		t.Errorf("env =\n%s", env)
	}
	if e := (NodeSettings{}).env(); len(e) != 0 {
		t.Errorf("empty settings give env %v, want none", e)
	}
}

func TestValidateNodes(t *testing.T) {
	o := CreateOptions{Nodes: 2, PerNode: map[int]NodeSettings{2: {}}}
	if err := o.validateNodes(); err == nil || !strings.Contains(err.Error(), "node index 2, but the cluster has 2 nodes") {
		t.Errorf("override beyond --nodes: %v", err)
	}
	o = CreateOptions{Nodes: 1, Images: []string{"Bad Ref"}}
	if err := o.validateNodes(); err == nil || !strings.Contains(err.Error(), "image to load") {
		t.Errorf("bad image: %v", err)
	}
}

// FuzzParseConfig: any input gives options or a *ConfigError naming the
// file, never a panic; what parses also validates or says why not.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	f.Add([]byte("apiVersion: mini.dev/v1alpha1\nkind: Cluster\nnodeOverrides: [{index: 0, labels: {a: b}}]\n"))
	f.Add([]byte("apiVersion: mini.dev/v1alpha1\nkind: Cluster\nnodes: &a 2\nimages: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseConfig("f.yaml", data, CreateOptions{Name: "x", Nodes: 1})
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error %T %q is not a *ConfigError naming the file", err, err)
			}
			return
		}
		if o.Nodes < 1 || o.Nodes > MaxNodes {
			t.Fatalf("parsed nodes %d", o.Nodes)
		}
		_ = o.Validate()
	})
}
