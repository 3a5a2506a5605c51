package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	streamhttp "k8s.io/streaming/pkg/httpstream"
)

// The pod streams (logs, exec, port-forward) go through the API server,
// which proxies them to the pod's node agent. Exec and port-forward speak
// the protocols stock kubectl speaks, with client-go's implementations:
// the WebSocket channel protocol (v5.channel.k8s.io) for exec, and SPDY
// tunnelled through a WebSocket (falling back to a plain SPDY upgrade) for
// port-forward.

// RESTConfig returns the client's server and credentials as client-go's
// rest.Config (for client-go's streaming executors). An in-process client
// (Config.Transport set) has none.
func (c *Client) RESTConfig() (*rest.Config, error) {
	if c.cfg.Transport != nil {
		return nil, errors.New("an in-process client cannot open upgraded streams")
	}
	return &rest.Config{Host: c.cfg.Server, BearerToken: c.cfg.Token, UserAgent: c.cfg.UserAgent,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.cfg.CAData, Insecure: c.cfg.Insecure}}, nil
}

// url returns the absolute URL of an API path.
func (c *Client) url(path string, q url.Values) *url.URL {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = q.Encode()
	return &u
}

// Logs opens a container's log (GET pods/NAME/log); the caller reads and
// closes it. With Follow it streams until the container ends or ctx ends.
func (c *Client) Logs(ctx context.Context, ns, pod string, o *corev1.PodLogOptions) (io.ReadCloser, error) {
	q := url.Values{}
	if o.Container != "" {
		q.Set("container", o.Container)
	}
	for k, on := range map[string]bool{"follow": o.Follow, "previous": o.Previous, "timestamps": o.Timestamps} {
		if on {
			q.Set(k, "true")
		}
	}
	if o.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*o.TailLines, 10))
	}
	if o.SinceSeconds != nil {
		q.Set("sinceSeconds", strconv.FormatInt(*o.SinceSeconds, 10))
	}
	if o.LimitBytes != nil {
		q.Set("limitBytes", strconv.FormatInt(*o.LimitBytes, 10))
	}
	return c.Open(ctx, Request{Method: http.MethodGet, Path: "/api/v1/namespaces/" + ns + "/pods/" + pod + "/log", Query: q, Accept: "*/*"})
}

// ExecOptions say what to run in a container and which streams to attach.
type ExecOptions struct {
	Container string
	Command   []string
	Stdin     io.Reader // nil: no stdin
	Stdout    io.Writer
	Stderr    io.Writer // ignored with TTY (a terminal has one output)
	TTY       bool
	Resize    remotecommand.TerminalSizeQueue // terminal sizes (TTY only; may be nil)
}

// Exec runs a command in a container and streams its input and output. A
// non-zero exit of the command is returned as client-go's
// exec.CodeExitError.
func (c *Client) Exec(ctx context.Context, ns, pod string, o ExecOptions) error {
	cfg, err := c.RESTConfig()
	if err != nil {
		return err
	}
	q := url.Values{"command": o.Command}
	if o.Container != "" {
		q.Set("container", o.Container)
	}
	stderr := o.Stderr
	if o.TTY {
		stderr = nil
	}
	for k, on := range map[string]bool{"stdin": o.Stdin != nil, "stdout": o.Stdout != nil, "stderr": stderr != nil, "tty": o.TTY} {
		q.Set(k, strconv.FormatBool(on))
	}
	u := c.url("/api/v1/namespaces/"+ns+"/pods/"+pod+"/exec", q)
	ex, err := remotecommand.NewWebSocketExecutor(cfg, http.MethodGet, u.String())
	if err != nil {
		return err
	}
	so := remotecommand.StreamOptions{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: stderr, Tty: o.TTY}
	if o.TTY && o.Resize != nil {
		so.TerminalSizeQueue = o.Resize
	}
	return ex.StreamWithContext(ctx, so)
}

// PortForward listens on addresses (e.g. 127.0.0.1) for each of ports
// ("LOCAL:REMOTE", ":REMOTE" for a free local port) and forwards
// connections to the pod's REMOTE ports until ctx ends. ready is closed
// once it listens; the listening addresses are reported on out.
func (c *Client) PortForward(ctx context.Context, ns, pod string, addresses, ports []string, ready chan struct{}, out, errOut io.Writer) error {
	cfg, err := c.RESTConfig()
	if err != nil {
		return err
	}
	u := c.url("/api/v1/namespaces/"+ns+"/pods/"+pod+"/portforward", nil)
	rt, up, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return err
	}
	dialer := spdy.NewDialer(up, &http.Client{Transport: rt}, http.MethodPost, u)
	tunnel, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		return err
	}
	dialer = portforward.NewFallbackDialer(tunnel, dialer, func(err error) bool {
		// client-go reports upgrade failures with either package's type.
		return httpstream.IsUpgradeFailure(err) || streamhttp.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	pf, err := portforward.NewOnAddressesWithContext(ctx, dialer, addresses, ports, ready, out, errOut)
	if err != nil {
		return err
	}
	return pf.ForwardPorts()
}
