package cli

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func init() { describers[schema.GroupKind{Kind: "Pod"}] = describePod }

func describePod(_ context.Context, _ *session, obj runtime.Object, w *descWriter) {
	p := obj.(*corev1.Pod)
	w.line(0, "Name:\t%s", p.Name)
	w.line(0, "Namespace:\t%s", p.Namespace)
	if p.Spec.Priority != nil {
		w.line(0, "Priority:\t%d", *p.Spec.Priority)
	}
	w.line(0, "Service Account:\t%s", orNone(p.Spec.ServiceAccountName))
	node := "<none>"
	if p.Spec.NodeName != "" {
		node = p.Spec.NodeName
		if p.Status.HostIP != "" {
			node += "/" + p.Status.HostIP
		}
	}
	w.line(0, "Node:\t%s", node)
	if p.Status.StartTime != nil {
		w.line(0, "Start Time:\t%s", when(*p.Status.StartTime))
	}
	w.keyValues(0, "Labels", p.Labels, "=")
	w.keyValues(0, "Annotations", p.Annotations, ": ")
	if p.DeletionTimestamp != nil {
		w.line(0, "Status:\tTerminating (lasts %s)", since(*p.DeletionTimestamp))
	} else {
		w.line(0, "Status:\t%s", p.Status.Phase)
	}
	if p.Status.Reason != "" {
		w.line(0, "Reason:\t%s", p.Status.Reason)
	}
	if p.Status.Message != "" {
		w.line(0, "Message:\t%s", p.Status.Message)
	}
	w.line(0, "IP:\t%s", p.Status.PodIP)
	if len(p.Status.PodIPs) == 0 {
		w.line(0, "IPs:\t<none>")
	} else {
		w.line(0, "IPs:")
		for _, ip := range p.Status.PodIPs {
			w.line(1, "IP:\t%s", ip.IP)
		}
	}
	if c := controlledBy(&p.ObjectMeta); c != "" {
		w.line(0, "Controlled By:\t%s", c)
	}
	if len(p.Spec.InitContainers) > 0 {
		w.line(0, "Init Containers:")
		describeContainers(w, 1, p.Spec.InitContainers, p.Status.InitContainerStatuses, true)
	}
	w.line(0, "Containers:")
	describeContainers(w, 1, p.Spec.Containers, p.Status.ContainerStatuses, true)
	if len(p.Status.Conditions) > 0 {
		w.line(0, "Conditions:")
		w.line(1, "Type\tStatus")
		for _, c := range p.Status.Conditions {
			w.line(1, "%s \t%s ", c.Type, c.Status)
		}
	}
	describeVolumes(w, 0, p.Spec.Volumes)
	w.line(0, "QoS Class:\t%s", orNone(string(p.Status.QOSClass)))
	w.keyValues(0, "Node-Selectors", p.Spec.NodeSelector, "=")
	describeTolerations(w, p.Spec.Tolerations)
}

// describeContainers writes containers with, for a pod (live), their
// statuses.
func describeContainers(w *descWriter, level int, cs []corev1.Container, statuses []corev1.ContainerStatus, live bool) {
	byName := map[string]corev1.ContainerStatus{}
	for _, s := range statuses {
		byName[s.Name] = s
	}
	for _, c := range cs {
		st := byName[c.Name]
		w.line(level, "%s:", c.Name)
		l := level + 1
		if live {
			w.line(l, "Container ID:\t%s", st.ContainerID)
		}
		w.line(l, "Image:\t%s", c.Image)
		if live {
			w.line(l, "Image ID:\t%s", st.ImageID)
		}
		describePorts(w, l, c.Ports)
		describeList(w, l, "Command", c.Command)
		describeList(w, l, "Args", c.Args)
		if live {
			describeState(w, l, "State", st.State)
			if st.LastTerminationState.Terminated != nil || st.LastTerminationState.Running != nil || st.LastTerminationState.Waiting != nil {
				describeState(w, l, "Last State", st.LastTerminationState)
			}
			w.line(l, "Ready:\t%s", titleBool(st.Ready))
			w.line(l, "Restart Count:\t%d", st.RestartCount)
		}
		describeResources(w, l, "Limits", c.Resources.Limits)
		describeResources(w, l, "Requests", c.Resources.Requests)
		for _, pr := range []struct {
			name  string
			probe *corev1.Probe
		}{{"Liveness", c.LivenessProbe}, {"Readiness", c.ReadinessProbe}, {"Startup", c.StartupProbe}} {
			if pr.probe != nil {
				w.line(l, "%s:\t%s", pr.name, probeString(pr.probe))
			}
		}
		describeEnv(w, l, c)
		if len(c.VolumeMounts) == 0 {
			w.line(l, "Mounts:\t<none>")
		} else {
			w.line(l, "Mounts:")
			for _, m := range c.VolumeMounts {
				ro := "rw"
				if m.ReadOnly {
					ro = "ro"
				}
				w.line(l+1, "%s from %s (%s)", m.MountPath, m.Name, ro)
			}
		}
	}
}

func titleBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func describePorts(w *descWriter, l int, ports []corev1.ContainerPort) {
	switch len(ports) {
	case 0:
		w.line(l, "Port:\t<none>")
		w.line(l, "Host Port:\t<none>")
	case 1:
		p := ports[0]
		w.line(l, "Port:\t%d/%s", p.ContainerPort, p.Protocol)
		w.line(l, "Host Port:\t%d/%s", p.HostPort, p.Protocol)
	default:
		var ps, hs []string
		for _, p := range ports {
			ps = append(ps, fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol))
			hs = append(hs, fmt.Sprintf("%d/%s", p.HostPort, p.Protocol))
		}
		w.line(l, "Ports:\t%s", strings.Join(ps, ", "))
		w.line(l, "Host Ports:\t%s", strings.Join(hs, ", "))
	}
}

func describeList(w *descWriter, l int, title string, items []string) {
	if len(items) == 0 {
		return
	}
	w.line(l, "%s:", title)
	for _, it := range items {
		w.line(l+1, "%s", it)
	}
}

func describeState(w *descWriter, l int, title string, s corev1.ContainerState) {
	switch {
	case s.Running != nil:
		w.line(l, "%s:\tRunning", title)
		w.line(l+1, "Started:\t%s", when(s.Running.StartedAt))
	case s.Waiting != nil:
		w.line(l, "%s:\tWaiting", title)
		if s.Waiting.Reason != "" {
			w.line(l+1, "Reason:\t%s", s.Waiting.Reason)
		}
	case s.Terminated != nil:
		t := s.Terminated
		w.line(l, "%s:\tTerminated", title)
		if t.Reason != "" {
			w.line(l+1, "Reason:\t%s", t.Reason)
		}
		if t.Message != "" {
			w.line(l+1, "Message:\t%s", t.Message)
		}
		w.line(l+1, "Exit Code:\t%d", t.ExitCode)
		if t.Signal > 0 {
			w.line(l+1, "Signal:\t%d", t.Signal)
		}
		w.line(l+1, "Started:\t%s", when(t.StartedAt))
		w.line(l+1, "Finished:\t%s", when(t.FinishedAt))
	default:
		w.line(l, "%s:\tWaiting", title)
	}
}

func describeResources(w *descWriter, l int, title string, rl corev1.ResourceList) {
	if len(rl) == 0 {
		return
	}
	w.line(l, "%s:", title)
	for _, n := range sortedKeys(rl) {
		q := rl[n]
		w.line(l+1, "%s:\t%s", n, q.String())
	}
}

// probeString renders a probe as kubectl describe does.
func probeString(p *corev1.Probe) string {
	attrs := fmt.Sprintf("delay=%ds timeout=%ds period=%ds #success=%d #failure=%d",
		p.InitialDelaySeconds, p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold)
	switch {
	case p.HTTPGet != nil:
		g := p.HTTPGet
		scheme := strings.ToLower(string(g.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		return fmt.Sprintf("http-get %s://%s:%s%s %s", scheme, g.Host, g.Port.String(), g.Path, attrs)
	case p.TCPSocket != nil:
		return fmt.Sprintf("tcp-socket %s:%s %s", p.TCPSocket.Host, p.TCPSocket.Port.String(), attrs)
	case p.Exec != nil:
		return fmt.Sprintf("exec [%s] %s", strings.Join(p.Exec.Command, " "), attrs)
	case p.GRPC != nil:
		return fmt.Sprintf("grpc <pod>:%d %s", p.GRPC.Port, attrs)
	}
	return "unknown " + attrs
}

func describeEnv(w *descWriter, l int, c corev1.Container) {
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			w.line(l, "Environment Variables from:\t%s ConfigMap with prefix '%s'", ef.ConfigMapRef.Name, ef.Prefix)
		case ef.SecretRef != nil:
			w.line(l, "Environment Variables from:\t%s Secret with prefix '%s'", ef.SecretRef.Name, ef.Prefix)
		}
	}
	if len(c.Env) == 0 {
		w.line(l, "Environment:\t<none>")
		return
	}
	w.line(l, "Environment:")
	for _, e := range c.Env {
		v := e.Value
		if f := e.ValueFrom; f != nil {
			switch {
			case f.FieldRef != nil:
				v = fmt.Sprintf(" (%s:%s)", f.FieldRef.APIVersion, f.FieldRef.FieldPath)
			case f.ResourceFieldRef != nil:
				v = fmt.Sprintf("%s (%s)", f.ResourceFieldRef.ContainerName, f.ResourceFieldRef.Resource)
			case f.ConfigMapKeyRef != nil:
				v = fmt.Sprintf("<set to the key '%s' of config map '%s'>", f.ConfigMapKeyRef.Key, f.ConfigMapKeyRef.Name)
			case f.SecretKeyRef != nil:
				v = fmt.Sprintf("<set to the key '%s' in secret '%s'>", f.SecretKeyRef.Key, f.SecretKeyRef.Name)
			}
		}
		w.line(l+1, "%s:\t%s", e.Name, v)
	}
}

