package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/minicluster/mini/control/client"
)

// fixture is a discovery answer shaped like the API server's.
var fixture = []client.Resource{
	{Info: client.Info{Version: "v1", Resource: "pods", Kind: "Pod", Namespaced: true}, Singular: "pod", ShortNames: []string{"po"}, Categories: []string{"all"}},
	{Info: client.Info{Version: "v1", Resource: "services", Kind: "Service", Namespaced: true}, Singular: "service", ShortNames: []string{"svc"}, Categories: []string{"all"}},
	{Info: client.Info{Version: "v1", Resource: "endpoints", Kind: "Endpoints", Namespaced: true}, Singular: "endpoints", ShortNames: []string{"ep"}},
	{Info: client.Info{Version: "v1", Resource: "nodes", Kind: "Node"}, Singular: "node", ShortNames: []string{"no"}},
	{Info: client.Info{Version: "v1", Resource: "events", Kind: "Event", Namespaced: true}, Singular: "event", ShortNames: []string{"ev"}},
	{Info: client.Info{Group: "apps", Version: "v1", Resource: "deployments", Kind: "Deployment", Namespaced: true}, Singular: "deployment", ShortNames: []string{"deploy"}, Categories: []string{"all"}, Subresources: []string{"status", "scale"}},
	{Info: client.Info{Group: "apps", Version: "v1", Resource: "replicasets", Kind: "ReplicaSet", Namespaced: true}, Singular: "replicaset", ShortNames: []string{"rs"}, Categories: []string{"all"}},
	{Info: client.Info{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices", Kind: "EndpointSlice", Namespaced: true}, Singular: "endpointslice"},
	{Info: client.Info{Group: "events.example.com", Version: "v2", Resource: "events", Kind: "Event", Namespaced: true}, Singular: "event"},
}

func TestResolveResource(t *testing.T) {
	for _, c := range []struct {
		arg, want string // want: group/resource, or "error"
	}{
		{"pods", "/pods"}, {"pod", "/pods"}, {"po", "/pods"}, {"Pod", "/pods"}, {"PODS", "/pods"},
		{"deploy", "apps/deployments"}, {"Deployment", "apps/deployments"}, {"deployments.apps", "apps/deployments"},
		{"deployment.apps", "apps/deployments"}, {"deployments.v1.apps", "apps/deployments"},
		{"ep", "/endpoints"}, {"endpoints", "/endpoints"}, {"no", "/nodes"},
		{"endpointslice", "discovery.k8s.io/endpointslices"}, {"endpointslices.discovery.k8s.io", "discovery.k8s.io/endpointslices"},
		{"ev", "/events"}, {"events", "/events"}, {"events.events.example.com", "events.example.com/events"},
		{"events.v2.events.example.com", "events.example.com/events"},
		{"nope", "error"}, {"deployments.batch", "error"}, {"deployments.v2.apps", "error"}, {"", "error"},
	} {
		r, err := resolveResource(fixture, c.arg)
		got := r.Group + "/" + r.Resource
		if err != nil {
			got = "error"
			var ur *unknownResourceError
			if !errors.As(err, &ur) || !strings.Contains(err.Error(), `doesn't have a resource type "`+c.arg+`"`) {
				t.Errorf("resolve %q: error %v, want the server doesn't have a resource type", c.arg, err)
			}
		}
		if got != c.want {
			t.Errorf("resolve %q = %s, want %s", c.arg, got, c.want)
		}
	}
}

func TestExpandKinds(t *testing.T) {
	for _, c := range []struct {
		arg  string
		want string
	}{
		{"po", "pods"},
		{"deploy,svc", "deployments services"},
		{"all", "pods services deployments replicasets"},
		{"po,all", "pods services deployments replicasets"},
		{"po,pods,pod", "pods"},
		{"po,nope", "error"},
		{"po,", "error"},
	} {
		rs, err := expandKinds(fixture, c.arg)
		var names []string
		for _, r := range rs {
			names = append(names, r.Resource)
		}
		got := strings.Join(names, " ")
		if err != nil {
			got = "error"
		}
		if got != c.want {
			t.Errorf("expand %q = %q, want %q", c.arg, got, c.want)
		}
	}
}

func TestParseTargets(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []target // nil: a usage error
	}{
		{[]string{"pods"}, []target{{kinds: "pods", names: []string{}}}},
		{[]string{"pods", "a", "b"}, []target{{kinds: "pods", names: []string{"a", "b"}}}},
		{[]string{"deploy,svc", "echo"}, []target{{kinds: "deploy,svc", names: []string{"echo"}}}},
		{[]string{"pod/a", "pod/b", "svc/c"}, []target{{kinds: "pod", names: []string{"a", "b"}}, {kinds: "svc", names: []string{"c"}}}},
		{[]string{"pod/a", "svc/c", "pod/b"}, []target{{kinds: "pod", names: []string{"a"}}, {kinds: "svc", names: []string{"c"}}, {kinds: "pod", names: []string{"b"}}}},
		{[]string{"pods", "pod/a"}, nil},
		{[]string{"pod/"}, nil},
		{[]string{"/a"}, nil},
		{[]string{"pod/a/b"}, nil},
		{[]string{"pod,svc/a"}, nil},
		{[]string{"pod/a", "b"}, nil},
		{nil, nil},
	} {
		got, err := parseTargets(c.args)
		if c.want == nil {
			var ee *exitError
			if err == nil || !errors.As(err, &ee) || ee.code != ExitUsage {
				t.Errorf("parseTargets(%q) = %v, %v; want a usage error", c.args, got, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseTargets(%q) = %+v, %v; want %+v", c.args, got, err, c.want)
		}
	}
}

func TestParseKindName(t *testing.T) {
	for _, c := range []struct {
		args        []string
		def         string
		kind, name  string
		wantFailure bool
	}{
		{args: []string{"deploy/echo"}, kind: "deploy", name: "echo"},
		{args: []string{"deploy", "echo"}, kind: "deploy", name: "echo"},
		{args: []string{"echo"}, def: "pods", kind: "pods", name: "echo"},
		{args: []string{"echo"}, wantFailure: true},
		{args: []string{"deploy/"}, wantFailure: true},
		{args: []string{"deploy/a", "b"}, wantFailure: true},
		{args: []string{"a", "b", "c"}, wantFailure: true},
	} {
		k, n, err := parseKindName(c.args, c.def)
		if c.wantFailure != (err != nil) || k != c.kind || n != c.name {
			t.Errorf("parseKindName(%q, %q) = %q, %q, %v", c.args, c.def, k, n, err)
		}
	}
}

// serverTable is a Table as the API server sends it for two pods.
const serverTable = `{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"7"},
"columnDefinitions":[{"name":"Name","type":"string","format":"name","priority":0},{"name":"Ready","type":"string","priority":0},
{"name":"Restarts","type":"integer","priority":0},{"name":"IP","type":"string","priority":1},{"name":"Age","type":"string","priority":0}],
"rows":[{"cells":["echo-1","1/1",0,"10.244.1.2","5m"],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"echo-1","namespace":"default","labels":{"app":"echo","tier":"web"}}}},
{"cells":["echo-long-name-2","0/1",12,null,"2h"],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"echo-long-name-2","namespace":"prod"}}}]}`

func TestTableOutput(t *testing.T) {
	tbl, err := decodeTable([]byte(serverTable))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		o    tableOpts
		want string
	}{
		{"default", tableOpts{}, "" +
			"NAME               READY   RESTARTS   AGE\n" +
			"echo-1             1/1     0          5m\n" +
			"echo-long-name-2   0/1     12         2h\n"},
		{"wide", tableOpts{wide: true}, "" +
			"NAME               READY   RESTARTS   IP           AGE\n" +
			"echo-1             1/1     0          10.244.1.2   5m\n" +
			"echo-long-name-2   0/1     12         <none>       2h\n"},
		{"all namespaces, kind prefix", tableOpts{namespace: true, kindPrefix: "pod/"}, "" +
			"NAMESPACE   NAME                   READY   RESTARTS   AGE\n" +
			"default     pod/echo-1             1/1     0          5m\n" +
			"prod        pod/echo-long-name-2   0/1     12         2h\n"},
		{"labels, no headers", tableOpts{showLabels: true, noHeaders: true}, "" +
			"echo-1             1/1   0     5m    app=echo,tier=web\n" +
			"echo-long-name-2   0/1   12    2h    <none>\n"},
	} {
		var b strings.Builder
		if err := (&aligner{}).write(&b, tableRows(tbl, c.o)); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("%s: got\n%s\nwant\n%s", c.name, b.String(), c.want)
		}
	}
	if tbl.ResourceVersion != "7" {
		t.Errorf("table resourceVersion %q, want 7", tbl.ResourceVersion)
	}
	if _, err := decodeTable([]byte(`{"kind":"PodList","items":[]}`)); err == nil {
		t.Error("a PodList was taken for a Table")
	}
}

func TestAlignerRemembersWidths(t *testing.T) {
	var a aligner
	var b strings.Builder
	a.write(&b, [][]string{{"NAME", "STATUS", "AGE"}, {"a", "Running", "1s"}})
	a.write(&b, [][]string{{"b", "Pending", "0s"}})
	a.write(&b, [][]string{{"a-much-longer-name", "Terminating", "2s"}})
	want := "" +
		"NAME   STATUS    AGE\n" +
		"a      Running   1s\n" +
		"b      Pending   0s\n" +
		"a-much-longer-name   Terminating   2s\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestCellString(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{nil, "<none>"}, {"", ""}, {"x", "x"}, {json.Number("12"), "12"}, {true, "true"},
		{[]any{"a", json.Number("1")}, "a,1"}, {3.5, "3.5"},
	} {
		if got := cellString(c.in); got != c.want {
			t.Errorf("cellString(%#v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestObjectOutput(t *testing.T) {
	deploy := client.Resource{Info: client.Info{Group: "apps", Version: "v1", Resource: "deployments", Kind: "Deployment"}}
	item := json.RawMessage(`{"metadata":{"name":"echo"},"spec":{"replicas":2}}`)
	typed := withTypeMeta(item, deploy)
	if string(typed) != `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"echo"},"spec":{"replicas":2}}` {
		t.Errorf("withTypeMeta = %s", typed)
	}
	if got := withTypeMeta(typed, deploy); string(got) != string(typed) {
		t.Errorf("withTypeMeta added a second kind: %s", got)
	}
	if got := withTypeMeta(json.RawMessage(`{}`), deploy); string(got) != `{"apiVersion":"apps/v1","kind":"Deployment"}` {
		t.Errorf("withTypeMeta of {} = %s", got)
	}
	for _, c := range []struct {
		format string
		objs   []json.RawMessage
		single bool
		want   string
	}{
		{"json", []json.RawMessage{typed}, true, "{\n    \"apiVersion\": \"apps/v1\",\n    \"kind\": \"Deployment\",\n    \"metadata\": {\n        \"name\": \"echo\"\n    },\n    \"spec\": {\n        \"replicas\": 2\n    }\n}\n"},
		{"yaml", []json.RawMessage{typed}, true, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: echo\nspec:\n  replicas: 2\n"},
		{"yaml", []json.RawMessage{typed}, false, "apiVersion: v1\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: echo\n  spec:\n    replicas: 2\nkind: List\nmetadata:\n  resourceVersion: \"\"\n"},
		{"json", nil, false, "{\n    \"apiVersion\": \"v1\",\n    \"items\": [],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n"},
	} {
		var b strings.Builder
		if err := printObjects(&b, c.format, c.objs, c.single); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("%s (single %v): got\n%s\nwant\n%s", c.format, c.single, b.String(), c.want)
		}
	}
	if q := qualifiedKind(deploy); q != "deployment.apps" {
		t.Errorf("qualifiedKind = %q", q)
	}
}

func TestKubeErrCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
	}{
		{&client.NoContextError{Msg: "no current context"}, ExitNotFound},
		{&unknownResourceError{name: "x"}, ExitUsage},
		{&client.ManifestError{Source: "a.yaml", Line: 3, Err: errors.New("malformed")}, ExitUsage},
		{apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "x"), ExitNotFound},
		{fmt.Errorf("deployment.apps/x (a.yaml:1): %w", apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "x")), ExitNotFound},
		{apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "x", nil), ExitError},
		{errors.New("boom"), ExitError},
	} {
		err := kubeErr(c.err)
		code := ExitError
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if code != c.code {
			t.Errorf("kubeErr(%v) exit code %d, want %d", c.err, code, c.code)
		}
	}
}
