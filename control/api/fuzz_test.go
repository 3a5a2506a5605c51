package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/control/store"
)

var fuzzContentTypes = []string{
	"application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "",
	"application/merge-patch+json", "application/strategic-merge-patch+json", "application/json-patch+json",
	"application/apply-patch+yaml", "text/plain", "application/json; charset=utf-8", "multipart/form-data; boundary=x",
}

// wantClientError fails unless err is an API status with a 4xx code.
func wantClientError(t *testing.T, what string, err error) {
	t.Helper()
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		t.Fatalf("%s: error %v (%T) is not an API status", what, err, err)
	}
	if c := se.Status().Code; c < 400 || c > 499 {
		t.Fatalf("%s: status %d %s (%s), want a 4xx", what, c, se.Status().Reason, se.Status().Message)
	}
}

// FuzzDecodeBody feeds random bytes to the paths that turn a request body
// into an object: readBody (JSON, YAML, protobuf), decodeObject with each
// field validation directive, and applyPatch of each patch type. None may
// panic; every refusal must be a 4xx Status.
func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"x"}]}}`), uint8(0), uint8(1), uint8(0))
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"), uint8(1), uint8(4), uint8(2))
	f.Add([]byte("k8s\x00\x0a\x04\x0a\x02v1\x12\x03Pod\x12\x00"), uint8(2), uint8(1), uint8(1))
	f.Add([]byte(`[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]`), uint8(6), uint8(9), uint8(0))
	res := DefaultResources()
	f.Fuzz(func(t *testing.T, body []byte, ct, ri, fvi uint8) {
		r := res[int(ri)%len(res)]
		fv := []fieldValidation{fvStrict, fvWarn, fvIgnore}[int(fvi)%3]
		ctype := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Body = http.MaxBytesReader(w, req.Body, 3<<20)
		data, err := readBody(req, r.New)
		if err != nil {
			wantClientError(t, "readBody "+ctype, err)
			return
		}
		obj, err := decodeObject(w, data, r, fv)
		if err != nil {
			wantClientError(t, "decodeObject "+r.Kind, err)
		} else {
			if gvk := obj.GetObjectKind().GroupVersionKind(); gvk.Kind != r.Kind || gvk.GroupVersion() != r.GroupVersion() {
				t.Fatalf("decoded %s as %v", r.Kind, gvk)
			}
			if _, err := json.Marshal(obj); err != nil {
				t.Fatalf("a decoded %s does not encode: %v", r.Kind, err)
			}
		}
		cur := r.New()
		objectMeta(cur).Name = "fuzz"
		for _, kind := range []patchKind{jsonPatch, mergePatch, strategicPatch} {
			if _, err := applyPatch(w, r, cur.DeepCopyObject(), kind, data, fv); err != nil {
				wantClientError(t, fmt.Sprintf("applyPatch %d on %s", kind, r.Kind), err)
			}
		}
	})
}

// fuzzServer is the in-process API server the request fuzz target talks to.
// Opening a store costs far more than a request, so the inputs of one fuzz
// process share it; the checks do not depend on what earlier inputs did.
type fuzzServer struct {
	srv    *Server
	broken bool // its store is closed: every write fails inside the server
}

var (
	fuzzServersOnce sync.Once
	fuzzServers     [2]*fuzzServer
)

type noNodes struct{}

func (noNodes) NodeTransport(context.Context, string) (string, http.RoundTripper, error) {
	return "", nil, errors.New("fuzz: no node agents")
}

const fuzzToken = "fuzz-token"

func newFuzzServer(t *testing.T, broken bool) *fuzzServer {
	st, err := store.Open(store.Options{HistorySize: 1000, Attrs: StoreAttrs, Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Store: st, Nodes: noNodes{}, Tokens: map[string]User{fuzzToken: {Name: "admin"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range fuzzFixture {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(r[0], r[1], strings.NewReader(r[2]))
		req.Header.Set("Authorization", "Bearer "+fuzzToken)
		srv.ServeHTTP(w, req)
		if w.Code >= 300 {
			t.Fatalf("fixture %s %s: %d %s", r[0], r[1], w.Code, w.Body.String())
		}
	}
	if broken {
		st.Close()
	}
	return &fuzzServer{srv: srv, broken: broken}
}

// fuzzFixture gives the fuzzer objects to act on: a namespace, a bound pod,
// a deployment, a NodePort service, a configmap with a finalizer, a node.
var fuzzFixture = [][3]string{
	{"POST", "/api/v1/namespaces", `{"metadata":{"name":"default"}}`},
	{"POST", "/api/v1/nodes", `{"metadata":{"name":"n1"}}`},
	{"POST", "/api/v1/namespaces/default/pods", `{"metadata":{"name":"p","labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"x"}]}}`},
	{"POST", "/api/v1/namespaces/default/pods/p/binding", `{"metadata":{"name":"p"},"target":{"name":"n1"}}`},
	{"POST", "/apis/apps/v1/namespaces/default/deployments", `{"metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}}`},
	{"POST", "/api/v1/namespaces/default/services", `{"metadata":{"name":"s"},"spec":{"type":"NodePort","selector":{"a":"b"},"ports":[{"port":80,"nodePort":30001}]}}`},
	{"POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"c","finalizers":["x/y"]},"data":{"a":"b"}}`},
}

var fuzzMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "BREW"}

// nodeProxied are the subresources served by a node agent: without one the
// server rightly answers 503.
func nodeProxied(path string) bool {
	for _, sub := range []string{"/log", "/exec", "/attach", "/portforward"} {
		if strings.HasSuffix(strings.TrimSuffix(path, "/"), sub) {
			return true
		}
	}
	return false
}

var fuzzSubresources = []string{"", "", "status", "scale", "binding", "eviction", "log", "exec", "finalize", "proxy", "bogus"}

// fuzzPath builds a resource path from indexes most of the time (so that the
// fuzzer reaches the handlers), or takes raw as the whole path when asked.
func fuzzPath(reg *Registry, ri, sub uint8, name string, raw bool) string {
	if raw {
		return name
	}
	rs := reg.Resources()
	res := rs[int(ri)%len(rs)]
	p := "/api/v1/"
	if res.Group != "" {
		p = "/apis/" + res.Group + "/" + res.Version + "/"
	}
	if res.Namespaced && ri&0x80 == 0 {
		p += "namespaces/default/"
	}
	p += res.Name
	if name != "" {
		p += "/" + name
		if s := fuzzSubresources[int(sub)%len(fuzzSubresources)]; s != "" {
			p += "/" + s
		}
	}
	return p
}

// FuzzRequest sends random requests (method, path, query, content type,
// body, with or without the token) to an in-process server. The server must
// never panic, answer every error with a Status of the same code, answer
// 5xx only when its store was made to fail, and never store an object that
// does not decode or whose resourceVersion is not its revision.
func FuzzRequest(f *testing.F) {
	f.Add(uint8(0), uint8(1), "", uint8(0), "labelSelector=a%3Db", uint8(0), []byte(nil), uint8(0))
	f.Add(uint8(1), uint8(4), "", uint8(0), "dryRun=All", uint8(0), []byte(`{"metadata":{"generateName":"g-"}}`), uint8(0))
	f.Add(uint8(3), uint8(9), "d", uint8(3), "", uint8(4), []byte(`{"spec":{"replicas":3}}`), uint8(0))
	f.Add(uint8(4), uint8(4), "", uint8(0), "fieldSelector=metadata.name%3Dc", uint8(0), []byte(`{"propagationPolicy":"Orphan"}`), uint8(0))
	f.Add(uint8(0), uint8(0), "/api/v1/watch/namespaces/default/pods", uint8(0), "resourceVersion=1&allowWatchBookmarks=true", uint8(0), []byte(nil), uint8(32))
	f.Add(uint8(2), uint8(1), "p", uint8(2), "", uint8(1), []byte("status: {phase: Running}"), uint8(15))
	f.Fuzz(func(t *testing.T, mi, ri uint8, name string, sub uint8, query string, ct uint8, body []byte, flags uint8) {
		fuzzServersOnce.Do(func() {
			fuzzServers[0], fuzzServers[1] = newFuzzServer(t, false), newFuzzServer(t, true)
		})
		fs := fuzzServers[0]
		if flags%16 == 15 {
			fs = fuzzServers[1]
		}
		method := fuzzMethods[int(mi)%len(fuzzMethods)]
		path := fuzzPath(fs.srv.reg, ri, sub, name, flags&32 != 0)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req := (&http.Request{Method: method, URL: &url.URL{Path: path, RawQuery: query}, Header: http.Header{},
			Body: bodyOf(body), ContentLength: int64(len(body)), Host: "fuzz"}).WithContext(ctx)
		if ctype := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]; ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if flags%4 != 3 {
			req.Header.Set("Authorization", "Bearer "+fuzzToken)
		}
		if flags&16 != 0 {
			req.Header.Set("Accept", "application/json;as=Table;g=meta.k8s.io;v=v1")
		}
		w := httptest.NewRecorder()
		fs.srv.ServeHTTP(w, req)
		checkResponse(t, fs, method, path, w)
		if !fs.broken {
			checkStored(t, fs.srv)
		}
	})
}

