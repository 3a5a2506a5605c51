package api

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file holds the rules of Kubernetes's pkg/apis/apps/validation and
// pkg/apis/batch/validation for the workload kinds.

// validateSelector checks a workload's selector: required, valid and,
// unless allowEmpty, not empty. It returns the parsed selector (labels.Nothing
// when missing, so that the template check reports the mismatch as
// Kubernetes does).
func validateSelector(sel *metav1.LabelSelector, kind string, p *field.Path) (labels.Selector, field.ErrorList) {
	var errs field.ErrorList
	if sel == nil {
		errs = append(errs, field.Required(p, ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, p)...)
		if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 && kind != "" {
			errs = append(errs, field.Invalid(p, sel, "empty selector is invalid for "+kind))
		}
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, append(errs, field.Invalid(p, sel, "invalid label selector"))
	}
	return s, errs
}

// validateReplicatedTemplate is ValidatePodTemplateSpecForReplicaSet: the
// template must carry labels the selector matches, be a valid pod
// template, restart Always, and have no activeDeadlineSeconds.
func validateReplicatedTemplate(t *corev1.PodTemplateSpec, sel labels.Selector, extraVolumes []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if sel != nil && !sel.Empty() && !sel.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(p.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, validatePodTemplate(t, extraVolumes, p)...)
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(p.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(p.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicaSet is not Supported"))
	}
	return errs
}

// validateDeployment is ValidateDeploymentSpec.
func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	spec := field.NewPath("spec")
	errs := nonNegativePtr(d.Spec.Replicas, spec.Child("replicas"))
	sel, serrs := validateSelector(d.Spec.Selector, "deployment", spec.Child("selector"))
	errs = append(errs, serrs...)
	errs = append(errs, validateReplicatedTemplate(&d.Spec.Template, sel, nil, spec.Child("template"))...)
	errs = append(errs, validateDeploymentStrategy(&d.Spec.Strategy, spec.Child("strategy"))...)
	errs = append(errs, nonNegative(int64(d.Spec.MinReadySeconds), spec.Child("minReadySeconds"))...)
	errs = append(errs, nonNegativePtr(d.Spec.RevisionHistoryLimit, spec.Child("revisionHistoryLimit"))...)
	if pd := d.Spec.ProgressDeadlineSeconds; pd != nil {
		errs = append(errs, nonNegative(int64(*pd), spec.Child("progressDeadlineSeconds"))...)
		if *pd <= d.Spec.MinReadySeconds {
			errs = append(errs, field.Invalid(spec.Child("progressDeadlineSeconds"), *pd, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, p *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(p.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		ru := s.RollingUpdate
		if ru == nil {
			return field.ErrorList{field.Required(p.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		rp := p.Child("rollingUpdate")
		errs := positiveIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))
		errs = append(errs, positiveIntOrPercent(ru.MaxSurge, rp.Child("maxSurge"))...)
		if intOrPercentValue(ru.MaxUnavailable) == 0 && intOrPercentValue(ru.MaxSurge) == 0 {
			errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
		}
		return errs
	default:
		return field.ErrorList{field.NotSupported(p, s.Type, []string{string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType)})}
	}
	return nil
}

// validateReplicaSet is ValidateReplicaSetSpec.
func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	spec := field.NewPath("spec")
	errs := nonNegativePtr(rs.Spec.Replicas, spec.Child("replicas"))
	errs = append(errs, nonNegative(int64(rs.Spec.MinReadySeconds), spec.Child("minReadySeconds"))...)
	sel, serrs := validateSelector(rs.Spec.Selector, "deployment", spec.Child("selector"))
	errs = append(errs, serrs...)
	return append(errs, validateReplicatedTemplate(&rs.Spec.Template, sel, nil, spec.Child("template"))...)
}

// validateStatefulSet is ValidateStatefulSetSpec. The template's volume
// mounts may refer to volumeClaimTemplates.
func validateStatefulSet(s *appsv1.StatefulSet) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	switch s.Spec.PodManagementPolicy {
	case "":
		errs = append(errs, field.Required(spec.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.Invalid(spec.Child("podManagementPolicy"), s.Spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}
	errs = append(errs, validateStatefulSetStrategy(&s.Spec.UpdateStrategy, spec.Child("updateStrategy"))...)
	if s.Spec.ServiceName != "" {
		errs = append(errs, dnsLabel(s.Spec.ServiceName, spec.Child("serviceName"))...)
	}
	errs = append(errs, nonNegativePtr(s.Spec.Replicas, spec.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(s.Spec.MinReadySeconds), spec.Child("minReadySeconds"))...)
	errs = append(errs, nonNegativePtr(s.Spec.RevisionHistoryLimit, spec.Child("revisionHistoryLimit"))...)
	if o := s.Spec.Ordinals; o != nil {
		errs = append(errs, nonNegative(int64(o.Start), spec.Child("ordinals", "start"))...)
	}
	if r := s.Spec.PersistentVolumeClaimRetentionPolicy; r != nil {
		rp := spec.Child("persistentVolumeClaimRetentionPolicy")
		valid := []appsv1.PersistentVolumeClaimRetentionPolicyType{appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
		errs = append(errs, oneOf(r.WhenDeleted, rp.Child("whenDeleted"), valid...)...)
		errs = append(errs, oneOf(r.WhenScaled, rp.Child("whenScaled"), valid...)...)
	}
	var claims []string
	for i, c := range s.Spec.VolumeClaimTemplates {
		cp := spec.Child("volumeClaimTemplates").Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(cp.Child("metadata", "name"), ""))
		} else {
			errs = append(errs, dnsSubdomain(c.Name, cp.Child("metadata", "name"))...)
		}
		claims = append(claims, c.Name)
	}
	sel, serrs := validateSelector(s.Spec.Selector, "statefulset", spec.Child("selector"))
	errs = append(errs, serrs...)
	tp := spec.Child("template")
	if sel != nil && !sel.Empty() && !sel.Matches(labels.Set(s.Spec.Template.Labels)) {
		errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), s.Spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, validatePodTemplate(&s.Spec.Template, claims, tp)...)
	if s.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), s.Spec.Template.Spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
	}
	if s.Spec.Template.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(tp.Child("spec", "activeDeadlineSeconds"), *s.Spec.Template.Spec.ActiveDeadlineSeconds, "must not be specified"))
	}
	return errs
}

