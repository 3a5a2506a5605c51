package api

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxSecretSize is the limit of a Secret's or ConfigMap's data (1 MiB).
const maxSecretSize = 1 << 20

// maxClientIPAffinitySeconds is the longest ClientIP session affinity (a day).
const maxClientIPAffinitySeconds = 86400

// validateConfigMap is ValidateConfigMap: valid keys, none in both data
// and binaryData, at most 1 MiB in all.
func validateConfigMap(c *corev1.ConfigMap) field.ErrorList {
	var errs field.ErrorList
	size := 0
	for _, k := range sortedKeys(c.Data) {
		kp := field.NewPath("data").Key(k)
		errs = append(errs, invalidEach(kp, k, validation.IsConfigMapKey(k))...)
		if _, dup := c.BinaryData[k]; dup {
			errs = append(errs, field.Invalid(kp, k, "duplicate of key present in binaryData"))
		}
		size += len(c.Data[k])
	}
	for _, k := range sortedKeys(c.BinaryData) {
		errs = append(errs, invalidEach(field.NewPath("binaryData").Key(k), k, validation.IsConfigMapKey(k))...)
		size += len(c.BinaryData[k])
	}
	if size > maxSecretSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", maxSecretSize))
	}
	return errs
}

// validateSecret is ValidateSecret: valid keys, size, and the keys each
// well-known type requires.
func validateSecret(s *corev1.Secret) field.ErrorList {
	var errs field.ErrorList
	dataPath := field.NewPath("data")
	size := 0
	for _, k := range sortedKeys(s.Data) {
		errs = append(errs, invalidEach(dataPath.Key(k), k, validation.IsConfigMapKey(k))...)
		size += len(s.Data[k])
	}
	if size > maxSecretSize {
		errs = append(errs, field.TooLong(dataPath, "", maxSecretSize))
	}
	require := func(keys ...string) {
		for _, k := range keys {
			if _, ok := s.Data[k]; !ok {
				errs = append(errs, field.Required(dataPath.Key(k), ""))
			}
		}
	}
	requireJSON := func(key string) {
		v, ok := s.Data[key]
		if !ok {
			require(key)
			return
		}
		if err := json.Unmarshal(v, &map[string]any{}); err != nil {
			errs = append(errs, field.Invalid(dataPath.Key(key), "<secret contents redacted>", err.Error()))
		}
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		requireJSON(corev1.DockerConfigKey)
	case corev1.SecretTypeDockerConfigJson:
		requireJSON(corev1.DockerConfigJsonKey)
	case corev1.SecretTypeBasicAuth:
		_, u := s.Data[corev1.BasicAuthUsernameKey]
		_, pw := s.Data[corev1.BasicAuthPasswordKey]
		if !u && !pw {
			require(corev1.BasicAuthUsernameKey, corev1.BasicAuthPasswordKey)
		}
	case corev1.SecretTypeSSHAuth:
		if len(s.Data[corev1.SSHAuthPrivateKey]) == 0 {
			errs = append(errs, field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		require(corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	return errs
}

// validateNamespace checks spec.finalizers (the name is a DNS-1123 label,
// checked with the metadata).
func validateNamespace(n *corev1.Namespace) field.ErrorList {
	var errs field.ErrorList
	for i, f := range n.Spec.Finalizers {
		errs = append(errs, validateFinalizerName(string(f), field.NewPath("spec", "finalizers").Index(i))...)
	}
	return errs
}

// validateFinalizerName accepts the standard "kubernetes" finalizer or a
// fully qualified name.
func validateFinalizerName(name string, p *field.Path) field.ErrorList {
	errs := invalidEach(p, name, validation.IsQualifiedName(name))
	if len(errs) == 0 && !strings.Contains(name, "/") && name != string(corev1.FinalizerKubernetes) {
		errs = append(errs, field.Invalid(p, name, "name is neither a standard finalizer name nor is it fully qualified"))
	}
	return errs
}

// nodePodCIDRs returns the pod CIDRs of a node as the Kubernetes API
// server sees them: podCIDR is authoritative when it disagrees with
// podCIDRs[0].
func nodePodCIDRs(spec *corev1.NodeSpec) []string {
	if spec.PodCIDR != "" && (len(spec.PodCIDRs) == 0 || spec.PodCIDRs[0] != spec.PodCIDR) {
		return []string{spec.PodCIDR}
	}
	return spec.PodCIDRs
}

// validateNode is ValidateNode: pod CIDRs and taints.
func validateNode(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	cidrs := nodePodCIDRs(&n.Spec)
	for i, c := range cidrs {
		errs = append(errs, validation.IsValidCIDRForLegacyField(field.NewPath("spec", "podCIDRs").Index(i), c, false, nil)...)
	}
	if len(cidrs) > 2 {
		errs = append(errs, field.Invalid(field.NewPath("spec", "podCIDRs"), cidrs, "may specify no more than one CIDR for each IP family"))
	}
	taintsPath := field.NewPath("spec", "taints")
	seen := map[string]bool{}
	for i, t := range n.Spec.Taints {
		tp := taintsPath.Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, tp.Child("key"))...)
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
			errs = append(errs, field.Invalid(tp.Child("value"), t.Value, strings.Join(msgs, ";")))
		}
		errs = append(errs, validateTaintEffect(t.Effect, tp.Child("effect"))...)
		key := string(t.Effect) + "\x00" + t.Key
		if seen[key] {
			d := field.Duplicate(tp, t)
			d.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, d)
		}
		seen[key] = true
	}
	return errs
}

