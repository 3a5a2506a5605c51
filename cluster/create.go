package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/pki"
)

// CreateOptions describe a cluster to create.
type CreateOptions struct {
	Name          string
	Nodes         int
	Ports         []PortMapping
	APIHost       string // default 127.0.0.1
	APIPort       int    // 0: a free port
	NodeBaseImage string // "" : ResolveNodeBase's choice
	Wait          bool   // wait until every node is Ready
	Timeout       time.Duration

	Node    NodeSettings         // labels and taints of every node
	PerNode map[int]NodeSettings // more labels and taints for some nodes, by index
	Images  []string             // loaded from the host's Docker once the nodes are Ready

	UpdateKubeconfig bool
	SwitchContext    bool
	KubeconfigPath   string // "" : KubeconfigPath("")

	Out   io.Writer
	Fancy bool // Out is a terminal
}

// Validate checks o before anything is made.
func (o CreateOptions) Validate() error {
	if err := ValidateName(o.Name); err != nil {
		return err
	}
	if o.Nodes < 1 || o.Nodes > MaxNodes {
		return fmt.Errorf("--nodes %d: a cluster has 1 to %d nodes", o.Nodes, MaxNodes)
	}
	if err := o.validateNodes(); err != nil {
		return err
	}
	return CheckPorts(apiHostOr(o.APIHost), o.APIPort, o.Ports)
}

// Result is what Create made.
type Result struct {
	Info
	Kubeconfig     client.Kubeconfig
	KubeconfigPath string // "" when not merged
	NodeMode       string
}

// creation is the state shared by the steps of one Create.
type creation struct {
	d      *Docker
	o      CreateOptions
	op     string
	r      *Runner
	subnet netip.Prefix

	miniImage, nodeImage string
	cgroupV2             bool
	probe                chan probeResult
	probing              sync.WaitGroup // the probe goroutine, if started
	creds                *pki.Bundle
	credsTar             []byte // the credential files, for the control plane's /data
	kc                   client.Kubeconfig
}

func newOpID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Create makes a cluster as an ordered list of steps; on failure, timeout
// or cancellation everything it made is removed.
func Create(ctx context.Context, d *Docker, o CreateOptions) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.APIHost = apiHostOr(o.APIHost)
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Timeout, fmt.Errorf("cluster create did not finish within --timeout %s", o.Timeout))
		defer cancel()
	}
	go selfBinary() // hash the executable while the first steps run
	c := &creation{d: d, o: o, op: newOpID(), r: &Runner{Out: o.Out, Fancy: o.Fancy}, probe: make(chan probeResult, 1)}
	steps := []Step{
		{Name: "Checking that " + o.Name + " and its ports are free", Do: c.preflight},
		{Name: "Preparing images", Do: c.images},
		{Name: "Creating network " + NetworkName(o.Name), Do: c.network, Undo: c.undo("network")},
		{Name: fmt.Sprintf("Starting control plane, %d node%s and load balancer", o.Nodes, plural(o.Nodes)), Do: c.containers, Undo: c.undoContainers},
	}
	if o.Wait || len(o.Images) > 0 { // images load into running inner dockerds
		steps = append(steps, Step{Name: fmt.Sprintf("Waiting for %d node%s to be Ready", o.Nodes, plural(o.Nodes)), Do: c.waitReady})
	}
	if len(o.Images) > 0 {
		steps = append(steps, Step{Name: "Loading " + strings.Join(o.Images, " ") + " into the nodes",
			Do: func(ctx context.Context) error { _, err := LoadImages(ctx, d, o.Name, o.Images); return err }})
	}
	var kpath string
	if o.UpdateKubeconfig {
		kpath = KubeconfigPath(o.KubeconfigPath)
		steps = append(steps, Step{Name: "Merging context " + ContextName(o.Name) + " into " + kpath,
			Do:   func(context.Context) error { return MergeKubeconfig(kpath, c.kc, o.SwitchContext) },
			Undo: func(context.Context) error { return RemoveKubeconfig(kpath, ContextName(o.Name)) }})
	}
	err := c.r.Run(ctx, steps)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && ctx.Err() != nil {
			err = fmt.Errorf("%w\n%v", err, cause)
		}
		c.probing.Wait() // its container must exist or be gone before the sweep
		// Belt and braces: anything labelled with this operation goes.
		if _, serr := removeMatching(ctx, d, clusterFilter(o.Name, LabelOp, c.op)); serr != nil {
			err = errors.Join(err, serr)
		}
		return nil, err
	}
	info, err := Get(ctx, d, o.Name)
	if err != nil {
		return nil, err
	}
	mode := <-c.probe
	c.probe <- mode
	return &Result{Info: info, Kubeconfig: c.kc, KubeconfigPath: kpath, NodeMode: mode.mode}, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// containers starts the control plane, the nodes and the load balancer at
