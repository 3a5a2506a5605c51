package controllers

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
)

// Endpoints and EndpointSlices are built from the same view of a
// Service's pods: which pods back it, on which ports, and whether each is
// ready, serving or terminating.

const (
	// epManagedBy is the managed-by label value of the slices mini's
	// EndpointSlice controller owns.
	epManagedBy = "endpointslice-controller.k8s.io"
	// epMaxPerSlice is how many endpoints one slice holds (Kubernetes's
	// default --max-endpoints-per-slice).
	epMaxPerSlice = 100
	// epHeadlessLabel marks the endpoints of headless Services.
	epHeadlessLabel = "service.kubernetes.io/headless"
)

var serviceGVK = corev1.SchemeGroupVersion.WithKind("Service")

// epResolvePort returns the pod port a service port targets: a number as
// is, a name through the pod's container port of that name and protocol.
func epResolvePort(sp corev1.ServicePort, pod *corev1.Pod) (int32, bool) {
	if sp.TargetPort.Type == intstr.Int {
		if sp.TargetPort.IntVal == 0 {
			return sp.Port, true
		}
		return sp.TargetPort.IntVal, true
	}
	for _, c := range append(append([]corev1.Container{}, pod.Spec.Containers...), pod.Spec.InitContainers...) {
		for _, cp := range c.Ports {
			proto := cp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			spProto := sp.Protocol
			if spProto == "" {
				spProto = corev1.ProtocolTCP
			}
			if cp.Name == sp.TargetPort.StrVal && proto == spProto {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// epPodPorts returns the endpoint ports of a pod for a service, sorted by
// name; ok is false when the service has ports and none resolves.
func epPodPorts(svc *corev1.Service, pod *corev1.Pod) ([]corev1.EndpointPort, bool) {
	var out []corev1.EndpointPort
	for _, sp := range svc.Spec.Ports {
		n, ok := epResolvePort(sp, pod)
		if !ok {
			continue
		}
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		out = append(out, corev1.EndpointPort{Name: sp.Name, Port: n, Protocol: proto, AppProtocol: sp.AppProtocol})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, len(out) > 0 || len(svc.Spec.Ports) == 0
}

func epPortsKey(ports []corev1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&b, "%s/%d/%s,", p.Name, p.Port, p.Protocol)
	}
	return b.String()
}

// epHostname is the pod's hostname when the service is its subdomain, so
// that <hostname>.<service> resolves (StatefulSet pods).
func epHostname(svc *corev1.Service, pod *corev1.Pod) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		return pod.Spec.Hostname
	}
	return ""
}

// epBackend is one pod backing a service.
type epBackend struct {
	pod                         *corev1.Pod
	ports                       []corev1.EndpointPort
	ready, serving, terminating bool
}

// epBackends returns the pods that back a service: selected, with an IP,
// not finished; terminating ones only when withTerminating (slices) or the
// service publishes not-ready addresses. Sorted by IP, then name.
func epBackends(svc *corev1.Service, pods []*corev1.Pod, withTerminating bool) []epBackend {
	var out []epBackend
	for _, p := range pods {
		if p.Status.PodIP == "" || IsPodTerminal(p) {
			continue
		}
		terminating := p.DeletionTimestamp != nil
		if terminating && !withTerminating && !svc.Spec.PublishNotReadyAddresses {
			continue
		}
		ports, ok := epPodPorts(svc, p)
		if !ok {
			continue
		}
		serving := IsPodReady(p)
		out = append(out, epBackend{pod: p, ports: ports, serving: serving, terminating: terminating,
			ready: svc.Spec.PublishNotReadyAddresses || (serving && !terminating)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].pod.Status.PodIP != out[j].pod.Status.PodIP {
			return out[i].pod.Status.PodIP < out[j].pod.Status.PodIP
		}
		return out[i].pod.Name < out[j].pod.Name
	})
	return out
}

func epTargetRef(p *corev1.Pod) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}
}

