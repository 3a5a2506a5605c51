package api

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateContainers is validateContainers: the regular containers of a
// pod spec (at least one, unique names).
func validateContainers(ctrs []corev1.Container, vols map[string]bool, p *field.Path) field.ErrorList {
	if len(ctrs) == 0 {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	names := map[string]bool{}
	for i := range ctrs {
		c := &ctrs[i]
		cp := p.Index(i)
		errs = append(errs, validateContainerCommon(c, vols, cp)...)
		if names[c.Name] {
			errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
		}
		names[c.Name] = true
		errs = append(errs, validateProbesAndLifecycle(c, cp)...)
		if c.RestartPolicy != nil {
			errs = append(errs, field.Forbidden(cp.Child("restartPolicy"), "may not be set for non-init containers"))
		}
	}
	return errs
}

// validateInitContainers checks init containers; their names must differ
// from each other and from the regular containers'. Only sidecars
// (restartPolicy Always) may have probes and lifecycle hooks.
func validateInitContainers(ctrs, regular []corev1.Container, vols map[string]bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for _, c := range regular {
		names[c.Name] = true
	}
	for i := range ctrs {
		c := &ctrs[i]
		cp := p.Index(i)
		errs = append(errs, validateContainerCommon(c, vols, cp)...)
		if names[c.Name] {
			errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
		} else if c.Name != "" {
			names[c.Name] = true
		}
		if c.RestartPolicy != nil && *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			errs = append(errs, field.NotSupported(cp.Child("restartPolicy"), *c.RestartPolicy, []string{string(corev1.ContainerRestartPolicyAlways)}))
		}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			errs = append(errs, validateProbesAndLifecycle(c, cp)...)
			continue
		}
		const msg = "may not be set for init containers without restartPolicy=Always"
		if c.Lifecycle != nil {
			errs = append(errs, field.Forbidden(cp.Child("lifecycle"), msg))
		}
		for _, pr := range []struct {
			name  string
			probe *corev1.Probe
		}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
			if pr.probe != nil {
				errs = append(errs, field.Forbidden(cp.Child(pr.name), msg))
			}
		}
	}
	return errs
}

// validateContainerCommon holds what every kind of container must satisfy.
func validateContainerCommon(c *corev1.Container, vols map[string]bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if c.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, dnsLabel(c.Name, p.Child("name"))...)
	}
	if c.Image == "" {
		errs = append(errs, field.Required(p.Child("image"), ""))
	}
	if c.TerminationMessagePolicy != "" {
		errs = append(errs, oneOf(c.TerminationMessagePolicy, p.Child("terminationMessagePolicy"),
			corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError)...)
	}
	if c.ImagePullPolicy != "" {
		errs = append(errs, oneOf(c.ImagePullPolicy, p.Child("imagePullPolicy"),
			corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever)...)
	}
	errs = append(errs, validateContainerPorts(c.Ports, p.Child("ports"))...)
	errs = append(errs, validateEnv(c.Env, p.Child("env"))...)
	errs = append(errs, validateEnvFrom(c.EnvFrom, p.Child("envFrom"))...)
	errs = append(errs, validateVolumeMounts(c.VolumeMounts, vols, p.Child("volumeMounts"))...)
	errs = append(errs, validateResources(&c.Resources, p.Child("resources"))...)
	return errs
}

// validateContainerPorts is validateContainerPorts.
func validateContainerPorts(ports []corev1.ContainerPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, port := range ports {
		pp := p.Index(i)
		if port.Name != "" {
			if msgs := validation.IsValidPortName(port.Name); len(msgs) > 0 {
				errs = append(errs, invalidEach(pp.Child("name"), port.Name, msgs)...)
			} else if names[port.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			} else {
				names[port.Name] = true
			}
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(pp.Child("containerPort"), ""))
		} else {
			errs = append(errs, portNum(port.ContainerPort, pp.Child("containerPort"))...)
		}
		if port.HostPort != 0 {
			errs = append(errs, portNum(port.HostPort, pp.Child("hostPort"))...)
		}
		errs = append(errs, protocol(port.Protocol, pp.Child("protocol"))...)
	}
	return errs
}

