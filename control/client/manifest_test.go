package client

import (
	"errors"
	"strings"
	"testing"
)

func TestParseManifests(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string // Manifest.String() of each object
		lines   []int
		wantErr string // substring; "" = no error
	}{
		{name: "multi document with comments and empty docs", in: `# leading comment
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
---
# only a comment
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
`, want: []string{"namespace/demo", "deployment.apps/web"}, lines: []int{1, 9}},
		{name: "kind List is expanded", in: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
- apiVersion: v1
  kind: Service
  metadata: {name: b}
`, want: []string{"configmap/a", "service/b"}},
		{name: "json", in: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`, want: []string{"secret/s"}},
		{name: "malformed yaml names the line", in: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [b\n", wantErr: "f.yaml:9: malformed YAML"},
		{name: "missing kind", in: "apiVersion: v1\nmetadata: {name: a}\n", wantErr: "f.yaml:1: the object has no kind"},
		{name: "missing apiVersion", in: "kind: Pod\nmetadata: {name: a}\n", wantErr: "has no apiVersion"},
		{name: "missing name", in: "apiVersion: v1\nkind: Pod\nmetadata: {}\n", wantErr: "has no metadata.name"},
		{name: "unknown kind", in: "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: a}\n", wantErr: `unknown kind "Widget" in "example.com/v1"`},
		{name: "not an object", in: "- a\n- b\n", wantErr: "not an object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := ParseManifests("f.yaml", []byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != len(tc.want) {
				t.Fatalf("%d objects, want %d: %v", len(ms), len(tc.want), ms)
			}
			for i, m := range ms {
				if m.String() != tc.want[i] {
					t.Errorf("object %d is %s, want %s", i, m, tc.want[i])
				}
				if tc.lines != nil && m.Line != tc.lines[i] {
					t.Errorf("object %d starts at line %d, want %d", i, m.Line, tc.lines[i])
				}
			}
		})
	}
}

func TestUnknownKindIsTyped(t *testing.T) {
	_, err := ParseManifests("x", []byte("apiVersion: v9\nkind: Nope\nmetadata: {name: a}\n"))
	if !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("error %v does not wrap ErrUnknownKind", err)
	}
}

func FuzzParseManifests(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: \"1\"}\n"))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: p}}\n---\n"))
	f.Add([]byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"}}`))
	f.Add([]byte("--- \n: : :\n\t- ["))
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := ParseManifests("fuzz", data)
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.Name == "" && !strings.Contains(string(m.JSON), "generateName") {
				t.Fatalf("accepted an object without a name: %s", m.JSON)
			}
			if m.Info.Resource == "" {
				t.Fatalf("accepted an object of an unknown resource: %s", m.JSON)
			}
		}
	})
}
