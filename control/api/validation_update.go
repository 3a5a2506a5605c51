package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file holds the update rules (the *Update validation functions of
// Kubernetes): what may not change once an object exists. The server runs
// an update validator before the object validator, on the defaulted new
// object and the stored one, for writes to the object itself (not its
// subresources).

// podUpdateMessage is Kubernetes's message for a forbidden pod change.
const podUpdateMessage = "pod updates may not change fields other than `spec.containers[*].image`," +
	"`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)," +
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"

// validatePodUpdate is ValidatePodUpdate: only images, a shorter
// activeDeadlineSeconds, added tolerations (and longer-lived ones' seconds),
// removed scheduling gates, and a negative grace period raised to 1 may
// change.
func validatePodUpdate(p, old *corev1.Pod) field.ErrorList {
	spec := field.NewPath("spec")
	if len(p.Spec.Containers) != len(old.Spec.Containers) {
		return field.ErrorList{field.Forbidden(spec.Child("containers"), "pod updates may not add or remove containers")}
	}
	if len(p.Spec.InitContainers) != len(old.Spec.InitContainers) {
		return field.ErrorList{field.Forbidden(spec.Child("initContainers"), "pod updates may not add or remove containers")}
	}
	var errs field.ErrorList
	ad := spec.Child("activeDeadlineSeconds")
	switch n, o := p.Spec.ActiveDeadlineSeconds, old.Spec.ActiveDeadlineSeconds; {
	case n == nil && o != nil:
		errs = append(errs, field.Invalid(ad, nil, "must not update from a positive integer to nil value"))
	case n != nil && o != nil && *n > *o:
		errs = append(errs, field.Invalid(ad, *n, "must be less than or equal to previous value"))
	}
	errs = append(errs, validateAddedTolerations(p.Spec.Tolerations, old.Spec.Tolerations, spec.Child("tolerations"))...)

	munged := p.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = old.Spec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = old.Spec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = old.Spec.ActiveDeadlineSeconds
	munged.Tolerations = old.Spec.Tolerations
	if len(munged.SchedulingGates) <= len(old.Spec.SchedulingGates) {
		munged.SchedulingGates = old.Spec.SchedulingGates
	}
	if og, ng := old.Spec.TerminationGracePeriodSeconds, munged.TerminationGracePeriodSeconds; og != nil && *og < 0 && ng != nil && *ng == 1 {
		munged.TerminationGracePeriodSeconds = og
	}
	if changed := changedFields(*munged, old.Spec); len(changed) > 0 {
		errs = append(errs, field.Forbidden(spec, podUpdateMessage+"\n(changed: "+strings.Join(changed, ", ")+")"))
	}
	return errs
}

// changedFields names the fields (by JSON name) in which two structs of the
// same type differ.
func changedFields(a, b any) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := 0; i < va.NumField(); i++ {
		if !equality.Semantic.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			name, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("json"), ",")
			out = append(out, name)
		}
	}
	return out
}

