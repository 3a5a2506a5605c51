package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/controllers"
)

var workloads = controllers.Options{Only: []string{"replicaset", "deployment"}}

func TestDeploymentReachesAvailable(t *testing.T) {
	env, ctx := start(t, workloads)
	c := env.Client
	startKubelet(t, ctx, c, "node-1", nil, true)
	if err := c.Create(ctx, newDeployment("default", "web", 10, "img:1")); err != nil {
		t.Fatal(err)
	}
	d := waitRolledOut(t, ctx, c, "default", "web")
	if a := condition(d, appsv1.DeploymentAvailable); a == nil || a.Status != corev1.ConditionTrue || a.Reason != "MinimumReplicasAvailable" {
		t.Errorf("Available condition %+v, want True/MinimumReplicasAvailable", a)
	}
	if p := condition(d, appsv1.DeploymentProgressing); p == nil || p.Status != corev1.ConditionTrue || p.Reason != "NewReplicaSetAvailable" {
		t.Errorf("Progressing condition %+v, want True/NewReplicaSetAvailable", p)
	}
	if d.Status.AvailableReplicas != 10 || d.Status.ReadyReplicas != 10 || d.Status.UnavailableReplicas != 0 {
		t.Errorf("status %+v, want 10 available and ready, 0 unavailable", d.Status)
	}
	if d.Annotations["deployment.kubernetes.io/revision"] != "1" {
		t.Errorf("revision annotation %q, want 1", d.Annotations["deployment.kubernetes.io/revision"])
	}
	rss, err := listRS(ctx, c, "default", "app=web")
	if err != nil || len(rss) != 1 {
		t.Fatalf("ReplicaSets %d (%v), want 1", len(rss), err)
	}
	rs := rss[0]
	hash := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	if want := controllers.ComputeHash(&d.Spec.Template, nil); hash != want || rs.Name != "web-"+hash {
		t.Errorf("ReplicaSet %s with hash label %q, want web-%s", rs.Name, hash, want)
	}
	if rs.Annotations["deployment.kubernetes.io/desired-replicas"] != "10" || rs.Annotations["deployment.kubernetes.io/max-replicas"] != "13" ||
		rs.Annotations["deployment.kubernetes.io/revision"] != "1" {
		t.Errorf("ReplicaSet annotations %v", rs.Annotations)
	}
	ref := metav1.GetControllerOf(&rs)
	if ref == nil || ref.UID != d.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("ReplicaSet controller reference %+v, want the Deployment's with blockOwnerDeletion", ref)
	}
	pods, _ := listPods(ctx, c, "default", "app=web")
	for _, p := range pods {
		ref := metav1.GetControllerOf(&p)
		if ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" || !*ref.BlockOwnerDeletion || !strings.HasPrefix(p.Name, rs.Name+"-") {
			t.Errorf("pod %s: controller %+v, want ReplicaSet %s", p.Name, ref, rs.Name)
		}
	}
	waitEvent(t, ctx, c, "ScalingReplicaSet", fmt.Sprintf("Scaled up replica set %s from 0 to 10", rs.Name))
	waitEvent(t, ctx, c, "SuccessfulCreate", "Created pod: "+pods[0].Name)
}

// waitEvent waits for an event with reason and message in default.
func waitEvent(t *testing.T, ctx context.Context, c *client.Client, reason, message string) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("event %s %q", reason, message), func() (bool, error) {
		var l corev1.EventList
		if err := c.List(ctx, "default", &l, client.ListOptions{}); err != nil {
			return false, err
		}
		var seen []string
		for _, e := range l.Items {
			if e.Reason == reason && e.Message == message {
				return true, nil
			}
			if e.Reason == reason {
				seen = append(seen, fmt.Sprintf("%q (count %d)", e.Message, e.Count))
			}
		}
		return false, fmt.Errorf("%s events present: %s", reason, strings.Join(seen, ", "))
	})
}

// podWatch follows the pods of a namespace from a list's resourceVersion
// and checks bounds at every state the store went through.
type podWatch struct {
	mu         sync.Mutex
	pods       map[types.UID]*corev1.Pod
	events     int
	violations []string
	done       chan struct{}
}

