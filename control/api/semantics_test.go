package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/plane/plantest"
)

// harness issues raw API requests over HTTPS and checks that refused
// requests leave the store untouched.
type harness struct {
	t   *testing.T
	env *plantest.Env
	c   *client.Client
}

func newHarness(t *testing.T) *harness {
	env := plantest.Start(t, plantest.Options{})
	return &harness{t: t, env: env, c: env.Client}
}

// call is one request; body is marshalled to JSON unless it is []byte.
type call struct {
	method, path string
	query        url.Values
	body         any
	contentType  string
}

func (h *harness) send(c call) ([]byte, error) {
	h.t.Helper()
	var body []byte
	switch b := c.body.(type) {
	case nil:
	case []byte:
		body = b
	case string:
		body = []byte(b)
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			h.t.Fatal(err)
		}
	}
	return h.c.Do(context.Background(), client.Request{Method: c.method, Path: c.path, Query: c.query, Body: body, ContentType: c.contentType})
}

// ok sends c, fails the test unless it succeeds, and decodes the answer
// into out (when not nil).
func (h *harness) ok(c call, out runtime.Object) {
	h.t.Helper()
	data, err := h.send(c)
	if err != nil {
		h.t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			h.t.Fatalf("%s %s: decoding %T: %v\n%s", c.method, c.path, out, err, data)
		}
	}
}

// fails sends c and checks the Status it must be refused with; the message
// must contain each of msgs. Nothing may have been written.
func (h *harness) fails(c call, code int32, reason metav1.StatusReason, msgs ...string) *metav1.Status {
	h.t.Helper()
	rev := h.env.Plane.Store.Rev()
	_, err := h.send(c)
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		h.t.Fatalf("%s %s: got %v, want a %d %s Status", c.method, c.path, err, code, reason)
	}
	st := se.Status()
	if st.Code != code || st.Reason != reason {
		h.t.Errorf("%s %s: %d %s (%s), want %d %s", c.method, c.path, st.Code, st.Reason, st.Message, code, reason)
	}
	full := st.Message
	if st.Details != nil {
		for _, cause := range st.Details.Causes {
			full += " | " + cause.Field + ": " + cause.Message
		}
	}
	for _, m := range msgs {
		if !strings.Contains(full, m) {
			h.t.Errorf("%s %s: message %q does not mention %q", c.method, c.path, full, m)
		}
	}
	if got := h.env.Plane.Store.Rev(); got != rev {
		h.t.Errorf("%s %s was refused but the store moved from revision %d to %d", c.method, c.path, rev, got)
	}
	return &st
}

// get reads an object; it returns false when it does not exist.
func (h *harness) get(path string, out runtime.Object) bool {
	h.t.Helper()
	data, err := h.send(call{method: http.MethodGet, path: path})
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		h.t.Fatal(err)
	}
	return true
}

const (
	cmPath     = "/api/v1/namespaces/default/configmaps"
	podPath    = "/api/v1/namespaces/default/pods"
	svcPath    = "/api/v1/namespaces/default/services"
	deployPath = "/apis/apps/v1/namespaces/default/deployments"
)

func configMap(name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "web", Image: "nginx:1"}, {Name: "sidecar", Image: "busybox:1"}}},
			},
		},
	}
}

func pod(name string) *corev1.Pod {
	return &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "x"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}}}
}

func nodePortService(name string, ports ...int32) *corev1.Service {
	s := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": name}}}
	for i, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("p%d", i), Port: 80 + int32(i),
			Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80), NodePort: p})
	}
	return s
}
