// Package sim owns mini's simulated nodes (in the manner of kwok): Node
// objects that register, heartbeat and report Ready exactly as real mini
// nodes do (through node/heartbeat), and a kubelet that runs nothing. Pods
// bound to a simulated node go Running and Ready with a pod IP from the
// node's pod CIDR; pods of Jobs (restartPolicy Never or OnFailure) complete
// after a set duration; deleted pods are finalized after a short simulated
// shutdown. One process can simulate a thousand nodes: it uses one pod
// watch for all of them and writes pod status from a bounded pool of
// workers. Stopping Run (or killing the process) stops the heartbeats, so
// the control plane sees the nodes die as it would real ones.
package sim

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"runtime"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/node/heartbeat"
)

// Options describe the simulated nodes. Zero values take the defaults in
// parentheses.
type Options struct {
	// Count is how many nodes to simulate (required, at least 1).
	Count int
	// Prefix names the nodes PREFIX-0 … PREFIX-(Count-1) ("sim").
	Prefix string
	// Capacity of each node (cpu 8, memory 32Gi, pods 110); missing
	// entries take the defaults. Allocatable equals capacity.
	Capacity corev1.ResourceList
	// JobDuration is how long the containers of pods with restartPolicy
	// Never or OnFailure run before exiting 0 (1s).
	JobDuration time.Duration
	// ShutdownDelay is the longest a deleted pod takes to stop; pods with a
	// shorter grace period stop sooner (100ms).
	ShutdownDelay time.Duration
	// Heartbeat is how often each node renews its Lease and the duration
	// it declares (heartbeat.Timing's defaults: as real mini nodes).
	Heartbeat heartbeat.Timing
	// Workers bounds concurrent registrations and pod status writes (32).
	Workers int
	// KubeletVersion is reported in each node's nodeInfo (v1.37.2-sim).
	KubeletVersion string
	// PodCIDRTimeout bounds the wait for the control plane to assign each
	// node a pod CIDR (1m).
	PodCIDRTimeout time.Duration
	Clock          clock.WithTicker // (real clock)
	Logger         *log.Logger      // (discard)
	// OnReady, when set, is called once every node is registered, has a
	// Lease and reports Ready, and pods are being served.
	OnReady func(nodes []string)
}

// DefaultCapacity is a simulated node's capacity unless told otherwise.
func DefaultCapacity() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("8"),
		corev1.ResourceMemory: resource.MustParse("32Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
}

func (o *Options) defaults() error {
	if o.Count < 1 {
		return fmt.Errorf("simulated nodes: the count must be at least 1, not %d", o.Count)
	}
	if o.Prefix == "" {
		o.Prefix = "sim"
	}
	capacity := DefaultCapacity()
	for k, v := range o.Capacity {
		capacity[k] = v
	}
	o.Capacity = capacity
	if o.JobDuration <= 0 {
		o.JobDuration = time.Second
	}
	if o.ShutdownDelay <= 0 {
		o.ShutdownDelay = 100 * time.Millisecond
	}
	o.Heartbeat = o.Heartbeat.WithDefaults()
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.KubeletVersion == "" {
		o.KubeletVersion = "v1.37.2-sim"
	}
	if o.PodCIDRTimeout <= 0 {
		o.PodCIDRTimeout = time.Minute
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = log.New(io.Discard, "", 0)
	}
	return nil
}

// simNode is one simulated node.
type simNode struct {
	name string
	uid  types.UID
	ip   string
	pool *ipPool // nil until the pod CIDR is known
}