func describeVolumes(w *descWriter, l int, vols []corev1.Volume) {
	if len(vols) == 0 {
		w.line(l, "Volumes:\t<none>")
		return
	}
	w.line(l, "Volumes:")
	for _, v := range vols {
		w.line(l+1, "%s:", v.Name)
		s := v.VolumeSource
		switch {
		case s.EmptyDir != nil:
			w.line(l+2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)")
			w.line(l+2, "Medium:\t%s", s.EmptyDir.Medium)
		case s.HostPath != nil:
			w.line(l+2, "Type:\tHostPath (bare host directory volume)")
			w.line(l+2, "Path:\t%s", s.HostPath.Path)
		case s.ConfigMap != nil:
			w.line(l+2, "Type:\tConfigMap (a volume populated by a ConfigMap)")
			w.line(l+2, "Name:\t%s", s.ConfigMap.Name)
		case s.Secret != nil:
			w.line(l+2, "Type:\tSecret (a volume populated by a Secret)")
			w.line(l+2, "SecretName:\t%s", s.Secret.SecretName)
		case s.PersistentVolumeClaim != nil:
			w.line(l+2, "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)")
			w.line(l+2, "ClaimName:\t%s", s.PersistentVolumeClaim.ClaimName)
		case s.Projected != nil:
			w.line(l+2, "Type:\tProjected (a volume that contains injected data from multiple sources)")
		case s.DownwardAPI != nil:
			w.line(l+2, "Type:\tDownwardAPI (a volume populated by information about the pod)")
		default:
			w.line(l+2, "Type:\t<unknown>")
		}
	}
}

func describeTolerations(w *descWriter, ts []corev1.Toleration) {
	if len(ts) == 0 {
		w.line(0, "Tolerations:\t<none>")
		return
	}
	for i, t := range ts {
		s := t.Key
		if t.Value != "" {
			s += "=" + t.Value
		}
		if t.Effect != "" {
			s += ":" + string(t.Effect)
		}
		if t.Operator == corev1.TolerationOpExists && t.Value == "" {
			s += " op=Exists"
		}
		if t.TolerationSeconds != nil {
			s += fmt.Sprintf(" for %ds", *t.TolerationSeconds)
		}
		label := "Tolerations:"
		if i > 0 {
			label = ""
		}
		w.line(0, "%s\t%s", label, strings.TrimSpace(s))
	}
}

// describePodTemplate writes a workload's pod template.
func describePodTemplate(w *descWriter, t *corev1.PodTemplateSpec) {
	w.line(0, "Pod Template:")
	w.keyValues(1, "Labels", t.Labels, "=")
	if len(t.Annotations) > 0 {
		w.keyValues(1, "Annotations", t.Annotations, ": ")
	}
	if t.Spec.ServiceAccountName != "" {
		w.line(1, "Service Account:\t%s", t.Spec.ServiceAccountName)
	}
	if len(t.Spec.InitContainers) > 0 {
		w.line(1, "Init Containers:")
		describeContainers(w, 2, t.Spec.InitContainers, nil, false)
	}
	w.line(1, "Containers:")
	describeContainers(w, 2, t.Spec.Containers, nil, false)
	describeVolumes(w, 1, t.Spec.Volumes)
	w.keyValues(1, "Node-Selectors", t.Spec.NodeSelector, "=")
}