// validateEvent is the core/v1 legacyValidateEvent: the involved object
// must match the event's namespace. mini also requires an involved object
// (every event recorder sets one), which the Kubernetes API tolerates
// missing only for compatibility with ancient clients.
func validateEvent(e *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	io := field.NewPath("involvedObject")
	if e.InvolvedObject.Kind == "" && e.InvolvedObject.Name == "" && e.InvolvedObject.UID == "" {
		errs = append(errs, field.Required(io, "must refer to the object the event is about"))
	}
	switch {
	case e.InvolvedObject.Namespace == "" && e.EventTime.IsZero():
		if e.Namespace != metav1.NamespaceNone && e.Namespace != metav1.NamespaceDefault {
			errs = append(errs, field.Invalid(io.Child("namespace"), e.InvolvedObject.Namespace, "does not match event.namespace"))
		}
	case e.InvolvedObject.Namespace == "":
		if e.Namespace != metav1.NamespaceDefault && e.Namespace != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(io.Child("namespace"), e.InvolvedObject.Namespace, "does not match event.namespace"))
		}
	case e.Namespace != e.InvolvedObject.Namespace:
		errs = append(errs, field.Invalid(io.Child("namespace"), e.InvolvedObject.Namespace, "does not match event.namespace"))
	}
	if !e.EventTime.IsZero() {
		if e.ReportingController == "" {
			errs = append(errs, field.Required(field.NewPath("reportingComponent"), ""))
		}
		if e.ReportingInstance == "" {
			errs = append(errs, field.Required(field.NewPath("reportingInstance"), ""))
		}
		if e.Action == "" {
			errs = append(errs, field.Required(field.NewPath("action"), ""))
		}
		if e.Reason == "" {
			errs = append(errs, field.Required(field.NewPath("reason"), ""))
		}
	}
	return errs
}

// validateServiceAccount: Kubernetes validates only a ServiceAccount's
// metadata (done for every kind by the server); its secret references
// must at least name something.
func validateServiceAccount(sa *corev1.ServiceAccount) field.ErrorList {
	var errs field.ErrorList
	for i, s := range sa.Secrets {
		if s.Name == "" {
			errs = append(errs, field.Required(field.NewPath("secrets").Index(i).Child("name"), ""))
		}
	}
	return errs
}

