package clustertest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/controllers"
	"github.com/minicluster/mini/node/heartbeat"
	"github.com/minicluster/mini/node/sim"
)

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/" + app + ":1"}}},
	}
}

// podLog records, in the order the watch delivers them, when each pod was
// first seen and first seen Ready.
type podLog struct {
	mu     sync.Mutex
	events []string // "created web-0", "ready web-0", …
	seen   map[string]bool
}

func logPods(t *testing.T, c *Cluster, selector string) *podLog {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l := &podLog{seen: map[string]bool{}}
	inf := c.Client.NewInformer(&corev1.Pod{}, &corev1.PodList{}, "default", 0, func(o *client.ListOptions) { o.LabelSelector = selector })
	h := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, e := range []struct {
			what string
			now  bool
		}{{"created", true}, {"ready", PodReady(p)}} {
			if key := e.what + " " + p.Name; e.now && !l.seen[key] {
				l.seen[key] = true
				l.events = append(l.events, key)
			}
		}
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: h, UpdateFunc: func(_, n any) { h(n) }})
	go inf.Run(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	return l
}

func (l *podLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

func TestStatefulSetStartsInOrder(t *testing.T) {
	c := Start(t, Options{Nodes: 3})
	log := logPods(t, c, "app=web")
	n := int32(3)
	create(t, c.Client,
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: appsv1.StatefulSetSpec{Replicas: &n, ServiceName: "web",
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: podTemplate("web")}})
	WaitFor(t, 30*time.Second, "web-0, web-1 and web-2 Running and Ready", func() (bool, string) {
		pods := c.Pods(t, "default", "app=web")
		ready := 0
		for i := range pods {
			if PodReady(&pods[i]) {
				ready++
			}
		}
		return ready == 3, Summary(pods)
	})
	want := "created web-0,ready web-0,created web-1,ready web-1,created web-2,ready web-2"
	if got := strings.Join(log.snapshot(), ","); got != want {
		t.Errorf("StatefulSet pods appeared in the order %s, want %s (each created only after the previous one is Ready)", got, want)
	}
}

func TestJobRunsToCompletion(t *testing.T) {
	c := Start(t, Options{Nodes: 2})
	completions := int32(3)
	tpl := podTemplate("batch")
	tpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	create(t, c.Client, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "batch", Namespace: "default"},
		Spec: batchv1.JobSpec{Completions: &completions, Template: tpl}})
	WaitFor(t, 30*time.Second, "job batch Complete with 3 succeeded pods", func() (bool, string) {
		j := &batchv1.Job{}
		if err := c.Client.Get(context.Background(), "default", "batch", j); err != nil {
			return false, err.Error()
		}
		for _, cond := range j.Status.Conditions {
			if cond.Type == batchv1.JobComplete && cond.Status == corev1.ConditionTrue {
				return j.Status.Succeeded == 3, fmt.Sprintf("Complete with %d succeeded", j.Status.Succeeded)
			}
		}
		return false, fmt.Sprintf("succeeded %d, active %d, conditions %v", j.Status.Succeeded, j.Status.Active, j.Status.Conditions)
	})
	succeeded := 0
	for _, p := range c.Pods(t, "default", "job-name=batch") {
		if p.Status.Phase == corev1.PodSucceeded {
			succeeded++
		}
	}
	if succeeded != 3 {
		t.Errorf("job batch has %d Succeeded pods, want 3", succeeded)
	}
}

func TestDaemonSetCoversANodeAddedLater(t *testing.T) {
	c := Start(t, Options{Nodes: 2})
	create(t, c.Client, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}}, Template: podTemplate("agent")}})
	onNodes := func(want ...string) func() (bool, string) {
		return func() (bool, string) {
			pods := c.Pods(t, "default", "app=agent")
			got := map[string]bool{}
			for i := range pods {
				if PodReady(&pods[i]) {
					got[pods[i].Spec.NodeName] = true
				}
			}
			for _, n := range want {
				if !got[n] {
					return false, Summary(pods)
				}
			}
			return len(pods) == len(want), Summary(pods)
		}
	}
	WaitFor(t, 30*time.Second, "an agent pod Running on node-0 and node-1", onNodes("node-0", "node-1"))
	c.AddNodes("late", 1).WaitReady(t, 30*time.Second)
	WaitFor(t, 30*time.Second, "an agent pod Running on the new node late-0 too", onNodes("node-0", "node-1", "late-0"))
}

// TestPodsOfDeadNodesMoveToLiveOnes stops one group of simulated nodes as
// killing its process would. The node lifecycle controller runs with short
// timeouts (lease grace 3s, eviction 1s, where mini's defaults are 10s and
// 10s) and the nodes heartbeat every 500ms, so the test takes seconds.
func TestPodsOfDeadNodesMoveToLiveOnes(t *testing.T) {
	c := Start(t, Options{Nodes: 3, Prefix: "keep",
		Sim:         sim.Options{Heartbeat: heartbeat.Timing{Interval: 500 * time.Millisecond}},
		Controllers: controllers.Options{NodeGracePeriod: 3 * time.Second, PodEvictionTimeout: time.Second}})
	doomed := c.AddNodes("doomed", 2)
	doomed.WaitReady(t, 30*time.Second)
	pods := watchReady(t, c, "app=web")
	create(t, c.Client, deployment("web", 10, "example.com/web:1"))
	waitImage(t, pods, 10, "example.com/web:1", 30*time.Second)
	onDoomed := 0
	for _, p := range c.Pods(t, "default", "app=web") {
		if strings.HasPrefix(p.Spec.NodeName, "doomed-") {
			onDoomed++
		}
	}
	if onDoomed == 0 {
		t.Fatalf("no web pod landed on the doomed nodes; pods: %s", Summary(c.Pods(t, "default", "app=web")))
	}

	start := time.Now()
	doomed.Stop()
	WaitFor(t, 30*time.Second, "the doomed nodes NotReady and 10 web pods Ready on the kept nodes", func() (bool, string) {
		for _, name := range doomed.Names {
			if nodeReady(t, c, name) == corev1.ConditionTrue {
				return false, name + " still Ready"
			}
		}
		live := 0
		for _, o := range pods.inf.GetStore().List() {
			p := o.(*corev1.Pod)
			if p.DeletionTimestamp == nil && PodReady(p) && strings.HasPrefix(p.Spec.NodeName, "keep-") {
				live++
			}
		}
		return live == 10, fmt.Sprintf("%d Ready on kept nodes: %s", live, Summary(c.Pods(t, "default", "app=web")))
	})
	checkBudget(t, fmt.Sprintf("moving %d pods off 2 dead nodes", onDoomed), time.Since(start), 15*time.Second)
}

func nodeReady(t *testing.T, c *Cluster, name string) corev1.ConditionStatus {
	for _, cond := range nodeByName(t, c, name).Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status
		}
	}
	return ""
}
