package api

import (
	"io"
	"net/http"
	"sync"
)

// InProcessTransport returns a RoundTripper that serves requests with this
// server directly, as user, without TLS or sockets. Controllers and the
// scheduler use it so that they go through exactly the API that remote
// clients use. Responses stream through a pipe, so watches work; connection
// upgrades (exec) do not.
func (s *Server) InProcessTransport(u User) http.RoundTripper {
	return &inProcess{s: s, user: u}
}

type inProcess struct {
	s    *Server
	user User
}

func (t *inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	rw := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	in := req.Clone(WithUser(req.Context(), t.user))
	if in.Body == nil {
		in.Body = http.NoBody
	}
	go func() {
		defer rw.finish()
		t.s.ServeHTTP(rw, in)
	}()
	select {
	case <-rw.ready:
	case <-req.Context().Done():
		pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	return &http.Response{
		Status: http.StatusText(rw.code), StatusCode: rw.code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rw.sent, Body: pr, ContentLength: -1, Request: req,
	}, nil
}

// pipeWriter is the http.ResponseWriter of an in-process request.
type pipeWriter struct {
	header http.Header
	sent   http.Header
	pw     *io.PipeWriter
	code   int
	once   sync.Once
	ready  chan struct{}
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(code int) {
	w.once.Do(func() {
		w.code = code
		w.sent = w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(p)
}

func (w *pipeWriter) Flush() {}

func (w *pipeWriter) finish() {
	w.WriteHeader(http.StatusOK)
	w.pw.Close()
}
