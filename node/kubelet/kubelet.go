// Package kubelet owns the pod lifecycle of a mini Docker node: it watches
// the pods bound to the node and, with one worker per pod, converges Docker
// (through node/runtime) to each pod's spec — sandbox, init containers in
// order, containers, restart policy with exponential back-off, probes,
// graceful termination — and writes the pod's status back to the API on
// every change it sees. It keeps no state of its own that Docker does not
// also hold: a new kubelet on the same daemon adopts the running pods.
package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	dockerclient "github.com/docker/docker/client"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/node/runtime"
)

// Config configures the kubelet of one node.
type Config struct {
	Client   *client.Client       // the node's API client
	NodeName string               // the Node this kubelet runs pods for
	NodeIP   string               // the node's InternalIP (hostIP of pods, hostPort address)
	PodCIDR  string               // the node's pod CIDR: the pod network's subnet
	Docker   *dockerclient.Client // the daemon pods run on
	Network  string               // the Docker network for pods (created with PodCIDR if missing)
	// NetworkOptions are the driver options of a pod network the kubelet
	// creates. Default: Docker's masquerading off, since the node's pod
	// network (node/podnet) masquerades only traffic leaving the pod range
	// and pods keep their IPs across nodes.
	NetworkOptions map[string]string
	StateDir       string // volumes, pod files, the agent server's certificate
	// ClusterDNS and ClusterDomain go into pods' resolv.conf (defaults
	// 10.96.0.10 and cluster.local).
	ClusterDNS    string
	ClusterDomain string
	Clock         clock.WithTicker // default: the real clock
	Logger        *log.Logger      // default: discard

	// ListenAddr is where the agent server (logs, exec, attach,
	// port-forward) listens (default ":10250"; "-" disables it). The
	// kubelet writes the bound port into the Node's daemonEndpoints.
	ListenAddr string
	// PauseBinary is the mini binary the pause image is built from
	// (default: this executable).
	PauseBinary string
	// ExtraLabels go on every Docker container (tests mark theirs).
	ExtraLabels map[string]string
	// BackOffInitial and BackOffMax bound container restart and image pull
	// back-off (defaults 10s and 5m, as Kubernetes).
	BackOffInitial, BackOffMax time.Duration
	// Resync is how often each pod is re-checked without any event
	// (default 10s).
	Resync time.Duration
}

func (c *Config) setDefaults() error {
	if c.Client == nil || c.Docker == nil || c.NodeName == "" || c.Network == "" || c.StateDir == "" {
		return errors.New("kubelet: Client, Docker, NodeName, Network and StateDir are required")
	}
	if net.ParseIP(c.NodeIP) == nil {
		return fmt.Errorf("kubelet: NodeIP %q is not an IP address", c.NodeIP)
	}
	if c.ClusterDNS == "" {
		c.ClusterDNS = "10.96.0.10"
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Logger == nil {
		c.Logger = log.New(io.Discard, "", 0)
	}
	if c.ListenAddr == "" {
		c.ListenAddr = ":10250"
	}
	if c.BackOffInitial == 0 {
		c.BackOffInitial = 10 * time.Second
	}
	if c.BackOffMax == 0 {
		c.BackOffMax = 5 * time.Minute
	}
	if c.NetworkOptions == nil {
		c.NetworkOptions = map[string]string{"com.docker.network.bridge.enable_ip_masquerade": "false"}
	}
	if c.Resync == 0 {
		c.Resync = 10 * time.Second
	}
	if c.PauseBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("kubelet: finding the mini binary for the pause image: %w", err)
		}
		c.PauseBinary = exe
	}
	return nil
}

