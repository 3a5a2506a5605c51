// Package api owns mini's Kubernetes-compatible HTTP API server: routing of
// Kubernetes paths, discovery and OpenAPI documents, authentication by bearer
// token, the generic verbs (get, list, watch, create, update, patch, delete,
// deletecollection) over the store, subresources (status, scale, binding,
// log, exec), server-side tables for kubectl, and the per-kind rules
// (defaults, validation, selectable fields) that make objects look and behave
// as on a real cluster.
//
// Objects are kept in the store as their JSON encoding, so gets, lists and
// watch events are served without decoding. Writes are compare-and-swap on
// resourceVersion; nothing is stored unless the whole request is valid.
package api

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/minicluster/mini/control/store"
)

// User is an authenticated caller.
type User struct {
	Name     string
	Groups   []string
	ReadOnly bool // may only get, list and watch
}

// NodeDialer connects the API server to a node agent for the pod
// subresources it proxies (log, exec, attach, portforward). It returns the
// agent's base URL and a transport that reaches it.
type NodeDialer interface {
	NodeTransport(ctx context.Context, nodeName string) (baseURL string, rt http.RoundTripper, err error)
}

// Config configures a Server.
type Config struct {
	Store *store.Store
	// Tokens maps bearer tokens to users.
	Tokens map[string]User
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Logf logs server-side failures (nil: discard).
	Logf func(format string, args ...any)
	// ServiceCIDR and NodePortRange drive Service allocation
	// (defaults 10.96.0.0/12 and 30000-32767).
	ServiceCIDR   string
	NodePortRange [2]int
	// Nodes reaches node agents for logs and exec (nil: those fail with 503).
	Nodes NodeDialer
	// MaxBodyBytes limits request bodies (default 3 MiB, as Kubernetes).
	MaxBodyBytes int64
	// Version is reported by /version.
	Version string
	// MaxInFlight bounds the requests served at once, shared fairly among
	// users (DefaultMaxInFlight; negative: no bound). Watches, logs, exec
	// and port-forward do not count. See fairQueue.
	MaxInFlight int
}

// Server serves the Kubernetes API over the store.
type Server struct {
	cfg   Config
	store *store.Store
	reg   *Registry
	now   func() time.Time
	logf  func(string, ...any)
	alloc *allocator
	fair  *fairQueue // nil: no bound on requests in flight

	readyMu sync.RWMutex
	ready   bool

	rnd   *rand.Rand
	rndMu sync.Mutex
}

// New builds a server over an open store. The store must have been opened
// with Attrs set to the server's AttrsFunc (see StoreAttrs).
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("api: no store")
	}
	reg, err := NewRegistry(DefaultResources()...)
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 3 << 20
	}
	if cfg.ServiceCIDR == "" {
		cfg.ServiceCIDR = "10.96.0.0/12"
	}
	if cfg.NodePortRange == [2]int{} {
		cfg.NodePortRange = [2]int{30000, 32767}
	}
	if cfg.Version == "" {
		cfg.Version = "v0.0.0-dev"
	}
	s := &Server{cfg: cfg, store: cfg.Store, reg: reg, now: cfg.Now, logf: cfg.Logf,
		rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x6d696e69))}
	if cfg.MaxInFlight >= 0 {
		s.fair = newFairQueue(cfg.MaxInFlight)
	}
	s.alloc, err = newAllocator(cfg.ServiceCIDR, cfg.NodePortRange)
	if err != nil {
		return nil, err
	}
	if err := s.loadAllocations(); err != nil {
		return nil, err
	}
	return s, nil
}

// Registry returns the served resources.
func (s *Server) Registry() *Registry { return s.reg }

// SetReady marks the server ready for /readyz.
func (s *Server) SetReady(ready bool) {
	s.readyMu.Lock()
	s.ready = ready
	s.readyMu.Unlock()
}

type userKey struct{}

// WithUser returns ctx carrying an authenticated user (for in-process calls).
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

func userFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}

// ServeHTTP authenticates the request and dispatches it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz", "/livez":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok"))
		return
	case "/readyz":
		s.readyMu.RLock()
		ready := s.ready
		s.readyMu.RUnlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready"))
			return
		}
		w.Write([]byte("ok"))
		return
	case "/version":
		s.serveVersion(w, r)
		return
	}
	user, ok := userFrom(r.Context())
	if !ok {
		user, ok = s.authenticate(r)
		if !ok {
			s.writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		r = r.WithContext(WithUser(r.Context(), user))
	}
	if user.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.writeError(w, r, apierrors.NewForbidden(schema.GroupResource{}, "",
			fmt.Errorf("user %q may only read", user.Name)))
		return
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		s.writeError(w, r, apierrors.NewRequestEntityTooLargeError(
			fmt.Sprintf("limit is %d bytes", s.cfg.MaxBodyBytes)))
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/api":
		s.serveCoreVersions(w, r)
	case path == "/apis":
		s.serveGroups(w, r)
	case path == "/openapi/v2":
		s.serveOpenAPIv2(w, r)
	case path == "/openapi/v3" || strings.HasPrefix(path, "/openapi/v3/"):
		s.serveOpenAPIv3(w, r, strings.TrimPrefix(strings.TrimPrefix(path, "/openapi/v3"), "/"))
	case strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/apis/"):
		s.serveAPIPath(w, r, path)
	default:
		s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, ""))
	}
}

func (s *Server) authenticate(r *http.Request) (User, bool) {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Bearer ") {
		return User{}, false
	}
	u, ok := s.cfg.Tokens[strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))]
	return u, ok
}

// requestInfo is a parsed resource path.
type requestInfo struct {
	res       *Resource
	namespace string
	name      string
	sub       string
	subpath   string // rest of the path after a proxy-like subresource
	watch     bool   // the legacy /watch/ path prefix
	patch     bool   // the mutation is computed from the current object
}

// serveAPIPath handles /api/v1/... and /apis/{group}/{version}/...
func (s *Server) serveAPIPath(w http.ResponseWriter, r *http.Request, path string) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var group, version string
	var rest []string
	if parts[0] == "api" {
		version, rest = parts[1], parts[2:]
	} else {
		group = parts[1]
		if group == "" {
			s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, ""))
			return
		}
		if len(parts) == 2 {
			s.serveGroup(w, r, group)
			return
		}
		version, rest = parts[2], parts[3:]
	}
	if len(rest) == 0 {
		s.serveResourceList(w, r, group, version)
		return
	}
	ri, err := s.parseResourcePath(group, version, rest)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.dispatch(w, r, ri)
}

