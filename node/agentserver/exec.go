package agentserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/minicluster/mini/node/runtime"
)

// Channels of the remote command WebSocket protocols (the POSIX file
// descriptors, then the error and terminal resize channels).
const (
	stdinChannel = iota
	stdoutChannel
	stderrChannel
	errorChannel
	resizeChannel
)

// Subprotocols served for exec and attach. kubectl 1.30+ asks for v5 (which
// adds the stdin close signal); v4 is what older clients speak.
var streamProtocols = []string{"v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io", "channel.k8s.io", "base64.channel.k8s.io", ""}

// idleTimeout ends an exec or attach session with no traffic at all.
const idleTimeout = 4 * time.Hour

type streamOpts struct{ stdin, stdout, stderr, tty bool }

func streamOptsOf(r *http.Request) (streamOpts, error) {
	q := r.URL.Query()
	on := func(k string) bool { v := q.Get(k); return v == "true" || v == "1" }
	o := streamOpts{stdin: on("stdin"), stdout: on("stdout"), stderr: on("stderr"), tty: on("tty")}
	if o.tty {
		o.stderr = false // a terminal has one output
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return o, fmt.Errorf("you must specify at least 1 of stdin, stdout, stderr")
	}
	return o, nil
}

// serveExec runs a command in a container:
// /pods/{ns}/{name}/exec?container=&command=...&stdin=&stdout=&stderr=&tty=
func (s *server) serveExec(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, st *runtime.PodState) {
	c, err := runningContainer(r, pod, st)
	if err != nil {
		badRequest(w, err)
		return
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		badRequest(w, fmt.Errorf("you must specify at least one command for the container"))
		return
	}
	s.stream(w, r, func(ctx context.Context, o runtime.StreamOptions) (int, error) {
		return s.rt.Exec(ctx, c.ID, cmd, o)
	})
}

// serveAttach attaches to a container's main process.
func (s *server) serveAttach(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, st *runtime.PodState) {
	c, err := runningContainer(r, pod, st)
	if err != nil {
		badRequest(w, err)
		return
	}
	s.stream(w, r, func(ctx context.Context, o runtime.StreamOptions) (int, error) {
		return 0, s.rt.Attach(ctx, c.ID, o)
	})
}

// stream upgrades to the channel protocol and runs an exec or attach over
// it, reporting the outcome on the error channel.
func (s *server) stream(w http.ResponseWriter, r *http.Request, run func(context.Context, runtime.StreamOptions) (int, error)) {
	o, err := streamOptsOf(r)
	if err != nil {
		badRequest(w, err)
		return
	}
	if !wsstream.IsWebSocketRequest(r) {
		badRequest(w, fmt.Errorf("mini's node agent serves exec and attach over WebSocket (v5.channel.k8s.io) only, not SPDY"))
		return
	}
	conn := wsstream.NewConn(channelProtocols(o))
	conn.SetIdleTimeout(idleTimeout)
	// wsstream logs the connection's normal end as an error: not here
	r = r.WithContext(klog.NewContext(r.Context(), logr.Discard()))
	proto, streams, err := conn.Open(w, r)
	if err != nil {
		s.cfg.Logf("agent: %s %s: websocket: %v", r.Method, r.URL.Path, err)
		return
	}
	defer conn.Close()
	// an empty frame on the first output channel tells the client the
	// session is established
	switch {
	case o.stdout:
		streams[stdoutChannel].Write(nil)
	case o.stderr:
		streams[stderrChannel].Write(nil)
	default:
		streams[errorChannel].Write(nil)
	}
	ctx, cancel := detached(r)
	defer cancel()
	so := runtime.StreamOptions{Tty: o.tty}
	if o.stdin {
		so.Stdin = streams[stdinChannel]
	}
	if o.stdout {
		so.Stdout = streams[stdoutChannel]
	}
	if o.stderr {
		so.Stderr = streams[stderrChannel]
	}
	if o.tty {
		so.Resize = resizes(ctx, streams[resizeChannel])
	}
	code, err := run(ctx, so)
	writeExit(streams[errorChannel], proto, code, err)
}

// channelProtocols opens the channels a request asks for (and always the
// error channel) under every subprotocol served.
func channelProtocols(o streamOpts) map[string]wsstream.ChannelProtocolConfig {
	channel := func(on bool, t wsstream.ChannelType) wsstream.ChannelType {
		if on {
			return t
		}
		return wsstream.IgnoreChannel
	}
	channels := []wsstream.ChannelType{channel(o.stdin, wsstream.ReadChannel), channel(o.stdout, wsstream.WriteChannel),
		channel(o.stderr, wsstream.WriteChannel), wsstream.WriteChannel, channel(o.tty, wsstream.ReadChannel)}
	protocols := map[string]wsstream.ChannelProtocolConfig{}
	for _, p := range streamProtocols {
		protocols[p] = wsstream.ChannelProtocolConfig{Binary: !strings.Contains(p, "base64"), Channels: channels}
	}
	return protocols
}

// resizes decodes terminal sizes sent on the resize channel.
func resizes(ctx context.Context, r io.Reader) <-chan runtime.TermSize {
	ch := make(chan runtime.TermSize, 4)
	go func() {
		defer close(ch)
		dec := json.NewDecoder(r)
		for {
			var sz runtime.TermSize
			if err := dec.Decode(&sz); err != nil {
				return
			}
			select {
			case ch <- sz:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// writeExit reports how the command ended: a metav1.Status on v4 and later
// (Success, or Failure with reason NonZeroExitCode and the code as a cause,
// which kubectl exits with), a plain message before.
func writeExit(w io.Writer, proto string, code int, err error) {
	st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess}
	switch {
	case err != nil:
		st.Status, st.Reason, st.Message = metav1.StatusFailure, metav1.StatusReasonInternalError, err.Error()
	case code != 0:
		st.Status, st.Reason = metav1.StatusFailure, "NonZeroExitCode"
		st.Message = fmt.Sprintf("command terminated with non-zero exit code: command terminated with exit code %d", code)
		st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: fmt.Sprint(code)}}}
	}
	if strings.HasPrefix(proto, "v4.") || strings.HasPrefix(proto, "v5.") {
		data, _ := json.Marshal(st)
		w.Write(data)
		return
	}
	if st.Status != metav1.StatusSuccess {
		w.Write([]byte(st.Message))
	}
}
