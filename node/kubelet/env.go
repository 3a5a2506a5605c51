package kubelet

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	kruntime "k8s.io/apimachinery/pkg/runtime"
)

// objects reads the ConfigMaps and Secrets a pod refers to, once per sync.
type objects struct {
	get        func(ctx context.Context, ns, name string, obj kruntime.Object) error
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

func (o *objects) configMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	if cm, ok := o.configMaps[name]; ok {
		return cm, nil
	}
	cm := &corev1.ConfigMap{}
	if err := o.get(ctx, ns, name, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("configmap %q not found", name)
		}
		return nil, err
	}
	o.configMaps[name] = cm
	return cm, nil
}

func (o *objects) secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	if s, ok := o.secrets[name]; ok {
		return s, nil
	}
	s := &corev1.Secret{}
	if err := o.get(ctx, ns, name, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("secret %q not found", name)
		}
		return nil, err
	}
	o.secrets[name] = s
	return s, nil
}

// envContext is what a container's environment is computed from.
type envContext struct {
	pod      *corev1.Pod
	podIP    string
	nodeIP   string
	services []*corev1.Service // for service links
	objs     *objects
	// node capacity, for resource fields of containers without limits
	nodeCPU, nodeMemory resource.Quantity
}

// env computes a container's environment as the kubelet does: service
// links, then envFrom sources in order, then env entries in order, each
// value expanded with $(VAR) against the variables before it. Later names
// replace earlier ones.
func (e *envContext) env(ctx context.Context, c *corev1.Container) ([]string, error) {
	vars := newEnvList()
	if e.pod.Spec.EnableServiceLinks == nil || *e.pod.Spec.EnableServiceLinks {
		for _, kv := range serviceEnv(e.services, e.pod.Namespace) {
			vars.set(kv[0], kv[1])
		}
	}
	for _, from := range c.EnvFrom {
		if err := e.envFrom(ctx, from, vars); err != nil {
			return nil, err
		}
	}
	for _, ev := range c.Env {
		v := ev.Value
		if ev.ValueFrom != nil {
			val, ok, err := e.valueFrom(ctx, ev.ValueFrom, c)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue // an optional reference that is missing
			}
			v = val
		} else {
			v = expand(v, vars.lookup)
		}
		vars.set(ev.Name, v)
	}
	return vars.list(), nil
}

func (e *envContext) envFrom(ctx context.Context, from corev1.EnvFromSource, vars *envList) error {
	var data map[string]string
	switch {
	case from.ConfigMapRef != nil:
		cm, err := e.objs.configMap(ctx, e.pod.Namespace, from.ConfigMapRef.Name)
		if err != nil {
			if optional(from.ConfigMapRef.Optional) {
				return nil
			}
			return err
		}
		data = cm.Data
	case from.SecretRef != nil:
		s, err := e.objs.secret(ctx, e.pod.Namespace, from.SecretRef.Name)
		if err != nil {
			if optional(from.SecretRef.Optional) {
				return nil
			}
			return err
		}
		data = map[string]string{}
		for k, v := range s.Data {
			data[k] = string(v)
		}
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if name := from.Prefix + k; name != "" && !strings.Contains(name, "=") {
			vars.set(name, data[k])
		}
	}
	return nil
}

func optional(b *bool) bool { return b != nil && *b }

// valueFrom resolves one env value source; ok is false for a missing
// optional key.
func (e *envContext) valueFrom(ctx context.Context, vf *corev1.EnvVarSource, c *corev1.Container) (string, bool, error) {
	switch {
	case vf.FieldRef != nil:
		v, err := fieldValue(e.pod, vf.FieldRef.FieldPath, e.podIP, e.nodeIP)
		return v, err == nil, err
	case vf.ResourceFieldRef != nil:
		v, err := e.resourceValue(vf.ResourceFieldRef, c)
		return v, err == nil, err
	case vf.ConfigMapKeyRef != nil:
		r := vf.ConfigMapKeyRef
		cm, err := e.objs.configMap(ctx, e.pod.Namespace, r.Name)
		if err != nil {
			return "", false, orNil(err, optional(r.Optional))
		}
		v, ok := cm.Data[r.Key]
		if !ok {
			return "", false, orNil(fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", r.Key, e.pod.Namespace, r.Name), optional(r.Optional))
		}
		return v, true, nil
	case vf.SecretKeyRef != nil:
		r := vf.SecretKeyRef
		s, err := e.objs.secret(ctx, e.pod.Namespace, r.Name)
		if err != nil {
			return "", false, orNil(err, optional(r.Optional))
		}
		v, ok := s.Data[r.Key]
		if !ok {
			return "", false, orNil(fmt.Errorf("couldn't find key %s in Secret %s/%s", r.Key, e.pod.Namespace, r.Name), optional(r.Optional))
		}
		return string(v), true, nil
	}
	return "", false, fmt.Errorf("an env valueFrom without a source")
}

func orNil(err error, optional bool) error {
	if optional {
		return nil
	}
	return err
}

// fieldValue resolves a downward API field path of a pod.
func fieldValue(pod *corev1.Pod, path, podIP, nodeIP string) (string, error) {
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return nodeIP, nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	}
	return "", fmt.Errorf("unsupported fieldPath %q", path)
}

// subscript parses "prefix['key']".
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok || !strings.HasSuffix(rest, "']") {
		return "", false
	}
	return strings.TrimSuffix(rest, "']"), true
}

