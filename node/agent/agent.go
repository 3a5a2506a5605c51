// Package agent owns the node container's PID 1 (`mini node agent`): it
// reaps zombies, enables IP forwarding, makes cgroups usable for nesting
// (v1 and v2), starts and supervises the inner dockerd on the node's
// /var/lib/docker volume, registers the Node with the control plane, keeps
// its Lease renewed and reports it Ready only while dockerd answers. The
// kubelet that runs pods plugs in through Config.Kubelet. On SIGTERM (the
// context ending) it stops the heartbeats and dockerd, and returns.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/node/heartbeat"
)

// Environment variables the CLI gives node containers.
const (
	EnvServer   = "MINI_SERVER"    // https://<control-plane IP>:6443
	EnvToken    = "MINI_TOKEN"     // the node token
	EnvCA       = "MINI_CA"        // PEM of the cluster CA
	EnvNodeName = "MINI_NODE_NAME" // Node name (also the container's hostname)
	// Labels (a JSON object) and taints (a JSON list of Taints) the Node
	// registers with; the cluster config's nodeLabels and nodeTaints.
	EnvNodeLabels = "MINI_NODE_LABELS"
	EnvNodeTaints = "MINI_NODE_TAINTS"
)

// KubeletPort is the node agent's HTTPS port (logs, exec).
const KubeletPort = 10250

// Env is what the kubelet gets from the agent.
type Env struct {
	Client       *client.Client
	Node         *corev1.Node // as registered
	NodeIP       net.IP
	DockerSocket string // unix socket path of the inner dockerd
	// StateDir is a directory on the node's volume (kept across cluster
	// stop/start, removed with the node) for the kubelet's own state.
	StateDir string
	Logger   *log.Logger
}

// KubeletFunc runs the kubelet until ctx ends.
type KubeletFunc func(ctx context.Context, env Env) error

// Config configures the agent.
type Config struct {
	Server   string
	Token    string
	CA       []byte
	NodeName string
	Version  string
	Labels   map[string]string // added to the Node's own labels (which win)
	Taints   []corev1.Taint    // the Node's taints when it is first registered

	DataRoot    string   // dockerd --data-root (default /var/lib/docker)
	DockerdBin  string   // default: dockerd on PATH
	DockerdArgs []string // appended to the agent's own flags
	LogDir      string   // dockerd.log goes here (default /var/log/mini)

	Heartbeat heartbeat.Timing // zero: heartbeat.Timing{}.WithDefaults() (5 s lease renewed every second)
	Kubelet   KubeletFunc      // nil: no pods are run (the lead wires kubelet.Run)
	Logger    *log.Logger
	Clock     clock.WithTicker
}

// ConfigFromEnv reads the MINI_* variables.
func ConfigFromEnv() (Config, error) {
	c := Config{Server: os.Getenv(EnvServer), Token: os.Getenv(EnvToken), CA: []byte(os.Getenv(EnvCA)), NodeName: os.Getenv(EnvNodeName)}
	var missing []string
	for k, v := range map[string]string{EnvServer: c.Server, EnvToken: c.Token, EnvCA: string(c.CA)} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("the node agent needs the environment variables %s (set by mini cluster create)", strings.Join(missing, ", "))
	}
	for env, into := range map[string]any{EnvNodeLabels: &c.Labels, EnvNodeTaints: &c.Taints} {
		if v := os.Getenv(env); v != "" {
			if err := json.Unmarshal([]byte(v), into); err != nil {
				return c, fmt.Errorf("%s: %w", env, err)
			}
		}
	}
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("%s is unset and the hostname unknown: %w", EnvNodeName, err)
		}
		c.NodeName = h
	}
	return c, nil
}