// once: none needs another running to start (nodes and the load balancer
// retry until the API answers), and every address is fixed in advance.
// The nodes wait for the privilege probe; the control plane and load
// balancer need the credentials, generated first.
func (c *creation) containers(ctx context.Context) error {
	if err := c.credentials(); err != nil {
		return err
	}
	parts := []struct {
		what string
		do   func(context.Context) error
	}{
		{"control plane " + ControlName(c.o.Name), c.control},
		{fmt.Sprintf("%d node%s", c.o.Nodes, plural(c.o.Nodes)), c.nodes},
		{"load balancer " + LBName(c.o.Name), c.lb},
	}
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	start := time.Now()
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = p.do(ctx); errs[i] == nil {
				c.r.Printf("  %s started (%.2fs)", p.what, time.Since(start).Seconds())
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *creation) undoContainers(ctx context.Context) error {
	_, err := removeMatching(ctx, c.d, clusterFilter(c.o.Name, LabelOp, c.op, LabelRole, RoleLB))
	_, err2 := removeMatching(ctx, c.d, clusterFilter(c.o.Name, LabelOp, c.op, LabelRole, RoleNode))
	_, err3 := removeMatching(ctx, c.d, clusterFilter(c.o.Name, LabelOp, c.op, LabelRole, RoleControl))
	return errors.Join(err, err2, err3)
}

// undo removes what this operation made with role.
func (c *creation) undo(role string) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := removeMatching(ctx, c.d, clusterFilter(c.o.Name, LabelOp, c.op, LabelRole, role))
		return err
	}
}

// preflight refuses an existing name or a host port in use, and picks the
// API port.
func (c *creation) preflight(ctx context.Context) error {
	f := clusterFilter(c.o.Name)
	ctrs, err := c.d.ContainerList(ctx, container.ListOptions{All: true, Filters: f, Limit: 1})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	nets, err := c.d.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", NetworkName(c.o.Name)))})
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	exact := false
	for _, n := range nets {
		exact = exact || n.Name == NetworkName(c.o.Name)
	}
	vols, err := c.d.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list volumes: %w", err)
	}
	if len(ctrs) > 0 || exact || len(vols.Volumes) > 0 {
		return &ExistsError{Cluster: c.o.Name}
	}
	if err := hostImages(ctx, c.d, c.o.Images); err != nil {
		return err
	}
	if c.o.APIPort == 0 {
		if c.o.APIPort, err = freePort(c.o.APIHost); err != nil {
			return err
		}
	}
	if !localDocker(c.d) {
		return nil // the ports are on another machine; Docker will tell
	}
	if err := portFree(c.o.APIHost, c.o.APIPort, "tcp"); err != nil {
		return fmt.Errorf("the API port: %w", err)
	}
	for _, p := range c.o.Ports {
		if err := portFree(p.HostIP, p.HostPort, p.Proto); err != nil {
			return fmt.Errorf("port mapping %s: %w", p, err)
		}
	}
	return nil
}

// PortInUseError says a host port cannot be published.
type PortInUseError struct {
	Addr string
	Err  error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("host port %s is already in use (%v); choose another", e.Addr, e.Err)
}

func portFree(ip string, port int, proto string) error {
	addr := net.JoinHostPort(ip, fmt.Sprint(port))
	if proto == "udp" {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return &PortInUseError{Addr: addr + "/udp", Err: err}
		}
		return pc.Close()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &PortInUseError{Addr: addr, Err: err}
	}
	return ln.Close()
}

