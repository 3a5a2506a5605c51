package api

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

var serviceTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{
		nameCol,
		col("Type", "string", 0, corev1.ServiceSpec{}.SwaggerDoc()["type"]),
		col("Cluster-IP", "string", 0, corev1.ServiceSpec{}.SwaggerDoc()["clusterIP"]),
		col("External-IP", "string", 0, corev1.ServiceSpec{}.SwaggerDoc()["externalIPs"]),
		col("Port(s)", "string", 0, corev1.ServiceSpec{}.SwaggerDoc()["ports"]),
		ageCol,
		col("Selector", "string", 1, corev1.ServiceSpec{}.SwaggerDoc()["selector"]),
	},
	Row: func(obj runtime.Object, now time.Time) []any {
		s := obj.(*corev1.Service)
		ip := "<none>"
		if len(s.Spec.ClusterIPs) > 0 {
			ip = s.Spec.ClusterIPs[0]
		}
		ports := make([]string, len(s.Spec.Ports))
		for i, p := range s.Spec.Ports {
			ports[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
			if p.NodePort > 0 {
				ports[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
			}
		}
		return []any{s.Name, string(s.Spec.Type), ip, serviceExternalIP(s), orNone(strings.Join(ports, ",")),
			age(s.CreationTimestamp, now), labels.FormatLabels(s.Spec.Selector)}
	},
}

// serviceExternalIP is kubectl's EXTERNAL-IP: external IPs, load balancer
// ingress (<pending> until there is one), or the external name. Like the
// Kubernetes API server, which prints tables in wide mode, it does not cut
// long load balancer addresses short.
func serviceExternalIP(s *corev1.Service) string {
	switch s.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		return orNone(strings.Join(s.Spec.ExternalIPs, ","))
	case corev1.ServiceTypeLoadBalancer:
		lb := loadBalancerIngress(s.Status.LoadBalancer.Ingress)
		if len(s.Spec.ExternalIPs) > 0 {
			var all []string
			if lb != "" {
				all = strings.Split(lb, ",")
			}
			return strings.Join(append(all, s.Spec.ExternalIPs...), ",")
		}
		if lb != "" {
			return lb
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return s.Spec.ExternalName
	}
	return "<unknown>"
}

// loadBalancerIngress joins the sorted, distinct IPs (or hostnames) of a
// load balancer status.
func loadBalancerIngress(ing []corev1.LoadBalancerIngress) string {
	set := map[string]bool{}
	for _, i := range ing {
		switch {
		case i.IP != "":
			set[i.IP] = true
		case i.Hostname != "":
			set[i.Hostname] = true
		}
	}
	return strings.Join(sortedKeys(set), ",")
}

var endpointsTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{
		nameCol,
		col("Endpoints", "string", 0, corev1.Endpoints{}.SwaggerDoc()["subsets"]),
		ageCol,
	},
	Row: func(obj runtime.Object, now time.Time) []any {
		e := obj.(*corev1.Endpoints)
		return []any{e.Name, formatEndpoints(e), age(e.CreationTimestamp, now)}
	},
}