// Run registers the nodes, keeps them alive and serves their pods until ctx
// ends. It fails only if the nodes cannot be registered.
func Run(ctx context.Context, c *client.Client, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := newSim(ctx, c, o)
	defer func() {
		cancel()
		s.wg.Wait()
	}()
	started := o.Clock.Now()
	if err := s.register(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	o.Logger.Printf("sim: %d nodes %s registered and Ready in %s", len(s.names), s.span(), o.Clock.Since(started).Round(time.Millisecond))
	return s.servePods(ctx, func() {
		if o.OnReady != nil {
			o.OnReady(append([]string(nil), s.names...))
		}
	})
}

func (s *sim) span() string {
	if len(s.names) == 1 {
		return s.names[0]
	}
	return s.names[0] + " … " + s.names[len(s.names)-1]
}

// nodeIP makes up a stable InternalIP in 172.30.0.0/16 for node i; the
// prefix picks one of sixteen blocks of 4096 so that two simulations with
// different prefixes rarely overlap.
func nodeIP(prefix string, i int) string {
	h := fnv.New32a()
	h.Write([]byte(prefix))
	v := (h.Sum32()%16)*4096 + uint32(i%4096) + 1
	return fmt.Sprintf("172.30.%d.%d", (v>>8)&0xff, v&0xff)
}

func (s *sim) nodeObject(n *simNode) *corev1.Node {
	o := s.opts
	now := metav1.NewTime(o.Clock.Now())
	cond := func(t corev1.NodeConditionType, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: msg,
			LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{
			corev1.LabelHostname: n.name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: runtime.GOARCH,
			"type": "simulated",
		}},
		Status: corev1.NodeStatus{
			Capacity: o.Capacity.DeepCopy(), Allocatable: o.Capacity.DeepCopy(),
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.ip}, {Type: corev1.NodeHostName, Address: n.name}},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: o.KubeletVersion, OperatingSystem: "linux", Architecture: runtime.GOARCH,
				ContainerRuntimeVersion: "sim://1", OSImage: "mini simulated node", KernelVersion: "simulated"},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeMemoryPressure, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
				cond(corev1.NodeDiskPressure, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				cond(corev1.NodePIDPressure, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			},
		},
	}
}

// register brings every node up with a bounded pool of workers: create or
// update the Node, wait for its pod CIDR, create the Lease, report Ready,
// then keep heartbeating.
func (s *sim) register(ctx context.Context) error {
	work := make(chan *simNode)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.reportRegistration(rctx)
	for w := 0; w < min(s.opts.Workers, len(s.names)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				if err := s.registerOne(rctx, n); err != nil {
					select {
					case errc <- err:
					default:
					}
					cancel()
				}
			}
		}()
	}
feed:
	for _, name := range s.names {
		select {
		case work <- s.nodes[name]:
		case <-rctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return ctx.Err()
	}
}

func (s *sim) registerOne(ctx context.Context, n *simNode) error {
	c, clk := s.c, s.opts.Clock
	stored, err := heartbeat.Register(ctx, c, s.nodeObject(n))
	if err != nil {
		return err
	}
	s.registered.Add(1)
	cidr, err := heartbeat.WaitPodCIDR(ctx, c, n.name, s.opts.PodCIDRTimeout)
	if err != nil {
		return err
	}
	s.withCIDR.Add(1)
	pool, err := newIPPool(cidr)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.name, err)
	}
	s.mu.Lock()
	n.uid, n.pool = stored.UID, pool
	s.mu.Unlock()
	if err := heartbeat.RenewLease(ctx, c, n.name, n.uid, s.opts.Heartbeat.LeaseDuration, clk.Now()); err != nil {
		return fmt.Errorf("node %s: lease: %w", n.name, err)
	}
	if err := heartbeat.SetReady(ctx, c, n.name, true, "KubeletReady", readyMessage, clk.Now()); err != nil {
		return fmt.Errorf("node %s: ready: %w", n.name, err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// The lease was just renewed: the loop's first renewal is due one
		// interval from now. Starting loops as registrations complete also
		// spreads a thousand nodes' renewals over time.
		select {
		case <-s.runCtx.Done():
			return
		case <-clk.After(s.opts.Heartbeat.Interval):
		}
		heartbeat.Loop(s.runCtx, c, n.name, n.uid, s.opts.Heartbeat, clk,
			func() (bool, string) { return true, readyMessage }, s.heartbeatError)
	}()
	return nil
}

// reportRegistration logs progress every 10s while registration lasts.
func (s *sim) reportRegistration(ctx context.Context) {
	t := s.opts.Clock.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			s.opts.Logger.Printf("sim: still registering: %d of %d nodes created, %d assigned a pod CIDR by the control plane",
				s.registered.Load(), len(s.names), s.withCIDR.Load())
		}
	}
}

const readyMessage = "kubelet is posting ready status (simulated)"

// heartbeatError logs heartbeat failures, at most one a second.
func (s *sim) heartbeatError(err error) {
	s.mu.Lock()
	now := s.opts.Clock.Now()
	if now.Sub(s.lastErrLog) < time.Second {
		s.mu.Unlock()
		return
	}
	s.lastErrLog = now
	s.mu.Unlock()
	s.opts.Logger.Printf("sim: heartbeat: %v", err)
}