// validateEndpoints is ValidateEndpoints. mini does not refuse loopback
// addresses (Kubernetes does): a control plane listening on 127.0.0.1 is
// legitimate here.
func validateEndpoints(e *corev1.Endpoints) field.ErrorList {
	var errs field.ErrorList
	for i := range e.Subsets {
		ss := &e.Subsets[i]
		sp := field.NewPath("subsets").Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(sp, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j := range ss.Addresses {
			errs = append(errs, validateEndpointAddress(&ss.Addresses[j], sp.Child("addresses").Index(j))...)
		}
		for j := range ss.NotReadyAddresses {
			errs = append(errs, validateEndpointAddress(&ss.NotReadyAddresses[j], sp.Child("notReadyAddresses").Index(j))...)
		}
		for j, port := range ss.Ports {
			pp := sp.Child("ports").Index(j)
			if len(ss.Ports) > 1 && port.Name == "" {
				errs = append(errs, field.Required(pp.Child("name"), ""))
			} else if port.Name != "" {
				errs = append(errs, dnsLabel(port.Name, pp.Child("name"))...)
			}
			errs = append(errs, portNum(port.Port, pp.Child("port"))...)
			errs = append(errs, protocol(port.Protocol, pp.Child("protocol"))...)
		}
	}
	return errs
}

func validateEndpointAddress(a *corev1.EndpointAddress, p *field.Path) field.ErrorList {
	errs := validation.IsValidIPForLegacyField(p.Child("ip"), a.IP, false, nil)
	if a.Hostname != "" {
		errs = append(errs, dnsLabel(a.Hostname, p.Child("hostname"))...)
	}
	if a.NodeName != nil {
		errs = append(errs, invalidEach(p.Child("nodeName"), *a.NodeName, metavalidation.NameIsDNSSubdomain(*a.NodeName, false))...)
	}
	return errs
}

// validateService is ValidateService for the fields mini serves.
func validateService(s *corev1.Service) field.ErrorList {
	spec := field.NewPath("spec")
	errs := oneOf(s.Spec.Type, spec.Child("type"), corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort,
		corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName)
	headless := s.Spec.ClusterIP == corev1.ClusterIPNone
	if len(s.Spec.Ports) == 0 && !headless && s.Spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(spec.Child("ports"), ""))
	}
	errs = append(errs, validateServiceIPs(s, spec)...)
	errs = append(errs, validateServicePorts(s, spec.Child("ports"))...)
	errs = append(errs, metav1validation.ValidateLabels(s.Spec.Selector, spec.Child("selector"))...)
	switch s.Spec.SessionAffinity {
	case corev1.ServiceAffinityClientIP:
		if c := s.Spec.SessionAffinityConfig; c == nil || c.ClientIP == nil || c.ClientIP.TimeoutSeconds == nil {
			errs = append(errs, field.Required(spec.Child("sessionAffinityConfig"), "when session affinity type is ClientIP"))
		} else if t := *c.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPAffinitySeconds {
			errs = append(errs, field.Invalid(spec.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t,
				fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds)))
		}
	case corev1.ServiceAffinityNone:
		if s.Spec.SessionAffinityConfig != nil {
			errs = append(errs, field.Invalid(spec.Child("sessionAffinityConfig"), s.Spec.SessionAffinityConfig,
				"must not be set when session affinity is None"))
		}
	default:
		errs = append(errs, oneOf(s.Spec.SessionAffinity, spec.Child("sessionAffinity"), corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone)...)
	}
	if etp := s.Spec.ExternalTrafficPolicy; etp != "" {
		external := needsNodePorts(s.Spec.Type) || (s.Spec.Type == corev1.ServiceTypeClusterIP && len(s.Spec.ExternalIPs) > 0)
		if !external {
			errs = append(errs, field.Invalid(spec.Child("externalTrafficPolicy"), etp, "may only be set for externally-accessible services"))
		} else {
			errs = append(errs, oneOf(etp, spec.Child("externalTrafficPolicy"), corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal)...)
		}
	}
	if itp := s.Spec.InternalTrafficPolicy; itp != nil {
		errs = append(errs, oneOf(*itp, spec.Child("internalTrafficPolicy"), corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal)...)
	}
	for i, ip := range s.Spec.ExternalIPs {
		errs = append(errs, validation.IsValidIPForLegacyField(spec.Child("externalIPs").Index(i), ip, false, nil)...)
	}
	return errs
}

