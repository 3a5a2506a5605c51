package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing/iotest"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/control/api"
	"github.com/minicluster/mini/control/client"
)

func testAuthentication(h *harness) {
	for _, token := range []string{"", "wrong-token"} {
		cfg := h.c.Config()
		cfg.Token = token
		c, err := client.New(cfg)
		if err != nil {
			h.t.Fatal(err)
		}
		anon := &harness{t: h.t, env: h.env, c: c}
		st := anon.fails(call{method: get, path: "/api/v1/namespaces"}, 401, metav1.StatusReasonUnauthorized)
		if st.Kind != "Status" || st.APIVersion != "v1" {
			h.t.Errorf("token %q: 401 body is %s/%s, want a v1 Status", token, st.APIVersion, st.Kind)
		}
		anon.fails(call{method: post, path: cmPath, body: configMap("intruder", nil)}, 401, metav1.StatusReasonUnauthorized)
		anon.fails(call{method: get, path: "/apis"}, 401, metav1.StatusReasonUnauthorized)
	}
	var cm corev1.ConfigMap
	if h.get(cmPath+"/intruder", &cm) {
		h.t.Errorf("an unauthenticated create was stored")
	}
}

func testBodyLimit(h *harness) {
	big := configMap("big", map[string]string{"a": strings.Repeat("x", 3<<20)})
	h.fails(call{method: post, path: cmPath, body: big}, 413, metav1.StatusReasonRequestEntityTooLarge)
	h.ok(call{method: post, path: cmPath, body: configMap("big", map[string]string{"a": "small"})}, nil)
	h.fails(call{method: put, path: cmPath + "/big", body: big}, 413, metav1.StatusReasonRequestEntityTooLarge)
	h.fails(call{method: patch, path: cmPath + "/big", contentType: mergeCT, body: big}, 413, metav1.StatusReasonRequestEntityTooLarge)

	// A body of unknown length is cut at the limit too.
	data, _ := json.Marshal(big)
	rev := h.env.Plane.Store.Rev()
	rt := h.env.Plane.API.InProcessTransport(api.User{Name: "admin", Groups: []string{"system:masters"}})
	for _, body := range []io.Reader{bytes.NewReader(data), iotest.HalfReader(bytes.NewReader(data))} {
		req, _ := http.NewRequest(post, "http://in-process"+cmPath, io.NopCloser(body))
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		resp, err := rt.RoundTrip(req)
		if err != nil {
			h.t.Fatal(err)
		}
		var st metav1.Status
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if resp.StatusCode != 413 || st.Reason != metav1.StatusReasonRequestEntityTooLarge {
			h.t.Errorf("chunked body over the limit: %d %s (%s), want 413 RequestEntityTooLarge", resp.StatusCode, st.Reason, st.Message)
		}
	}
	if got := h.env.Plane.Store.Rev(); got != rev {
		h.t.Errorf("a refused oversized body moved the store from %d to %d", rev, got)
	}
	var cm corev1.ConfigMap
	if h.get(cmPath+"/big", &cm); cm.Data["a"] != "small" {
		h.t.Errorf("oversized writes changed the object")
	}
}