// Kubelet runs the pods of one node.
type Kubelet struct {
	cfg    Config
	c      *client.Client
	clk    clock.WithTicker
	log    *log.Logger
	rt     *runtime.Runtime
	events *recorder
	probes *prober
	images *imageManager

	pods     cache.SharedIndexInformer
	services cache.SharedIndexInformer

	// the node as pods see it
	nodeCPU, nodeMemory   resource.Quantity // for resource fields of containers without limits
	nodeHosts, nodeResolv []byte            // the node's /etc/hosts and /etc/resolv.conf

	runCtx context.Context // workers run in it; set by Run

	mu       sync.Mutex
	stopping bool           // Run is returning: no new workers
	running  sync.WaitGroup // worker goroutines
	workers  map[types.UID]*worker
	finished map[types.UID]time.Time // pods terminated and deleted by this kubelet
}

// Run runs the kubelet until ctx ends. Stopping leaves every pod running:
// the next kubelet on the same Docker daemon adopts them.
func Run(ctx context.Context, cfg Config) error {
	k, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	return k.Run(ctx)
}

// New prepares a kubelet: the state directory, the pause image and the pod
// network.
func New(ctx context.Context, cfg Config) (*Kubelet, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "pods"), 0o755); err != nil {
		return nil, fmt.Errorf("kubelet: state directory: %w", err)
	}
	pause, err := runtime.EnsurePauseImage(ctx, cfg.Docker, cfg.PauseBinary)
	if err != nil {
		return nil, fmt.Errorf("kubelet: %w", err)
	}
	if cfg.PodCIDR != "" {
		if err := runtime.EnsureNetwork(ctx, cfg.Docker, cfg.Network, cfg.PodCIDR, cfg.ExtraLabels, cfg.NetworkOptions); err != nil {
			return nil, fmt.Errorf("kubelet: %w", err)
		}
	}
	rt, err := runtime.New(runtime.Config{Docker: cfg.Docker, Node: cfg.NodeName, NodeIP: cfg.NodeIP, Network: cfg.Network,
		PauseImage: pause, ExtraLabels: cfg.ExtraLabels, Logf: cfg.Logger.Printf})
	if err != nil {
		return nil, err
	}
	k := &Kubelet{cfg: cfg, c: cfg.Client, clk: cfg.Clock, log: cfg.Logger, rt: rt,
		workers: map[types.UID]*worker{}, finished: map[types.UID]time.Time{}}
	info, err := cfg.Docker.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("kubelet: docker info: %w", err)
	}
	k.nodeCPU = *resource.NewQuantity(int64(info.NCPU), resource.DecimalSI)
	k.nodeMemory = *resource.NewQuantity(info.MemTotal, resource.BinarySI)
	k.nodeHosts, _ = os.ReadFile("/etc/hosts")
	k.nodeResolv, _ = os.ReadFile("/etc/resolv.conf")
	k.events = newRecorder(cfg.Client, cfg.NodeName, cfg.Clock)
	k.probes = newProber(rt)
	k.images = newImageManager(rt, k.events, cfg.Clock, cfg.BackOffInitial, cfg.BackOffMax)
	node := fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
	k.pods = cfg.Client.NewInformer(&corev1.Pod{}, &corev1.PodList{}, "", 0, func(o *client.ListOptions) { o.FieldSelector = node })
	k.services = cfg.Client.NewInformer(&corev1.Service{}, &corev1.ServiceList{}, "", 0, nil)
	return k, nil
}

// Run serves until ctx ends.
func (k *Kubelet) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer k.stopWorkers()
	defer cancel()
	serverErr := make(chan error, 1)
	if k.cfg.ListenAddr != "-" {
		srv, err := k.startServer(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); serverErr <- srv.serve(ctx) }()
	}
	k.runCtx = ctx
	k.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { k.podChanged(o, false) },
		UpdateFunc: func(_, o any) { k.podChanged(o, false) },
		DeleteFunc: func(o any) { k.podChanged(o, true) },
	})
	for _, f := range []func(context.Context){k.events.run, k.pods.RunWithContext, k.services.RunWithContext} {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); k.rt.Watch(ctx, func(uid types.UID, _ string) { k.notify(uid) }) }()
	if !cache.WaitForCacheSync(ctx.Done(), k.pods.HasSynced, k.services.HasSynced) {
		return nil // ctx ended
	}
	k.log.Printf("kubelet: node %s: watching pods (network %s, pause image %s)", k.cfg.NodeName, k.cfg.Network, k.rt.PauseImage())
	t := k.clk.NewTicker(k.cfg.Resync)
	defer t.Stop()
	for {
		if err := k.housekeeping(ctx); err != nil && ctx.Err() == nil {
			k.log.Printf("kubelet: housekeeping: %v", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-serverErr:
			return err
		case <-t.C():
		}
	}
}

