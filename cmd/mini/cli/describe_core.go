package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/minicluster/mini/control/client"
)

func init() {
	describers[schema.GroupKind{Kind: "Service"}] = describeService
	describers[schema.GroupKind{Kind: "Node"}] = describeNode
	describers[schema.GroupKind{Kind: "Namespace"}] = describeNamespace
	describers[schema.GroupKind{Kind: "ConfigMap"}] = describeConfigMap
	describers[schema.GroupKind{Kind: "Secret"}] = describeSecret
}

func describeService(ctx context.Context, s *session, obj runtime.Object, w *descWriter) {
	svc := obj.(*corev1.Service)
	w.objectHeader(&svc.ObjectMeta)
	w.keyValues(0, "Selector", svc.Spec.Selector, "=")
	w.line(0, "Type:\t%s", svc.Spec.Type)
	if svc.Spec.IPFamilyPolicy != nil {
		w.line(0, "IP Family Policy:\t%s", *svc.Spec.IPFamilyPolicy)
	}
	if len(svc.Spec.IPFamilies) > 0 {
		var fs []string
		for _, f := range svc.Spec.IPFamilies {
			fs = append(fs, string(f))
		}
		w.line(0, "IP Families:\t%s", strings.Join(fs, ","))
	}
	w.line(0, "IP:\t%s", svc.Spec.ClusterIP)
	if len(svc.Spec.ClusterIPs) > 0 {
		w.line(0, "IPs:\t%s", strings.Join(svc.Spec.ClusterIPs, ","))
	}
	endpoints := serviceEndpoints(ctx, s, svc)
	for _, p := range svc.Spec.Ports {
		name := p.Name
		if name == "" {
			name = "<unset>"
		}
		w.line(0, "Port:\t%s  %d/%s", name, p.Port, p.Protocol)
		w.line(0, "TargetPort:\t%s/%s", p.TargetPort.String(), p.Protocol)
		if p.NodePort != 0 {
			w.line(0, "NodePort:\t%s  %d/%s", name, p.NodePort, p.Protocol)
		}
		w.line(0, "Endpoints:\t%s", endpoints[p.Name])
	}
	w.line(0, "Session Affinity:\t%s", svc.Spec.SessionAffinity)
	if svc.Spec.ExternalTrafficPolicy != "" {
		w.line(0, "External Traffic Policy:\t%s", svc.Spec.ExternalTrafficPolicy)
	}
	if svc.Spec.InternalTrafficPolicy != nil {
		w.line(0, "Internal Traffic Policy:\t%s", *svc.Spec.InternalTrafficPolicy)
	}
}

// serviceEndpoints returns the ready addresses behind each port name
// ("ip:port,…"), from the Service's Endpoints object.
func serviceEndpoints(ctx context.Context, s *session, svc *corev1.Service) map[string]string {
	out := map[string]string{}
	for _, p := range svc.Spec.Ports {
		out[p.Name] = "<none>"
	}
	var ep corev1.Endpoints
	if err := s.c.Get(ctx, svc.Namespace, svc.Name, &ep); err != nil {
		return out
	}
	addrs := map[string][]string{}
	for _, sub := range ep.Subsets {
		for _, p := range sub.Ports {
			for _, a := range sub.Addresses {
				addrs[p.Name] = append(addrs[p.Name], fmt.Sprintf("%s:%d", a.IP, p.Port))
			}
		}
	}
	for name, as := range addrs {
		sort.Strings(as)
		out[name] = strings.Join(as, ",")
	}
	return out
}