func bodyOf(b []byte) *readCloser { return &readCloser{bytes.NewReader(b)} }

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func checkResponse(t *testing.T, fs *fuzzServer, method, path string, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code >= 500 && !fs.broken && !(w.Code == http.StatusServiceUnavailable && nodeProxied(path)) {
		t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body.String())
	}
	if w.Code < 400 || method == http.MethodHead {
		return
	}
	var st metav1.Status
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || st.Kind != "Status" || int(st.Code) != w.Code {
		t.Fatalf("%s %s: %d with body %q, want a Status of that code", method, path, w.Code, w.Body.String())
	}
}

// checkStored decodes every stored object: a refused or partial write must
// never leave something a client cannot read.
func checkStored(t *testing.T, s *Server) {
	t.Helper()
	for _, res := range s.reg.Resources() {
		ents, _ := s.store.List(res.keyPrefix())
		for _, e := range ents {
			obj, err := decode(res, e)
			if err != nil {
				t.Fatalf("stored %s does not decode: %v\n%s", e.Key, err, e.Value)
			}
			m := objectMeta(obj)
			if m.ResourceVersion != strconv.FormatInt(e.ModRev, 10) || m.Name == "" || m.UID == "" || res.key(m.Namespace, m.Name) != e.Key {
				t.Fatalf("stored %s has resourceVersion %q (revision %d), name %q, namespace %q, uid %q",
					e.Key, m.ResourceVersion, e.ModRev, m.Name, m.Namespace, m.UID)
			}
		}
	}
}