// podChanged hands the latest version of a pod (or its deletion) to the
// pod's worker, starting one if needed.
func (k *Kubelet) podChanged(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, done := k.finished[pod.UID]; done {
		if deleted {
			delete(k.finished, pod.UID)
		}
		return
	}
	w, ok := k.workers[pod.UID]
	if !ok {
		if k.stopping {
			return
		}
		w = newWorker(k, pod)
		k.workers[pod.UID] = w
		k.running.Add(1)
		go func() { defer k.running.Done(); w.run(k.runCtx) }()
	}
	w.update(pod, deleted)
}

// stopWorkers waits for the pod workers to finish (ctx has ended): a
// stopped kubelet touches Docker no more.
func (k *Kubelet) stopWorkers() {
	k.mu.Lock()
	k.stopping = true
	k.mu.Unlock()
	k.running.Wait()
}

// notify wakes the worker of a pod, if any.
func (k *Kubelet) notify(uid types.UID) {
	k.mu.Lock()
	w := k.workers[uid]
	k.mu.Unlock()
	if w != nil {
		w.wake()
	}
}

// workerDone is called by a worker whose pod is gone.
func (k *Kubelet) workerDone(w *worker, deleted bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.workers[w.uid] == w {
		delete(k.workers, w.uid)
	}
	if !deleted {
		k.finished[w.uid] = k.clk.Now()
	}
}

// housekeeping removes the containers of pods that are no longer bound to
// this node (deleted while the agent was down, or force-deleted) and
// forgets old finished pods.
func (k *Kubelet) housekeeping(ctx context.Context) error {
	entries, err := k.rt.List(ctx)
	if err != nil {
		return err
	}
	orphans := map[types.UID][]runtime.Entry{}
	k.mu.Lock()
	for _, e := range entries {
		if _, ok := k.workers[e.PodUID]; !ok && !k.bound(e) {
			orphans[e.PodUID] = append(orphans[e.PodUID], e)
		}
	}
	for uid, t := range k.finished {
		if k.clk.Since(t) > 10*time.Minute {
			delete(k.finished, uid)
		}
	}
	k.mu.Unlock()
	for uid, es := range orphans {
		k.log.Printf("kubelet: removing %d containers of pod %s/%s (%s), which is not bound to this node", len(es), es[0].PodNamespace, es[0].PodName, uid)
		for _, e := range es {
			if e.State == "running" {
				k.rt.Stop(ctx, e.ID, 2*time.Second)
			}
			if err := k.rt.Remove(ctx, e.ID); err != nil {
				k.log.Printf("kubelet: %v", err)
			}
		}
		os.RemoveAll(k.podDir(uid))
		k.rt.RemoveVolumes(ctx, uid)
	}
	return nil
}

// bound reports whether the pod of a container is in the cache of pods
// bound to this node.
func (k *Kubelet) bound(e runtime.Entry) bool {
	p, ok := k.Pod(e.PodNamespace, e.PodName)
	return ok && p.UID == e.PodUID
}

// podDir is where a pod's files live on the node.
func (k *Kubelet) podDir(uid types.UID) string {
	return filepath.Join(k.cfg.StateDir, "pods", string(uid))
}

// Pod returns the pod namespace/name bound to this node, from the cache.
func (k *Kubelet) Pod(namespace, name string) (*corev1.Pod, bool) {
	obj, ok, err := k.pods.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	return obj.(*corev1.Pod), true
}

// Runtime returns the Docker side of the node.
func (k *Kubelet) Runtime() *runtime.Runtime { return k.rt }
