package agentserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	o, limit, err := logOptionsOf(q)
	if err != nil {
		badRequest(w, err)
		return
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

// logOptionsOf reads kubectl's log query; limit is -1 without limitBytes.
func logOptionsOf(q url.Values) (o runtime.LogOptions, limit int64, err error) {
	o = runtime.LogOptions{Follow: q.Get("follow") == "true", Timestamps: q.Get("timestamps") == "true"}
	positive := func(key string, min int64) (int64, bool, error) {
		v := q.Get(key)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min {
			return 0, false, fmt.Errorf("%s must be an integer of at least %d, not %q", key, min, v)
		}
		return n, true, nil
	}
	if n, ok, err := positive("tailLines", 0); err != nil {
		return o, 0, err
	} else if ok {
		o.TailLines = &n
	}
	if n, ok, err := positive("sinceSeconds", 1); err != nil {
		return o, 0, err
	} else if ok {
		o.Since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		if o.Since, err = time.Parse(time.RFC3339, v); err != nil {
			return o, 0, fmt.Errorf("sinceTime must be an RFC 3339 time, not %q", v)
		}
	}
	limit = -1
	if n, ok, err := positive("limitBytes", 1); err != nil {
		return o, 0, err
	} else if ok {
		limit = n
	}
	return o, limit, nil
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
