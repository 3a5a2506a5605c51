package controllers_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/controllers"
	"github.com/minicluster/mini/control/plane"
	"github.com/minicluster/mini/control/plane/plantest"
)

// start runs a control plane with the named controllers (all when none).
func start(t *testing.T, o controllers.Options) (*plantest.Env, context.Context) {
	t.Helper()
	env := plantest.Start(t, plantest.Options{Components: []plane.Component{controllers.New(o)}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return env, ctx
}

// waitFor polls cond every 10ms until it holds, failing the test with what
// it waited for after timeout. step, when set, runs before each poll (to
// move a fake clock along).
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error), step ...func()) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		for _, s := range step {
			s()
		}
		ok, err := cond()
		if ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kubelet plays the node agent for in-process tests: it binds unscheduled
// pods to its node, reports bound pods Running and Ready (when ready is
// true), and finishes graceful deletions at once.
type kubelet struct {
	c     *client.Client
	node  string
	clk   clock.PassiveClock
	ready atomic.Bool
	q     workqueue.TypedRateLimitingInterface[string]
	inf   cache.SharedIndexInformer
}

func startKubelet(t testing.TB, ctx context.Context, c *client.Client, node string, clk clock.PassiveClock, ready bool) *kubelet {
	t.Helper()
	if clk == nil {
		clk = clock.RealClock{}
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
	if err := c.Create(ctx, n); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating node %s: %v", node, err)
	}
	k := &kubelet{c: c, node: node, clk: clk,
		q: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
	k.ready.Store(ready)
	k.inf = c.NewInformer(&corev1.Pod{}, &corev1.PodList{}, "", 0, nil)
	enqueue := func(o any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(o); err == nil {
			k.q.Add(key)
		}
	}
	k.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }})
	kctx, cancel := context.WithCancel(ctx)
	go k.inf.Run(kctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			key, quit := k.q.Get()
			if quit {
				return
			}
			if err := k.handle(kctx, key); err != nil && kctx.Err() == nil {
				k.q.AddRateLimited(key)
			} else {
				k.q.Forget(key)
			}
			k.q.Done(key)
		}
	}()
	t.Cleanup(func() { cancel(); k.q.ShutDown(); <-done })
	return k
}

// setReady switches readiness reporting and looks at every pod again.
func (k *kubelet) setReady(ready bool) {
	k.ready.Store(ready)
	for _, key := range k.inf.GetStore().ListKeys() {
		k.q.Add(key)
	}
}

func (k *kubelet) handle(ctx context.Context, key string) error {
	obj, ok, _ := k.inf.GetStore().GetByKey(key)
	if !ok {
		return nil
	}
	p := obj.(*corev1.Pod)
	switch {
	case p.Spec.NodeName != "" && p.Spec.NodeName != k.node:
		return nil // another node's
	case p.DeletionTimestamp != nil:
		uid, zero := p.UID, int64(0)
		err := k.c.Delete(ctx, &corev1.Pod{}, p.Namespace, p.Name, &metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	case p.Spec.NodeName == "":
		err := k.c.Bind(ctx, p.Namespace, p.Name, p.UID, k.node)
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	case p.Spec.NodeName == k.node && k.ready.Load() && p.Status.Phase == corev1.PodPending:
		out := p.DeepCopy()
		now := metav1.NewTime(k.clk.Now())
		out.Status.Phase = corev1.PodRunning
		out.Status.StartTime = &now
		out.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		err := k.c.UpdateStatus(ctx, out)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	return nil
}

func int32p(n int32) *int32 { return &n }

// newDeployment returns a Deployment of replicas pods labelled app=name.
func newDeployment(ns, name string, replicas int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
}

// getDeployment reads a Deployment.
func getDeployment(ctx context.Context, c *client.Client, ns, name string) (*appsv1.Deployment, error) {
	d := &appsv1.Deployment{}
	return d, c.Get(ctx, ns, name, d)
}

// rolledOut reports what kubectl rollout status reports as done.
func rolledOut(d *appsv1.Deployment) (bool, error) {
	n := *d.Spec.Replicas
	st := d.Status
	if d.Generation > st.ObservedGeneration || st.UpdatedReplicas < n || st.Replicas > st.UpdatedReplicas || st.AvailableReplicas < st.UpdatedReplicas {
		return false, fmt.Errorf("generation %d observed %d, replicas %d updated %d available %d (want %d)",
			d.Generation, st.ObservedGeneration, st.Replicas, st.UpdatedReplicas, st.AvailableReplicas, n)
	}
	return true, nil
}

// waitRolledOut waits until a Deployment is rolled out and returns it.
func waitRolledOut(t *testing.T, ctx context.Context, c *client.Client, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	waitFor(t, 60*time.Second, "deployment "+name+" to roll out", func() (bool, error) {
		var err error
		if d, err = getDeployment(ctx, c, ns, name); err != nil {
			return false, err
		}
		return rolledOut(d)
	})
	return d
}

func condition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// listPods lists pods in ns matching a label selector.
func listPods(ctx context.Context, c *client.Client, ns, selector string) ([]corev1.Pod, error) {
	var l corev1.PodList
	err := c.List(ctx, ns, &l, client.ListOptions{LabelSelector: selector})
	return l.Items, err
}

// listRS lists ReplicaSets in ns matching a label selector.
func listRS(ctx context.Context, c *client.Client, ns, selector string) ([]appsv1.ReplicaSet, error) {
	var l appsv1.ReplicaSetList
	err := c.List(ctx, ns, &l, client.ListOptions{LabelSelector: selector})
	return l.Items, err
}

func createNamespace(t *testing.T, ctx context.Context, c *client.Client, name string) {
	t.Helper()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}
