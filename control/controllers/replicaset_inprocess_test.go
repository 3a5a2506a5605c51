package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testclock "k8s.io/utils/clock/testing"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/controllers"
)

func newReplicaSet(name string, replicas int32) *appsv1.ReplicaSet {
	labels := map[string]string{"app": name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "img:1"}}},
			},
		},
	}
}

// ownedPods returns the active pods controlled by the ReplicaSet uid and
// all pods labelled app=name.
func ownedPods(ctx context.Context, c *client.Client, name string, uid types.UID) (owned, all []corev1.Pod, err error) {
	var l corev1.PodList
	if err = c.List(ctx, "default", &l, client.ListOptions{}); err != nil {
		return nil, nil, err
	}
	for _, p := range l.Items {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == uid && controllers.IsPodActive(&p) {
			owned = append(owned, p)
		}
		if p.Labels["app"] == name {
			all = append(all, p)
		}
	}
	return owned, all, nil
}

func TestReplicaSetLifecycle(t *testing.T) {
	env, ctx := start(t, controllers.Options{Only: []string{"replicaset"}})
	c := env.Client
	startKubelet(t, ctx, c, "node-1", nil, true)

	// An orphan that matches is adopted instead of creating a third pod.
	orphan := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "default", Labels: map[string]string{"app": "rs"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "img:1"}}}}
	mustCreate(t, ctx, c, orphan)
	rs := newReplicaSet("rs", 3)
	mustCreate(t, ctx, c, rs)
	wantOwned := func(what string, n int, extra func([]corev1.Pod, []corev1.Pod) error) {
		t.Helper()
		waitFor(t, 30*time.Second, what, func() (bool, error) {
			owned, all, err := ownedPods(ctx, c, "rs", rs.UID)
			if err != nil || len(owned) != n {
				return false, fmt.Errorf("%d owned pods (%v)", len(owned), err)
			}
			if extra != nil {
				if err := extra(owned, all); err != nil {
					return false, err
				}
			}
			got := &appsv1.ReplicaSet{}
			if err := c.Get(ctx, "default", "rs", got); err != nil {
				return false, err
			}
			st := got.Status
			ok := st.Replicas == int32(n) && st.ReadyReplicas == int32(n) && st.AvailableReplicas == int32(n) &&
				st.FullyLabeledReplicas == int32(n) && st.ObservedGeneration == got.Generation
			return ok, fmt.Errorf("status %+v", st)
		})
	}
	wantOwned("the orphan to be adopted and 2 pods created", 3, func(owned, _ []corev1.Pod) error {
		for _, p := range owned {
			if p.Name == "orphan" {
				ref := metav1.GetControllerOf(&p)
				if !*ref.BlockOwnerDeletion {
					return fmt.Errorf("adopted without blockOwnerDeletion: %+v", ref)
				}
				return nil
			}
		}
		return fmt.Errorf("the orphan was not adopted")
	})

	// A pod that stops matching is released and replaced.
	patch := []byte(`{"metadata":{"labels":{"app":"other"}}}`)
	if err := c.Patch(ctx, &corev1.Pod{}, "default", "orphan", types.MergePatchType, patch, ""); err != nil {
		t.Fatal(err)
	}
	wantOwned("the relabelled pod to be released and replaced", 3, func([]corev1.Pod, []corev1.Pod) error {
		p := &corev1.Pod{}
		if err := c.Get(ctx, "default", "orphan", p); err != nil || len(p.OwnerReferences) != 0 {
			return fmt.Errorf("released pod: %v, owners %v", err, p.OwnerReferences)
		}
		return nil
	})

	// A failed pod no longer counts and is replaced (and kept).
	owned, _, _ := ownedPods(ctx, c, "rs", rs.UID)
	failed := &corev1.Pod{}
	waitFor(t, 10*time.Second, "the pod's phase to be set to Failed", func() (bool, error) {
		if err := c.Get(ctx, "default", owned[0].Name, failed); err != nil {
			return false, err
		}
		failed.Status.Phase = corev1.PodFailed
		err := c.UpdateStatus(ctx, failed)
		return err == nil, err
	})
	wantOwned("the failed pod to be replaced", 3, func(owned, _ []corev1.Pod) error {
		for _, p := range owned {
			if p.Name == failed.Name {
				return fmt.Errorf("the failed pod still counts")
			}
		}
		return nil
	})

	// Scale-down removes the pod with the lowest deletion cost.
	owned, _, _ = ownedPods(ctx, c, "rs", rs.UID)
	victim := owned[1].Name
	patch = []byte(`{"metadata":{"annotations":{"controller.kubernetes.io/pod-deletion-cost":"-100"}}}`)
	if err := c.Patch(ctx, &corev1.Pod{}, "default", victim, types.MergePatchType, patch, ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Patch(ctx, &appsv1.ReplicaSet{}, "default", "rs", types.MergePatchType, []byte(`{"spec":{"replicas":2}}`), ""); err != nil {
		t.Fatal(err)
	}
	wantOwned("the scale-down to 2", 2, func(owned, _ []corev1.Pod) error {
		for _, p := range owned {
			if p.Name == victim {
				return fmt.Errorf("the cheapest pod %s was kept", victim)
			}
		}
		return nil
	})
	waitEvent(t, ctx, c, "SuccessfulDelete", "Deleted pod: "+victim)
	if err := c.Get(ctx, "default", failed.Name, &corev1.Pod{}); err != nil {
		t.Errorf("the failed pod was deleted: %v", err)
	}
}