func (c *Config) defaults() {
	if c.DataRoot == "" {
		c.DataRoot = "/var/lib/docker"
	}
	if c.DockerdBin == "" {
		c.DockerdBin = "dockerd"
	}
	if c.LogDir == "" {
		c.LogDir = "/var/log/mini"
	}
	c.Heartbeat = c.Heartbeat.WithDefaults()
	if c.Logger == nil {
		c.Logger = log.New(os.Stderr, "agent: ", log.LstdFlags|log.Lmicroseconds)
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
}

// DockerSocket is the inner dockerd's socket.
const DockerSocket = "/var/run/docker.sock"

// Run is the agent's main loop. It returns when ctx ends (after stopping
// dockerd) or when the kubelet fails.
func Run(ctx context.Context, cfg Config) error {
	cfg.defaults()
	logf := cfg.Logger.Printf
	if os.Getpid() == 1 {
		logf("running as PID 1: reaping orphans")
	}
	r := newReaper(os.Getpid() == 1)
	defer r.stop()
	if err := enableIPForward(); err != nil {
		logf("warning: cannot set net.ipv4.ip_forward=1: %v", err)
	}
	parent, err := setupCgroups(logf)
	if err != nil {
		return fmt.Errorf("prepare cgroups for the inner dockerd: %w", err)
	}
	driver := storageDriver(cfg.DataRoot, logf)
	ipt := chooseIPTables(func(name string, args ...string) error { return runQuiet(r, name, args...) })
	args := []string{"--host=unix://" + DockerSocket, "--data-root=" + cfg.DataRoot, "--storage-driver=" + driver,
		"--shutdown-timeout=2", "--exec-opt=native.cgroupdriver=cgroupfs"}
	if parent != "" {
		args = append(args, "--cgroup-parent="+parent)
	}
	args = append(args, cfg.DockerdArgs...)
	dd := newDockerd(cfg.DockerdBin, DockerSocket, filepath.Join(cfg.LogDir, "dockerd.log"), args, r, cfg.Logger)

	var wg sync.WaitGroup
	defer wg.Wait() // dockerd is stopped before Run returns
	ddctx, stopDockerd := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDockerd()
	wg.Add(1)
	go func() { defer wg.Done(); dd.run(ddctx) }()

	c, err := client.New(client.Config{Server: cfg.Server, Token: cfg.Token, CAData: cfg.CA, UserAgent: "mini-node/" + cfg.NodeName})
	if err != nil {
		return err
	}
	if err := dd.waitUp(ctx, 60*time.Second); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		logf("warning: %v; registering anyway (NotReady until it answers)", err)
	}
	node, ip, err := register(ctx, c, cfg, dd)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	logf("registered node %s (InternalIP %s, storage driver %s, cgroup parent %q, %s)", node.Name, ip, driver, parent, ipt)

	kerr := make(chan error, 1)
	if cfg.Kubelet != nil {
		state := filepath.Join(cfg.DataRoot, "mini-node")
		if err := os.MkdirAll(state, 0o755); err != nil {
			return fmt.Errorf("kubelet state directory: %w", err)
		}
		go func() {
			kerr <- cfg.Kubelet(ctx, Env{Client: c, Node: node, NodeIP: ip, DockerSocket: DockerSocket, StateDir: state, Logger: cfg.Logger})
		}()
	}
	hbctx, stopHB := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		heartbeat.Loop(hbctx, c, node.Name, node.UID, cfg.Heartbeat, cfg.Clock, func() (bool, string) {
			// Under a burst of container starts dockerd can be slow to
			// answer; the ping may take up to 2 s of the lease's 5.
			pctx, cancel := context.WithTimeout(hbctx, 2*time.Second)
			defer cancel()
			if err := dd.ping(pctx); err != nil {
				return false, "dockerd is not answering: " + err.Error()
			}
			return true, "dockerd is answering"
		}, func(err error) { logf("heartbeat: %v", err) })
	}()
	select {
	case <-ctx.Done():
		err = nil
	case err = <-kerr:
		if err == nil {
			err = errors.New("the kubelet returned")
		}
		err = fmt.Errorf("kubelet: %w", err)
	}
	stopHB()
	<-hbDone
	// Say so at once rather than letting the lease expire.
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	if serr := heartbeat.SetReady(nctx, c, node.Name, false, "KubeletStopping", "the node agent is stopping", cfg.Clock.Now()); serr != nil {
		logf("could not report NotReady on the way out: %v", serr)
	}
	cancel()
	logf("stopping dockerd")
	stopDockerd()
	return err
}

