// Package client is the one API client of mini: the CLI, the controllers and
// scheduler (in process), the node agents, the simulated nodes and the load
// balancer all reach the API server through it. It speaks Kubernetes's JSON
// REST protocol for the typed objects of k8s.io/api, decodes Status errors
// into apimachinery's StatusError (so apierrors.IsNotFound and friends work),
// and adapts list/watch to client-go's informers.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	kjson "sigs.k8s.io/json"
)

// Config says how to reach an API server.
type Config struct {
	// Server is the base URL, e.g. https://127.0.0.1:6443.
	Server string
	// Token is the bearer token.
	Token string
	// CAData is the PEM CA bundle that signs the server certificate.
	CAData []byte
	// Insecure skips server certificate verification (never by default).
	Insecure bool
	// Transport, when set, replaces the network transport (in-process use).
	Transport http.RoundTripper
	// UserAgent identifies the caller in server logs.
	UserAgent string
	// Timeout bounds non-streaming requests (default 30s).
	Timeout time.Duration
}

// Client talks to one API server. It is safe for concurrent use.
type Client struct {
	cfg    Config
	base   *url.URL
	hc     *http.Client // non-streaming requests, with timeout
	stream *http.Client // watches and logs, no timeout
}

// New builds a client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Server)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("invalid API server URL %q", cfg.Server)
	}
	rt := cfg.Transport
	if rt == nil {
		tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.Insecure}
		if len(cfg.CAData) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(cfg.CAData) {
				return nil, errors.New("the CA data holds no PEM certificate")
			}
			tlsCfg.RootCAs = pool
		}
		rt = &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     tlsCfg,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 5 * time.Second,
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "mini"
	}
	return &Client{
		cfg:    cfg,
		base:   u,
		hc:     &http.Client{Transport: rt, Timeout: cfg.Timeout},
		stream: &http.Client{Transport: rt},
	}, nil
}

// Config returns the configuration the client was built with.
func (c *Client) Config() Config { return c.cfg }

// Request describes one raw API call.
type Request struct {
	Method      string
	Path        string // absolute path, e.g. /api/v1/namespaces/default/pods
	Query       url.Values
	Body        []byte
	ContentType string
	Accept      string
	Stream      bool // no client timeout; caller reads and closes the body
}

// Do performs a request and returns the response body on 2xx, or a
// *apierrors.StatusError built from the server's Status.
func (c *Client) Do(ctx context.Context, r Request) ([]byte, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the response: %w", r.Method, r.Path, err)
	}
	return data, nil
}

