package agentserver

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/minicluster/mini/node/runtime"
)

// serveLog streams a container's log: GET /pods/{ns}/{name}/log with
// kubectl's query (container, follow, previous, tailLines, sinceSeconds,
// sinceTime, timestamps, limitBytes).
func (s *server) serveLog(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, st *runtime.PodState) {
	q := r.URL.Query()
	name, err := containerName(r, pod)
	if err != nil {
		badRequest(w, err)
		return
	}
	o := runtime.LogOptions{Follow: q.Get("follow") == "true", Timestamps: q.Get("timestamps") == "true"}
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			badRequest(w, fmt.Errorf("tailLines must be a non-negative integer, not %q", v))
			return
		}
		o.TailLines = &n
	}
	if v := q.Get("sinceSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			badRequest(w, fmt.Errorf("sinceSeconds must be a positive integer, not %q", v))
			return
		}
		o.Since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			badRequest(w, fmt.Errorf("sinceTime must be an RFC 3339 time, not %q", v))
			return
		}
		o.Since = t
	}
	limit := int64(-1)
	if v := q.Get("limitBytes"); v != "" {
		if limit, err = strconv.ParseInt(v, 10, 64); err != nil || limit < 1 {
			badRequest(w, fmt.Errorf("limitBytes must be a positive integer, not %q", v))
			return
		}
	}
	c := st.Latest(name)
	if q.Get("previous") == "true" {
		if c = st.Previous(name); c == nil {
			badRequest(w, fmt.Errorf("previous terminated container %q in pod %q not found", name, pod.Name))
			return
		}
		o.Follow = false
	}
	if c == nil {
		badRequest(w, fmt.Errorf("container %q in pod %q is waiting to start: %s", name, pod.Name, waitingReason(pod, name)))
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	out := &flushWriter{w: w, left: limit}
	if f, ok := w.(http.Flusher); ok {
		out.f = f
		f.Flush() // a follower gets the headers before the first line
	}
	if err := s.rt.Logs(r.Context(), c, o, out); err != nil && !errors.Is(err, errLimit) {
		s.cfg.Logf("agent: logs of %s/%s %s: %v", pod.Namespace, pod.Name, name, err)
	}
}

func waitingReason(pod *corev1.Pod, name string) string {
	for _, s := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if s.Name == name && s.State.Waiting != nil {
			return s.State.Waiting.Reason
		}
	}
	return "ContainerCreating"
}

var errLimit = errors.New("limitBytes reached")

// flushWriter flushes every write (logs are streamed line by line) and
// stops after left bytes (when not negative).
type flushWriter struct {
	w    http.ResponseWriter
	f    http.Flusher
	left int64
}

func (fw *flushWriter) Write(p []byte) (int, error) {
	n := len(p)
	if fw.left >= 0 && int64(len(p)) > fw.left {
		p = p[:fw.left]
	}
	m, err := fw.w.Write(p)
	if fw.f != nil {
		fw.f.Flush()
	}
	if err != nil {
		return m, err
	}
	if fw.left >= 0 {
		if fw.left -= int64(m); fw.left == 0 {
			return m, errLimit
		}
	}
	return n, nil
}