func testNodePorts(h *harness) {
	var a corev1.Service
	h.ok(call{method: post, path: svcPath, body: nodePortService("np-a", 30080)}, &a)
	if a.Spec.Ports[0].NodePort != 30080 || a.Spec.ClusterIP == "" {
		h.t.Errorf("service np-a: nodePort %d clusterIP %q", a.Spec.Ports[0].NodePort, a.Spec.ClusterIP)
	}
	h.fails(call{method: post, path: svcPath, body: nodePortService("np-b", 30080)}, 422, metav1.StatusReasonInvalid,
		"spec.ports[0].nodePort", "already allocated")
	// The second port conflicts: the first one must not stay allocated.
	h.fails(call{method: post, path: svcPath, body: nodePortService("np-c", 30081, 30080)}, 422, metav1.StatusReasonInvalid,
		"spec.ports[1].nodePort")
	h.ok(call{method: post, path: svcPath, body: nodePortService("np-d", 30081)}, nil)
	h.fails(call{method: post, path: svcPath, body: nodePortService("np-e", 29999)}, 422, metav1.StatusReasonInvalid,
		"spec.ports[0].nodePort", "30000-32767")
	var auto corev1.Service
	h.ok(call{method: post, path: svcPath, body: nodePortService("np-f", 0, 0)}, &auto)
	p0, p1 := auto.Spec.Ports[0].NodePort, auto.Spec.Ports[1].NodePort
	if p0 < 30000 || p0 > 32767 || p1 < 30000 || p1 > 32767 || p0 == p1 || p0 == 30080 || p1 == 30080 || p0 == 30081 || p1 == 30081 {
		h.t.Errorf("allocated node ports %d and %d: want two distinct free ports in 30000-32767", p0, p1)
	}
	// Taking another service's port on update is refused too.
	upd := a.DeepCopy()
	upd.Spec.Ports[0].NodePort = 30081
	h.fails(call{method: put, path: svcPath + "/np-a", body: upd}, 422, metav1.StatusReasonInvalid, "spec.ports[0].nodePort")
	// Deleting frees the port.
	h.ok(call{method: del, path: svcPath + "/np-a"}, nil)
	h.ok(call{method: post, path: svcPath, body: nodePortService("np-b", 30080)}, nil)
}

func testDryRun(h *harness) {
	dry := url.Values{"dryRun": {"All"}}
	rev := h.env.Plane.Store.Rev()
	var out corev1.ConfigMap
	h.ok(call{method: post, path: cmPath, query: dry, body: configMap("dry", map[string]string{"a": "1"})}, &out)
	if out.Name != "dry" || out.UID == "" || out.Data["a"] != "1" {
		h.t.Errorf("dry-run create answered %+v, want the object as it would be stored", out)
	}
	var cm corev1.ConfigMap
	if h.get(cmPath+"/dry", &cm) {
		h.t.Errorf("dry-run create stored the object")
	}
	var svc corev1.Service
	h.ok(call{method: post, path: svcPath, query: dry, body: nodePortService("dry-svc", 30090)}, &svc)
	if h.env.Plane.Store.Rev() != rev {
		h.t.Errorf("dry-run creates moved the store from %d to %d", rev, h.env.Plane.Store.Rev())
	}
	h.ok(call{method: post, path: svcPath, body: nodePortService("real-svc", 30090)}, nil) // the port was not kept

	var real corev1.ConfigMap
	h.ok(call{method: post, path: cmPath, body: configMap("dry2", map[string]string{"a": "1"})}, &real)
	rev = h.env.Plane.Store.Rev()
	changed := real.DeepCopy()
	changed.Data["a"] = "2"
	h.ok(call{method: put, path: cmPath + "/dry2", query: dry, body: changed}, &out)
	if out.Data["a"] != "2" {
		h.t.Errorf("dry-run update answered data %v, want a=2", out.Data)
	}
	h.ok(call{method: patch, path: cmPath + "/dry2", query: dry, contentType: mergeCT, body: `{"data":{"a":"3"}}`}, &out)
	h.ok(call{method: del, path: cmPath + "/dry2", query: dry}, nil)
	h.ok(call{method: del, path: cmPath, query: url.Values{"dryRun": {"All"}, "labelSelector": {"nothing-matches-this"}}}, nil)
	if !h.get(cmPath+"/dry2", &cm) || cm.Data["a"] != "1" || cm.ResourceVersion != real.ResourceVersion {
		h.t.Errorf("after dry-run update, patch and delete: %+v, want the object unchanged", cm)
	}
	if h.env.Plane.Store.Rev() != rev {
		h.t.Errorf("dry-run writes moved the store from %d to %d", rev, h.env.Plane.Store.Rev())
	}
	h.fails(call{method: post, path: cmPath, query: url.Values{"dryRun": {"Some"}}, body: configMap("dry3", nil)}, 400, metav1.StatusReasonBadRequest, "dryRun")
}
