package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAPISemantics checks the behaviour of the generic verbs that clients
// rely on, one case per rule, against a real control plane over HTTPS.
// Every refused request is also checked to have written nothing.
func TestAPISemantics(t *testing.T) {
	h0 := newHarness(t)
	cases := []struct {
		name string
		run  func(h *harness)
	}{
		{"generateName", testGenerateName},
		{"stale resourceVersion conflicts", testStaleConflict},
		{"create of an existing name", testAlreadyExists},
		{"generation follows spec changes only", testGeneration},
		{"no-op update keeps resourceVersion", testNoOpUpdate},
		{"write responses are the stored object", testWriteResponses},
		{"merge, strategic merge and JSON patch", testPatches},
		{"finalizers hold a deleted object", testFinalizers},
		{"propagation policies add GC finalizers", testPropagation},
		{"pod grace period", testPodGrace},
		{"deletecollection with a label selector", testDeleteCollection},
		{"field selectors", testFieldSelectors},
		{"status subresource", testStatusSubresource},
		{"scale subresource", testScaleSubresource},
		{"authentication", testAuthentication},
		{"body size limit", testBodyLimit},
		{"service node port conflicts", testNodePorts},
		{"dry run writes nothing", testDryRun},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(&harness{t: t, env: h0.env, c: h0.c})
		})
	}
}

var (
	post  = http.MethodPost
	put   = http.MethodPut
	patch = http.MethodPatch
	del   = http.MethodDelete
	get   = http.MethodGet
)

const (
	mergeCT     = "application/merge-patch+json"
	strategicCT = "application/strategic-merge-patch+json"
	jsonPatchCT = "application/json-patch+json"
)

func testGenerateName(h *harness) {
	cm := configMap("", map[string]string{"a": "1"})
	cm.GenerateName = "gen-"
	var a, b corev1.ConfigMap
	h.ok(call{method: post, path: cmPath, body: cm}, &a)
	h.ok(call{method: post, path: cmPath, body: cm}, &b)
	for _, got := range []corev1.ConfigMap{a, b} {
		if !strings.HasPrefix(got.Name, "gen-") || len(got.Name) != len("gen-")+5 || got.GenerateName != "gen-" {
			h.t.Errorf("generated name %q (generateName %q), want gen- and 5 random characters", got.Name, got.GenerateName)
		}
		var stored corev1.ConfigMap
		if !h.get(cmPath+"/"+got.Name, &stored) || stored.UID != got.UID {
			h.t.Errorf("generated object %s is not readable as returned", got.Name)
		}
	}
	if a.Name == b.Name {
		h.t.Errorf("two creates with generateName got the same name %s", a.Name)
	}
	cm.Name = "fixed-name"
	var fixed corev1.ConfigMap
	h.ok(call{method: post, path: cmPath, body: cm}, &fixed)
	if fixed.Name != "fixed-name" {
		h.t.Errorf("a given name with generateName became %q, want fixed-name", fixed.Name)
	}
	bad := configMap("", nil)
	bad.GenerateName = "Bad_"
	h.fails(call{method: post, path: cmPath, body: bad}, 422, metav1.StatusReasonInvalid, "metadata.generateName")
}

