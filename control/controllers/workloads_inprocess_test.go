package controllers

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/minicluster/mini/control/client"
)

func ipTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:v1"}}}}
}

// TestStatefulSetInProcess: web with 3 replicas gets web-0, web-1, web-2,
// each created only after the previous one is Running and Ready, with
// stable DNS identities; then an image change rolls them from web-2 down.
func TestStatefulSetInProcess(t *testing.T) {
	ctx, c := ipStart(t, Options{Only: []string{"statefulset"}})
	ipNode(ctx, t, c, "n1")
	rec := ipRecord(ctx, t, c, &corev1.PodList{}, "default")
	three := int32(3)
	set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{Replicas: &three, ServiceName: "nginx", Template: ipTemplate("web"),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	if err := c.Create(ctx, set); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		ipRunStsPod(ctx, t, c, fmt.Sprintf("web-%d", i), i)
	}
	ipWait(t, 30*time.Second, "statefulset status 3 ready", func() (bool, string) {
		s := &appsv1.StatefulSet{}
		if err := c.Get(ctx, "default", "web", s); err != nil {
			return false, err.Error()
		}
		st := s.Status
		return st.ReadyReplicas == 3 && st.CurrentReplicas == 3 && st.UpdatedReplicas == 3 && st.ObservedGeneration == s.Generation &&
			st.CurrentRevision == st.UpdateRevision && st.CurrentRevision != "", fmt.Sprintf("%+v", st)
	})
	// Ordering: web-i+1 was added only after web-i was reported ready.
	readyAt, addedAt := map[string]int{}, map[string]int{}
	for i, ev := range rec.snapshot() {
		p := ev.Object.(*corev1.Pod)
		if ev.Type == watch.Added {
			if _, seen := addedAt[p.Name]; !seen {
				addedAt[p.Name] = i
			}
		}
		if _, seen := readyAt[p.Name]; !seen && IsPodReady(p) {
			readyAt[p.Name] = i
		}
	}
	for i := 0; i < 2; i++ {
		prev, next := fmt.Sprintf("web-%d", i), fmt.Sprintf("web-%d", i+1)
		if addedAt[next] < readyAt[prev] {
			t.Errorf("%s was created (event %d) before %s was ready (event %d)", next, addedAt[next], prev, readyAt[prev])
		}
	}
	p := &corev1.Pod{}
	if err := c.Get(ctx, "default", "web-1", p); err != nil {
		t.Fatal(err)
	}
	if p.Spec.Hostname != "web-1" || p.Spec.Subdomain != "nginx" || p.Labels[appsv1.StatefulSetPodNameLabel] != "web-1" || p.Labels[appsv1.PodIndexLabel] != "1" {
		t.Errorf("web-1 identity: hostname %q subdomain %q labels %v", p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
	}

	// Rolling update: the new revision replaces web-2, then web-1, then web-0.
	if err := ipUpdateSts(ctx, c, func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "img:v2" }); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{2, 1, 0} {
		name := fmt.Sprintf("web-%d", i)
		ipPlayTerminate(ctx, t, c, name)
		ipRunStsPod(ctx, t, c, name, i)
		got := &corev1.Pod{}
		if err := c.Get(ctx, "default", name, got); err != nil {
			t.Fatal(err)
		}
		if img := got.Spec.Containers[0].Image; img != "img:v2" {
			t.Fatalf("%s recreated with %s, want img:v2", name, img)
		}
	}
	ipWait(t, 30*time.Second, "rolling update to complete", func() (bool, string) {
		s := &appsv1.StatefulSet{}
		_ = c.Get(ctx, "default", "web", s)
		return s.Status.UpdatedReplicas == 3 && s.Status.CurrentRevision == s.Status.UpdateRevision && s.Status.ReadyReplicas == 3, fmt.Sprintf("%+v", s.Status)
	})
	revs := &appsv1.ControllerRevisionList{}
	if err := c.List(ctx, "default", revs, client.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	nums := map[int64]bool{}
	for _, r := range revs.Items {
		nums[r.Revision] = true
	}
	if len(revs.Items) != 2 || !nums[1] || !nums[2] {
		t.Errorf("controller revisions %d with numbers %v, want revisions 1 and 2", len(revs.Items), nums)
	}
}

// ipRunStsPod waits for a StatefulSet pod to exist and runs it ready.
func ipRunStsPod(ctx context.Context, t *testing.T, c *client.Client, name string, i int) {
	t.Helper()
	ipWait(t, 30*time.Second, "pod "+name+" to be created", func() (bool, string) {
		p := &corev1.Pod{}
		err := c.Get(ctx, "default", name, p)
		return err == nil && p.DeletionTimestamp == nil, fmt.Sprint(err)
	})
	if err := ipRun(ctx, c, "default", name, "n1", "10.244.0."+strconv.Itoa(10+i), true); err != nil {
		t.Fatal(err)
	}
}

// ipPlayTerminate plays the kubelet finishing a graceful deletion of name:
// it waits for the deletion mark and removes the pod.
func ipPlayTerminate(ctx context.Context, t *testing.T, c *client.Client, name string) {
	t.Helper()
	var uid types.UID
	ipWait(t, 30*time.Second, "pod "+name+" to be marked for deletion", func() (bool, string) {
		p := &corev1.Pod{}
		err := c.Get(ctx, "default", name, p)
		uid = p.UID
		return err == nil && p.DeletionTimestamp != nil, fmt.Sprint(err)
	})
	zero := int64(0)
	err := c.Delete(ctx, &corev1.Pod{}, "default", name, &metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

func ipUpdateSts(ctx context.Context, c *client.Client, f func(*appsv1.StatefulSet)) error {
	for {
		s := &appsv1.StatefulSet{}
		if err := c.Get(ctx, "default", "web", s); err != nil {
			return err
		}
		f(s)
		if err := c.Update(ctx, s); !apierrors.IsConflict(err) {
			return err
		}
	}
}

// TestJobInProcess: a Job with 3 completions and parallelism 2 runs
// exactly 3 pods to success and becomes Complete.
func TestJobInProcess(t *testing.T) {
	ctx, c := ipStart(t, Options{Only: []string{"job"}})
	three, two := int32(3), int32(2)
	tmpl := ipTemplate("pi")
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default"},
		Spec: batchv1.JobSpec{Completions: &three, Parallelism: &two, Template: tmpl}}
	if err := c.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	done := map[string]bool{}
	maxActive := 0
	ipWait(t, 20*time.Second, "job pi to complete", func() (bool, string) {
		pods := &corev1.PodList{}
		if err := c.List(ctx, "default", pods, client.ListOptions{LabelSelector: "job-name=pi"}); err != nil {
			return false, err.Error()
		}
		active := 0
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.GenerateName != "pi-" || p.Labels[batchv1.ControllerUidLabel] == "" {
				t.Fatalf("job pod %s has generateName %q labels %v", p.Name, p.GenerateName, p.Labels)
			}
			if done[p.Name] {
				continue
			}
			active++
			if err := ipSucceed(ctx, c, p); err != nil {
				return false, err.Error()
			}
			done[p.Name] = true
		}
		maxActive = max(maxActive, active)
		j := &batchv1.Job{}
		if err := c.Get(ctx, "default", "pi", j); err != nil {
			return false, err.Error()
		}
		return jobIsTrue(&j.Status, batchv1.JobComplete), fmt.Sprintf("status %+v, %d pods", j.Status, len(pods.Items))
	})
	j := &batchv1.Job{}
	if err := c.Get(ctx, "default", "pi", j); err != nil {
		t.Fatal(err)
	}
	if j.Status.Succeeded != 3 || j.Status.Active != 0 || j.Status.CompletionTime == nil || j.Status.StartTime == nil ||
		!jobIsTrue(&j.Status, batchv1.JobSuccessCriteriaMet) {
		t.Errorf("final status %+v", j.Status)
	}
	if len(done) != 3 || maxActive > 2 {
		t.Errorf("ran %d pods with at most %d at once, want 3 with at most 2", len(done), maxActive)
	}
}

// ipSucceed binds a pod and reports it Succeeded.
func ipSucceed(ctx context.Context, c *client.Client, p *corev1.Pod) error {
	if err := c.Bind(ctx, p.Namespace, p.Name, p.UID, "n1"); err != nil {
		return err
	}
	cur := &corev1.Pod{}
	if err := c.Get(ctx, p.Namespace, p.Name, cur); err != nil {
		return err
	}
	now := metav1.Now()
	cur.Status.Phase = corev1.PodSucceeded
	cur.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 0, Reason: "Completed", FinishedAt: now}}}}
	return c.UpdateStatus(ctx, cur)
}

