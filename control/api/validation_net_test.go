package api

import (
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestValidateLease(t *testing.T) {
	runValidation(t, "Lease", []validationCase{
		{"valid", &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("n1"), LeaseDurationSeconds: ptr(int32(10))}}, nil},
		{"zero duration", &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr(int32(0))}},
			[]string{"spec.leaseDurationSeconds: Invalid value"}},
		{"negative transitions", &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{LeaseTransitions: ptr(int32(-1))}},
			[]string{"spec.leaseTransitions: Invalid value"}},
		{"preferred holder without strategy", &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{PreferredHolder: ptr("n2")}},
			[]string{"spec.preferredHolder: Forbidden"}},
	})
}

func sliceWith(mod func(s *discoveryv1.EndpointSlice)) runtime.Object {
	udp := corev1.ProtocolUDP
	s := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}, NodeName: ptr("n1"), Hostname: ptr("web-0")}},
		Ports:     []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}, {Name: ptr("dns"), Port: ptr(int32(53)), Protocol: &udp}},
	}
	mod(s)
	return s
}

func TestValidateEndpointSlice(t *testing.T) {
	runValidation(t, "EndpointSlice", []validationCase{
		{"valid", sliceWith(func(*discoveryv1.EndpointSlice) {}), nil},
		{"valid FQDN", sliceWith(func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeFQDN
			s.Endpoints[0].Addresses = []string{"db.example.com"}
		}), nil},
		{"no address type", sliceWith(func(s *discoveryv1.EndpointSlice) { s.AddressType = "" }), []string{"addressType: Required value"}},
		{"bad address type", sliceWith(func(s *discoveryv1.EndpointSlice) { s.AddressType = "IPv5" }), []string{"addressType: Unsupported value"}},
		{"endpoint without address", sliceWith(func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil }),
			[]string{"endpoints[0].addresses: Required value"}},
		{"IPv6 address in IPv4 slice", sliceWith(func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"fd00::1"} }),
			[]string{"endpoints[0].addresses[0]: Invalid value"}},
		{"duplicate port name", sliceWith(func(s *discoveryv1.EndpointSlice) { s.Ports[1].Name = ptr("http") }), []string{"ports[1].name: Duplicate value"}},
		{"bad protocol", sliceWith(func(s *discoveryv1.EndpointSlice) { p := corev1.Protocol("QUIC"); s.Ports[1].Protocol = &p }),
			[]string{"ports[1].protocol: Unsupported value"}},
		{"bad hostname", sliceWith(func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Hostname = ptr("web_0") }),
			[]string{"endpoints[0].hostname: Invalid value"}},
	})
}

func ingressWith(mod func(i *networkingv1.Ingress)) runtime.Object {
	prefix := networkingv1.PathTypePrefix
	i := &networkingv1.Ingress{Spec: networkingv1.IngressSpec{
		IngressClassName: ptr("nginx"),
		Rules: []networkingv1.IngressRule{{Host: "*.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/api", PathType: &prefix, Backend: networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: "api", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}},
		TLS: []networkingv1.IngressTLS{{Hosts: []string{"*.example.com"}, SecretName: "tls"}},
	}}
	mod(i)
	return i
}

func firstPath(i *networkingv1.Ingress) *networkingv1.HTTPIngressPath {
	return &i.Spec.Rules[0].HTTP.Paths[0]
}

func TestValidateIngress(t *testing.T) {
	const path0 = "spec.rules[0].http.paths[0]"
	runValidation(t, "Ingress", []validationCase{
		{"valid", ingressWith(func(*networkingv1.Ingress) {}), nil},
		{"valid default backend only", ingressWith(func(i *networkingv1.Ingress) {
			i.Spec.DefaultBackend = &firstPath(i).Backend
			i.Spec.Rules = nil
		}), nil},
		{"nothing to route", ingressWith(func(i *networkingv1.Ingress) { i.Spec.Rules = nil }), []string{"spec: Invalid value"}},
		{"IP host", ingressWith(func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "10.0.0.1" }), []string{"spec.rules[0].host: Invalid value"}},
		{"bad host", ingressWith(func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "Example.com" }), []string{"spec.rules[0].host: Invalid value"}},
		{"no paths", ingressWith(func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths = nil }), []string{"spec.rules[0].http.paths: Required value"}},
		{"no path type", ingressWith(func(i *networkingv1.Ingress) { firstPath(i).PathType = nil }), []string{path0 + ".pathType: Required value"}},
		{"relative path", ingressWith(func(i *networkingv1.Ingress) { firstPath(i).Path = "api" }), []string{path0 + ".path: Invalid value"}},
		{"no backend", ingressWith(func(i *networkingv1.Ingress) { firstPath(i).Backend.Service = nil }), []string{path0 + ".backend: Invalid value"}},
		{"backend without port", ingressWith(func(i *networkingv1.Ingress) { firstPath(i).Backend.Service.Port.Number = 0 }),
			[]string{path0 + ".backend: Required value"}},
		{"backend with both ports", ingressWith(func(i *networkingv1.Ingress) { firstPath(i).Backend.Service.Port.Name = "http" }),
			[]string{path0 + ".backend: Invalid value"}},
		{"backend bad service name", ingressWith(func(i *networkingv1.Ingress) { firstPath(i).Backend.Service.Name = "1api" }),
			[]string{path0 + ".backend.service.name: Invalid value"}},
		{"bad TLS host", ingressWith(func(i *networkingv1.Ingress) { i.Spec.TLS[0].Hosts[0] = "a.*.com" }), []string{"spec.tls[0].hosts[0]: Invalid value"}},
	})
}