func watchPods(t *testing.T, ctx context.Context, c *client.Client, ns string, check func(active, ready int, pods map[types.UID]*corev1.Pod) string) *podWatch {
	t.Helper()
	var l corev1.PodList
	if err := c.List(ctx, ns, &l, client.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	pw := &podWatch{pods: map[types.UID]*corev1.Pod{}, done: make(chan struct{})}
	for i := range l.Items {
		pw.pods[l.Items[i].UID] = &l.Items[i]
	}
	w, err := c.Watch(ctx, &corev1.Pod{}, ns, client.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(pw.done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			pw.mu.Lock()
			pw.events++
			if ev.Type == watch.Deleted {
				delete(pw.pods, p.UID)
			} else {
				pw.pods[p.UID] = p
			}
			active, ready := 0, 0
			for _, p := range pw.pods {
				if controllers.IsPodActive(p) {
					active++
					if controllers.IsPodReady(p) {
						ready++
					}
				}
			}
			if v := check(active, ready, pw.pods); v != "" {
				pw.violations = append(pw.violations, fmt.Sprintf("at resourceVersion %s: %s", p.ResourceVersion, v))
			}
			pw.mu.Unlock()
		}
	}()
	t.Cleanup(w.Stop)
	return pw
}

func (pw *podWatch) report(t *testing.T) {
	t.Helper()
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if len(pw.violations) > 0 {
		t.Errorf("%d violations, first: %s", len(pw.violations), strings.Join(pw.violations[:min(5, len(pw.violations))], "; "))
	}
	if pw.events == 0 {
		t.Error("the pod watch saw no event")
	}
}

func TestRollingUpdateBounds(t *testing.T) {
	for _, tc := range []struct{ surge, unavailable string }{
		{"25%", "25%"}, {"0", "1"}, {"1", "0"}, {"3", "2"}, {"100%", "0"},
	} {
		t.Run(tc.surge+"_"+tc.unavailable, func(t *testing.T) {
			env, ctx := start(t, workloads)
			c := env.Client
			startKubelet(t, ctx, c, "node-1", nil, true)
			d := newDeployment("default", "web", 10, "img:1")
			ms, mu := intstr.Parse(tc.surge), intstr.Parse(tc.unavailable)
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &ms, MaxUnavailable: &mu}
			if err := c.Create(ctx, d); err != nil {
				t.Fatal(err)
			}
			waitRolledOut(t, ctx, c, "default", "web")
			surge, _ := intstr.GetScaledValueFromIntOrPercent(&ms, 10, true)
			unavailable, _ := intstr.GetScaledValueFromIntOrPercent(&mu, 10, false)
			pw := watchPods(t, ctx, c, "default", func(active, ready int, _ map[types.UID]*corev1.Pod) string {
				switch {
				case active > 10+surge:
					return fmt.Sprintf("%d pods exist, more than 10 + maxSurge %d", active, surge)
				case ready < 10-unavailable:
					return fmt.Sprintf("%d pods ready, fewer than 10 - maxUnavailable %d", ready, unavailable)
				}
				return ""
			})
			setImage(t, ctx, c, "web", "img:2")
			d = waitRolledOut(t, ctx, c, "default", "web")
			pw.report(t)
			pods, _ := listPods(ctx, c, "default", "app=web")
			active := 0
			for _, p := range pods {
				if !controllers.IsPodActive(&p) {
					continue // old pods may still be terminating
				}
				active++
				if p.Spec.Containers[0].Image != "img:2" {
					t.Errorf("pod %s still runs %s", p.Name, p.Spec.Containers[0].Image)
				}
			}
			if active != 10 || d.Annotations["deployment.kubernetes.io/revision"] != "2" {
				t.Errorf("%d pods at revision %s, want 10 at revision 2", active, d.Annotations["deployment.kubernetes.io/revision"])
			}
		})
	}
}

// setImage patches the Deployment's container image (as kubectl set image).
func setImage(t *testing.T, ctx context.Context, c *client.Client, name, image string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":%q}]}}}}`, image)
	if err := c.Patch(ctx, &appsv1.Deployment{}, "default", name, types.StrategicMergePatchType, []byte(patch), ""); err != nil {
		t.Fatalf("setting image %s: %v", image, err)
	}
}

