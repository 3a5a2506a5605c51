package api

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func webTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{ContainerPort: 80}}}}},
	}
}

func webSelector() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
}

func deployWith(mod func(d *appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: webSelector(), Template: webTemplate()}}
	mod(d)
	return d
}

const tmpl = "spec.template"

func TestValidateDeployment(t *testing.T) {
	runValidation(t, "Deployment", []validationCase{
		{"valid", deployWith(func(*appsv1.Deployment) {}), nil},
		{"valid Recreate", deployWith(func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType }), nil},
		{"valid expressions", deployWith(func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"front"}}}}
		}), nil},
		{"no image", deployWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" }),
			[]string{tmpl + ".spec.containers[0].image: Required value"}},
		{"no selector", deployWith(func(d *appsv1.Deployment) { d.Spec.Selector = nil }),
			[]string{"spec.selector: Required value", tmpl + ".metadata.labels: Invalid value"}},
		{"empty selector", deployWith(func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }), []string{"spec.selector: Invalid value"}},
		{"selector does not match", deployWith(func(d *appsv1.Deployment) { d.Spec.Selector.MatchLabels["app"] = "api" }),
			[]string{tmpl + ".metadata.labels: Invalid value"}},
		{"bad selector operator", deployWith(func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Near"}}
		}), []string{"spec.selector.matchExpressions[0].operator: Invalid value", "spec.selector: Invalid value"}},
		{"negative replicas", deployWith(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(-1)) }), []string{"spec.replicas: Invalid value"}},
		{"restart Never", deployWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }),
			[]string{tmpl + ".spec.restartPolicy: Unsupported value"}},
		{"active deadline", deployWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr(int64(5)) }),
			[]string{tmpl + ".spec.activeDeadlineSeconds: Forbidden"}},
		{"bad template label", deployWith(func(d *appsv1.Deployment) { d.Spec.Template.Labels["tier"] = "front end" }),
			[]string{tmpl + ".labels: Invalid value"}},
		{"surge and unavailable zero", deployWith(func(d *appsv1.Deployment) {
			z := intstr.FromInt32(0)
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &z, MaxUnavailable: &z}
		}), []string{"spec.strategy.rollingUpdate.maxUnavailable: Invalid value"}},
		{"surge 0% and unavailable 0", deployWith(func(d *appsv1.Deployment) {
			z, zp := intstr.FromInt32(0), intstr.FromString("0%")
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &zp, MaxUnavailable: &z}
		}), []string{"spec.strategy.rollingUpdate.maxUnavailable: Invalid value"}},
		{"bad percentage", deployWith(func(d *appsv1.Deployment) {
			v := intstr.FromString("25")
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &v}
		}), []string{"spec.strategy.rollingUpdate.maxSurge: Invalid value"}},
		{"unavailable above 100%", deployWith(func(d *appsv1.Deployment) {
			v := intstr.FromString("150%")
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: &v}
		}), []string{"spec.strategy.rollingUpdate.maxUnavailable: Invalid value"}},
		{"negative surge", deployWith(func(d *appsv1.Deployment) {
			v := intstr.FromInt32(-1)
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &v}
		}), []string{"spec.strategy.rollingUpdate.maxSurge: Invalid value"}},
		{"Recreate with rollingUpdate", deployWith(func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{}}
		}), []string{"spec.strategy.rollingUpdate: Forbidden"}},
		{"bad strategy", deployWith(func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" }), []string{"spec.strategy: Unsupported value"}},
		{"progress deadline below min ready", deployWith(func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 900 }),
			[]string{"spec.progressDeadlineSeconds: Invalid value"}},
	})
}

func TestValidateReplicaSetAndDaemonSet(t *testing.T) {
	rs := func(mod func(r *appsv1.ReplicaSet)) runtime.Object {
		r := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Selector: webSelector(), Template: webTemplate()}}
		mod(r)
		return r
	}
	runValidation(t, "ReplicaSet", []validationCase{
		{"valid", rs(func(*appsv1.ReplicaSet) {}), nil},
		{"no containers", rs(func(r *appsv1.ReplicaSet) { r.Spec.Template.Spec.Containers = nil }), []string{tmpl + ".spec.containers: Required value"}},
		{"selector does not match", rs(func(r *appsv1.ReplicaSet) { r.Spec.Template.Labels = nil }), []string{tmpl + ".metadata.labels: Invalid value"}},
		{"negative replicas", rs(func(r *appsv1.ReplicaSet) { r.Spec.Replicas = ptr(int32(-2)) }), []string{"spec.replicas: Invalid value"}},
	})
	ds := func(mod func(d *appsv1.DaemonSet)) runtime.Object {
		d := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Selector: webSelector(), Template: webTemplate()}}
		mod(d)
		return d
	}
	runValidation(t, "DaemonSet", []validationCase{
		{"valid", ds(func(*appsv1.DaemonSet) {}), nil},
		{"valid OnDelete", ds(func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy.Type = appsv1.OnDeleteDaemonSetStrategyType }), nil},
		{"empty selector", ds(func(d *appsv1.DaemonSet) { d.Spec.Selector = &metav1.LabelSelector{} }), []string{"spec.selector: Invalid value"}},
		{"restart OnFailure", ds(func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }),
			[]string{tmpl + ".spec.restartPolicy: Unsupported value"}},
		{"surge and unavailable", ds(func(d *appsv1.DaemonSet) {
			v := intstr.FromInt32(1)
			d.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: &v}
		}), []string{"spec.updateStrategy.rollingUpdate.maxSurge: Invalid value"}},
		{"both zero", ds(func(d *appsv1.DaemonSet) {
			z := intstr.FromInt32(0)
			d.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &z}
		}), []string{"spec.updateStrategy.rollingUpdate.maxUnavailable: Required value"}},
		{"bad strategy", ds(func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy.Type = "Canary" }), []string{"spec.updateStrategy.type: Unsupported value"}},
	})
}