func (s *Server) parseResourcePath(group, version string, p []string) (*requestInfo, error) {
	notFound := apierrors.NewNotFound(schema.GroupResource{Group: group}, "")
	if len(s.reg.InGroup(group)) == 0 || s.reg.InGroup(group)[0].Version != version {
		return nil, notFound
	}
	ri := &requestInfo{}
	if p[0] == "watch" {
		ri.watch = true
		p = p[1:]
		if len(p) == 0 {
			return nil, notFound
		}
	}
	// namespaces/{ns}/{resource}/... unless it is the namespace itself.
	if p[0] == "namespaces" && len(p) >= 3 && p[2] != "status" && p[2] != "finalize" {
		ri.namespace = p[1]
		p = p[2:]
	}
	ri.res = s.reg.Lookup(group, version, p[0])
	if ri.res == nil {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: group, Resource: p[0]}, "")
	}
	if ri.namespace != "" && !ri.res.Namespaced {
		return nil, notFound
	}
	if len(p) > 1 {
		ri.name = p[1]
	}
	if len(p) > 2 {
		ri.sub = p[2]
		if !ri.res.HasSubresource(ri.sub) {
			return nil, apierrors.NewNotFound(schema.GroupResource{Group: group, Resource: ri.res.Name + "/" + ri.sub}, ri.name)
		}
		if len(p) > 3 {
			ri.subpath = strings.Join(p[3:], "/")
			if ri.sub != "proxy" {
				return nil, notFound
			}
		}
	}
	if ri.res.Namespaced && ri.name != "" && ri.namespace == "" {
		return nil, notFound
	}
	return ri, nil
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	q := r.URL.Query()
	isWatch := ri.watch || q.Get("watch") == "1" || q.Get("watch") == "true"
	if s.fair != nil && !isWatch && !longRunningSub[ri.sub] {
		user, _ := userFrom(r.Context())
		release, err := s.fair.acquire(r.Context(), user.Name)
		if err != nil {
			return // the client gave up waiting
		}
		defer release()
		r = r.WithContext(store.WithSubmitted(r.Context(), release))
	}
	if ri.res.Namespaced && ri.namespace == "" && r.Method != http.MethodGet && r.Method != http.MethodHead {
		// Cluster-wide paths of namespaced resources only list and watch.
		s.writeError(w, r, methodNotSupported(ri, r.Method))
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case isWatch:
			s.serveWatch(w, r, ri)
		case ri.name == "":
			s.serveList(w, r, ri)
		case ri.sub == "" || ri.sub == "status":
			s.serveGet(w, r, ri)
		case ri.sub == "scale":
			s.serveGetScale(w, r, ri)
		case ri.sub == "log":
			s.servePodLog(w, r, ri)
		case ri.sub == "exec" || ri.sub == "attach" || ri.sub == "portforward":
			s.servePodStream(w, r, ri)
		default:
			s.writeError(w, r, methodNotSupported(ri, r.Method))
		}
	case http.MethodPost:
		switch {
		case ri.name == "":
			s.serveCreate(w, r, ri)
		case ri.sub == "binding":
			s.serveBinding(w, r, ri)
		case ri.sub == "eviction":
			s.serveEviction(w, r, ri)
		case ri.sub == "exec" || ri.sub == "attach" || ri.sub == "portforward":
			s.servePodStream(w, r, ri)
		default:
			s.writeError(w, r, methodNotSupported(ri, r.Method))
		}
	case http.MethodPut:
		switch {
		case ri.name == "":
			s.writeError(w, r, methodNotSupported(ri, r.Method))
		case ri.sub == "scale":
			s.serveUpdateScale(w, r, ri, nil)
		case ri.sub == "" || ri.sub == "status" || ri.sub == "finalize":
			s.serveUpdate(w, r, ri)
		default:
			s.writeError(w, r, methodNotSupported(ri, r.Method))
		}
	case http.MethodPatch:
		switch {
		case ri.name == "":
			s.writeError(w, r, methodNotSupported(ri, r.Method))
		case ri.sub == "scale":
			s.servePatchScale(w, r, ri)
		case ri.sub == "" || ri.sub == "status":
			s.servePatch(w, r, ri)
		default:
			s.writeError(w, r, methodNotSupported(ri, r.Method))
		}
	case http.MethodDelete:
		switch {
		case ri.name == "":
			s.serveDeleteCollection(w, r, ri)
		case ri.sub == "":
			s.serveDelete(w, r, ri)
		default:
			s.writeError(w, r, methodNotSupported(ri, r.Method))
		}
	default:
		s.writeError(w, r, methodNotSupported(ri, r.Method))
	}
}

// longRunningSub are the subresources whose requests stream for as long as
// the client wants: they hold no seat of the fair queue.
var longRunningSub = map[string]bool{"log": true, "exec": true, "attach": true, "portforward": true, "proxy": true}

func methodNotSupported(ri *requestInfo, method string) error {
	res := ri.res.Name
	if ri.sub != "" {
		res += "/" + ri.sub
	}
	return apierrors.NewMethodNotSupported(schema.GroupResource{Group: ri.res.Group, Resource: res}, strings.ToLower(method))
}
