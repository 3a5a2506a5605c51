package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/minicluster/mini/control/client"
)

type deployOptions struct {
	kubeconfig, context, image, name string
	replicas                         int
	probe                            bool
	perPod                           io.Writer // if set, gets one line of times per pod
}

// podTimes are when this client saw one pod first, bound to a node,
// Running, and Ready.
type podTimes struct {
	name, node                      string
	seen, scheduled, running, ready time.Time
}

// deploy creates the Deployment, times its pods until all are Ready, then
// deletes it and waits for its pods to go.
func deploy(ctx context.Context, o deployOptions) (string, error) {
	cfg, ns, err := client.LoadKubeconfig(o.kubeconfig, o.context)
	if err != nil {
		return "", err
	}
	cfg.UserAgent = "podsbench"
	c, err := client.New(cfg)
	if err != nil {
		return "", err
	}
	sel := client.ListOptions{LabelSelector: "app=" + o.name}
	var left corev1.PodList
	if err := c.List(ctx, ns, &left, sel); err != nil {
		return "", err
	}
	if len(left.Items) > 0 {
		return "", fmt.Errorf("%d pods with label app=%s exist already: delete them first", len(left.Items), o.name)
	}
	w, err := c.Watch(ctx, &corev1.Pod{}, ns, sel)
	if err != nil {
		return "", fmt.Errorf("watch pods: %w", err)
	}
	defer w.Stop()
	start := time.Now()
	if err := c.Create(ctx, deployment(ns, o)); err != nil {
		return "", fmt.Errorf("create Deployment %s: %w", o.name, err)
	}
	pods, err := timePods(ctx, w, o.replicas)
	if err != nil {
		return "", err
	}
	total := latest(pods, func(p *podTimes) time.Time { return p.ready }).Sub(start)
	delStart := time.Now()
	bg := metav1.DeletePropagationBackground
	if err := c.Delete(ctx, &appsv1.Deployment{}, ns, o.name, &metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		return "", fmt.Errorf("delete Deployment %s: %w", o.name, err)
	}
	if err := waitGone(ctx, w, pods); err != nil {
		return "", err
	}
	if o.perPod != nil {
		for _, p := range pods {
			fmt.Fprintf(o.perPod, "pod %s %s seen=%.3f scheduled=%.3f running=%.3f ready=%.3f\n", p.name, p.node,
				unix(p.seen), unix(p.scheduled), unix(p.running), unix(p.ready))
		}
	}
	return report(pods, start, total, time.Since(delStart)), nil
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func deployment(ns string, o deployOptions) *appsv1.Deployment {
	labels := map[string]string{"app": o.name}
	replicas := int32(o.replicas)
	grace := int64(1)
	c := corev1.Container{Name: "echo", Image: o.image, Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
		Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}
	if o.probe {
		c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: o.name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{c}},
			},
		},
	}
}

// timePods follows the watch until want pods are Ready.
func timePods(ctx context.Context, w watch.Interface, want int) (map[types.UID]*podTimes, error) {
	pods := map[types.UID]*podTimes{}
	ready := 0
	for ready < want {
		ev, err := next(ctx, w)
		if err != nil {
			return nil, fmt.Errorf("%w (%d of %d pods Ready)", err, ready, want)
		}
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || ev.Type == watch.Deleted {
			continue
		}
		now := time.Now()
		t := pods[p.UID]
		if t == nil {
			t = &podTimes{name: p.Name, seen: now}
			pods[p.UID] = t
		}
		if p.Spec.NodeName != "" && t.scheduled.IsZero() {
			t.node, t.scheduled = p.Spec.NodeName, now
		}
		if p.Status.Phase == corev1.PodRunning && t.running.IsZero() {
			t.running = now
		}
		if isReady(p) && t.ready.IsZero() {
			t.ready = now
			ready++
		}
	}
	return pods, nil
}

// waitGone follows the watch until every pod is deleted.
func waitGone(ctx context.Context, w watch.Interface, pods map[types.UID]*podTimes) error {
	left := map[types.UID]bool{}
	for uid := range pods {
		left[uid] = true
	}
	for len(left) > 0 {
		ev, err := next(ctx, w)
		if err != nil {
			return fmt.Errorf("%w (waiting for %d pods to go)", err, len(left))
		}
		if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Deleted {
			delete(left, p.UID)
		}
	}
	return nil
}

func next(ctx context.Context, w watch.Interface) (watch.Event, error) {
	select {
	case <-ctx.Done():
		return watch.Event{}, ctx.Err()
	case ev, ok := <-w.ResultChan():
		if !ok {
			return ev, fmt.Errorf("the pod watch ended")
		}
		if ev.Type == watch.Error {
			return ev, fmt.Errorf("pod watch: %v", ev.Object)
		}
		return ev, nil
	}
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func latest(pods map[types.UID]*podTimes, f func(*podTimes) time.Time) time.Time {
	var t time.Time
	for _, p := range pods {
		if f(p).After(t) {
			t = f(p)
		}
	}
	return t
}

// report formats the figures: total, per-pod seen→Ready percentiles, the
// medians of each step, the last pod's steps from the create, pods per
// node, and the delete time.
func report(pods map[types.UID]*podTimes, start time.Time, total, del time.Duration) string {
	var perPod, sched, run, ready []float64
	nodes := map[string]int{}
	for _, p := range pods {
		perPod = append(perPod, p.ready.Sub(p.seen).Seconds())
		sched = append(sched, p.scheduled.Sub(p.seen).Seconds())
		run = append(run, p.running.Sub(p.scheduled).Seconds())
		ready = append(ready, p.ready.Sub(p.running).Seconds())
		nodes[p.node]++
	}
	var per []string
	for n, k := range nodes {
		per = append(per, fmt.Sprintf("%s:%d", n, k))
	}
	sort.Strings(per)
	since := func(f func(*podTimes) time.Time) float64 { return latest(pods, f).Sub(start).Seconds() }
	return fmt.Sprintf("total=%.3f p50=%.3f p99=%.3f sched50=%.3f run50=%.3f ready50=%.3f "+
		"lastseen=%.3f lastsched=%.3f lastrun=%.3f delete=%.3f nodes=%s",
		total.Seconds(), pct(perPod, 50), pct(perPod, 99), pct(sched, 50), pct(run, 50), pct(ready, 50),
		since(func(p *podTimes) time.Time { return p.seen }), since(func(p *podTimes) time.Time { return p.scheduled }),
		since(func(p *podTimes) time.Time { return p.running }), del.Seconds(), strings.Join(per, ","))
}

// pct is the nearest-rank percentile.
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(i, 0)]
}