// TestDaemonSetInProcess: a DaemonSet covers the existing node, skips a
// node with a taint it does not tolerate, covers a node added later, and
// leaves a node that stops matching its nodeSelector.
func TestDaemonSetInProcess(t *testing.T) {
	ctx, c := ipStart(t, Options{Only: []string{"daemonset"}})
	pool := func(n *corev1.Node) { n.Labels["pool"] = "a" }
	ipNode(ctx, t, c, "n1", pool)
	ipNode(ctx, t, c, "n2", pool, func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}
	})
	tmpl := ipTemplate("agent")
	tmpl.Spec.NodeSelector = map[string]string{"pool": "a"}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{Template: tmpl, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}}}}
	if err := c.Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	// The test is the scheduler (binding by the pods' node affinity) and the kubelet.
	schedule := func() (map[string]int, error) {
		pods := &corev1.PodList{}
		if err := c.List(ctx, "default", pods, client.ListOptions{LabelSelector: "app=agent"}); err != nil {
			return nil, err
		}
		per := map[string]int{}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp != nil {
				continue
			}
			node := dsNodeOf(p)
			per[node]++
			if p.Status.Phase != corev1.PodRunning {
				if err := ipRun(ctx, c, "default", p.Name, node, "10.244.1."+strconv.Itoa(i+2), true); err != nil {
					return nil, err
				}
			}
		}
		return per, nil
	}
	wantPods := func(want map[string]int, what string) {
		ipWait(t, 30*time.Second, what, func() (bool, string) {
			per, err := schedule()
			if err != nil {
				return false, err.Error()
			}
			return fmt.Sprint(per) == fmt.Sprint(want), fmt.Sprint(per)
		})
	}
	wantPods(map[string]int{"n1": 1}, "a daemon pod on n1 only")
	ipNode(ctx, t, c, "n3", pool)
	wantPods(map[string]int{"n1": 1, "n3": 1}, "a daemon pod on the new node n3")
	ipWait(t, 30*time.Second, "daemonset status", func() (bool, string) {
		d := &appsv1.DaemonSet{}
		_ = c.Get(ctx, "default", "agent", d)
		st := d.Status
		return st.DesiredNumberScheduled == 2 && st.CurrentNumberScheduled == 2 && st.NumberReady == 2 && st.NumberAvailable == 2 &&
			st.UpdatedNumberScheduled == 2 && st.NumberMisscheduled == 0 && st.ObservedGeneration == d.Generation, fmt.Sprintf("%+v", st)
	})
	n3 := &corev1.Node{}
	if err := c.Get(ctx, "", "n3", n3); err != nil {
		t.Fatal(err)
	}
	n3.Labels["pool"] = "b"
	if err := c.Update(ctx, n3); err != nil {
		t.Fatal(err)
	}
	ipWait(t, 30*time.Second, "the daemon pod on n3 to be deleted", func() (bool, string) {
		pods := &corev1.PodList{}
		if err := c.List(ctx, "default", pods, client.ListOptions{LabelSelector: "app=agent"}); err != nil {
			return false, err.Error()
		}
		for _, p := range pods.Items {
			if dsNodeOf(&p) == "n3" && p.DeletionTimestamp == nil {
				return false, p.Name + " on n3 is not being deleted"
			}
		}
		return true, ""
	})
}