func describeNode(ctx context.Context, s *session, obj runtime.Object, w *descWriter) {
	n := obj.(*corev1.Node)
	w.line(0, "Name:\t%s", n.Name)
	var roles []string
	for k := range n.Labels {
		if r, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok {
			roles = append(roles, r)
		}
	}
	sort.Strings(roles)
	w.line(0, "Roles:\t%s", orNone(strings.Join(roles, ",")))
	w.keyValues(0, "Labels", n.Labels, "=")
	w.keyValues(0, "Annotations", n.Annotations, ": ")
	w.line(0, "CreationTimestamp:\t%s", when(n.CreationTimestamp))
	if len(n.Spec.Taints) == 0 {
		w.line(0, "Taints:\t<none>")
	}
	for i, t := range n.Spec.Taints {
		label := "Taints:"
		if i > 0 {
			label = ""
		}
		w.line(0, "%s\t%s", label, t.ToString())
	}
	w.line(0, "Unschedulable:\t%t", n.Spec.Unschedulable)
	w.line(0, "Conditions:")
	w.line(1, "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage")
	w.line(1, "----\t------\t-----------------\t------------------\t------\t-------")
	for _, c := range n.Status.Conditions {
		w.line(1, "%s \t%s \t%s \t%s \t%s \t%s", c.Type, c.Status, when(c.LastHeartbeatTime), when(c.LastTransitionTime), c.Reason, c.Message)
	}
	w.line(0, "Addresses:")
	for _, a := range n.Status.Addresses {
		w.line(1, "%s:\t%s", a.Type, a.Address)
	}
	describeResources(w, 0, "Capacity", n.Status.Capacity)
	describeResources(w, 0, "Allocatable", n.Status.Allocatable)
	i := n.Status.NodeInfo
	w.line(0, "System Info:")
	for _, kv := range [][2]string{{"Machine ID", i.MachineID}, {"Kernel Version", i.KernelVersion}, {"OS Image", i.OSImage},
		{"Operating System", i.OperatingSystem}, {"Architecture", i.Architecture},
		{"Container Runtime Version", i.ContainerRuntimeVersion}, {"Kubelet Version", i.KubeletVersion}} {
		w.line(1, "%s:\t%s", kv[0], kv[1])
	}
	w.line(0, "PodCIDR:\t%s", n.Spec.PodCIDR)
	w.line(0, "PodCIDRs:\t%s", strings.Join(n.Spec.PodCIDRs, ","))
	describeNodePods(ctx, s, w, n.Name)
}

// describeNodePods lists the node's pods that have not terminated.
func describeNodePods(ctx context.Context, s *session, w *descWriter, node string) {
	var l corev1.PodList
	if err := s.c.List(ctx, "", &l, client.ListOptions{FieldSelector: "spec.nodeName=" + node}); err != nil {
		w.line(0, "Non-terminated Pods:\t<unavailable: %v>", err)
		return
	}
	var pods []corev1.Pod
	for _, p := range l.Items {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			pods = append(pods, p)
		}
	}
	w.line(0, "Non-terminated Pods:\t(%d in total)", len(pods))
	if len(pods) == 0 {
		return
	}
	w.line(1, "Namespace\tName\tCPU Requests\tMemory Requests\tAge")
	w.line(1, "---------\t----\t------------\t---------------\t---")
	for _, p := range pods {
		var cpu, mem []string
		for _, c := range p.Spec.Containers {
			if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
				cpu = append(cpu, q.String())
			}
			if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok {
				mem = append(mem, q.String())
			}
		}
		w.line(1, "%s\t%s\t%s\t%s\t%s", p.Namespace, p.Name, orZero(cpu), orZero(mem), since(p.CreationTimestamp))
	}
}

func orZero(qs []string) string {
	if len(qs) == 0 {
		return "0"
	}
	return strings.Join(qs, "+")
}

func describeNamespace(_ context.Context, _ *session, obj runtime.Object, w *descWriter) {
	ns := obj.(*corev1.Namespace)
	w.line(0, "Name:\t%s", ns.Name)
	w.keyValues(0, "Labels", ns.Labels, "=")
	w.keyValues(0, "Annotations", ns.Annotations, ": ")
	w.line(0, "Status:\t%s", ns.Status.Phase)
	w.line(0, "")
	w.line(0, "No resource quota.")
	w.line(0, "")
	w.line(0, "No LimitRange resource.")
}

func describeConfigMap(_ context.Context, _ *session, obj runtime.Object, w *descWriter) {
	cm := obj.(*corev1.ConfigMap)
	w.objectHeader(&cm.ObjectMeta)
	w.line(0, "")
	w.line(0, "Data")
	w.line(0, "====")
	for _, k := range sortedKeys(cm.Data) {
		w.line(0, "%s:", k)
		w.line(0, "----")
		w.line(0, "%s", cm.Data[k])
		w.line(0, "")
	}
	w.line(0, "")
	w.line(0, "BinaryData")
	w.line(0, "====")
	for _, k := range sortedKeys(cm.BinaryData) {
		w.line(0, "%s: %d bytes", k, len(cm.BinaryData[k]))
	}
	w.line(0, "")
}

func describeSecret(_ context.Context, _ *session, obj runtime.Object, w *descWriter) {
	sec := obj.(*corev1.Secret)
	w.objectHeader(&sec.ObjectMeta)
	w.line(0, "")
	w.line(0, "Type:\t%s", sec.Type)
	w.line(0, "")
	w.line(0, "Data")
	w.line(0, "====")
	for _, k := range sortedKeys(sec.Data) {
		w.line(0, "%s:\t%d bytes", k, len(sec.Data[k]))
	}
}