// validateServiceIPs checks clusterIP(s), IP families and the fields that
// depend on the type (ExternalName, headless NodePorts).
func validateServiceIPs(s *corev1.Service, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	ipsPath := spec.Child("clusterIPs")
	if s.Spec.Type == corev1.ServiceTypeExternalName {
		if s.Spec.ClusterIP != "" || len(s.Spec.ClusterIPs) > 0 {
			errs = append(errs, field.Forbidden(ipsPath, "may not be set for ExternalName services"))
		}
		if len(s.Spec.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(spec.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if s.Spec.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(spec.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		if cname := strings.TrimSuffix(s.Spec.ExternalName, "."); cname == "" {
			errs = append(errs, field.Required(spec.Child("externalName"), ""))
		} else {
			errs = append(errs, dnsSubdomain(cname, spec.Child("externalName"))...)
		}
		return errs
	}
	if ip := s.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		errs = append(errs, validation.IsValidIPForLegacyField(ipsPath.Index(0), ip, false, nil)...)
	}
	if len(s.Spec.ClusterIPs) > 0 && s.Spec.ClusterIP != "" && s.Spec.ClusterIPs[0] != s.Spec.ClusterIP {
		errs = append(errs, field.Invalid(ipsPath, s.Spec.ClusterIPs, "first value must match `clusterIP`"))
	}
	if s.Spec.ClusterIP == corev1.ClusterIPNone && needsNodePorts(s.Spec.Type) {
		errs = append(errs, field.Invalid(ipsPath.Index(0), s.Spec.ClusterIP, fmt.Sprintf("may not be set to 'None' for %s services", s.Spec.Type)))
	}
	for i, f := range s.Spec.IPFamilies {
		errs = append(errs, oneOf(f, spec.Child("ipFamilies").Index(i), corev1.IPv4Protocol, corev1.IPv6Protocol)...)
	}
	if p := s.Spec.IPFamilyPolicy; p != nil {
		errs = append(errs, oneOf(*p, spec.Child("ipFamilyPolicy"), corev1.IPFamilyPolicySingleStack,
			corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack)...)
	}
	return errs
}

// validateServicePorts checks each port, names (required and unique when
// there are several), duplicates, and nodePorts against the type.
func validateServicePorts(s *corev1.Service, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	ports := map[string]bool{}
	nodePorts := map[string]bool{}
	for i, sp := range s.Spec.Ports {
		pp := p.Index(i)
		if len(s.Spec.Ports) > 1 && sp.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		} else if sp.Name != "" {
			errs = append(errs, dnsLabel(sp.Name, pp.Child("name"))...)
			if names[sp.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), sp.Name))
			}
			names[sp.Name] = true
		}
		errs = append(errs, portNum(sp.Port, pp.Child("port"))...)
		errs = append(errs, protocol(sp.Protocol, pp.Child("protocol"))...)
		errs = append(errs, portNumOrName(sp.TargetPort, pp.Child("targetPort"))...)
		if sp.AppProtocol != nil {
			errs = append(errs, invalidEach(pp.Child("appProtocol"), *sp.AppProtocol, validation.IsQualifiedName(*sp.AppProtocol))...)
		}
		key := fmt.Sprintf("%d/%s", sp.Port, sp.Protocol)
		if ports[key] {
			errs = append(errs, field.Duplicate(pp, key))
		}
		ports[key] = true
		if sp.NodePort == 0 {
			continue
		}
		if s.Spec.Type == corev1.ServiceTypeClusterIP {
			errs = append(errs, field.Forbidden(pp.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			continue
		}
		errs = append(errs, portNum(sp.NodePort, pp.Child("nodePort"))...)
		nkey := fmt.Sprintf("%d/%s", sp.NodePort, sp.Protocol)
		if nodePorts[nkey] {
			errs = append(errs, field.Duplicate(pp.Child("nodePort"), sp.NodePort))
		}
		nodePorts[nkey] = true
	}
	return errs
}