// validateAddedTolerations is validateOnlyAddedTolerations: every old
// toleration must still be there (its tolerationSeconds may change).
func validateAddedTolerations(tols, old []corev1.Toleration, p *field.Path) field.ErrorList {
	for _, o := range old {
		found := false
		for _, t := range tols {
			o.TolerationSeconds = t.TolerationSeconds
			if reflect.DeepEqual(o, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(p, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return nil
}

// validateServiceUpdate is ValidateServiceUpdate: a Service keeps its
// cluster IP, unless it changes to or from ExternalName. It first does what
// Kubernetes's PrepareForUpdate does before validation: it keeps clusterIPs
// in step with a changed clusterIP (normalizeClusterIPs), and drops the
// values that belong to the old type and that the client sent back
// unchanged (dropTypeDependentFields), so that "kubectl apply" can change
// a NodePort Service to ClusterIP; the allocator releases what was dropped.
func validateServiceUpdate(s, old *corev1.Service) field.ErrorList {
	normalizeClusterIPs(s, old)
	dropTypeDependentFields(s, old)
	if s.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	newIP, oldIP := primaryClusterIP(s), primaryClusterIP(old)
	if newIP != "" && oldIP != "" && newIP != oldIP {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), newIP, "may not change once set")}
	}
	return nil
}

// normalizeClusterIPs follows a changed clusterIP in clusterIPs when the
// client left clusterIPs as they were (a client that knows only clusterIP).
func normalizeClusterIPs(s, old *corev1.Service) {
	same := equality.Semantic.DeepEqual(s.Spec.ClusterIPs, old.Spec.ClusterIPs)
	if len(old.Spec.ClusterIPs) > 0 && len(s.Spec.ClusterIPs) == 0 && s.Spec.ClusterIP == old.Spec.ClusterIP {
		s.Spec.ClusterIPs = old.Spec.ClusterIPs
	}
	if s.Spec.ClusterIP == old.Spec.ClusterIP || !same {
		return
	}
	if s.Spec.ClusterIP == "" {
		s.Spec.ClusterIPs = nil
		return
	}
	s.Spec.ClusterIPs = []string{s.Spec.ClusterIP}
}

func primaryClusterIP(s *corev1.Service) string {
	if s.Spec.ClusterIP != "" {
		return s.Spec.ClusterIP
	}
	if len(s.Spec.ClusterIPs) > 0 {
		return s.Spec.ClusterIPs[0]
	}
	return ""
}

func externallyAccessible(s *corev1.Service) bool {
	return needsNodePorts(s.Spec.Type) || (s.Spec.Type == corev1.ServiceTypeClusterIP && len(s.Spec.ExternalIPs) > 0)
}

// dropTypeDependentFields clears, on a type change, fields the new type does
// not use when the client left them as they were.
func dropTypeDependentFields(s, old *corev1.Service) {
	if old.Spec.Type != corev1.ServiceTypeExternalName && s.Spec.Type == corev1.ServiceTypeExternalName {
		if s.Spec.ClusterIP == old.Spec.ClusterIP && equality.Semantic.DeepEqual(s.Spec.ClusterIPs, old.Spec.ClusterIPs) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil
		}
		if equality.Semantic.DeepEqual(s.Spec.IPFamilies, old.Spec.IPFamilies) {
			s.Spec.IPFamilies = nil
		}
		if equality.Semantic.DeepEqual(s.Spec.IPFamilyPolicy, old.Spec.IPFamilyPolicy) {
			s.Spec.IPFamilyPolicy = nil
		}
		if equality.Semantic.DeepEqual(s.Spec.InternalTrafficPolicy, old.Spec.InternalTrafficPolicy) {
			s.Spec.InternalTrafficPolicy = nil
		}
	}
	if needsNodePorts(old.Spec.Type) && !needsNodePorts(s.Spec.Type) && sameNodePorts(s, old) {
		for i := range s.Spec.Ports {
			s.Spec.Ports[i].NodePort = 0
		}
	}
	if s.Spec.HealthCheckNodePort == old.Spec.HealthCheckNodePort && s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		s.Spec.HealthCheckNodePort = 0
	}
	if old.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		if equality.Semantic.DeepEqual(s.Spec.AllocateLoadBalancerNodePorts, old.Spec.AllocateLoadBalancerNodePorts) {
			s.Spec.AllocateLoadBalancerNodePorts = nil
		}
		if equality.Semantic.DeepEqual(s.Spec.LoadBalancerClass, old.Spec.LoadBalancerClass) {
			s.Spec.LoadBalancerClass = nil
		}
	}
	if externallyAccessible(old) && !externallyAccessible(s) && s.Spec.ExternalTrafficPolicy == old.Spec.ExternalTrafficPolicy {
		s.Spec.ExternalTrafficPolicy = ""
	}
}

