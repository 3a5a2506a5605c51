package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/minicluster/mini/control/client"
)

// logs, exec and port-forward act on one pod, named directly ("POD",
// "pod/POD") or through an object that selects pods ("svc/NAME",
// "deploy/NAME", rs, sts, ds, job): then the best of its pods is used, as
// kubectl picks one.

// podTarget is the pod a streaming verb acts on and how it was found.
type podTarget struct {
	pod *corev1.Pod
	via any // the object named, when not a pod
	n   int // how many pods the object selects
}

// podFor finds the pod arg names.
func podFor(ctx context.Context, s *session, arg string) (*podTarget, error) {
	kind, name, ok := strings.Cut(arg, "/")
	if !ok {
		kind, name = "pods", arg
	}
	if name == "" {
		return nil, usageError("%q names no object", arg)
	}
	r, err := s.resolve(ctx, kind)
	if err != nil {
		return nil, err
	}
	if r.Kind == "Pod" && r.Group == "" {
		var p corev1.Pod
		if err := s.c.Get(ctx, s.ns, name, &p); err != nil {
			return nil, kubeErr(err)
		}
		return &podTarget{pod: &p}, nil
	}
	obj, _, ok := client.NewObject(r.GVK())
	if !ok {
		return nil, usageError("cannot find pods of a %s", r.Kind)
	}
	if err := s.c.Get(ctx, s.nsOf(r), name, obj); err != nil {
		return nil, kubeErr(err)
	}
	sel, err := podSelector(obj)
	if err != nil {
		return nil, withCode(ExitUsage, err)
	}
	var l corev1.PodList
	if err := s.c.List(ctx, s.ns, &l, client.ListOptions{LabelSelector: sel.String()}); err != nil {
		return nil, err
	}
	pods := activePods(l.Items)
	if len(pods) == 0 {
		return nil, withCode(ExitNotFound, fmt.Errorf("%s/%s has no pods", qualifiedKind(client.Resource{Info: r.Info}), name))
	}
	sort.SliceStable(pods, func(i, j int) bool { return betterPod(&pods[i], &pods[j]) })
	return &podTarget{pod: &pods[0], via: obj, n: len(pods)}, nil
}

// podSelector returns the label selector by which obj picks its pods.
func podSelector(obj any) (labels.Selector, error) {
	var ls *metav1.LabelSelector
	switch o := obj.(type) {
	case *corev1.Service:
		if len(o.Spec.Selector) == 0 {
			return nil, fmt.Errorf("service %s has no selector, so no pods", o.Name)
		}
		return labels.SelectorFromSet(o.Spec.Selector), nil
	case *appsv1.Deployment:
		ls = o.Spec.Selector
	case *appsv1.ReplicaSet:
		ls = o.Spec.Selector
	case *appsv1.StatefulSet:
		ls = o.Spec.Selector
	case *appsv1.DaemonSet:
		ls = o.Spec.Selector
	case *batchv1.Job:
		ls = o.Spec.Selector
	default:
		return nil, fmt.Errorf("cannot find the pods of a %T", obj)
	}
	return metav1.LabelSelectorAsSelector(ls)
}

// activePods drops pods being deleted.
func activePods(ps []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range ps {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// betterPod orders pods as kubectl does to choose one: scheduled before
// not, Running before Pending before the rest, Ready before not, then the
// older.
func betterPod(a, b *corev1.Pod) bool {
	if (a.Spec.NodeName != "") != (b.Spec.NodeName != "") {
		return a.Spec.NodeName != ""
	}
	rank := map[corev1.PodPhase]int{corev1.PodRunning: 0, corev1.PodPending: 1}
	ra, oka := rank[a.Status.Phase]
	rb, okb := rank[b.Status.Phase]
	if !oka {
		ra = 2
	}
	if !okb {
		rb = 2
	}
	if ra != rb {
		return ra < rb
	}
	if podIsReady(a) != podIsReady(b) {
		return podIsReady(a)
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

func podIsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// defaultContainer picks the container a command acts on without -c: the
// annotated default, or the first; note says which when there was a choice.
func defaultContainer(p *corev1.Pod) (name, note string) {
	if d := p.Annotations["kubectl.kubernetes.io/default-container"]; d != "" {
		return d, ""
	}
	if len(p.Spec.Containers) == 0 {
		return "", ""
	}
	name = p.Spec.Containers[0].Name
	if len(p.Spec.Containers) > 1 {
		var all []string
		for _, c := range p.Spec.Containers {
			all = append(all, c.Name)
		}
		note = fmt.Sprintf("Defaulted container %q out of: %s", name, strings.Join(all, ", "))
	}
	return name, note
}

// translatePorts maps port-forward specs ("LOCAL:REMOTE", ":REMOTE",
// "PORT") to specs on the pod's ports: remote resolves a remote port as
// named (a number, a container port name, or a service port).
func translatePorts(specs []string, remote func(string) (int32, error)) ([]string, error) {
	out := make([]string, 0, len(specs))
	for _, spec := range specs {
		local, rem, two := strings.Cut(spec, ":")
		if !two {
			rem = spec
		}
		if rem == "" {
			return nil, usageError("port %q: no remote port", spec)
		}
		port, err := remote(rem)
		if err != nil {
			return nil, err
		}
		if !two {
			if _, err := strconv.ParseUint(rem, 10, 16); err != nil {
				return nil, usageError("port %q: name a local port (LOCAL:%s)", spec, rem)
			}
			local = rem
		}
		if local != "" {
			if _, err := strconv.ParseUint(local, 10, 16); err != nil {
				return nil, usageError("port %q: local port %q is not a number", spec, local)
			}
		}
		out = append(out, fmt.Sprintf("%s:%d", local, port))
	}
	return out, nil
}

// containerPort resolves a pod's port by number or name.
func containerPort(p *corev1.Pod, port string) (int32, error) {
	if n, err := strconv.ParseUint(port, 10, 16); err == nil && n > 0 {
		return int32(n), nil
	}
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == port {
				return cp.ContainerPort, nil
			}
		}
	}
	return 0, usageError("pod %s has no port named %q", p.Name, port)
}

// servicePort resolves a service port (number or name) to the target port
// on the chosen pod.
func servicePort(svc *corev1.Service, p *corev1.Pod, port string) (int32, error) {
	for _, sp := range svc.Spec.Ports {
		if sp.Name != port && strconv.Itoa(int(sp.Port)) != port {
			continue
		}
		switch {
		case sp.TargetPort.StrVal != "":
			return containerPort(p, sp.TargetPort.StrVal)
		case sp.TargetPort.IntVal != 0:
			return sp.TargetPort.IntVal, nil
		}
		return sp.Port, nil
	}
	return 0, usageError("service %s does not have a service port %s", svc.Name, port)
}