func freePort(ip string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s for the API: %w", ip, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// localDocker reports whether the engine publishes ports on this machine.
func localDocker(d *Docker) bool { return strings.HasPrefix(d.DaemonHost(), "unix://") }

// images makes sure mini's images exist and starts the privilege probe.
func (c *creation) images(ctx context.Context) error {
	info, err := c.d.Info(ctx)
	if err != nil {
		return fmt.Errorf("docker info: %w", err)
	}
	c.cgroupV2 = info.CgroupVersion == "2"
	var wg sync.WaitGroup
	var miniErr, nodeErr error
	var base BaseChoice
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.miniImage, miniErr = EnsureMiniImage(ctx, c.d)
		if miniErr == nil {
			c.probing.Add(1)
			go func() {
				defer c.probing.Done()
				probePrivileged(ctx, c.d, c.o.Name, c.op, c.miniImage, c.cgroupV2, func(r probeResult) { c.probe <- r })
			}()
		}
	}()
	if base, nodeErr = ResolveNodeBase(ctx, c.d, c.o.NodeBaseImage, c.r.Printf); nodeErr == nil {
		if base.Note != "" {
			c.r.Printf("  %s", base.Note)
		}
		c.nodeImage, nodeErr = EnsureNodeImage(ctx, c.d, base.Image)
	}
	wg.Wait()
	return errors.Join(miniErr, nodeErr)
}

func (c *creation) network(ctx context.Context) error {
	_, subnet, err := createNetwork(ctx, c.d, c.o.Name, c.op)
	c.subnet = subnet
	return err
}

// apiAddr is the host address of the API as written in labels and the
// kubeconfig.
func (c *creation) apiAddr() string {
	h := c.o.APIHost
	if h == "0.0.0.0" || h == "::" {
		h = DefaultHostIP
	}
	return net.JoinHostPort(h, fmt.Sprint(c.o.APIPort))
}

// credentials generates the cluster's CA, serving certificate and tokens
// on the host (pki.Load in a temporary directory), for the control plane's
// volume.
func (c *creation) credentials() error {
	tmp, err := os.MkdirTemp("", "mini-pki-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctrlIP := hostAddr(c.subnet, controlHost).String()
	sans := []string{"0.0.0.0", ControlName(c.o.Name), ctrlIP, LBName(c.o.Name), hostAddr(c.subnet, lbHost).String(), c.o.APIHost}
	if c.creds, err = pki.Load(tmp, sans); err != nil {
		return fmt.Errorf("generate credentials: %w", err)
	}
	c.kc = client.Kubeconfig{Context: ContextName(c.o.Name), Server: "https://" + c.apiAddr(), CAData: c.creds.CACertPEM, Token: c.creds.Tokens.Admin}
	files := map[string][]byte{}
	for _, f := range []string{pki.CACertFile, pki.CAKeyFile, pki.ServerCertFile, pki.ServerKeyFile, pki.TokensFile} {
		if files[f], err = os.ReadFile(filepath.Join(tmp, f)); err != nil {
			return err
		}
	}
	c.credsTar, err = tarFiles(files, nil)
	return err
}

// control creates the control plane with the credentials copied into its
// volume, and starts it.
func (c *creation) control(ctx context.Context) error {
	archive := c.credsTar
	settings, err := json.Marshal(c.o.Node)
	if err != nil {
		return err
	}
	s := controlSpec(c.o.Name, c.op, c.miniImage, c.subnet, c.apiAddr(), c.nodeImage, string(settings))
	id, err := createContainer(ctx, c.d, c.o.Name, c.op, RoleControl, s)
	if err != nil {
		return err
	}
	if err := mutate(ctx, 30*time.Second, func(ctx context.Context) error {
		return c.d.CopyToContainer(ctx, id, "/data", strings.NewReader(string(archive)), container.CopyToContainerOptions{})
	}); err != nil {
		return fmt.Errorf("copy credentials into %s: %w", s.name, err)
	}
	return startContainer(ctx, c.d, id)
}
