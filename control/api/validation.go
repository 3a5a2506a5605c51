package api

import (
	"fmt"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validators check an object about to be stored (after defaulting);
// updateValidators check a change against the stored version (immutable
// fields). Both report errors with the field paths and messages of the
// Kubernetes API server's validation (pkg/apis/*/validation), so clients
// and users see the same 422 Invalid causes as on a real cluster.
var (
	validators = map[string]func(runtime.Object) field.ErrorList{
		"Pod":                typed(validatePod),
		"Service":            typed(validateService),
		"Endpoints":          typed(validateEndpoints),
		"ConfigMap":          typed(validateConfigMap),
		"Secret":             typed(validateSecret),
		"Namespace":          typed(validateNamespace),
		"Node":               typed(validateNode),
		"Event":              typed(validateEvent),
		"ServiceAccount":     typed(validateServiceAccount),
		"Deployment":         typed(validateDeployment),
		"ReplicaSet":         typed(validateReplicaSet),
		"StatefulSet":        typed(validateStatefulSet),
		"DaemonSet":          typed(validateDaemonSet),
		"ControllerRevision": typed(validateControllerRevision),
		"Job":                typed(validateJob),
		"Lease":              typed(validateLease),
		"EndpointSlice":      typed(validateEndpointSlice),
		"Ingress":            typed(validateIngress),
	}
	updateValidators = map[string]func(obj, old runtime.Object) field.ErrorList{
		"Pod":                typedUpdate(validatePodUpdate),
		"Service":            typedUpdate(validateServiceUpdate),
		"ConfigMap":          typedUpdate(validateConfigMapUpdate),
		"Secret":             typedUpdate(validateSecretUpdate),
		"Node":               typedUpdate(validateNodeUpdate),
		"Deployment":         typedUpdate(validateDeploymentUpdate),
		"ReplicaSet":         typedUpdate(validateReplicaSetUpdate),
		"StatefulSet":        typedUpdate(validateStatefulSetUpdate),
		"DaemonSet":          typedUpdate(validateDaemonSetUpdate),
		"ControllerRevision": typedUpdate(validateControllerRevisionUpdate),
		"Job":                typedUpdate(validateJobUpdate),
		"EndpointSlice":      typedUpdate(validateEndpointSliceUpdate),
	}
)

// typed adapts a validator of one concrete type to the registry's signature.
func typed[T runtime.Object](f func(T) field.ErrorList) func(runtime.Object) field.ErrorList {
	return func(o runtime.Object) field.ErrorList { return f(o.(T)) }
}

// typedUpdate adapts an update validator of one concrete type.
func typedUpdate[T runtime.Object](f func(obj, old T) field.ErrorList) func(obj, old runtime.Object) field.ErrorList {
	return func(o, old runtime.Object) field.ErrorList { return f(o.(T), old.(T)) }
}

// toFieldErrors turns messages about one field into a field.ErrorList.
func toFieldErrors(path string, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, m := range msgs {
		errs = append(errs, field.Invalid(field.NewPath(path), nil, m))
	}
	return errs
}

// invalidEach reports one Invalid error per message of a string check.
func invalidEach(path *field.Path, value any, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, m := range msgs {
		errs = append(errs, field.Invalid(path, value, m))
	}
	return errs
}

// dnsLabel checks a DNS-1123 label (names of containers, volumes, ports).
func dnsLabel(value string, path *field.Path) field.ErrorList {
	return invalidEach(path, value, validation.IsDNS1123Label(value))
}

// dnsSubdomain checks a DNS-1123 subdomain (object names referred to).
func dnsSubdomain(value string, path *field.Path) field.ErrorList {
	return invalidEach(path, value, validation.IsDNS1123Subdomain(value))
}

// nonNegative is Kubernetes's ValidateNonnegativeField.
func nonNegative(value int64, path *field.Path) field.ErrorList {
	return metavalidation.ValidateNonnegativeField(value, path)
}

// nonNegativePtr checks an optional int32 field.
func nonNegativePtr(value *int32, path *field.Path) field.ErrorList {
	if value == nil {
		return nil
	}
	return nonNegative(int64(*value), path)
}

// immutable is Kubernetes's ValidateImmutableField ("field is immutable").
func immutable(newVal, oldVal any, path *field.Path) field.ErrorList {
	return metavalidation.ValidateImmutableField(newVal, oldVal, path)
}

var supportedProtocols = []string{string(corev1.ProtocolSCTP), string(corev1.ProtocolTCP), string(corev1.ProtocolUDP)}

// protocol checks a port protocol: required, and one of TCP, UDP, SCTP.
func protocol(p corev1.Protocol, path *field.Path) field.ErrorList {
	switch p {
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		return nil
	case "":
		return field.ErrorList{field.Required(path, "")}
	}
	return field.ErrorList{field.NotSupported(path, p, supportedProtocols)}
}

// portNum checks a port number (1-65535).
func portNum(port int32, path *field.Path) field.ErrorList {
	return invalidEach(path, port, validation.IsValidPortNum(int(port)))
}

// portNumOrName is Kubernetes's ValidatePortNumOrName.
func portNumOrName(port intstr.IntOrString, path *field.Path) field.ErrorList {
	switch port.Type {
	case intstr.Int:
		return invalidEach(path, port.IntValue(), validation.IsValidPortNum(port.IntValue()))
	case intstr.String:
		return invalidEach(path, port.StrVal, validation.IsValidPortName(port.StrVal))
	}
	return field.ErrorList{field.InternalError(path, fmt.Errorf("unknown type: %v", port.Type))}
}

// oneOf checks an enumerated value; an empty value is Required.
func oneOf[T ~string](value T, path *field.Path, valid ...T) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	for _, v := range valid {
		if value == v {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(path, value, valid)}
}

// sortedKeys returns a map's keys in order, so errors come out stably.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// percentValue returns the number of a valid percentage ("25%").
func percentValue(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	n, err := strconv.Atoi(v.StrVal[:len(v.StrVal)-1])
	return n, err == nil
}

// intOrPercentValue returns the number of an int or a percentage.
func intOrPercentValue(v *intstr.IntOrString) int {
	if v == nil {
		return 0
	}
	if n, ok := percentValue(*v); ok {
		return n
	}
	return v.IntValue()
}

// positiveIntOrPercent is the apps validation's ValidatePositiveIntOrPercent
// followed by IsNotMoreThan100Percent.
func positiveIntOrPercent(v *intstr.IntOrString, path *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	var errs field.ErrorList
	switch v.Type {
	case intstr.String:
		errs = invalidEach(path, v.StrVal, validation.IsValidPercent(v.StrVal))
	case intstr.Int:
		errs = nonNegative(int64(v.IntValue()), path)
	default:
		errs = field.ErrorList{field.Invalid(path, v, "must be an integer or percentage (e.g '5%')")}
	}
	if n, ok := percentValue(*v); ok && n > 100 {
		errs = append(errs, field.Invalid(path, v.StrVal, "must not be greater than 100%"))
	}
	return errs
}