func validateStatefulSetStrategy(s *appsv1.StatefulSetUpdateStrategy, p *field.Path) field.ErrorList {
	switch s.Type {
	case "":
		return field.ErrorList{field.Required(p, "")}
	case appsv1.OnDeleteStatefulSetStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Invalid(p.Child("rollingUpdate"), s.RollingUpdate,
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType))}
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := s.RollingUpdate; ru != nil {
			rp := p.Child("rollingUpdate")
			errs := nonNegativePtr(ru.Partition, rp.Child("partition"))
			if ru.MaxUnavailable != nil {
				errs = append(errs, positiveIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
				if intOrPercentValue(ru.MaxUnavailable) == 0 {
					errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable, "cannot be 0"))
				}
			}
			return errs
		}
	default:
		return field.ErrorList{field.Invalid(p, s, fmt.Sprintf("must be '%s' or '%s'",
			appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType))}
	}
	return nil
}

// validateDaemonSet is ValidateDaemonSetSpec.
func validateDaemonSet(d *appsv1.DaemonSet) field.ErrorList {
	spec := field.NewPath("spec")
	sel, errs := validateSelector(d.Spec.Selector, "daemonset", spec.Child("selector"))
	errs = append(errs, validateReplicatedTemplate(&d.Spec.Template, sel, nil, spec.Child("template"))...)
	errs = append(errs, nonNegative(int64(d.Spec.MinReadySeconds), spec.Child("minReadySeconds"))...)
	errs = append(errs, nonNegativePtr(d.Spec.RevisionHistoryLimit, spec.Child("revisionHistoryLimit"))...)
	up := spec.Child("updateStrategy")
	switch d.Spec.UpdateStrategy.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		ru := d.Spec.UpdateStrategy.RollingUpdate
		if ru == nil {
			errs = append(errs, field.Required(up.Child("rollingUpdate"), ""))
			break
		}
		rp := up.Child("rollingUpdate")
		errs = append(errs, positiveIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
		errs = append(errs, positiveIntOrPercent(ru.MaxSurge, rp.Child("maxSurge"))...)
		unavailable, surge := intOrPercentValue(ru.MaxUnavailable) != 0, intOrPercentValue(ru.MaxSurge) != 0
		switch {
		case unavailable && surge:
			errs = append(errs, field.Invalid(rp.Child("maxSurge"), ru.MaxSurge, "may not be set when maxUnavailable is non-zero"))
		case !unavailable && !surge:
			errs = append(errs, field.Required(rp.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
		}
	default:
		errs = append(errs, field.NotSupported(up.Child("type"), d.Spec.UpdateStrategy.Type,
			[]string{string(appsv1.OnDeleteDaemonSetStrategyType), string(appsv1.RollingUpdateDaemonSetStrategyType)}))
	}
	return errs
}

// validateControllerRevision is ValidateControllerRevision.
func validateControllerRevision(r *appsv1.ControllerRevision) field.ErrorList {
	var errs field.ErrorList
	if r.Data.Raw == nil && r.Data.Object == nil {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return append(errs, nonNegative(r.Revision, field.NewPath("revision"))...)
}

// validateJob is validateJobSpec: counts, completion mode, selector
// matching the template, and a template that restarts OnFailure or Never.
func validateJob(j *batchv1.Job) field.ErrorList {
	spec := field.NewPath("spec")
	errs := nonNegativePtr(j.Spec.Parallelism, spec.Child("parallelism"))
	errs = append(errs, nonNegativePtr(j.Spec.Completions, spec.Child("completions"))...)
	if a := j.Spec.ActiveDeadlineSeconds; a != nil {
		errs = append(errs, nonNegative(*a, spec.Child("activeDeadlineSeconds"))...)
	}
	errs = append(errs, nonNegativePtr(j.Spec.BackoffLimit, spec.Child("backoffLimit"))...)
	errs = append(errs, nonNegativePtr(j.Spec.TTLSecondsAfterFinished, spec.Child("ttlSecondsAfterFinished"))...)
	if m := j.Spec.CompletionMode; m != nil {
		errs = append(errs, oneOf(*m, spec.Child("completionMode"), batchv1.NonIndexedCompletion, batchv1.IndexedCompletion)...)
		if *m == batchv1.IndexedCompletion && j.Spec.Completions == nil {
			errs = append(errs, field.Required(spec.Child("completions"), "when completion mode is Indexed"))
		}
	}
	if j.Spec.BackoffLimitPerIndex != nil && (j.Spec.CompletionMode == nil || *j.Spec.CompletionMode != batchv1.IndexedCompletion) {
		errs = append(errs, field.Forbidden(spec.Child("backoffLimitPerIndex"), "requires indexed completion mode"))
	}
	sel, serrs := validateSelector(j.Spec.Selector, "", spec.Child("selector"))
	errs = append(errs, serrs...)
	tp := spec.Child("template")
	if j.Spec.Selector != nil && sel != nil && !sel.Matches(labels.Set(j.Spec.Template.Labels)) {
		errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), j.Spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, validatePodTemplate(&j.Spec.Template, nil, tp)...)
	if rp := j.Spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever {
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), rp,
			[]string{string(corev1.RestartPolicyOnFailure), string(corev1.RestartPolicyNever)}))
	}
	return errs
}
