// Package clustertest runs whole mini clusters inside a test process: a
// real control plane (badger on disk, HTTPS on loopback) with the scheduler
// and the controller manager, plus simulated nodes (node/sim) that register,
// heartbeat and run pods as far as the API can tell. It is the tier between
// unit tests and the Docker end-to-end suite: everything but containers.
package clustertest

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/minicluster/mini/control/api"
	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/controllers"
	"github.com/minicluster/mini/control/plane"
	"github.com/minicluster/mini/control/plane/plantest"
	"github.com/minicluster/mini/control/scheduler"
	"github.com/minicluster/mini/node/sim"
)

// Options describe the cluster. Zero values take the defaults in
// parentheses.
type Options struct {
	// Nodes is how many simulated nodes start with the cluster (0).
	Nodes int
	// Prefix names those nodes (node: node-0, node-1, …).
	Prefix string
	// Sim is the template for simulated nodes (Count and Prefix are set per
	// group; JobDuration defaults to 200ms here to keep tests short).
	Sim sim.Options
	// Controllers configures the controller manager.
	Controllers controllers.Options
	// Scheduler configures the scheduler.
	Scheduler scheduler.Options
	// NoControllers leaves the controller manager out.
	NoControllers bool
	// Verbose sends the plane's and components' logs to the test log.
	Verbose bool
}

// Cluster is a running in-process cluster.
type Cluster struct {
	*plantest.Env
	t    testing.TB
	opts Options
	log  *log.Logger

	mu     sync.Mutex
	groups []*Nodes
}

// Start runs a cluster until the test ends and waits until its initial
// nodes are Ready.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Prefix == "" {
		o.Prefix = "node"
	}
	if o.Sim.JobDuration == 0 {
		o.Sim.JobDuration = 200 * time.Millisecond
	}
	logger := log.New(io.Discard, "", 0)
	if o.Verbose {
		logger = log.New(testWriter{t}, "", log.Lmicroseconds)
	}
	o.Scheduler.Logger = orLogger(o.Scheduler.Logger, logger)
	o.Controllers.Logger = orLogger(o.Controllers.Logger, logger)
	c := &Cluster{t: t, opts: o, log: logger}
	c.Env = plantest.Start(t, plantest.Options{Components: PlaneComponents(o), Verbose: o.Verbose})
	if o.Nodes > 0 {
		c.AddNodes(o.Prefix, o.Nodes).WaitReady(t, 30*time.Second)
	}
	return c
}

// PlaneComponents returns what runs next to the API server in a cluster of
// these options: the scheduler and (unless NoControllers) the controller
// manager.
func PlaneComponents(o Options) []plane.Component {
	if o.NoControllers {
		return []plane.Component{scheduler.New(o.Scheduler)}
	}
	// The scheduler shares the controller manager's pod informer, as in
	// the product (cmd/mini/cli's controlComponents).
	pods := controllers.NewPodSharer()
	o.Scheduler.Pods, o.Controllers.Pods = pods, pods
	return []plane.Component{scheduler.New(o.Scheduler), controllers.New(o.Controllers)}
}

func orLogger(l, def *log.Logger) *log.Logger {
	if l != nil {
		return l
	}
	return def
}

// NodeClient returns an in-process client with a node's credentials, as
// simulated nodes use.
func (c *Cluster) NodeClient(agent string) *client.Client {
	return c.Plane.Client(api.User{Name: "system:node", Groups: []string{"system:nodes"}}, agent)
}

// Nodes is one group of simulated nodes run by one sim.Run, as one
// `mini node simulate` process would.
type Nodes struct {
	Prefix string
	Names  []string
	cancel context.CancelFunc
	done   chan error
	ready  chan struct{}
}

// AddNodes starts count simulated nodes named prefix-0… in the background,
// configured as Options.Sim changed by mods. Stop them with Stop (the
// process being killed) or let the test end.
func (c *Cluster) AddNodes(prefix string, count int, mods ...func(*sim.Options)) *Nodes {
	o := c.opts.Sim
	for _, m := range mods {
		m(&o)
	}
	o.Count, o.Prefix = count, prefix
	o.Logger = orLogger(o.Logger, c.log)
	g := &Nodes{Prefix: prefix, done: make(chan error, 1), ready: make(chan struct{})}
	for i := 0; i < count; i++ {
		g.Names = append(g.Names, fmt.Sprintf("%s-%d", prefix, i))
	}
	o.OnReady = func([]string) { close(g.ready) }
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go func() { g.done <- sim.Run(ctx, c.NodeClient("sim-"+prefix), o) }()
	c.mu.Lock()
	c.groups = append(c.groups, g)
	c.mu.Unlock()
	c.t.Cleanup(g.Stop)
	return g
}

// WaitReady waits until every node of the group is registered and Ready
// and its pods are being served.
func (g *Nodes) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-g.ready:
	case err := <-g.done:
		t.Fatalf("simulated nodes %s-*: stopped before being Ready: %v", g.Prefix, err)
	case <-time.After(timeout):
		t.Fatalf("simulated nodes %s-*: not all %d registered and Ready after %s", g.Prefix, len(g.Names), timeout)
	}
}

// Stop ends the simulation as killing its process would: heartbeats and pod
// handling stop; the Node objects stay.
func (g *Nodes) Stop() {
	if g.cancel == nil {
		return
	}
	g.cancel()
	g.cancel = nil
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
	}
}

// WaitFor polls cond every 20ms until it holds or timeout passes, then fails
// the test with what was awaited and cond's last report of what it saw.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if seen != "" {
			last = seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last seen: %s", timeout, what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Pods lists the pods of ns matching a label selector ("" = all).
func (c *Cluster) Pods(t testing.TB, ns, selector string) []corev1.Pod {
	t.Helper()
	var l corev1.PodList
	if err := c.Client.List(context.Background(), ns, &l, client.ListOptions{LabelSelector: selector}); err != nil {
		t.Fatalf("list pods in %s (%q): %v", ns, selector, err)
	}
	return l.Items
}

// Events returns the messages of events with reason about an object.
func (c *Cluster) Events(t testing.TB, ns, name, reason string) []string {
	t.Helper()
	var l corev1.EventList
	sel := fields.Set{"involvedObject.name": name, "reason": reason}.AsSelector().String()
	if err := c.Client.List(context.Background(), ns, &l, client.ListOptions{FieldSelector: sel}); err != nil {
		t.Fatalf("list events of %s/%s: %v", ns, name, err)
	}
	var out []string
	for _, e := range l.Items {
		out = append(out, e.Message)
	}
	return out
}

// PodReady reports whether a pod is Running with condition Ready=True.
func PodReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Summary renders pods as "name@node:phase" for failure messages.
func Summary(pods []corev1.Pod) string {
	var b strings.Builder
	for i, p := range pods {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s@%s:%s", p.Name, p.Spec.NodeName, p.Status.Phase)
	}
	return "[" + b.String() + "]"
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