func patchDeployment(t *testing.T, ctx context.Context, c *client.Client, name, patch string) {
	t.Helper()
	if err := c.Patch(ctx, &appsv1.Deployment{}, "default", name, types.MergePatchType, []byte(patch), ""); err != nil {
		t.Fatalf("patching deployment %s with %s: %v", name, patch, err)
	}
}

func TestRecreateNeverOverlaps(t *testing.T) {
	env, ctx := start(t, workloads)
	c := env.Client
	startKubelet(t, ctx, c, "node-1", nil, true)
	d := newDeployment("default", "web", 4, "img:1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if err := c.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, ctx, c, "default", "web")
	pw := watchPods(t, ctx, c, "default", func(_, _ int, pods map[types.UID]*corev1.Pod) string {
		images := map[string]int{}
		for _, p := range pods { // terminating pods count: they may still run
			images[p.Spec.Containers[0].Image]++
		}
		if images["img:1"] > 0 && images["img:2"] > 0 {
			return fmt.Sprintf("old and new pods exist together: %v", images)
		}
		return ""
	})
	setImage(t, ctx, c, "web", "img:2")
	waitRolledOut(t, ctx, c, "default", "web")
	pw.report(t)
}

// TestScaleDuringRollout stalls a rollout (new pods never get ready), then
// scales the Deployment: the difference is spread over both ReplicaSets.
func TestScaleDuringRollout(t *testing.T) {
	env, ctx := start(t, workloads)
	c := env.Client
	k := startKubelet(t, ctx, c, "node-1", nil, true)
	if err := c.Create(ctx, newDeployment("default", "web", 10, "img:1")); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, ctx, c, "default", "web")
	k.setReady(false)
	setImage(t, ctx, c, "web", "img:2")
	var newName, oldName string
	sizes := func() (newSize, oldSize int32, err error) {
		rss, err := listRS(ctx, c, "default", "app=web")
		for _, rs := range rss {
			if rs.Spec.Template.Spec.Containers[0].Image == "img:2" {
				newSize, newName = *rs.Spec.Replicas, rs.Name
			} else {
				oldSize, oldName = *rs.Spec.Replicas, rs.Name
			}
		}
		return newSize, oldSize, err
	}
	// The rollout stalls once the old ReplicaSet is down to the 8 that
	// must stay available (10 - maxUnavailable 2) and the new one has the
	// rest of the 13 allowed (10 + maxSurge 3). new=3 old=8 on the way
	// there is not a stall: the new ReplicaSet then grows to 5.
	waitFor(t, 30*time.Second, "the rollout to stall at new=5 old=8", func() (bool, error) {
		n, o, err := sizes()
		return n == 5 && o == 8, err
	})
	// The controller must also have seen it (status counts the new
	// ReplicaSet's 5 pods), or it would scale from an older view.
	waitFor(t, 30*time.Second, "the Deployment's status to show 13 pods, 5 updated", func() (bool, error) {
		var d appsv1.Deployment
		err := c.Get(ctx, "default", "web", &d)
		return d.Status.Replicas == 13 && d.Status.UpdatedReplicas == 5, err
	})
	patchDeployment(t, ctx, c, "web", `{"spec":{"replicas":20}}`)
	// Kubernetes's proportional scaling: 25 allowed (20 + surge 5), 13
	// present: old 8 -> round(8*25/13) = 15, new 5 -> round(5*25/13) = 10,
	// nothing left over. (The rollout then goes on at once, so the sizes
	// are checked through the events.)
	waitEvent(t, ctx, c, "ScalingReplicaSet", "Scaled up replica set "+oldName+" from 8 to 15")
	waitEvent(t, ctx, c, "ScalingReplicaSet", "Scaled up replica set "+newName+" from 5 to 10")
	k.setReady(true)
	d := waitRolledOut(t, ctx, c, "default", "web")
	if d.Status.Replicas != 20 {
		t.Errorf("%d replicas after the rollout, want 20", d.Status.Replicas)
	}
}
