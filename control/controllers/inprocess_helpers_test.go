package controllers

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/plane"
	"github.com/minicluster/mini/control/plane/plantest"
)

// In-process tests run a real control plane with some controllers; the
// test itself plays the scheduler and the kubelets.

// ipStart starts a plane with the named controllers.
func ipStart(t testing.TB, o Options) (context.Context, *client.Client) {
	t.Helper()
	ctx, env := ipStartEnv(t, o)
	return ctx, env.Client
}

// ipStartEnv is ipStart returning the whole environment (kubeconfig).
func ipStartEnv(t testing.TB, o Options) (context.Context, *plantest.Env) {
	t.Helper()
	env := plantest.Start(t, plantest.Options{Components: []plane.Component{New(o)}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx, env
}

// ipWait polls cond until it holds or timeout passes; cond says what it
// saw, for the failure message. tick, when set, runs before each poll.
func ipWait(t *testing.T, timeout time.Duration, what string, cond func() (bool, string), tick ...func()) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, f := range tick {
			f()
		}
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last saw: %s", timeout, what, saw)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ipNode creates a Ready node.
func ipNode(ctx context.Context, t *testing.T, c *client.Client, name string, opts ...func(*corev1.Node)) *corev1.Node {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}}}
	for _, o := range opts {
		o(n)
	}
	if err := c.Create(ctx, n); err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	return n
}

// ipRun plays scheduler and kubelet for a pod: binds it to node (unless
// bound) and reports it Running with an IP and the given readiness.
func ipRun(ctx context.Context, c *client.Client, ns, name, node, ip string, ready bool) error {
	p := &corev1.Pod{}
	if err := c.Get(ctx, ns, name, p); err != nil {
		return err
	}
	if p.Spec.NodeName == "" {
		if err := c.Bind(ctx, ns, name, p.UID, node); err != nil {
			return fmt.Errorf("bind %s to %s: %w", name, node, err)
		}
	}
	for attempt := 0; attempt < 10; attempt++ {
		if err := c.Get(ctx, ns, name, p); err != nil {
			return err
		}
		ipSetRunning(p, ip, ready)
		err := c.UpdateStatus(ctx, p)
		if err == nil {
			return nil
		}
		if attempt == 9 {
			return fmt.Errorf("report %s running: %w", name, err)
		}
	}
	return nil
}

func ipSetRunning(p *corev1.Pod, ip string, ready bool) {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	now := metav1.Now()
	p.Status.Phase, p.Status.PodIP, p.Status.HostIP = corev1.PodRunning, ip, "172.18.0.2"
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	p.Status.StartTime = &now
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: st, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: st, LastTransitionTime: now},
	}
}

// ipRecorder keeps every watch event of one type for later ordering checks.
type ipRecorder struct {
	mu     sync.Mutex
	events []watch.Event
}

func ipRecord(ctx context.Context, t *testing.T, c *client.Client, list runtime.Object, ns string) *ipRecorder {
	t.Helper()
	// Watch from the revision of a list, so that no event is missed.
	if err := c.List(ctx, ns, list, client.ListOptions{}); err != nil {
		t.Fatalf("list: %v", err)
	}
	rv := list.(metav1.ListInterface).GetResourceVersion()
	r := &ipRecorder{}
	wctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go func() {
		w, err := c.Watch(wctx, list, ns, client.ListOptions{ResourceVersion: rv})
		if err != nil {
			return
		}
		defer w.Stop()
		for ev := range w.ResultChan() {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *ipRecorder) snapshot() []watch.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]watch.Event{}, r.events...)
}

func ipListBy(selector string) client.ListOptions { return client.ListOptions{LabelSelector: selector} }