// epBuildSubsets returns the Endpoints subsets of a service: ready pods in
// addresses, others in notReadyAddresses, grouped by their port sets.
func epBuildSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	byKey := map[string]*corev1.EndpointSubset{}
	var keys []string
	for _, b := range epBackends(svc, pods, false) {
		k := epPortsKey(b.ports)
		ss, ok := byKey[k]
		if !ok {
			ss = &corev1.EndpointSubset{Ports: b.ports}
			byKey[k] = ss
			keys = append(keys, k)
		}
		addr := corev1.EndpointAddress{IP: b.pod.Status.PodIP, Hostname: epHostname(svc, b.pod), TargetRef: epTargetRef(b.pod)}
		if b.pod.Spec.NodeName != "" {
			addr.NodeName = ptr.To(b.pod.Spec.NodeName)
		}
		if b.ready {
			ss.Addresses = append(ss.Addresses, addr)
		} else {
			ss.NotReadyAddresses = append(ss.NotReadyAddresses, addr)
		}
	}
	sort.Strings(keys)
	var out []corev1.EndpointSubset
	for _, k := range keys {
		out = append(out, *byKey[k])
	}
	return out
}

// epSlice is a desired EndpointSlice before it gets metadata.
type epSlice struct {
	name      string
	ports     []discoveryv1.EndpointPort
	endpoints []discoveryv1.Endpoint
}

// epBuildSlices returns the EndpointSlices of a service: one group per port
// set, cut into slices of at most epMaxPerSlice endpoints, named
// <service>-<hash of port set and chunk> so that reconciles are stable.
func epBuildSlices(svc *corev1.Service, pods []*corev1.Pod) []epSlice {
	groups := map[string][]epBackend{}
	var keys []string
	for _, b := range epBackends(svc, pods, true) {
		k := epPortsKey(b.ports)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], b)
	}
	sort.Strings(keys)
	var out []epSlice
	for _, k := range keys {
		bs := groups[k]
		for chunk := 0; chunk*epMaxPerSlice < len(bs); chunk++ {
			part := bs[chunk*epMaxPerSlice : min(len(bs), (chunk+1)*epMaxPerSlice)]
			s := epSlice{name: epSliceName(svc.Name, k, chunk)}
			for _, p := range part[0].ports {
				s.ports = append(s.ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Port: ptr.To(p.Port), Protocol: ptr.To(p.Protocol), AppProtocol: p.AppProtocol})
			}
			for _, b := range part {
				s.endpoints = append(s.endpoints, epEndpointOf(svc, b))
			}
			out = append(out, s)
		}
	}
	if len(out) == 0 { // a placeholder, as Kubernetes keeps for a service without endpoints
		out = append(out, epSlice{name: epSliceName(svc.Name, "", 0), endpoints: []discoveryv1.Endpoint{}})
	}
	return out
}

func epEndpointOf(svc *corev1.Service, b epBackend) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{
		Addresses:  []string{b.pod.Status.PodIP},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(b.ready), Serving: ptr.To(b.serving), Terminating: ptr.To(b.terminating)},
		TargetRef:  epTargetRef(b.pod),
	}
	if h := epHostname(svc, b.pod); h != "" {
		e.Hostname = &h
	}
	if b.pod.Spec.NodeName != "" {
		e.NodeName = ptr.To(b.pod.Spec.NodeName)
	}
	return e
}

func epSliceName(svc, portsKey string, chunk int) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s\x00%d", portsKey, chunk)
	return svc + "-" + rand.SafeEncodeString(fmt.Sprint(h.Sum32()))[:5]
}

// epLabels are the labels of a service's Endpoints and slices: the
// service's own, plus the headless marker.
func epLabels(svc *corev1.Service) map[string]string {
	out := copyMap(svc.Labels)
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		out[epHeadlessLabel] = ""
	}
	return out
}

// epSliceObject turns a desired slice into an object owned by svc.
func epSliceObject(svc *corev1.Service, s epSlice) *discoveryv1.EndpointSlice {
	lbls := epLabels(svc)
	lbls[discoveryv1.LabelServiceName] = svc.Name
	lbls[discoveryv1.LabelManagedBy] = epManagedBy
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: svc.Namespace, Labels: lbls,
			OwnerReferences: []metav1.OwnerReference{*newControllerRef(svc, serviceGVK)}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   s.endpoints,
		Ports:       s.ports,
	}
}