// validateEnv is ValidateEnv with relaxed names (GA since Kubernetes 1.34).
func validateEnv(vars []corev1.EnvVar, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range vars {
		ep := p.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(ep.Child("name"), ""))
		} else {
			errs = append(errs, invalidEach(ep.Child("name"), ev.Name, validation.IsRelaxedEnvVarName(ev.Name))...)
		}
		errs = append(errs, validateEnvValueFrom(ev, ep.Child("valueFrom"))...)
	}
	return errs
}

// validateEnvValueFrom requires exactly one source, and none with a value.
func validateEnvValueFrom(ev corev1.EnvVar, p *field.Path) field.ErrorList {
	vf := ev.ValueFrom
	if vf == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	if vf.FieldRef != nil {
		n++
		errs = append(errs, validateFieldRef(vf.FieldRef, p.Child("fieldRef"))...)
	}
	if vf.ResourceFieldRef != nil {
		n++
		errs = append(errs, validateResourceFieldRef(vf.ResourceFieldRef, p.Child("resourceFieldRef"))...)
	}
	if vf.ConfigMapKeyRef != nil {
		n++
		errs = append(errs, validateKeySelector(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, p.Child("configMapKeyRef"))...)
	}
	if vf.SecretKeyRef != nil {
		n++
		errs = append(errs, validateKeySelector(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, p.Child("secretKeyRef"))...)
	}
	if vf.FileKeyRef != nil {
		n++
	}
	switch {
	case n == 0:
		errs = append(errs, field.Invalid(p, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
	case ev.Value != "":
		errs = append(errs, field.Invalid(p, "", "may not be specified when `value` is not empty"))
	case n > 1:
		errs = append(errs, field.Invalid(p, "", "may not have more than one field specified at a time"))
	}
	return errs
}

// envFieldPaths are the pod fields the downward API offers to env vars.
var envFieldPaths = []string{"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
	"spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"}

func validateFieldRef(fs *corev1.ObjectFieldSelector, p *field.Path) field.ErrorList {
	if fs.APIVersion == "" {
		return field.ErrorList{field.Required(p.Child("apiVersion"), "")}
	}
	if fs.FieldPath == "" {
		return field.ErrorList{field.Required(p.Child("fieldPath"), "")}
	}
	if fs.APIVersion != "v1" {
		return field.ErrorList{field.Invalid(p.Child("fieldPath"), fs.FieldPath,
			fmt.Sprintf("error converting fieldPath: unsupported pod version: %s", fs.APIVersion))}
	}
	if i := strings.Index(fs.FieldPath, "['"); i > 0 && strings.HasSuffix(fs.FieldPath, "']") {
		base, key := fs.FieldPath[:i], fs.FieldPath[i+2:len(fs.FieldPath)-2]
		switch base {
		case "metadata.annotations":
			return invalidEach(p, key, validation.IsQualifiedName(strings.ToLower(key)))
		case "metadata.labels":
			return invalidEach(p, key, validation.IsQualifiedName(key))
		}
		return field.ErrorList{field.Invalid(p, base, "does not support subscript")}
	}
	for _, ok := range envFieldPaths {
		if fs.FieldPath == ok {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(p.Child("fieldPath"), fs.FieldPath, envFieldPaths)}
}

var resourceFieldRefs = []string{"limits.cpu", "limits.ephemeral-storage", "limits.memory",
	"requests.cpu", "requests.ephemeral-storage", "requests.memory"}

func validateResourceFieldRef(rs *corev1.ResourceFieldSelector, p *field.Path) field.ErrorList {
	if rs.Resource == "" {
		return field.ErrorList{field.Required(p.Child("resource"), "")}
	}
	for _, ok := range resourceFieldRefs {
		if rs.Resource == ok {
			return nil
		}
	}
	if strings.HasPrefix(rs.Resource, "limits.hugepages-") || strings.HasPrefix(rs.Resource, "requests.hugepages-") {
		return nil
	}
	return field.ErrorList{field.NotSupported(p.Child("resource"), rs.Resource, resourceFieldRefs)}
}

// validateKeySelector checks a configMapKeyRef or secretKeyRef.
func validateKeySelector(name, key string, p *field.Path) field.ErrorList {
	errs := invalidEach(p.Child("name"), name, metavalidation.NameIsDNSSubdomain(name, false))
	if key == "" {
		return append(errs, field.Required(p.Child("key"), ""))
	}
	return append(errs, invalidEach(p.Child("key"), key, validation.IsConfigMapKey(key))...)
}

// validateEnvFrom is ValidateEnvFrom.
func validateEnvFrom(srcs []corev1.EnvFromSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, src := range srcs {
		sp := p.Index(i)
		if src.Prefix != "" {
			errs = append(errs, invalidEach(sp.Child("prefix"), src.Prefix, validation.IsRelaxedEnvVarName(src.Prefix))...)
		}
		n := 0
		if src.ConfigMapRef != nil {
			n++
			errs = append(errs, validateRefName(src.ConfigMapRef.Name, sp.Child("configMapRef", "name"))...)
		}
		if src.SecretRef != nil {
			n++
			errs = append(errs, validateRefName(src.SecretRef.Name, sp.Child("secretRef", "name"))...)
		}
		switch {
		case n == 0:
			errs = append(errs, field.Invalid(p, "", "must specify one of: `configMapRef` or `secretRef`"))
		case n > 1:
			errs = append(errs, field.Invalid(p, "", "may not have more than one field specified at a time"))
		}
	}
	return errs
}

func validateRefName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return invalidEach(p, name, metavalidation.NameIsDNSSubdomain(name, false))
}

// validateVolumeMounts is ValidateVolumeMounts.
func validateVolumeMounts(mounts []corev1.VolumeMount, vols map[string]bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	points := map[string]bool{}
	for i, m := range mounts {
		mp := p.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(mp.Child("name"), ""))
		}
		if !vols[m.Name] {
			errs = append(errs, field.NotFound(mp.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(mp.Child("mountPath"), ""))
		}
		if points[m.MountPath] {
			errs = append(errs, field.Invalid(mp.Child("mountPath"), m.MountPath, "must be unique"))
		}
		points[m.MountPath] = true
		if m.SubPath != "" {
			errs = append(errs, localDescendingPath(m.SubPath, mp.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				errs = append(errs, field.Invalid(mp.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			errs = append(errs, localDescendingPath(m.SubPathExpr, mp.Child("subPathExpr"))...)
		}
		if m.MountPropagation != nil {
			errs = append(errs, oneOf(*m.MountPropagation, mp.Child("mountPropagation"),
				corev1.MountPropagationBidirectional, corev1.MountPropagationHostToContainer, corev1.MountPropagationNone)...)
		}
	}
	return errs
}

// validateProbesAndLifecycle checks the probes and hooks of a regular or
// sidecar container.
func validateProbesAndLifecycle(c *corev1.Container, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if c.Lifecycle != nil {
		if c.Lifecycle.PostStart != nil {
			errs = append(errs, validateHandler(lifecycleHandlers(c.Lifecycle.PostStart), p.Child("lifecycle", "postStart"))...)
		}
		if c.Lifecycle.PreStop != nil {
			errs = append(errs, validateHandler(lifecycleHandlers(c.Lifecycle.PreStop), p.Child("lifecycle", "preStop"))...)
		}
	}
	errs = append(errs, validateProbe(c.LivenessProbe, p.Child("livenessProbe"))...)
	errs = append(errs, validateProbe(c.ReadinessProbe, p.Child("readinessProbe"))...)
	errs = append(errs, validateProbe(c.StartupProbe, p.Child("startupProbe"))...)
	if c.LivenessProbe != nil && c.LivenessProbe.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(p.Child("livenessProbe", "successThreshold"), c.LivenessProbe.SuccessThreshold, "must be 1"))
	}
	if c.StartupProbe != nil && c.StartupProbe.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(p.Child("startupProbe", "successThreshold"), c.StartupProbe.SuccessThreshold, "must be 1"))
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.TerminationGracePeriodSeconds != nil {
		errs = append(errs, field.Invalid(p.Child("readinessProbe", "terminationGracePeriodSeconds"),
			*c.ReadinessProbe.TerminationGracePeriodSeconds, "must not be set for readinessProbes"))
	}
	return errs
}

// handler is one possible action of a probe or hook, by its field name.
type handler struct {
	name string
	set  bool
	errs func(p *field.Path) field.ErrorList
}

func probeHandlers(h *corev1.ProbeHandler) []handler {
	return []handler{
		{"exec", h.Exec != nil, func(p *field.Path) field.ErrorList { return validateExec(h.Exec, p) }},
		{"httpGet", h.HTTPGet != nil, func(p *field.Path) field.ErrorList { return validateHTTPGet(h.HTTPGet, p) }},
		{"tcpSocket", h.TCPSocket != nil, func(p *field.Path) field.ErrorList { return portNumOrName(h.TCPSocket.Port, p.Child("port")) }},
		{"grpc", h.GRPC != nil, func(p *field.Path) field.ErrorList { return portNum(h.GRPC.Port, p.Child("port")) }},
	}
}

func lifecycleHandlers(h *corev1.LifecycleHandler) []handler {
	return []handler{
		{"exec", h.Exec != nil, func(p *field.Path) field.ErrorList { return validateExec(h.Exec, p) }},
		{"httpGet", h.HTTPGet != nil, func(p *field.Path) field.ErrorList { return validateHTTPGet(h.HTTPGet, p) }},
		{"tcpSocket", h.TCPSocket != nil, func(p *field.Path) field.ErrorList { return portNumOrName(h.TCPSocket.Port, p.Child("port")) }},
		{"sleep", h.Sleep != nil, func(p *field.Path) field.ErrorList {
			if h.Sleep.Seconds < 0 {
				return field.ErrorList{field.Invalid(p.Child("seconds"), h.Sleep.Seconds, metavalidation.IsNegativeErrorMsg)}
			}
			return nil
		}},
	}
}

// validateHandler requires exactly one action.
func validateHandler(hs []handler, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	for _, h := range hs {
		if !h.set {
			continue
		}
		if n > 0 {
			errs = append(errs, field.Forbidden(p.Child(h.name), "may not specify more than 1 handler type"))
			continue
		}
		n++
		errs = append(errs, h.errs(p.Child(h.name))...)
	}
	if n == 0 {
		errs = append(errs, field.Required(p, "must specify a handler type"))
	}
	return errs
}

func validateExec(e *corev1.ExecAction, p *field.Path) field.ErrorList {
	if len(e.Command) == 0 {
		return field.ErrorList{field.Required(p.Child("command"), "")}
	}
	return nil
}

func validateHTTPGet(h *corev1.HTTPGetAction, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	errs = append(errs, portNumOrName(h.Port, p.Child("port"))...)
	if h.Scheme != corev1.URISchemeHTTP && h.Scheme != corev1.URISchemeHTTPS {
		errs = append(errs, field.NotSupported(p.Child("scheme"), h.Scheme, []string{"HTTP", "HTTPS"}))
	}
	for _, hd := range h.HTTPHeaders {
		errs = append(errs, invalidEach(p.Child("httpHeaders"), hd.Name, validation.IsHTTPHeaderName(hd.Name))...)
	}
	return errs
}

// validateProbe is validateProbe: one handler and non-negative settings.
func validateProbe(pr *corev1.Probe, p *field.Path) field.ErrorList {
	if pr == nil {
		return nil
	}
	errs := validateHandler(probeHandlers(&pr.ProbeHandler), p)
	for _, f := range []struct {
		name string
		v    int32
	}{{"initialDelaySeconds", pr.InitialDelaySeconds}, {"timeoutSeconds", pr.TimeoutSeconds}, {"periodSeconds", pr.PeriodSeconds},
		{"successThreshold", pr.SuccessThreshold}, {"failureThreshold", pr.FailureThreshold}} {
		errs = append(errs, nonNegative(int64(f.v), p.Child(f.name))...)
	}
	if g := pr.TerminationGracePeriodSeconds; g != nil && *g <= 0 {
		errs = append(errs, field.Invalid(p.Child("terminationGracePeriodSeconds"), *g, "must be greater than 0"))
	}
	return errs
}

// validateResources is ValidateContainerResourceRequirements: standard
// or extended resource names, non-negative quantities, requests not above
// limits, and requests equal to limits for resources that cannot be
// overcommitted (hugepages, extended resources).
func validateResources(r *corev1.ResourceRequirements, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath, reqPath := p.Child("limits"), p.Child("requests")
	for _, name := range sortedKeys(resourceNames(r.Limits)) {
		q := r.Limits[corev1.ResourceName(name)]
		errs = append(errs, validateResourceName(corev1.ResourceName(name), limPath.Key(name))...)
		errs = append(errs, validateQuantity(corev1.ResourceName(name), q, limPath.Key(name))...)
	}
	for _, name := range sortedKeys(resourceNames(r.Requests)) {
		rn := corev1.ResourceName(name)
		q := r.Requests[rn]
		errs = append(errs, validateResourceName(rn, reqPath.Key(name))...)
		errs = append(errs, validateQuantity(rn, q, reqPath.Key(name))...)
		lim, ok := r.Limits[rn]
		switch {
		case ok && !overcommitAllowed(rn) && q.Cmp(lim) != 0:
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, lim.String())))
		case ok && q.Cmp(lim) > 0:
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		case !ok && !overcommitAllowed(rn):
			errs = append(errs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
	}
	return errs
}

func resourceNames(l corev1.ResourceList) map[string]bool {
	m := make(map[string]bool, len(l))
	for n := range l {
		m[string(n)] = true
	}
	return m
}

// nativeResource reports names without a domain or in kubernetes.io.
func nativeResource(n corev1.ResourceName) bool {
	return !strings.Contains(string(n), "/") || strings.Contains(string(n), corev1.ResourceDefaultNamespacePrefix)
}

func hugePages(n corev1.ResourceName) bool {
	return strings.HasPrefix(string(n), corev1.ResourceHugePagesPrefix)
}

// overcommitAllowed is false for hugepages and extended resources.
func overcommitAllowed(n corev1.ResourceName) bool {
	return nativeResource(n) && !hugePages(n)
}

func validateResourceName(n corev1.ResourceName, p *field.Path) field.ErrorList {
	errs := invalidEach(p, n, validation.IsQualifiedName(string(n)))
	if len(errs) > 0 {
		return errs
	}
	if !strings.Contains(string(n), "/") {
		switch {
		case n == corev1.ResourceCPU, n == corev1.ResourceMemory, n == corev1.ResourceEphemeralStorage, hugePages(n):
		default:
			errs = append(errs, field.Invalid(p, n, "must be a standard resource for containers"))
		}
	} else if !nativeResource(n) && strings.HasPrefix(string(n), corev1.DefaultResourceRequestsPrefix) {
		errs = append(errs, field.Invalid(p, n, "doesn't follow extended resource name standard"))
	}
	return errs
}

// validateQuantity is ValidateResourceQuantityValue.
func validateQuantity(n corev1.ResourceName, q resource.Quantity, p *field.Path) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(p, q.String(), metavalidation.IsNegativeErrorMsg)}
	}
	if !nativeResource(n) && q.MilliValue()%1000 != 0 {
		return field.ErrorList{field.Invalid(p, q.String(), "must be an integer")}
	}
	return nil
}