// register builds the Node and registers it, retrying until the control
// plane answers or ctx ends.
func register(ctx context.Context, c *client.Client, cfg Config, dd *dockerd) (*corev1.Node, net.IP, error) {
	u, err := url.Parse(cfg.Server)
	if err != nil {
		return nil, nil, fmt.Errorf("bad %s %q: %w", EnvServer, cfg.Server, err)
	}
	ip, err := localIPFor(u.Hostname())
	if err != nil {
		return nil, nil, err
	}
	n := nodeObject(cfg, ip, dd.version(ctx))
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		got, err := heartbeat.Register(ctx, c, n)
		if err == nil {
			return got, ip, nil
		}
		if attempt%20 == 0 {
			cfg.Logger.Printf("still trying to register with %s: %v", cfg.Server, err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// nodeObject describes this node.
func nodeObject(cfg Config, ip net.IP, dockerVersion string) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:  *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourcePods: *resource.NewQuantity(110, resource.DecimalSI),
	}
	if mem, err := memTotal("/proc/meminfo"); err == nil {
		capacity[corev1.ResourceMemory] = *resource.NewQuantity(mem, resource.BinarySI)
	}
	var st syscall.Statfs_t
	if syscall.Statfs(cfg.DataRoot, &st) == nil {
		capacity[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(st.Blocks)*st.Bsize, resource.BinarySI)
	}
	runtimeVersion := "docker://unknown"
	if dockerVersion != "" {
		runtimeVersion = "docker://" + dockerVersion
	}
	labels := maps.Clone(cfg.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, map[string]string{
		corev1.LabelHostname: cfg.NodeName, corev1.LabelOSStable: "linux", corev1.LabelArchStable: runtime.GOARCH,
	})
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: cfg.NodeName, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: cfg.Taints},
		Status: corev1.NodeStatus{
			Capacity: capacity, Allocatable: capacity.DeepCopy(),
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip.String()}, {Type: corev1.NodeHostName, Address: cfg.NodeName}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: KubeletPort}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID: readTrim("/etc/machine-id"), KernelVersion: kernelVersion(), OSImage: osImage("/etc/os-release"),
				ContainerRuntimeVersion: runtimeVersion, KubeletVersion: "v1.34.0-mini+" + strings.TrimPrefix(cfg.Version, "v"),
				OperatingSystem: "linux", Architecture: runtime.GOARCH,
			},
		},
	}
}

// storageDriver returns overlay2 when an overlay mount works on dataRoot
// (or it already holds overlay2 state), else vfs with a warning.
func storageDriver(dataRoot string, logf func(string, ...any)) string {
	if _, err := os.Stat(filepath.Join(dataRoot, "vfs")); err == nil {
		if _, err := os.Stat(filepath.Join(dataRoot, "overlay2")); err != nil {
			return "vfs" // keep what earlier starts used
		}
	}
	probe := filepath.Join(dataRoot, ".mini-overlay-probe")
	defer os.RemoveAll(probe)
	dirs := map[string]string{}
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		dirs[d] = filepath.Join(probe, d)
		if err := os.MkdirAll(dirs[d], 0o755); err != nil {
			logf("warning: overlay probe: %v; using the vfs storage driver (slow, uses much disk)", err)
			return "vfs"
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", dirs["lower"], dirs["upper"], dirs["work"])
	if err := syscall.Mount("overlay", dirs["merged"], "overlay", 0, opts); err != nil {
		logf("warning: overlay mounts fail on %s (%v); using the vfs storage driver (slow, uses much disk)", dataRoot, err)
		return "vfs"
	}
	syscall.Unmount(dirs["merged"], 0)
	return "overlay2"
}