func TestValidateStatefulSet(t *testing.T) {
	sts := func(mod func(s *appsv1.StatefulSet)) runtime.Object {
		s := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{ServiceName: "web", Selector: webSelector(), Template: webTemplate(),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}}}
		s.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		mod(s)
		return s
	}
	runValidation(t, "StatefulSet", []validationCase{
		{"valid", sts(func(*appsv1.StatefulSet) {}), nil},
		{"valid without service", sts(func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "" }), nil},
		{"valid Parallel OnDelete", sts(func(s *appsv1.StatefulSet) {
			s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}), nil},
		{"bad service name", sts(func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "Web" }), []string{"spec.serviceName: Invalid value"}},
		{"bad pod management", sts(func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" }), []string{"spec.podManagementPolicy: Invalid value"}},
		{"bad update strategy", sts(func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.Type = "Blue" }), []string{"spec.updateStrategy: Invalid value"}},
		{"negative partition", sts(func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr(int32(-1))}
		}), []string{"spec.updateStrategy.rollingUpdate.partition: Invalid value"}},
		{"mount of unknown claim", sts(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].VolumeMounts[0].Name = "logs" }),
			[]string{tmpl + ".spec.containers[0].volumeMounts[0].name: Not found"}},
		{"selector does not match", sts(func(s *appsv1.StatefulSet) { s.Spec.Selector.MatchLabels["app"] = "db" }),
			[]string{tmpl + ".metadata.labels: Invalid value"}},
		{"no selector", sts(func(s *appsv1.StatefulSet) { s.Spec.Selector = nil }),
			[]string{"spec.selector: Required value", tmpl + ".metadata.labels: Invalid value"}},
		{"restart Never", sts(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }),
			[]string{tmpl + ".spec.restartPolicy: Unsupported value"}},
		{"negative ordinals start", sts(func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: -1} }),
			[]string{"spec.ordinals.start: Invalid value"}},
		{"bad retention", sts(func(s *appsv1.StatefulSet) {
			s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: "Keep", WhenScaled: "Retain"}
		}), []string{"spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value"}},
	})
	runValidation(t, "ControllerRevision", []validationCase{
		{"valid", &appsv1.ControllerRevision{Data: runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}, Revision: 2}, nil},
		{"no data", &appsv1.ControllerRevision{Revision: 1}, []string{"data: Required value"}},
		{"negative revision", &appsv1.ControllerRevision{Data: runtime.RawExtension{Raw: []byte(`{}`)}, Revision: -1}, []string{"revision: Invalid value"}},
	})
}

func jobWith(mod func(j *batchv1.Job)) *batchv1.Job {
	t := webTemplate()
	t.Labels = nil
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	j := &batchv1.Job{Spec: batchv1.JobSpec{Template: t}}
	mod(j)
	return j
}

func TestValidateJob(t *testing.T) {
	runValidation(t, "Job", []validationCase{
		{"valid", jobWith(func(*batchv1.Job) {}), nil},
		{"valid OnFailure", jobWith(func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }), nil},
		{"valid Indexed", jobWith(func(j *batchv1.Job) {
			m := batchv1.IndexedCompletion
			j.Spec.CompletionMode, j.Spec.Completions, j.Spec.Parallelism = &m, ptr(int32(5)), ptr(int32(2))
		}), nil},
		{"valid manual selector", jobWith(func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr(true)
			j.Spec.Selector = webSelector()
			j.Spec.Template.Labels = map[string]string{"app": "web"}
		}), nil},
		{"restart Always (the default)", jobWith(func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "" }),
			[]string{tmpl + ".spec.restartPolicy: Unsupported value"}},
		{"negative completions", jobWith(func(j *batchv1.Job) { j.Spec.Completions = ptr(int32(-1)) }), []string{"spec.completions: Invalid value"}},
		{"negative parallelism", jobWith(func(j *batchv1.Job) { j.Spec.Parallelism = ptr(int32(-1)) }), []string{"spec.parallelism: Invalid value"}},
		{"negative backoff", jobWith(func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr(int32(-1)) }), []string{"spec.backoffLimit: Invalid value"}},
		{"Indexed without completions", jobWith(func(j *batchv1.Job) {
			m := batchv1.IndexedCompletion
			j.Spec.CompletionMode, j.Spec.Parallelism = &m, ptr(int32(2))
		}), []string{"spec.completions: Required value"}},
		{"bad completion mode", jobWith(func(j *batchv1.Job) {
			m := batchv1.CompletionMode("Ordered")
			j.Spec.CompletionMode = &m
		}), []string{"spec.completionMode: Unsupported value"}},
		{"manual selector missing", jobWith(func(j *batchv1.Job) { j.Spec.ManualSelector = ptr(true) }), []string{"spec.selector: Required value"}},
		{"manual selector does not match", jobWith(func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr(true)
			j.Spec.Selector = webSelector()
		}), []string{tmpl + ".metadata.labels: Invalid value"}},
		{"no image", jobWith(func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "" }),
			[]string{tmpl + ".spec.containers[0].image: Required value"}},
	})
}