// sameNodePorts reports whether every node port of s was already set, on
// the same port, in old.
func sameNodePorts(s, old *corev1.Service) bool {
	had := map[string]bool{}
	for _, p := range old.Spec.Ports {
		had[fmt.Sprintf("%d/%s/%d", p.Port, p.Protocol, p.NodePort)] = true
	}
	for _, p := range s.Spec.Ports {
		if p.NodePort != 0 && !had[fmt.Sprintf("%d/%s/%d", p.Port, p.Protocol, p.NodePort)] {
			return false
		}
	}
	return true
}

const immutableWhenSet = "field is immutable when `immutable` is set"

// validateConfigMapUpdate: data is frozen once immutable is true.
func validateConfigMapUpdate(c, old *corev1.ConfigMap) field.ErrorList {
	if old.Immutable == nil || !*old.Immutable {
		return nil
	}
	var errs field.ErrorList
	if c.Immutable == nil || !*c.Immutable {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableWhenSet))
	}
	if !sameMap(c.Data, old.Data) {
		errs = append(errs, field.Forbidden(field.NewPath("data"), immutableWhenSet))
	}
	if !sameMap(c.BinaryData, old.BinaryData) {
		errs = append(errs, field.Forbidden(field.NewPath("binaryData"), immutableWhenSet))
	}
	return errs
}

// validateSecretUpdate: the type never changes; data is frozen once
// immutable is true.
func validateSecretUpdate(s, old *corev1.Secret) field.ErrorList {
	errs := immutable(s.Type, old.Type, field.NewPath("type"))
	if old.Immutable == nil || !*old.Immutable {
		return errs
	}
	if s.Immutable == nil || !*s.Immutable {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableWhenSet))
	}
	if !sameMap(s.Data, old.Data) {
		errs = append(errs, field.Forbidden(field.NewPath("data"), immutableWhenSet))
	}
	return errs
}

// sameMap compares maps treating nil and empty alike.
func sameMap[V any](a, b map[string]V) bool {
	return (len(a) == 0 && len(b) == 0) || reflect.DeepEqual(a, b)
}

// validateNodeUpdate is ValidateNodeUpdate: pod CIDRs and providerID may
// only be set, not changed.
func validateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	if oc := nodePodCIDRs(&old.Spec); len(oc) > 0 && !reflect.DeepEqual(oc, nodePodCIDRs(&n.Spec)) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if old.Spec.ProviderID != "" && n.Spec.ProviderID != old.Spec.ProviderID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}

func selectorImmutable(sel, old any) field.ErrorList {
	return immutable(sel, old, field.NewPath("spec", "selector"))
}

func validateDeploymentUpdate(d, old *appsv1.Deployment) field.ErrorList {
	return selectorImmutable(d.Spec.Selector, old.Spec.Selector)
}

func validateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	return selectorImmutable(rs.Spec.Selector, old.Spec.Selector)
}

func validateDaemonSetUpdate(d, old *appsv1.DaemonSet) field.ErrorList {
	return selectorImmutable(d.Spec.Selector, old.Spec.Selector)
}

// validateStatefulSetUpdate is ValidateStatefulSetUpdate.
func validateStatefulSetUpdate(s, old *appsv1.StatefulSet) field.ErrorList {
	c := s.Spec.DeepCopy()
	c.Replicas = old.Spec.Replicas
	c.Template = old.Spec.Template
	c.UpdateStrategy = old.Spec.UpdateStrategy
	c.MinReadySeconds = old.Spec.MinReadySeconds
	c.Ordinals = old.Spec.Ordinals
	c.RevisionHistoryLimit = old.Spec.RevisionHistoryLimit
	c.PersistentVolumeClaimRetentionPolicy = old.Spec.PersistentVolumeClaimRetentionPolicy
	if !equality.Semantic.DeepEqual(*c, old.Spec) {
		return field.ErrorList{field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than "+
			"'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")}
	}
	return nil
}