func testStaleConflict(h *harness) {
	var v1, v2 corev1.ConfigMap
	h.ok(call{method: post, path: cmPath, body: configMap("stale", map[string]string{"a": "1"})}, &v1)
	next := v1.DeepCopy()
	next.Data["a"] = "2"
	h.ok(call{method: put, path: cmPath + "/stale", body: next}, &v2)
	if v2.ResourceVersion == v1.ResourceVersion {
		h.t.Fatalf("update kept resourceVersion %s", v1.ResourceVersion)
	}
	stale := v1.DeepCopy()
	stale.Data["a"] = "3"
	h.fails(call{method: put, path: cmPath + "/stale", body: stale}, 409, metav1.StatusReasonConflict, "the object has been modified")
	h.fails(call{method: patch, path: cmPath + "/stale", contentType: mergeCT,
		body: `{"metadata":{"resourceVersion":"` + v1.ResourceVersion + `"},"data":{"a":"4"}}`}, 409, metav1.StatusReasonConflict)
	var cur corev1.ConfigMap
	h.get(cmPath+"/stale", &cur)
	if cur.Data["a"] != "2" || cur.ResourceVersion != v2.ResourceVersion {
		h.t.Errorf("after refused stale writes: data %v rv %s, want a=2 rv %s", cur.Data, cur.ResourceVersion, v2.ResourceVersion)
	}
	// Without a resourceVersion an update is unconditional, as in Kubernetes.
	uncond := configMap("stale", map[string]string{"a": "5"})
	var out corev1.ConfigMap
	h.ok(call{method: put, path: cmPath + "/stale", body: uncond}, &out)
	if out.Data["a"] != "5" || out.UID != v1.UID {
		h.t.Errorf("unconditional update: data %v uid %s, want a=5 and the same uid %s", out.Data, out.UID, v1.UID)
	}
}

func testAlreadyExists(h *harness) {
	var first corev1.ConfigMap
	h.ok(call{method: post, path: cmPath, body: configMap("dup", map[string]string{"a": "1"})}, &first)
	h.fails(call{method: post, path: cmPath, body: configMap("dup", map[string]string{"a": "2"})},
		409, metav1.StatusReasonAlreadyExists, `configmaps "dup" already exists`)
	var cur corev1.ConfigMap
	h.get(cmPath+"/dup", &cur)
	if cur.Data["a"] != "1" || cur.UID != first.UID {
		h.t.Errorf("the existing object changed: %v", cur.Data)
	}
}

