package api

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func svcWith(mod func(s *corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
			{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
		}}}
	mod(s)
	return s
}

func TestValidateService(t *testing.T) {
	runValidation(t, "Service", []validationCase{
		{"valid ClusterIP", svcWith(func(*corev1.Service) {}), nil},
		{"valid fixed IP", svcWith(func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.10" }), nil},
		{"valid NodePort", svcWith(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 30080 }), nil},
		{"valid LoadBalancer", svcWith(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer }), nil},
		{"valid headless without ports", svcWith(func(s *corev1.Service) { s.Spec.ClusterIP = "None"; s.Spec.Ports = nil }), nil},
		{"valid ExternalName", &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com."}}, nil},
		{"valid ClientIP affinity", svcWith(func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP }), nil},
		{"no ports", svcWith(func(s *corev1.Service) { s.Spec.Ports = nil }), []string{"spec.ports: Required value"}},
		{"bad type", svcWith(func(s *corev1.Service) { s.Spec.Type = "Internal" }), []string{"spec.type: Unsupported value"}},
		{"port zero", svcWith(func(s *corev1.Service) { s.Spec.Ports[0].Port = 0; s.Spec.Ports[0].TargetPort = intstr.FromInt32(80) }),
			[]string{"spec.ports[0].port: Invalid value"}},
		{"port too big", svcWith(func(s *corev1.Service) { s.Spec.Ports[1].Port = 65536 }),
			[]string{"spec.ports[1].port: Invalid value", "spec.ports[1].targetPort: Invalid value"}},
		{"unnamed among several", svcWith(func(s *corev1.Service) { s.Spec.Ports[1].Name = "" }), []string{"spec.ports[1].name: Required value"}},
		{"single port may be unnamed", svcWith(func(s *corev1.Service) { s.Spec.Ports = s.Spec.Ports[1:]; s.Spec.Ports[0].Name = "" }), nil},
		{"duplicate names", svcWith(func(s *corev1.Service) { s.Spec.Ports[1].Name = "http" }), []string{"spec.ports[1].name: Duplicate value"}},
		{"duplicate port and protocol", svcWith(func(s *corev1.Service) { s.Spec.Ports[1].Port = 80; s.Spec.Ports[1].Protocol = corev1.ProtocolTCP }),
			[]string{"spec.ports[1]: Duplicate value"}},
		{"bad protocol", svcWith(func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "ICMP" }), []string{"spec.ports[0].protocol: Unsupported value"}},
		{"bad target port name", svcWith(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("-x") }),
			[]string{"spec.ports[0].targetPort: Invalid value"}},
		{"nodePort on ClusterIP", svcWith(func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }), []string{"spec.ports[0].nodePort: Forbidden"}},
		{"duplicate nodePort", svcWith(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[1].Protocol = corev1.ProtocolTCP
			s.Spec.Ports[0].NodePort, s.Spec.Ports[1].NodePort = 30080, 30080
		}), []string{"spec.ports[1].nodePort: Duplicate value"}},
		{"bad cluster IP", svcWith(func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.300" }), []string{"spec.clusterIPs[0]: Invalid value"}},
		{"headless NodePort", svcWith(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.ClusterIP = "None" }),
			[]string{"spec.clusterIPs[0]: Invalid value"}},
		{"ExternalName without name", &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName}}, []string{"spec.externalName: Required value"}},
		{"ExternalName with cluster IP", &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "a.b", ClusterIP: "10.96.0.20"}},
			[]string{"spec.clusterIPs: Forbidden"}},
		{"bad affinity", svcWith(func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" }), []string{"spec.sessionAffinity: Unsupported value"}},
		{"bad affinity timeout", svcWith(func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(0))}}
		}), []string{"spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value"}},
		{"external traffic policy on ClusterIP", svcWith(func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal }),
			[]string{"spec.externalTrafficPolicy: Invalid value"}},
		{"bad external traffic policy", svcWith(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = "Nearest"
		}), []string{"spec.externalTrafficPolicy: Unsupported value"}},
		{"bad selector", svcWith(func(s *corev1.Service) { s.Spec.Selector["app"] = "a b" }), []string{"spec.selector: Invalid value"}},
		{"bad external IP", svcWith(func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"host"} }), []string{"spec.externalIPs[0]: Invalid value"}},
	})
}

