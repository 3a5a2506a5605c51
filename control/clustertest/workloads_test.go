package clustertest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"

	"github.com/minicluster/mini/control/client"
)

// checkBudget reports a time budget: a failure with a clear message when it
// is exceeded on a machine that is not overloaded, a log line otherwise
// (timing is for benchmarks; on a shared, saturated machine a budget says
// nothing about mini).
func checkBudget(t *testing.T, what string, took, budget time.Duration) {
	t.Helper()
	if took <= budget {
		t.Logf("budget: %s took %s (budget %s)", what, took.Round(time.Millisecond), budget)
		return
	}
	if load := loadPerCPU(); load > 2 {
		t.Logf("budget: %s took %s, over its %s budget, not enforced: load average %.1f per CPU", what, took.Round(time.Millisecond), budget, load)
		return
	}
	t.Errorf("budget exceeded: %s took %s, want at most %s", what, took.Round(time.Millisecond), budget)
}

func loadPerCPU() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	l, _ := strconv.ParseFloat(strings.Fields(string(data))[0], 64)
	return l / float64(runtime.NumCPU())
}

func deployment(name string, replicas int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	maxUnavailable, maxSurge := intstr.FromInt32(2), intstr.FromInt32(3)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &maxUnavailable, MaxSurge: &maxSurge}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
}

// readyCounter follows the pods of a selector and remembers the fewest
// available ones (Ready and not terminating) seen since it was reset.
type readyCounter struct {
	inf cache.SharedIndexInformer
	mu  sync.Mutex
	min int
	on  bool
}

func watchReady(t *testing.T, c *Cluster, selector string) *readyCounter {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &readyCounter{inf: c.Client.NewInformer(&corev1.Pod{}, &corev1.PodList{}, "default", 0,
		func(o *client.ListOptions) { o.LabelSelector = selector })}
	h := func(any) { r.observe() }
	r.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: h, UpdateFunc: func(_, n any) { h(n) }, DeleteFunc: h})
	go r.inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), r.inf.HasSynced) {
		t.Fatal("pod informer did not sync")
	}
	return r
}

func (r *readyCounter) available() (n int, images map[string]int) {
	images = map[string]int{}
	for _, o := range r.inf.GetStore().List() {
		p := o.(*corev1.Pod)
		if p.DeletionTimestamp == nil && PodReady(p) {
			n++
			images[p.Spec.Containers[0].Image]++
		}
	}
	return n, images
}

func (r *readyCounter) observe() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, _ := r.available(); r.on && n < r.min {
		r.min = n
	}
}

// start begins tracking the minimum.
func (r *readyCounter) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.min, _ = r.available()
	r.on = true
}

func (r *readyCounter) minimum() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.min
}

// waitImage waits until exactly want pods are available, all with image.
func waitImage(t *testing.T, r *readyCounter, want int, image string, timeout time.Duration) {
	t.Helper()
	WaitFor(t, timeout, fmt.Sprintf("%d available pods all running %s", want, image), func() (bool, string) {
		n, images := r.available()
		return n == want && images[image] == want && len(r.inf.GetStore().List()) == want, fmt.Sprintf("%d available: %v", n, images)
	})
}