func testGeneration(h *harness) {
	var d appsv1.Deployment
	h.ok(call{method: post, path: deployPath, body: deployment("gen", 1)}, &d)
	steps := []struct {
		what    string
		change  func(d *appsv1.Deployment)
		sub     string
		wantGen int64
	}{
		{"created", nil, "", 1},
		{"label change", func(d *appsv1.Deployment) { d.Labels["x"] = "y" }, "", 1},
		{"annotation change", func(d *appsv1.Deployment) { d.Annotations = map[string]string{"n": "1"} }, "", 1},
		{"replicas change", func(d *appsv1.Deployment) { *d.Spec.Replicas = 2 }, "", 2},
		{"image change", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:2" }, "", 3},
		{"status write", func(d *appsv1.Deployment) { d.Status.Replicas = 2; d.Status.ObservedGeneration = 3 }, "/status", 3},
	}
	for _, s := range steps {
		if s.change != nil {
			s.change(&d)
			var out appsv1.Deployment
			h.ok(call{method: put, path: deployPath + "/gen" + s.sub, body: &d}, &out)
			d = out
		}
		if d.Generation != s.wantGen {
			h.t.Errorf("after %s: generation %d, want %d", s.what, d.Generation, s.wantGen)
		}
	}
	var cm corev1.ConfigMap
	h.ok(call{method: post, path: cmPath, body: configMap("nogen", map[string]string{"a": "1"})}, &cm)
	cm.Data["a"] = "2"
	h.ok(call{method: put, path: cmPath + "/nogen", body: &cm}, &cm)
	if cm.Generation != 0 {
		h.t.Errorf("configmap generation %d, want 0 (kinds without spec have none)", cm.Generation)
	}
}

func testNoOpUpdate(h *harness) {
	var cm corev1.ConfigMap
	h.ok(call{method: post, path: cmPath, body: configMap("noop", map[string]string{"a": "1"})}, &cm)
	var d appsv1.Deployment
	body := deployment("noop", 1)
	h.ok(call{method: post, path: deployPath, body: body}, &d)
	body.ResourceVersion = d.ResourceVersion // the undefaulted original
	rev := h.env.Plane.Store.Rev()
	writes := []call{
		{method: put, path: cmPath + "/noop", body: &cm},
		{method: patch, path: cmPath + "/noop", contentType: mergeCT, body: `{}`},
		{method: patch, path: cmPath + "/noop", contentType: mergeCT, body: `{"data":{"a":"1"}}`},
		{method: patch, path: cmPath + "/noop", contentType: jsonPatchCT, body: `[{"op":"replace","path":"/data/a","value":"1"}]`},
		{method: put, path: deployPath + "/noop", body: &d},
		{method: put, path: deployPath + "/noop", body: body},
		{method: patch, path: deployPath + "/noop", contentType: strategicCT, body: `{"spec":{"replicas":1}}`},
	}
	for _, w := range writes {
		var out metav1.PartialObjectMetadata
		h.ok(w, &out)
		want := cm.ResourceVersion
		if strings.HasPrefix(w.path, deployPath) {
			want = d.ResourceVersion
		}
		if out.ResourceVersion != want {
			h.t.Errorf("no-op %s %s: resourceVersion %s, want unchanged %s", w.method, w.path, out.ResourceVersion, want)
		}
	}
	if got := h.env.Plane.Store.Rev(); got != rev {
		h.t.Errorf("no-op writes moved the store from revision %d to %d", rev, got)
	}
}

func testWriteResponses(h *harness) {
	writes := []call{
		{method: post, path: cmPath, body: configMap("resp", map[string]string{"a": "1"})},
		{method: put, path: cmPath + "/resp", body: configMap("resp", map[string]string{"a": "2"})},
		{method: patch, path: cmPath + "/resp", contentType: mergeCT, body: `{"data":{"a":"3"}}`},
		{method: patch, path: cmPath + "/resp", contentType: mergeCT, body: `{"data":{"a":"3"}}`}, // no-op
		{method: post, path: deployPath, body: deployment("resp", 1)},
		{method: put, path: deployPath + "/resp/status", contentType: mergeCT, body: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"resp"},"status":{"replicas":1}}`},
	}
	for _, w := range writes {
		got, err := h.send(w)
		if err != nil {
			h.t.Fatalf("%s %s: %v", w.method, w.path, err)
		}
		var m metav1.PartialObjectMetadata
		json.Unmarshal(got, &m)
		path := cmPath + "/resp"
		if strings.HasPrefix(w.path, deployPath) {
			path = deployPath + "/resp"
		}
		stored, err := h.send(call{method: get, path: path})
		if err != nil || string(stored) != string(got) {
			h.t.Errorf("%s %s answered\n%s\nbut a get returns\n%s", w.method, w.path, got, stored)
		}
	}
}

func testPatches(h *harness) {
	var d appsv1.Deployment
	h.ok(call{method: post, path: deployPath, body: deployment("patchme", 1)}, &d)
	p := deployPath + "/patchme"

	h.ok(call{method: patch, path: p, contentType: mergeCT, body: `{"metadata":{"labels":{"tier":"web"}}}`}, &d)
	if d.Labels["tier"] != "web" || d.Labels["app"] != "patchme" {
		h.t.Errorf("merge patch of labels: %v, want app and tier", d.Labels)
	}
	h.ok(call{method: patch, path: p, contentType: strategicCT,
		body: `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:2"}]}}}}`}, &d)
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 2 || cs[0].Name != "web" || cs[0].Image != "nginx:2" || cs[1].Name != "sidecar" || cs[1].Image != "busybox:1" {
		h.t.Errorf("strategic merge patch must merge containers by name: %+v", cs)
	}
	h.ok(call{method: patch, path: p, contentType: strategicCT,
		body: `{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}`}, &d)
	if cs := d.Spec.Template.Spec.Containers; len(cs) != 1 || cs[0].Name != "web" {
		h.t.Errorf("strategic $patch: delete of a container: %+v", cs)
	}
	h.ok(call{method: patch, path: p, contentType: mergeCT,
		body: `{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"x:1"}]}}}}`}, &d)
	if cs := d.Spec.Template.Spec.Containers; len(cs) != 1 || cs[0].Name != "only" || cs[0].TerminationMessagePath == "" {
		h.t.Errorf("merge patch must replace the container list (and defaults apply): %+v", cs)
	}
	h.ok(call{method: patch, path: p, contentType: jsonPatchCT,
		body: `[{"op":"test","path":"/spec/replicas","value":1},{"op":"replace","path":"/spec/replicas","value":4}]`}, &d)
	if *d.Spec.Replicas != 4 {
		h.t.Errorf("JSON patch: replicas %d, want 4", *d.Spec.Replicas)
	}
	h.fails(call{method: patch, path: p, contentType: jsonPatchCT,
		body: `[{"op":"replace","path":"/spec/replicas","value":5},{"op":"test","path":"/spec/replicas","value":99}]`}, 422, metav1.StatusReasonInvalid)
	h.fails(call{method: patch, path: p, contentType: jsonPatchCT, body: `{"op":"replace"}`}, 400, metav1.StatusReasonBadRequest)
	h.fails(call{method: patch, path: p, contentType: mergeCT, body: `{"spec":`}, 400, metav1.StatusReasonBadRequest)
	h.fails(call{method: patch, path: p, contentType: mergeCT, body: `{"spec":{"replicas":"many"}}`}, 400, metav1.StatusReasonBadRequest, "spec.replicas")
	h.fails(call{method: patch, path: p, contentType: "application/apply-patch+yaml", body: `{}`}, 415, metav1.StatusReasonUnsupportedMediaType)
	h.fails(call{method: patch, path: deployPath + "/missing", contentType: mergeCT, body: `{}`}, 404, metav1.StatusReasonNotFound)
}

func testFinalizers(h *harness) {
	cm := configMap("held", map[string]string{"a": "1"})
	cm.Finalizers = []string{"example.com/hold"}
	h.ok(call{method: post, path: cmPath, body: cm}, nil)
	var marked corev1.ConfigMap
	h.ok(call{method: del, path: cmPath + "/held"}, &marked)
	if marked.DeletionTimestamp == nil {
		h.t.Fatalf("delete of an object with finalizers returned %+v, want it with a deletionTimestamp", marked.ObjectMeta)
	}
	var cur corev1.ConfigMap
	if !h.get(cmPath+"/held", &cur) || cur.DeletionTimestamp == nil || len(cur.Finalizers) != 1 {
		h.t.Fatalf("object with a finalizer after delete: %+v, want it kept and marked", cur.ObjectMeta)
	}
	h.ok(call{method: del, path: cmPath + "/held"}, nil) // deleting again changes nothing
	cur.Finalizers = append(cur.Finalizers, "example.com/late")
	h.fails(call{method: put, path: cmPath + "/held", body: &cur}, 422, metav1.StatusReasonInvalid, "no new finalizers")
	h.ok(call{method: patch, path: cmPath + "/held", contentType: mergeCT, body: `{"metadata":{"labels":{"still":"editable"}}}`}, nil)
	h.ok(call{method: patch, path: cmPath + "/held", contentType: mergeCT, body: `{"metadata":{"finalizers":null}}`}, nil)
	if h.get(cmPath+"/held", &cur) {
		h.t.Errorf("object still exists after its last finalizer was removed: %+v", cur.ObjectMeta)
	}
}

func testPropagation(h *harness) {
	cases := []struct {
		name      string
		req       call
		finalizer string
	}{
		{"orphan", call{query: url.Values{"propagationPolicy": {"Orphan"}}}, metav1.FinalizerOrphanDependents},
		{"foreground", call{body: `{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground"}`}, metav1.FinalizerDeleteDependents},
		{"orphandependents", call{query: url.Values{"orphanDependents": {"true"}}}, metav1.FinalizerOrphanDependents},
		{"background", call{query: url.Values{"propagationPolicy": {"Background"}}}, ""},
	}
	for _, tc := range cases {
		name := "prop-" + tc.name
		h.ok(call{method: post, path: deployPath, body: deployment(name, 1)}, nil)
		req := tc.req
		req.method, req.path = del, deployPath+"/"+name
		h.ok(req, nil)
		var d appsv1.Deployment
		exists := h.get(deployPath+"/"+name, &d)
		switch {
		case tc.finalizer == "" && exists:
			h.t.Errorf("%s: deployment still exists after delete: %+v", tc.name, d.ObjectMeta)
		case tc.finalizer != "" && (!exists || d.DeletionTimestamp == nil || len(d.Finalizers) != 1 || d.Finalizers[0] != tc.finalizer):
			h.t.Errorf("%s: after delete exists=%v finalizers %v deletionTimestamp %v, want kept with only %s",
				tc.name, exists, d.Finalizers, d.DeletionTimestamp, tc.finalizer)
		}
	}
	h.ok(call{method: post, path: deployPath, body: deployment("prop-bad", 1)}, nil)
	h.fails(call{method: del, path: deployPath + "/prop-bad", query: url.Values{"propagationPolicy": {"Sideways"}}}, 400, metav1.StatusReasonBadRequest, "Sideways")
}

func testPodGrace(h *harness) {
	h.ok(call{method: post, path: podPath, body: pod("bound")}, nil)
	h.ok(call{method: post, path: podPath + "/bound/binding",
		body: `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"bound"},"target":{"kind":"Node","name":"node-a"}}`}, nil)
	var p corev1.Pod
	h.ok(call{method: del, path: podPath + "/bound"}, &p)
	if p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 30 {
		h.t.Errorf("delete of a bound pod: deletionTimestamp %v grace %v, want set and 30", p.DeletionTimestamp, p.DeletionGracePeriodSeconds)
	}
	if !h.get(podPath+"/bound", &p) || p.DeletionTimestamp == nil {
		h.t.Errorf("a bound pod must stay until its kubelet confirms; it is gone or unmarked")
	}
	h.ok(call{method: del, path: podPath + "/bound", query: url.Values{"gracePeriodSeconds": {"0"}}}, nil)
	if h.get(podPath+"/bound", &p) {
		h.t.Errorf("a bound pod deleted with grace 0 still exists")
	}

	short := pod("short")
	g := int64(5)
	short.Spec.TerminationGracePeriodSeconds = &g
	h.ok(call{method: post, path: podPath, body: short}, nil)
	h.ok(call{method: post, path: podPath + "/short/binding",
		body: `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"short"},"target":{"name":"node-a"}}`}, nil)
	h.ok(call{method: del, path: podPath + "/short"}, &p)
	if p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 5 {
		h.t.Errorf("pod with terminationGracePeriodSeconds 5: deletion grace %v", p.DeletionGracePeriodSeconds)
	}

	h.ok(call{method: post, path: podPath, body: pod("unbound")}, nil)
	h.ok(call{method: del, path: podPath + "/unbound"}, nil)
	if h.get(podPath+"/unbound", &p) {
		h.t.Errorf("an unbound pod must be deleted at once; it still exists: %+v", p.ObjectMeta)
	}
}

func testDeleteCollection(h *harness) {
	for _, n := range []string{"dc-a-0", "dc-a-1", "dc-a-2", "dc-b-0", "dc-b-1"} {
		cm := configMap(n, nil)
		cm.Labels = map[string]string{"set": n[3:4]}
		h.ok(call{method: post, path: cmPath, body: cm}, nil)
	}
	var deleted corev1.ConfigMapList
	h.ok(call{method: del, path: cmPath, query: url.Values{"labelSelector": {"set=a"}}}, &deleted)
	if len(deleted.Items) != 3 {
		h.t.Errorf("deletecollection set=a returned %d items, want 3", len(deleted.Items))
	}
	var left corev1.ConfigMapList
	h.ok(call{method: get, path: cmPath, query: url.Values{"labelSelector": {"set"}}}, &left)
	var names []string
	for _, cm := range left.Items {
		names = append(names, cm.Name)
	}
	if strings.Join(names, ",") != "dc-b-0,dc-b-1" {
		h.t.Errorf("after deletecollection set=a: %v left, want dc-b-0,dc-b-1", names)
	}
}

func testFieldSelectors(h *harness) {
	mk := func(ns, name, node string, phase corev1.PodPhase) {
		p := pod(name)
		p.Labels = map[string]string{"group": "fs"}
		path := "/api/v1/namespaces/" + ns + "/pods"
		h.ok(call{method: post, path: path, body: p}, p)
		if node != "" {
			h.ok(call{method: post, path: path + "/" + name + "/binding",
				body: `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"` + name + `"},"target":{"name":"` + node + `"}}`}, nil)
		}
		if phase != "" {
			h.ok(call{method: patch, path: path + "/" + name + "/status", contentType: mergeCT,
				body: `{"status":{"phase":"` + string(phase) + `"}}`}, nil)
		}
	}
	mk("default", "fs-1", "node-1", corev1.PodRunning)
	mk("default", "fs-2", "", "")
	mk("kube-system", "fs-3", "", "")
	cases := []struct{ path, sel, want string }{
		{podPath, "metadata.name=fs-1", "default/fs-1"},
		{"/api/v1/pods", "metadata.namespace=kube-system", "kube-system/fs-3"},
		{"/api/v1/pods", "spec.nodeName=node-1", "default/fs-1"},
		{"/api/v1/pods", "spec.nodeName=", "default/fs-2,kube-system/fs-3"},
		{"/api/v1/pods", "status.phase=Running", "default/fs-1"},
		{"/api/v1/pods", "status.phase!=Running", "default/fs-2,kube-system/fs-3"},
		{"/api/v1/pods", "metadata.name!=fs-1,metadata.namespace=default", "default/fs-2"},
		{"/api/v1/pods", "status.phase=Pending,spec.nodeName=", "default/fs-2,kube-system/fs-3"},
	}
	for _, tc := range cases {
		var list corev1.PodList
		h.ok(call{method: get, path: tc.path, query: url.Values{"fieldSelector": {tc.sel}, "labelSelector": {"group=fs"}}}, &list)
		var got []string
		for _, p := range list.Items {
			got = append(got, p.Namespace+"/"+p.Name)
		}
		if strings.Join(got, ",") != tc.want {
			h.t.Errorf("fieldSelector %s on %s: %v, want %s", tc.sel, tc.path, got, tc.want)
		}
	}
	h.fails(call{method: get, path: podPath, query: url.Values{"fieldSelector": {"spec.bogus=1"}}}, 400, metav1.StatusReasonBadRequest, "spec.bogus")
	h.fails(call{method: get, path: cmPath, query: url.Values{"fieldSelector": {"spec.nodeName=x"}}}, 400, metav1.StatusReasonBadRequest, "spec.nodeName")
	h.fails(call{method: get, path: podPath, query: url.Values{"watch": {"1"}, "fieldSelector": {"status.bogus=1"}}}, 400, metav1.StatusReasonBadRequest, "status.bogus")
	h.fails(call{method: get, path: podPath, query: url.Values{"fieldSelector": {"a=b=c=="}}}, 400, metav1.StatusReasonBadRequest)
}

func testStatusSubresource(h *harness) {
	created := deployment("st", 1)
	created.Status.Replicas = 7 // a create ignores status
	var d appsv1.Deployment
	h.ok(call{method: post, path: deployPath, body: created}, &d)
	if d.Status.Replicas != 0 {
		h.t.Errorf("create kept status.replicas %d, want 0", d.Status.Replicas)
	}
	w := d.DeepCopy()
	*w.Spec.Replicas = 9
	w.Status.Replicas = 3
	h.ok(call{method: put, path: deployPath + "/st/status", body: w}, &d)
	if *d.Spec.Replicas != 1 || d.Status.Replicas != 3 {
		h.t.Errorf("status write: spec.replicas %d status.replicas %d, want 1 (spec ignored) and 3", *d.Spec.Replicas, d.Status.Replicas)
	}
	w = d.DeepCopy()
	*w.Spec.Replicas = 2
	w.Status.Replicas = 0
	h.ok(call{method: put, path: deployPath + "/st", body: w}, &d)
	if *d.Spec.Replicas != 2 || d.Status.Replicas != 3 {
		h.t.Errorf("main write: spec.replicas %d status.replicas %d, want 2 and 3 (status ignored)", *d.Spec.Replicas, d.Status.Replicas)
	}
	h.ok(call{method: patch, path: deployPath + "/st/status", contentType: mergeCT,
		body: `{"spec":{"replicas":5},"status":{"availableReplicas":2}}`}, &d)
	if *d.Spec.Replicas != 2 || d.Status.AvailableReplicas != 2 {
		h.t.Errorf("status patch: spec.replicas %d available %d, want 2 and 2", *d.Spec.Replicas, d.Status.AvailableReplicas)
	}
	h.ok(call{method: patch, path: deployPath + "/st", contentType: mergeCT, body: `{"status":{"availableReplicas":0}}`}, &d)
	if d.Status.AvailableReplicas != 2 {
		h.t.Errorf("patch of the main resource changed status to %d", d.Status.AvailableReplicas)
	}
	h.fails(call{method: put, path: cmPath + "/x/status", body: configMap("x", nil)}, 404, metav1.StatusReasonNotFound)
}

func testScaleSubresource(h *harness) {
	var d appsv1.Deployment
	h.ok(call{method: post, path: deployPath, body: deployment("sc", 2)}, &d)
	var sc autoscalingv1.Scale
	h.ok(call{method: get, path: deployPath + "/sc/scale"}, &sc)
	if sc.Kind != "Scale" || sc.APIVersion != "autoscaling/v1" || sc.Spec.Replicas != 2 || sc.Status.Selector != "app=sc" ||
		sc.ResourceVersion != d.ResourceVersion {
		h.t.Errorf("GET scale: %+v, want autoscaling/v1 Scale with replicas 2, selector app=sc, rv %s", sc, d.ResourceVersion)
	}
	stale := sc
	sc.Spec.Replicas = 7
	h.ok(call{method: put, path: deployPath + "/sc/scale", body: &sc}, &sc)
	h.get(deployPath+"/sc", &d)
	if *d.Spec.Replicas != 7 || d.Generation != 2 || sc.Spec.Replicas != 7 {
		h.t.Errorf("PUT scale 7: deployment replicas %d generation %d, scale %d; want 7, 2, 7", *d.Spec.Replicas, d.Generation, sc.Spec.Replicas)
	}
	stale.Spec.Replicas = 1
	h.fails(call{method: put, path: deployPath + "/sc/scale", body: &stale}, 409, metav1.StatusReasonConflict)
	h.ok(call{method: patch, path: deployPath + "/sc/scale", contentType: mergeCT, body: `{"spec":{"replicas":3}}`}, &sc)
	h.get(deployPath+"/sc", &d)
	if *d.Spec.Replicas != 3 {
		h.t.Errorf("PATCH scale 3: deployment replicas %d", *d.Spec.Replicas)
	}
	h.ok(call{method: put, path: deployPath + "/sc/scale",
		body: `{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"sc","namespace":"default"},"spec":{"replicas":4}}`}, &sc)
	if h.get(deployPath+"/sc", &d); *d.Spec.Replicas != 4 {
		h.t.Errorf("PUT scale 4 without resourceVersion: deployment replicas %d", *d.Spec.Replicas)
	}
	h.fails(call{method: patch, path: deployPath + "/sc/scale", contentType: mergeCT, body: `{"spec":{"replicas":-1}}`}, 422, metav1.StatusReasonInvalid, "spec.replicas")
	h.fails(call{method: get, path: cmPath + "/x/scale"}, 404, metav1.StatusReasonNotFound)
}