func TestValidateConfigMapAndSecret(t *testing.T) {
	runValidation(t, "ConfigMap", []validationCase{
		{"valid", &corev1.ConfigMap{Data: map[string]string{"a.conf": "x", "B_1": "y"}, BinaryData: map[string][]byte{"c.bin": {1}}}, nil},
		{"bad key", &corev1.ConfigMap{Data: map[string]string{"a/b": "x"}}, []string{"data[a/b]: Invalid value"}},
		{"key in both", &corev1.ConfigMap{Data: map[string]string{"a": "x"}, BinaryData: map[string][]byte{"a": {1}}}, []string{"data[a]: Invalid value"}},
		{"too big", &corev1.ConfigMap{Data: map[string]string{"a": strings.Repeat("x", maxSecretSize+1)}}, []string{"[]: Too long"}},
	})
	runValidation(t, "Secret", []validationCase{
		{"valid opaque", &corev1.Secret{StringData: map[string]string{"password": "x"}}, nil},
		{"valid tls", &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": {1}, "tls.key": {1}}}, nil},
		{"valid dockerconfigjson", &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte(`{"auths":{}}`)}}, nil},
		{"bad key", &corev1.Secret{Data: map[string][]byte{"a b": {1}}}, []string{"data[a b]: Invalid value"}},
		{"tls without key", &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": {1}}}, []string{"data[tls.key]: Required value"}},
		{"dockerconfigjson not json", &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte("{")}},
			[]string{"data[.dockerconfigjson]: Invalid value"}},
		{"service account token without account", &corev1.Secret{Type: corev1.SecretTypeServiceAccountToken},
			[]string{"metadata.annotations[kubernetes.io/service-account.name]: Required value"}},
		{"basic auth without fields", &corev1.Secret{Type: corev1.SecretTypeBasicAuth},
			[]string{"data[password]: Required value", "data[username]: Required value"}},
		{"ssh without key", &corev1.Secret{Type: corev1.SecretTypeSSHAuth}, []string{"data[ssh-privatekey]: Required value"}},
	})
}

func TestValidateClusterObjects(t *testing.T) {
	runValidation(t, "Namespace", []validationCase{
		{"valid", &corev1.Namespace{}, nil},
		{"qualified finalizer", &corev1.Namespace{Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"example.com/cleanup"}}}, nil},
		{"unqualified finalizer", &corev1.Namespace{Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"cleanup"}}},
			[]string{"spec.finalizers[0]: Invalid value"}},
	})
	node := func(mod func(n *corev1.Node)) *corev1.Node {
		n := &corev1.Node{Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"},
			Taints: []corev1.Taint{{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoExecute}}}}
		mod(n)
		return n
	}
	runValidation(t, "Node", []validationCase{
		{"valid", node(func(*corev1.Node) {}), nil},
		{"no CIDR yet", node(func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "", nil }), nil},
		{"bad CIDR", node(func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.1.0", nil }), []string{"spec.podCIDRs[0]: Invalid value"}},
		{"taint without effect", node(func(n *corev1.Node) { n.Spec.Taints[0].Effect = "" }), []string{"spec.taints[0].effect: Required value"}},
		{"taint bad key", node(func(n *corev1.Node) { n.Spec.Taints[0].Key = "-x" }), []string{"spec.taints[0].key: Invalid value"}},
		{"duplicate taint", node(func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, n.Spec.Taints[0]) }),
			[]string{"spec.taints[1]: Duplicate value"}},
	})
	runValidation(t, "Event", []validationCase{
		{"valid", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"}, Reason: "Started"}, nil},
		{"valid for a node", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, nil},
		{"no involved object", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default"}}, []string{"involvedObject: Required value"}},
		{"namespace mismatch", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "other", Name: "p"}}, []string{"involvedObject.namespace: Invalid value"}},
		{"new-style without reporter", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default"}, EventTime: metav1.NowMicro(),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"}, Reason: "R", Action: "A"},
			[]string{"reportingComponent: Required value", "reportingInstance: Required value"}},
	})
	runValidation(t, "ServiceAccount", []validationCase{
		{"valid", &corev1.ServiceAccount{Secrets: []corev1.ObjectReference{{Name: "tok"}}}, nil},
		{"unnamed secret", &corev1.ServiceAccount{Secrets: []corev1.ObjectReference{{}}}, []string{"secrets[0].name: Required value"}},
	})
	ep := func(mod func(e *corev1.Endpoints)) *corev1.Endpoints {
		e := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "10.244.1.5", NodeName: ptr("n1")}, {IP: "127.0.0.1"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.244.2.5", Hostname: "web-1"}},
			Ports:             []corev1.EndpointPort{{Name: "http", Port: 8080}, {Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}},
		}}}
		mod(e)
		return e
	}
	runValidation(t, "Endpoints", []validationCase{
		{"valid", ep(func(*corev1.Endpoints) {}), nil},
		{"no addresses", ep(func(e *corev1.Endpoints) { e.Subsets[0].Addresses, e.Subsets[0].NotReadyAddresses = nil, nil }),
			[]string{"subsets[0]: Required value"}},
		{"bad IP", ep(func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "pod-1" }), []string{"subsets[0].addresses[0].ip: Invalid value"}},
		{"unnamed port among several", ep(func(e *corev1.Endpoints) { e.Subsets[0].Ports[1].Name = "" }), []string{"subsets[0].ports[1].name: Required value"}},
		{"bad port", ep(func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Port = 0 }), []string{"subsets[0].ports[0].port: Invalid value"}},
	})
}
