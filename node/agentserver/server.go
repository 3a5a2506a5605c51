// Package agentserver owns the node agent's HTTP server (port 10250), the
// far end of the API server's pod subresource proxy: container logs
// (follow, tail, previous, timestamps, since), exec and attach over the
// WebSocket streaming protocol kubectl speaks (v5.channel.k8s.io, and the
// older channel protocols), and port-forward. Requests must carry the
// node's bearer token, which the API server presents.
package agentserver

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/node/runtime"
)

// Pods finds the pods bound to the node.
type Pods interface {
	Pod(namespace, name string) (*corev1.Pod, bool)
}

// Config configures a server.
type Config struct {
	Runtime *runtime.Runtime
	Pods    Pods
	// Token is the bearer token every request must present.
	Token string
	Logf  func(format string, args ...any)
}

type server struct {
	cfg Config
	rt  *runtime.Runtime
	mux *http.ServeMux
}

// New returns the agent's HTTP handler.
func New(cfg Config) http.Handler {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	s := &server{cfg: cfg, rt: cfg.Runtime, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	s.mux.HandleFunc("GET /pods/{namespace}/{name}/log", s.withPod(s.serveLog))
	for _, m := range []string{"GET", "POST"} {
		s.mux.HandleFunc(m+" /pods/{namespace}/{name}/exec", s.withPod(s.serveExec))
		s.mux.HandleFunc(m+" /pods/{namespace}/{name}/attach", s.withPod(s.serveAttach))
		s.mux.HandleFunc(m+" /pods/{namespace}/{name}/portforward", s.withPod(s.servePortForward))
	}
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || s.cfg.Token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) != 1 {
		writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// podHandler serves a request about one pod (found in the node's pods, and
// in Docker).
type podHandler func(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, st *runtime.PodState)

func (s *server) withPod(h podHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ns, name := r.PathValue("namespace"), r.PathValue("name")
		pod, ok := s.cfg.Pods.Pod(ns, name)
		if uid := r.Header.Get("X-Mini-Pod-UID"); ok && uid != "" && uid != string(pod.UID) {
			ok = false
		}
		if !ok {
			writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("pod %s/%s is not running on this node", ns, name))
			return
		}
		st, err := s.rt.Pod(r.Context(), pod.UID)
		if err != nil {
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, err.Error())
			return
		}
		h(w, r, pod, st)
	}
}

// containerName returns the container a request names, or the pod's
// default one (annotation kubectl.kubernetes.io/default-container, or its
// only container).
func containerName(r *http.Request, pod *corev1.Pod) (string, error) {
	if c := r.URL.Query().Get("container"); c != "" {
		for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
			for _, x := range cs {
				if x.Name == c {
					return c, nil
				}
			}
		}
		return "", fmt.Errorf("container %s is not valid for pod %s", c, pod.Name)
	}
	if d := pod.Annotations["kubectl.kubernetes.io/default-container"]; d != "" {
		return d, nil
	}
	if len(pod.Spec.Containers) == 1 {
		return pod.Spec.Containers[0].Name, nil
	}
	names := make([]string, len(pod.Spec.Containers))
	for i, c := range pod.Spec.Containers {
		names[i] = c.Name
	}
	return "", fmt.Errorf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(names, " "))
}

// runningContainer finds the running container a request is about.
func runningContainer(r *http.Request, pod *corev1.Pod, st *runtime.PodState) (*runtime.Container, error) {
	name, err := containerName(r, pod)
	if err != nil {
		return nil, err
	}
	c := st.Latest(name)
	if c == nil || !c.Running() {
		return nil, fmt.Errorf("container %s is not running in pod %s", name, pod.Name)
	}
	return c, nil
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(&metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusFailure, Code: int32(code), Reason: reason, Message: msg})
}

func badRequest(w http.ResponseWriter, err error) {
	writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
}

// detached returns a context that ends with the request's but not when the
// handler hijacks the connection (streaming protocols end on their own).
func detached(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithCancel(context.WithoutCancel(r.Context()))
}
