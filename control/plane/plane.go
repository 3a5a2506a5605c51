// Package plane runs mini's control plane as one process: it loads the
// credentials, opens the store, serves the API over HTTPS, creates the
// default namespaces, writes the admin kubeconfig, and runs the controllers,
// the scheduler and the cluster DNS against the API in process.
package plane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/control/api"
	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/pki"
	"github.com/minicluster/mini/control/store"
)

// KubeconfigFile is the admin kubeconfig written into the data directory.
const KubeconfigFile = "kubeconfig.yaml"

// Config configures the control plane.
type Config struct {
	DataDir string
	Listen  string   // host:port for HTTPS
	SANs    []string // extra names and IPs for the serving certificate
	// ServerURL is written into the kubeconfig (default https://Listen, with
	// 0.0.0.0 replaced by 127.0.0.1).
	ServerURL string
	Version   string
	Logger    *log.Logger
	// Components are started after the API is serving (controllers,
	// scheduler, DNS). Each runs until ctx ends.
	Components []Component
	// HistorySize bounds the watch history (0: store default).
	HistorySize int
	// Nodes reaches node agents for logs and exec.
	Nodes api.NodeDialer
	// MemoryLimit is the Go soft memory limit Start sets for the process,
	// in bytes (0: leave the runtime's; see MemoryLimit for resolving
	// --memory-limit and GOMEMLIMIT).
	MemoryLimit int64
	// MaxInFlight bounds the API requests served at once, shared fairly
	// among users (0: api.DefaultMaxInFlight; negative: no bound).
	MaxInFlight int
	// Users are bearer tokens accepted besides the generated admin, node
	// and load balancer ones (tests and benchmarks: a client of its own).
	Users map[string]api.User
}

// Component is something that runs against the API in process.
type Component interface {
	Name() string
	Run(ctx context.Context, c *client.Client) error
}

// Plane is a running control plane.
type Plane struct {
	cfg     Config
	Store   *store.Store
	API     *api.Server
	Creds   *pki.Bundle
	URL     string
	ln      net.Listener
	srv     *http.Server
	log     *log.Logger
	started time.Time
}

// Start brings the control plane up and returns once the API is serving,
// the default namespaces exist and the kubeconfig is written.
func Start(ctx context.Context, cfg Config) (*Plane, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("a data directory is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = log.New(os.Stderr, "", log.LstdFlags)
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("invalid --listen %q: %w", cfg.Listen, err)
	}
	applyMemoryLimit(cfg.MemoryLimit)
	p := &Plane{cfg: cfg, log: cfg.Logger, started: time.Now()}
	sans := append([]string{host}, cfg.SANs...)
	if host == "0.0.0.0" || host == "" {
		if h, err := os.Hostname(); err == nil {
			sans = append(sans, h)
		}
		sans = append(sans, localIPs()...)
	}
	if p.Creds, err = pki.Load(cfg.DataDir, sans); err != nil {
		return nil, fmt.Errorf("credentials in %s: %w", cfg.DataDir, err)
	}
	p.Store, err = store.Open(store.Options{Dir: filepath.Join(cfg.DataDir, "db"), HistorySize: cfg.HistorySize,
		Attrs: api.StoreAttrs, Logf: p.log.Printf})
	if err != nil {
		return nil, err
	}
	t := p.Creds.Tokens
	tokens := map[string]api.User{
		t.Admin: {Name: "admin", Groups: []string{"system:masters"}},
		t.Node:  {Name: "system:node", Groups: []string{"system:nodes"}},
		t.LB:    {Name: "system:loadbalancer", ReadOnly: true},
	}
	for tok, u := range cfg.Users {
		if _, taken := tokens[tok]; !taken && tok != "" {
			tokens[tok] = u
		}
	}
	if cfg.Nodes == nil {
		cfg.Nodes = newNodeDialer(p) // proxies pod logs and exec to node agents
	}
	p.API, err = api.New(api.Config{
		Store: p.Store, Logf: p.log.Printf, Version: cfg.Version, Nodes: cfg.Nodes,
		Tokens: tokens, MaxInFlight: cfg.MaxInFlight,
	})
	if err != nil {
		p.Store.Close()
		return nil, err
	}
	if err := p.bootstrap(ctx); err != nil {
		p.Store.Close()
		return nil, err
	}
	if p.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		p.Store.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	p.srv = &http.Server{
		Handler:           p.API,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{p.Creds.Cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(discard{}, "", 0),
	}
	go p.srv.ServeTLS(p.ln, "", "")
	p.URL = cfg.ServerURL
	if p.URL == "" {
		addr := p.ln.Addr().(*net.TCPAddr)
		h := addr.IP.String()
		if addr.IP.IsUnspecified() {
			h = "127.0.0.1"
		}
		p.URL = "https://" + net.JoinHostPort(h, fmt.Sprint(addr.Port))
	}
	kc := client.Kubeconfig{Context: "mini", Server: p.URL, CAData: p.Creds.CACertPEM, Token: t.Admin}
	if err := kc.WriteFile(filepath.Join(cfg.DataDir, KubeconfigFile)); err != nil {
		p.Close()
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	p.API.SetReady(true)
	return p, nil
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

func localIPs() []string {
	var out []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			out = append(out, n.IP.String())
		}
	}
	return out
}

// Client returns an in-process client acting as user.
func (p *Plane) Client(u api.User, agent string) *client.Client {
	c, _ := client.New(client.Config{Server: "http://in-process", Transport: p.API.InProcessTransport(u), UserAgent: agent, Timeout: time.Minute})
	return c
}

// AdminClient returns an in-process client with full rights.
func (p *Plane) AdminClient(agent string) *client.Client {
	return p.Client(api.User{Name: "system:" + agent, Groups: []string{"system:masters"}}, agent)
}

// bootstrap creates the namespaces every cluster has.
func (p *Plane) bootstrap(ctx context.Context) error {
	c := p.AdminClient("bootstrap")
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
	}
	return nil
}

// Run starts the components and blocks until ctx ends, then shuts down.
func (p *Plane) Run(ctx context.Context) error {
	errc := make(chan error, len(p.cfg.Components))
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, comp := range p.cfg.Components {
		go func() {
			err := comp.Run(cctx, p.AdminClient(comp.Name()))
			if err != nil && cctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", comp.Name(), err)
				return
			}
			errc <- nil
		}()
	}
	var err error
	for running := len(p.cfg.Components); err == nil; {
		select {
		case <-ctx.Done():
			running = -1
		case err = <-errc:
			running--
		}
		if running < 0 {
			break
		}
	}
	cancel()
	p.Close()
	return err
}

// Close stops serving and closes the store.
func (p *Plane) Close() {
	p.API.SetReady(false)
	if p.srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		p.srv.Shutdown(sctx)
		cancel()
		p.srv.Close()
	}
	p.Store.Close()
}