// Open performs a streaming request and returns the open response body.
func (c *Client) Open(ctx context.Context, r Request) (io.ReadCloser, error) {
	r.Stream = true
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func (c *Client) send(ctx context.Context, r Request) (*http.Response, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(c.base.Path, "/") + r.Path
	u.RawQuery = r.Query.Encode()
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	accept := r.Accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	if r.Body != nil {
		ct := r.ContentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	hc := c.hc
	if r.Stream {
		hc = c.stream
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.Method, u.Redacted(), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, statusError(resp.StatusCode, r.Method, r.Path, data)
	}
	return resp, nil
}

// statusError turns an error response into a StatusError.
func statusError(code int, method, path string, body []byte) error {
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err == nil && st.Kind == "Status" {
		if st.Code == 0 {
			st.Code = int32(code)
		}
		return &apierrors.StatusError{ErrStatus: st}
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(code)
	}
	return apierrors.NewGenericServerResponse(code, strings.ToLower(method), schema.GroupResource{}, "", fmt.Sprintf("%s %s: %s", method, path, msg), 0, true)
}

// ListOptions narrow lists and watches.
type ListOptions struct {
	LabelSelector       string
	FieldSelector       string
	ResourceVersion     string
	TimeoutSeconds      *int64
	AllowWatchBookmarks bool
	SendInitialEvents   *bool
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.LabelSelector != "" {
		q.Set("labelSelector", o.LabelSelector)
	}
	if o.FieldSelector != "" {
		q.Set("fieldSelector", o.FieldSelector)
	}
	if o.ResourceVersion != "" {
		q.Set("resourceVersion", o.ResourceVersion)
	}
	if o.TimeoutSeconds != nil {
		q.Set("timeoutSeconds", fmt.Sprint(*o.TimeoutSeconds))
	}
	if o.AllowWatchBookmarks {
		q.Set("allowWatchBookmarks", "true")
	}
	if o.SendInitialEvents != nil {
		q.Set("sendInitialEvents", fmt.Sprint(*o.SendInitialEvents))
		q.Set("resourceVersionMatch", "NotOlderThan")
	}
	return q
}

func decodeInto(data []byte, into runtime.Object) error {
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, into); err != nil {
		return fmt.Errorf("decoding %T: %w", into, err)
	}
	return nil
}

// Get reads one object into obj (whose type selects the resource).
func (c *Client) Get(ctx context.Context, ns, name string, obj runtime.Object) error {
	info, err := InfoFor(obj)
	if err != nil {
		return err
	}
	data, err := c.Do(ctx, Request{Method: http.MethodGet, Path: info.Path(ns, name, "")})
	if err != nil {
		return err
	}
	return decodeInto(data, obj)
}

// List reads a list (list's type selects the resource; ns "" = all).
func (c *Client) List(ctx context.Context, ns string, list runtime.Object, opts ListOptions) error {
	info, err := InfoFor(list)
	if err != nil {
		return err
	}
	data, err := c.Do(ctx, Request{Method: http.MethodGet, Path: info.Path(ns, "", ""), Query: opts.query()})
	if err != nil {
		return err
	}
	return decodeInto(data, list)
}

func (c *Client) write(ctx context.Context, method string, obj runtime.Object, sub string) error {
	info, err := InfoFor(obj)
	if err != nil {
		return err
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return fmt.Errorf("%T has no metadata", obj)
	}
	obj.GetObjectKind().SetGroupVersionKind(info.GVK())
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	name := m.GetName()
	if method == http.MethodPost {
		name = ""
	}
	data, err := c.Do(ctx, Request{Method: method, Path: info.Path(m.GetNamespace(), name, sub), Body: body})
	if err != nil {
		return err
	}
	return decodeInto(data, obj)
}

// Create creates obj and replaces it with what the server stored.
func (c *Client) Create(ctx context.Context, obj runtime.Object) error {
	return c.write(ctx, http.MethodPost, obj, "")
}

// Update replaces obj (compare-and-swap on its resourceVersion).
func (c *Client) Update(ctx context.Context, obj runtime.Object) error {
	return c.write(ctx, http.MethodPut, obj, "")
}

// UpdateStatus replaces obj's status through the status subresource.
func (c *Client) UpdateStatus(ctx context.Context, obj runtime.Object) error {
	return c.write(ctx, http.MethodPut, obj, "status")
}

// Patch applies a patch to the object named ns/name of obj's type (or its
// subresource) and decodes the result into obj.
func (c *Client) Patch(ctx context.Context, obj runtime.Object, ns, name string, pt types.PatchType, patch []byte, sub string) error {
	info, err := InfoFor(obj)
	if err != nil {
		return err
	}
	data, err := c.Do(ctx, Request{Method: http.MethodPatch, Path: info.Path(ns, name, sub), Body: patch, ContentType: string(pt)})
	if err != nil {
		return err
	}
	return decodeInto(data, obj)
}

// Delete deletes the object named ns/name of proto's type.
func (c *Client) Delete(ctx context.Context, proto runtime.Object, ns, name string, opts *metav1.DeleteOptions) error {
	info, err := InfoFor(proto)
	if err != nil {
		return err
	}
	r := Request{Method: http.MethodDelete, Path: info.Path(ns, name, "")}
	if opts != nil {
		opts.TypeMeta = metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "v1"}
		r.Body, _ = json.Marshal(opts)
	}
	_, err = c.Do(ctx, r)
	return err
}

// Bind assigns a pod to a node through the binding subresource.
func (c *Client) Bind(ctx context.Context, ns, name string, uid types.UID, node string) error {
	body, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Binding",
		"metadata": map[string]any{"name": name, "namespace": ns, "uid": uid},
		"target":   map[string]string{"apiVersion": "v1", "kind": "Node", "name": node},
	})
	_, err := c.Do(ctx, Request{Method: http.MethodPost, Path: "/api/v1/namespaces/" + ns + "/pods/" + name + "/binding", Body: body})
	return err
}

// Evict deletes a pod through the eviction subresource.
func (c *Client) Evict(ctx context.Context, ns, name string, opts *metav1.DeleteOptions) error {
	body, _ := json.Marshal(map[string]any{
		"apiVersion": "policy/v1", "kind": "Eviction",
		"metadata":      map[string]any{"name": name, "namespace": ns},
		"deleteOptions": opts,
	})
	_, err := c.Do(ctx, Request{Method: http.MethodPost, Path: "/api/v1/namespaces/" + ns + "/pods/" + name + "/eviction", Body: body})
	return err
}