func TestDeploymentSpreadRolloutUndoDelete(t *testing.T) {
	c := Start(t, Options{Nodes: 5})
	ctx := context.Background()
	pods := watchReady(t, c, "app=web")
	start := time.Now()
	create(t, c.Client, deployment("web", 10, "example.com/web:1"))
	waitImage(t, pods, 10, "example.com/web:1", 30*time.Second)
	checkBudget(t, "a 10-replica Deployment on 5 simulated nodes, apply to all Running and Ready", time.Since(start), 2*time.Second)
	perNode := map[string]int{}
	for _, p := range c.Pods(t, "default", "app=web") {
		perNode[p.Spec.NodeName]++
	}
	for i := 0; i < 5; i++ {
		if perNode[fmt.Sprint("node-", i)] != 2 {
			t.Errorf("10 replicas on 5 nodes spread as %v, want 2 on each", perNode)
			break
		}
	}

	// Rolling update: never fewer than replicas - maxUnavailable available.
	pods.start()
	setImage(t, c, "web", "example.com/web:2")
	waitImage(t, pods, 10, "example.com/web:2", 60*time.Second)
	if m := pods.minimum(); m < 8 {
		t.Errorf("during the rollout only %d pods were available, want at least 10 - maxUnavailable 2 = 8", m)
	}
	waitRevision(t, c, "web", "2")

	// Undo, as kubectl rollout undo does: the previous revision's template.
	pods.start()
	undo(t, c, "web")
	waitImage(t, pods, 10, "example.com/web:1", 60*time.Second)
	if m := pods.minimum(); m < 8 {
		t.Errorf("during the undo only %d pods were available, want at least 8", m)
	}
	waitRevision(t, c, "web", "3")

	// Deleting the Deployment removes its ReplicaSets and their pods.
	if err := c.Client.Delete(ctx, &appsv1.Deployment{}, "default", "web", nil); err != nil {
		t.Fatalf("delete deployment: %v", err)
	}
	WaitFor(t, 30*time.Second, "the Deployment's ReplicaSets and pods to be gone", func() (bool, string) {
		var rs appsv1.ReplicaSetList
		if err := c.Client.List(ctx, "default", &rs, client.ListOptions{LabelSelector: "app=web"}); err != nil {
			return false, err.Error()
		}
		left := c.Pods(t, "default", "app=web")
		return len(rs.Items) == 0 && len(left) == 0, fmt.Sprintf("%d ReplicaSets, pods %s", len(rs.Items), Summary(left))
	})
}

func setImage(t *testing.T, c *Cluster, name, image string) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		d := &appsv1.Deployment{}
		if err := c.Client.Get(context.Background(), "default", name, d); err != nil {
			t.Fatalf("get deployment %s: %v", name, err)
		}
		d.Spec.Template.Spec.Containers[0].Image = image
		err := c.Client.Update(context.Background(), d)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) || attempt > 10 {
			t.Fatalf("set image of deployment %s: %v", name, err)
		}
	}
}

const revisionAnnotation = "deployment.kubernetes.io/revision"

func waitRevision(t *testing.T, c *Cluster, name, want string) {
	t.Helper()
	WaitFor(t, 10*time.Second, "deployment "+name+" at revision "+want, func() (bool, string) {
		d := &appsv1.Deployment{}
		if err := c.Client.Get(context.Background(), "default", name, d); err != nil {
			return false, err.Error()
		}
		return d.Annotations[revisionAnnotation] == want, d.Annotations[revisionAnnotation]
	})
}

// undo rolls a Deployment back to its previous revision the way kubectl
// rollout undo does: it copies that ReplicaSet's pod template.
func undo(t *testing.T, c *Cluster, name string) {
	t.Helper()
	ctx := context.Background()
	d := &appsv1.Deployment{}
	if err := c.Client.Get(ctx, "default", name, d); err != nil {
		t.Fatal(err)
	}
	var l appsv1.ReplicaSetList
	if err := c.Client.List(ctx, "default", &l, client.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	var owned []appsv1.ReplicaSet
	for _, rs := range l.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID {
			owned = append(owned, rs)
		}
	}
	sort.Slice(owned, func(i, j int) bool {
		a, _ := strconv.Atoi(owned[i].Annotations[revisionAnnotation])
		b, _ := strconv.Atoi(owned[j].Annotations[revisionAnnotation])
		return a > b
	})
	if len(owned) < 2 {
		t.Fatalf("deployment %s has %d ReplicaSets, want at least 2 to undo", name, len(owned))
	}
	tpl := owned[1].Spec.Template.DeepCopy()
	delete(tpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	d.Spec.Template = *tpl
	if err := c.Client.Update(ctx, d); err != nil {
		t.Fatalf("undo deployment %s: %v", name, err)
	}
}