// formatMap renders labels or annotations as the downward API does:
// key="value" lines, sorted by key.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%s", k, strconv.Quote(m[k]))
	}
	return b.String()
}

// resourceValue resolves a resourceFieldRef: the container's request or
// limit (limits default to the node's capacity), divided by the divisor and
// rounded up.
func (e *envContext) resourceValue(r *corev1.ResourceFieldSelector, c *corev1.Container) (string, error) {
	if r.ContainerName != "" {
		c = findContainer(e.pod, r.ContainerName)
	}
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef %s: no container %q in the pod", r.Resource, r.ContainerName)
	}
	var q resource.Quantity
	switch r.Resource {
	case "limits.cpu":
		q = orDefault(c.Resources.Limits.Cpu(), e.nodeCPU)
	case "limits.memory":
		q = orDefault(c.Resources.Limits.Memory(), e.nodeMemory)
	case "requests.cpu":
		q = *c.Resources.Requests.Cpu()
	case "requests.memory":
		q = *c.Resources.Requests.Memory()
	case "limits.ephemeral-storage", "requests.ephemeral-storage":
		q = *c.Resources.Limits.StorageEphemeral()
	default:
		return "", fmt.Errorf("unsupported resourceFieldRef %q", r.Resource)
	}
	div := r.Divisor
	if div.IsZero() {
		div = resource.MustParse("1")
	}
	if strings.HasSuffix(r.Resource, ".cpu") {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(div.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(div.Value()))), 10), nil
}

func orDefault(q *resource.Quantity, def resource.Quantity) resource.Quantity {
	if q.IsZero() {
		return def
	}
	return *q
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

// serviceEnv returns the Docker-links-style variables of the services a pod
// sees: those of its namespace, plus the kubernetes service of default.
func serviceEnv(svcs []*corev1.Service, ns string) [][2]string {
	var out [][2]string
	sorted := append([]*corev1.Service{}, svcs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, s := range sorted {
		ip := s.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 {
			continue
		}
		if s.Namespace != ns && (s.Namespace != "default" || s.Name != "kubernetes") {
			continue
		}
		name := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
		p0 := s.Spec.Ports[0]
		out = append(out, [2]string{name + "_SERVICE_HOST", ip}, [2]string{name + "_SERVICE_PORT", strconv.Itoa(int(p0.Port))})
		for _, p := range s.Spec.Ports {
			if p.Name != "" {
				out = append(out, [2]string{name + "_SERVICE_PORT_" + strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_")), strconv.Itoa(int(p.Port))})
			}
		}
		proto := strings.ToLower(string(p0.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		out = append(out, [2]string{name + "_PORT", fmt.Sprintf("%s://%s:%d", proto, ip, p0.Port)})
		for _, p := range s.Spec.Ports {
			proto := strings.ToLower(string(p.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			pre := fmt.Sprintf("%s_PORT_%d_%s", name, p.Port, strings.ToUpper(proto))
			out = append(out, [2]string{pre, fmt.Sprintf("%s://%s:%d", proto, ip, p.Port)},
				[2]string{pre + "_PROTO", proto}, [2]string{pre + "_PORT", strconv.Itoa(int(p.Port))}, [2]string{pre + "_ADDR", ip})
		}
	}
	return out
}

// envList is an ordered set of variables where a later set replaces the
// value but keeps the first position.
type envList struct {
	names []string
	vals  map[string]string
}

func newEnvList() *envList { return &envList{vals: map[string]string{}} }

func (l *envList) set(k, v string) {
	if _, ok := l.vals[k]; !ok {
		l.names = append(l.names, k)
	}
	l.vals[k] = v
}

func (l *envList) lookup(k string) (string, bool) {
	v, ok := l.vals[k]
	return v, ok
}

func (l *envList) list() []string {
	out := make([]string, len(l.names))
	for i, k := range l.names {
		out[i] = k + "=" + l.vals[k]
	}
	return out
}

// expand replaces $(VAR) references in s as Kubernetes does: a defined
// variable is replaced by its value, an undefined one is left as written,
// and $$ is an escaped $.
func expand(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	checkpoint := 0
	for cursor := 0; cursor < len(s); cursor++ {
		if s[cursor] != '$' || cursor+1 >= len(s) {
			continue
		}
		b.WriteString(s[checkpoint:cursor])
		read, isVar, advance := readVariable(s[cursor+1:])
		if isVar {
			if v, ok := lookup(read); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + read + ")")
			}
		} else {
			b.WriteString(read)
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	return b.String() + s[checkpoint:]
}

// readVariable reads what follows a '$': a (name), an escaped $, or
// anything else taken literally. It returns the text, whether it is a
// variable name, and how many bytes it used.
func readVariable(s string) (string, bool, int) {
	switch s[0] {
	case '$':
		return "$", false, 1
	case '(':
		for i := 1; i < len(s); i++ {
			if s[i] == ')' {
				return s[1:i], true, i + 1
			}
		}
		return "$(", false, 1
	}
	return "$" + s[:1], false, 1
}

// expandAll expands each string of ss.
func expandAll(ss []string, env []string) []string {
	if len(ss) == 0 {
		return nil
	}
	vals := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vals[k] = v
	}
	lookup := func(k string) (string, bool) { v, ok := vals[k]; return v, ok }
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = expand(s, lookup)
	}
	return out
}