// TestReplicaSetMinReadySeconds runs the controllers on a fake clock: pods
// ready at T count as available only once the clock passes T+10s.
func TestReplicaSetMinReadySeconds(t *testing.T) {
	clk := testclock.NewFakeClock(time.Now())
	env, ctx := start(t, controllers.Options{Only: []string{"replicaset"}, Clock: clk})
	c := env.Client
	startKubelet(t, ctx, c, "node-1", clk, true)
	rs := newReplicaSet("slow", 2)
	rs.Spec.MinReadySeconds = 10
	mustCreate(t, ctx, c, rs)
	readyAt := clk.Now()
	// The workqueue's retry back-off runs on the fake clock too: nudge it
	// by a millisecond per poll (far less than minReadySeconds).
	tick := func() { clk.Step(time.Millisecond) }
	got := &appsv1.ReplicaSet{}
	waitFor(t, 30*time.Second, "2 ready replicas", func() (bool, error) {
		err := c.Get(ctx, "default", "slow", got)
		return got.Status.ReadyReplicas == 2, err
	}, tick)
	if got.Status.AvailableReplicas != 0 {
		t.Fatalf("%d replicas available %v after becoming ready, before minReadySeconds", got.Status.AvailableReplicas, clk.Since(readyAt))
	}
	clk.Step(10 * time.Second)
	waitFor(t, 30*time.Second, "2 available replicas after minReadySeconds", func() (bool, error) {
		err := c.Get(ctx, "default", "slow", got)
		return got.Status.AvailableReplicas == 2, err
	}, tick)
}

// TestProgressDeadline: pods that never get ready make the rollout time
// out once the (fake) clock passes progressDeadlineSeconds.
func TestProgressDeadline(t *testing.T) {
	clk := testclock.NewFakeClock(time.Now())
	env, ctx := start(t, controllers.Options{Only: []string{"replicaset", "deployment"}, Clock: clk})
	c := env.Client
	startKubelet(t, ctx, c, "node-1", clk, false)
	d := newDeployment("default", "stuck", 2, "img:1")
	d.Spec.ProgressDeadlineSeconds = int32p(30)
	mustCreate(t, ctx, c, d)
	tick := func() { clk.Step(time.Millisecond) }
	reason := func() (string, error) {
		got, err := getDeployment(ctx, c, "default", "stuck")
		if err != nil {
			return "", err
		}
		if p := condition(got, appsv1.DeploymentProgressing); p != nil && got.Status.Replicas == 2 {
			return p.Reason, nil
		}
		return "", nil
	}
	waitFor(t, 30*time.Second, "the rollout to start", func() (bool, error) {
		r, err := reason()
		return r == "NewReplicaSetCreated" || r == "ReplicaSetUpdated", err
	}, tick)
	clk.Step(31 * time.Second)
	waitFor(t, 30*time.Second, "ProgressDeadlineExceeded", func() (bool, error) {
		r, err := reason()
		return r == "ProgressDeadlineExceeded", err
	}, tick)
}