// formatEndpoints lists up to three ip:port pairs (bare IPs for subsets
// without ports) and how many more there are.
func formatEndpoints(e *corev1.Endpoints) string {
	if len(e.Subsets) == 0 {
		return "<none>"
	}
	const max = 3
	var list []string
	count := 0
	add := func(s string) {
		if len(list) < max {
			list = append(list, s)
		}
		count++
	}
	for _, ss := range e.Subsets {
		if len(ss.Ports) == 0 {
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	s := strings.Join(list, ",")
	if count > max {
		return fmt.Sprintf("%s + %d more...", s, count-max)
	}
	return s
}

var endpointSliceTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{
		nameCol,
		col("AddressType", "string", 0, discoveryv1.EndpointSlice{}.SwaggerDoc()["addressType"]),
		col("Ports", "string", 0, discoveryv1.EndpointSlice{}.SwaggerDoc()["ports"]),
		col("Endpoints", "string", 0, discoveryv1.EndpointSlice{}.SwaggerDoc()["endpoints"]),
		ageCol,
	},
	Row: func(obj runtime.Object, now time.Time) []any {
		s := obj.(*discoveryv1.EndpointSlice)
		const max = 3
		var ports []string
		for _, p := range s.Ports {
			v := "*"
			if p.Port != nil {
				v = strconv.Itoa(int(*p.Port))
			} else if p.Name != nil {
				v = *p.Name
			}
			if len(ports) < max {
				ports = append(ports, v)
			}
		}
		var addrs []string
		n := 0
		for _, e := range s.Endpoints {
			for _, a := range e.Addresses {
				if len(addrs) < max {
					addrs = append(addrs, a)
				}
				n++
			}
		}
		return []any{s.Name, string(s.AddressType), listWithMore(ports, len(s.Ports), max), listWithMore(addrs, n, max), age(s.CreationTimestamp, now)}
	},
}

const (
	labelNodeRolePrefix = "node-role.kubernetes.io/"
	labelNodeRole       = "kubernetes.io/role"
)

var nodeTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{
		nameCol,
		col("Status", "string", 0, "The status of the node"),
		col("Roles", "string", 0, "The roles of the node"),
		ageCol,
		col("Version", "string", 0, corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]),
		col("Internal-IP", "string", 1, corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
		col("External-IP", "string", 1, corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
		col("OS-Image", "string", 1, corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"]),
		col("Kernel-Version", "string", 1, corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]),
		col("Container-Runtime", "string", 1, corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]),
	},
	Row: func(obj runtime.Object, now time.Time) []any {
		n := obj.(*corev1.Node)
		info := n.Status.NodeInfo
		return []any{n.Name, nodeStatus(n), orNone(strings.Join(nodeRoles(n), ",")), age(n.CreationTimestamp, now), info.KubeletVersion,
			nodeAddress(n, corev1.NodeInternalIP), nodeAddress(n, corev1.NodeExternalIP),
			orUnknown(info.OSImage), orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion)}
	},
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

// nodeStatus is Ready, NotReady or Unknown, plus SchedulingDisabled when
// cordoned.
func nodeStatus(n *corev1.Node) string {
	status := "Unknown"
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			status = "NotReady"
			if c.Status == corev1.ConditionTrue {
				status = "Ready"
			}
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

// nodeRoles are the sorted roles from node-role.kubernetes.io/<role> and
// kubernetes.io/role labels.
func nodeRoles(n *corev1.Node) []string {
	set := map[string]bool{}
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, labelNodeRolePrefix):
			if r := strings.TrimPrefix(k, labelNodeRolePrefix); r != "" {
				set[r] = true
			}
		case k == labelNodeRole && v != "":
			set[v] = true
		}
	}
	return sortedKeys(set)
}

func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

var namespaceTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{nameCol, col("Status", "string", 0, "The status of the namespace"), ageCol},
	Row: func(obj runtime.Object, now time.Time) []any {
		n := obj.(*corev1.Namespace)
		return []any{n.Name, string(n.Status.Phase), age(n.CreationTimestamp, now)}
	},
}

var configMapTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{nameCol, col("Data", "string", 0, corev1.ConfigMap{}.SwaggerDoc()["data"]), ageCol},
	Row: func(obj runtime.Object, now time.Time) []any {
		c := obj.(*corev1.ConfigMap)
		return []any{c.Name, int64(len(c.Data) + len(c.BinaryData)), age(c.CreationTimestamp, now)}
	},
}

var secretTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("Type", "string", 0, corev1.Secret{}.SwaggerDoc()["type"]),
		col("Data", "string", 0, corev1.Secret{}.SwaggerDoc()["data"]), ageCol},
	Row: func(obj runtime.Object, now time.Time) []any {
		s := obj.(*corev1.Secret)
		return []any{s.Name, string(s.Type), int64(len(s.Data)), age(s.CreationTimestamp, now)}
	},
}

var serviceAccountTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{nameCol, col("Secrets", "string", 0, corev1.ServiceAccount{}.SwaggerDoc()["secrets"]), ageCol},
	Row: func(obj runtime.Object, now time.Time) []any {
		sa := obj.(*corev1.ServiceAccount)
		return []any{sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp, now)}
	},
}

var eventTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{
		col("Last Seen", "string", 0, corev1.Event{}.SwaggerDoc()["lastTimestamp"]),
		col("Type", "string", 0, corev1.Event{}.SwaggerDoc()["type"]),
		col("Reason", "string", 0, corev1.Event{}.SwaggerDoc()["reason"]),
		col("Object", "string", 0, corev1.Event{}.SwaggerDoc()["involvedObject"]),
		col("Subobject", "string", 1, corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
		col("Source", "string", 1, corev1.Event{}.SwaggerDoc()["source"]),
		col("Message", "string", 0, corev1.Event{}.SwaggerDoc()["message"]),
		col("First Seen", "string", 1, corev1.Event{}.SwaggerDoc()["firstTimestamp"]),
		col("Count", "string", 1, corev1.Event{}.SwaggerDoc()["count"]),
		col("Name", "string", 1, metav1.ObjectMeta{}.SwaggerDoc()["name"]),
	},
	Row: func(obj runtime.Object, now time.Time) []any {
		e := obj.(*corev1.Event)
		first := age(e.FirstTimestamp, now)
		if e.FirstTimestamp.IsZero() {
			first = microAge(e.EventTime, now)
		}
		last := age(e.LastTimestamp, now)
		if e.LastTimestamp.IsZero() {
			last = first
		}
		count := e.Count
		if e.Series != nil {
			last, count = microAge(e.Series.LastObservedTime, now), e.Series.Count
		} else if count == 0 {
			count = 1
		}
		target := strings.ToLower(e.InvolvedObject.Kind)
		if e.InvolvedObject.Name != "" {
			target += "/" + e.InvolvedObject.Name
		}
		return []any{last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath,
			eventSource(e), strings.TrimSpace(e.Message), first, int64(count), e.Name}
	},
}

func microAge(t metav1.MicroTime, now time.Time) string { return age(metav1.NewTime(t.Time), now) }

// eventSource is "component, host", falling back to the reporting
// controller and instance.
func eventSource(e *corev1.Event) string {
	comp, inst := e.Source.Component, e.Source.Host
	if comp == "" {
		comp = e.ReportingController
	}
	if inst == "" {
		inst = e.ReportingInstance
	}
	if inst == "" {
		return comp
	}
	return comp + ", " + inst
}

var leaseTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{nameCol, col("Holder", "string", 0, coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]), ageCol},
	Row: func(obj runtime.Object, now time.Time) []any {
		l := obj.(*coordinationv1.Lease)
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		return []any{l.Name, holder, age(l.CreationTimestamp, now)}
	},
}

var ingressTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{
		nameCol,
		col("Class", "string", 0, "The name of the IngressClass resource that should be used for additional configuration"),
		col("Hosts", "string", 0, "Hosts that incoming requests are matched against before the ingress rule"),
		col("Address", "string", 0, "Address is a list containing ingress points for the load-balancer"),
		col("Ports", "string", 0, "Ports of TLS configurations that open"),
		ageCol,
	},
	Row: func(obj runtime.Object, now time.Time) []any {
		ing := obj.(*networkingv1.Ingress)
		class := "<none>"
		if ing.Spec.IngressClassName != nil {
			class = *ing.Spec.IngressClassName
		}
		var lb []corev1.LoadBalancerIngress
		for _, i := range ing.Status.LoadBalancer.Ingress {
			lb = append(lb, corev1.LoadBalancerIngress{IP: i.IP, Hostname: i.Hostname})
		}
		ports := "80"
		if len(ing.Spec.TLS) > 0 {
			ports = "80, 443"
		}
		return []any{ing.Name, class, ingressHosts(ing.Spec.Rules), loadBalancerIngress(lb), ports, age(ing.CreationTimestamp, now)}
	},
}

// ingressHosts lists up to three rule hosts ("*" when none is set).
func ingressHosts(rules []networkingv1.IngressRule) string {
	const max = 3
	var list []string
	more := false
	for _, r := range rules {
		if len(list) == max {
			more = true
		}
		if !more && r.Host != "" {
			list = append(list, r.Host)
		}
	}
	if len(list) == 0 {
		return "*"
	}
	s := strings.Join(list, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", s, len(rules)-max)
	}
	return s
}