// validateControllerRevisionUpdate: a revision's data never changes.
func validateControllerRevisionUpdate(r, old *appsv1.ControllerRevision) field.ErrorList {
	var a, b any
	ra, rb := r.Data.Raw, old.Data.Raw
	if bytes.Equal(ra, rb) {
		return nil
	}
	if json.Unmarshal(ra, &a) != nil || json.Unmarshal(rb, &b) != nil || !reflect.DeepEqual(a, b) {
		return immutable(string(ra), string(rb), field.NewPath("data"))
	}
	return nil
}

// validateJobUpdate is ValidateJobSpecUpdate: the selector, completion mode
// and pod template are fixed, except that a suspended Job that never
// started may change its scheduling directives (node selector and affinity,
// tolerations, labels, annotations, scheduling gates); completions may
// change only for Indexed Jobs, together with parallelism.
func validateJobUpdate(j, old *batchv1.Job) field.ErrorList {
	spec := field.NewPath("spec")
	errs := immutable(j.Spec.Selector, old.Spec.Selector, spec.Child("selector"))
	errs = append(errs, immutable(j.Spec.CompletionMode, old.Spec.CompletionMode, spec.Child("completionMode"))...)
	errs = append(errs, immutable(j.Spec.PodFailurePolicy, old.Spec.PodFailurePolicy, spec.Child("podFailurePolicy"))...)
	errs = append(errs, immutable(j.Spec.BackoffLimitPerIndex, old.Spec.BackoffLimitPerIndex, spec.Child("backoffLimitPerIndex"))...)
	errs = append(errs, immutable(j.Spec.ManagedBy, old.Spec.ManagedBy, spec.Child("managedBy"))...)
	indexed := j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
	if !indexed {
		errs = append(errs, immutable(j.Spec.Completions, old.Spec.Completions, spec.Child("completions"))...)
	} else if !equality.Semantic.DeepEqual(j.Spec.Completions, old.Spec.Completions) &&
		(j.Spec.Completions == nil || j.Spec.Parallelism == nil || *j.Spec.Completions != *j.Spec.Parallelism) {
		errs = append(errs, field.Invalid(spec.Child("completions"), j.Spec.Completions, "can only be modified in tandem with spec.parallelism"))
	}
	oldT := old.Spec.Template.DeepCopy()
	if old.Spec.Suspend != nil && *old.Spec.Suspend && old.Status.StartTime == nil {
		t := &j.Spec.Template
		oldT.Labels, oldT.Annotations = t.Labels, t.Annotations
		oldT.Spec.NodeSelector, oldT.Spec.Tolerations, oldT.Spec.SchedulingGates = t.Spec.NodeSelector, t.Spec.Tolerations, t.Spec.SchedulingGates
		switch {
		case t.Spec.Affinity == nil && oldT.Spec.Affinity != nil:
			oldT.Spec.Affinity.NodeAffinity = nil
			if *oldT.Spec.Affinity == (corev1.Affinity{}) {
				oldT.Spec.Affinity = nil
			}
		case t.Spec.Affinity != nil && oldT.Spec.Affinity == nil:
			oldT.Spec.Affinity = &corev1.Affinity{NodeAffinity: t.Spec.Affinity.NodeAffinity}
		case t.Spec.Affinity != nil:
			oldT.Spec.Affinity.NodeAffinity = t.Spec.Affinity.NodeAffinity
		}
	}
	if !equality.Semantic.DeepEqual(j.Spec.Template, *oldT) {
		changed := append(changedFields(j.Spec.Template.ObjectMeta, oldT.ObjectMeta), changedFields(j.Spec.Template.Spec, oldT.Spec)...)
		sort.Strings(changed)
		errs = append(errs, field.Invalid(spec.Child("template"), "(changed: "+strings.Join(changed, ", ")+")", "field is immutable"))
	}
	return errs
}

// validateEndpointSliceUpdate: the address type is fixed.
func validateEndpointSliceUpdate(s, old *discoveryv1.EndpointSlice) field.ErrorList {
	return immutable(s.AddressType, old.AddressType, field.NewPath("addressType"))
}
