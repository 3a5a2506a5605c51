package cluster

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/docker/docker/client"
)

// ConnectOption changes how Connect makes its client.
type ConnectOption func(*connectConfig)

type connectConfig struct {
	logf func(format string, a ...any)
}

// WithCallLog logs every Docker API request (method, path, status and
// duration) through logf: `mini --verbose`. Streams attached to exec
// sessions are not requests and are not logged. With TLS to a remote
// engine (DOCKER_CERT_PATH) nothing is logged, and logf is told so.
func WithCallLog(logf func(format string, a ...any)) ConnectOption {
	return func(c *connectConfig) { c.logf = logf }
}

// callLog is an http.RoundTripper that logs each request.
type callLog struct {
	next http.RoundTripper
	logf func(format string, a ...any)
}

func (l callLog) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := l.next.RoundTrip(req)
	took := time.Since(start).Round(100 * time.Microsecond)
	target := req.URL.Path
	if q, err := url.QueryUnescape(req.URL.RawQuery); err == nil && q != "" {
		target += "?" + q
	}
	if err != nil {
		l.logf("docker: %s %s: %v (%s)", req.Method, target, err, took)
		return resp, err
	}
	l.logf("docker: %s %s → %s (%s)", req.Method, target, resp.Status, took)
	return resp, err
}

// withCallLog returns a client like c whose requests go through callLog
// (c's own transport, already set up for DOCKER_HOST, does the work).
func withCallLog(c *Docker, logf func(format string, a ...any)) (*Docker, error) {
	if os.Getenv("DOCKER_CERT_PATH") != "" {
		logf("docker: TLS connection to %s: the Docker call log is not available", c.DaemonHost())
		return c, nil
	}
	hc := c.HTTPClient()
	hc.Transport = callLog{next: hc.Transport, logf: logf}
	return client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation(),
		client.WithHTTPClient(hc), client.WithScheme("http"))
}

// ping checks that the engine answers, within 10 s.
func ping(ctx context.Context, c *Docker) error {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.Ping(pctx)
	return err
}
