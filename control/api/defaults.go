package api

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// defaulters apply Kubernetes's defaults (SetDefaults_* and the admission
// plugins a stock cluster runs) so that objects read back look as they do on
// a real cluster.
var defaulters = map[string]func(runtime.Object){
	"Pod": func(o runtime.Object) {
		p := o.(*corev1.Pod)
		defaultPodSpec(&p.Spec)
		if p.Spec.ServiceAccountName == "" {
			p.Spec.ServiceAccountName = "default"
		}
		p.Spec.DeprecatedServiceAccount = p.Spec.ServiceAccountName
		if p.Spec.Priority == nil {
			p.Spec.Priority = ptr(int32(0))
		}
		if p.Spec.PreemptionPolicy == nil {
			pp := corev1.PreemptLowerPriority
			p.Spec.PreemptionPolicy = &pp
		}
		if p.Status.QOSClass == "" && p.Status.Phase != "" {
			p.Status.QOSClass = qosClass(&p.Spec)
		}
	},
	"Deployment": func(o runtime.Object) {
		d := o.(*appsv1.Deployment)
		if d.Spec.Replicas == nil {
			d.Spec.Replicas = ptr(int32(1))
		}
		if d.Spec.Strategy.Type == "" {
			d.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
		}
		if d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
			if d.Spec.Strategy.RollingUpdate == nil {
				d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
			}
			ru := d.Spec.Strategy.RollingUpdate
			if ru.MaxUnavailable == nil {
				v := intstr.FromString("25%")
				ru.MaxUnavailable = &v
			}
			if ru.MaxSurge == nil {
				v := intstr.FromString("25%")
				ru.MaxSurge = &v
			}
		}
		if d.Spec.RevisionHistoryLimit == nil {
			d.Spec.RevisionHistoryLimit = ptr(int32(10))
		}
		if d.Spec.ProgressDeadlineSeconds == nil {
			d.Spec.ProgressDeadlineSeconds = ptr(int32(600))
		}
		defaultTemplate(&d.Spec.Template)
	},
	"ReplicaSet": func(o runtime.Object) {
		rs := o.(*appsv1.ReplicaSet)
		if rs.Spec.Replicas == nil {
			rs.Spec.Replicas = ptr(int32(1))
		}
		defaultTemplate(&rs.Spec.Template)
	},
	"StatefulSet": func(o runtime.Object) {
		s := o.(*appsv1.StatefulSet)
		if s.Spec.Replicas == nil {
			s.Spec.Replicas = ptr(int32(1))
		}
		if s.Spec.PodManagementPolicy == "" {
			s.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
		}
		if s.Spec.UpdateStrategy.Type == "" {
			s.Spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		}
		if s.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
			if s.Spec.UpdateStrategy.RollingUpdate == nil {
				s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
			}
			if s.Spec.UpdateStrategy.RollingUpdate.Partition == nil {
				s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr(int32(0))
			}
		}
		if s.Spec.RevisionHistoryLimit == nil {
			s.Spec.RevisionHistoryLimit = ptr(int32(10))
		}
		if s.Spec.PersistentVolumeClaimRetentionPolicy == nil {
			s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			}
		}
		defaultTemplate(&s.Spec.Template)
	},
	"DaemonSet": func(o runtime.Object) {
		d := o.(*appsv1.DaemonSet)
		if d.Spec.UpdateStrategy.Type == "" {
			d.Spec.UpdateStrategy.Type = appsv1.RollingUpdateDaemonSetStrategyType
		}
		if d.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
			if d.Spec.UpdateStrategy.RollingUpdate == nil {
				d.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
			}
			ru := d.Spec.UpdateStrategy.RollingUpdate
			if ru.MaxUnavailable == nil {
				v := intstr.FromInt32(1)
				ru.MaxUnavailable = &v
			}
			if ru.MaxSurge == nil {
				v := intstr.FromInt32(0)
				ru.MaxSurge = &v
			}
		}
		if d.Spec.RevisionHistoryLimit == nil {
			d.Spec.RevisionHistoryLimit = ptr(int32(10))
		}
		defaultTemplate(&d.Spec.Template)
	},
	"Job": func(o runtime.Object) {
		j := o.(*batchv1.Job)
		if j.Spec.Completions == nil && j.Spec.Parallelism == nil {
			j.Spec.Completions = ptr(int32(1))
		}
		if j.Spec.Parallelism == nil {
			j.Spec.Parallelism = ptr(int32(1))
		}
		if j.Spec.BackoffLimit == nil {
			j.Spec.BackoffLimit = ptr(int32(6))
		}
		if j.Spec.CompletionMode == nil {
			m := batchv1.NonIndexedCompletion
			j.Spec.CompletionMode = &m
		}
		if j.Spec.Suspend == nil {
			j.Spec.Suspend = ptr(false)
		}
		if j.Spec.PodReplacementPolicy == nil {
			p := batchv1.TerminatingOrFailed
			j.Spec.PodReplacementPolicy = &p
		}
		if j.Spec.ManualSelector == nil {
			j.Spec.ManualSelector = ptr(false)
		}
		defaultTemplate(&j.Spec.Template)
	},
	"Service": func(o runtime.Object) {
		s := o.(*corev1.Service)
		if s.Spec.Type == "" {
			s.Spec.Type = corev1.ServiceTypeClusterIP
		}
		if s.Spec.SessionAffinity == "" {
			s.Spec.SessionAffinity = corev1.ServiceAffinityNone
		}
		if s.Spec.SessionAffinity == corev1.ServiceAffinityClientIP && s.Spec.SessionAffinityConfig == nil {
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(10800))}}
		}
		for i := range s.Spec.Ports {
			p := &s.Spec.Ports[i]
			if p.Protocol == "" {
				p.Protocol = corev1.ProtocolTCP
			}
			if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0 {
				p.TargetPort = intstr.FromInt32(p.Port)
			}
		}
		if s.Spec.Type != corev1.ServiceTypeExternalName {
			if s.Spec.InternalTrafficPolicy == nil {
				p := corev1.ServiceInternalTrafficPolicyCluster
				s.Spec.InternalTrafficPolicy = &p
			}
			if len(s.Spec.IPFamilies) == 0 {
				s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
			}
			if s.Spec.IPFamilyPolicy == nil {
				p := corev1.IPFamilyPolicySingleStack
				s.Spec.IPFamilyPolicy = &p
			}
		}
		if needsNodePorts(s.Spec.Type) && s.Spec.ExternalTrafficPolicy == "" {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}
	},
	"Namespace": func(o runtime.Object) {
		n := o.(*corev1.Namespace)
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[corev1.LabelMetadataName] = n.Name
	},
	"Secret": func(o runtime.Object) {
		s := o.(*corev1.Secret)
		if s.Type == "" {
			s.Type = corev1.SecretTypeOpaque
		}
		if len(s.StringData) > 0 {
			if s.Data == nil {
				s.Data = map[string][]byte{}
			}
			for k, v := range s.StringData {
				s.Data[k] = []byte(v)
			}
			s.StringData = nil
		}
	},
	"Endpoints": func(o runtime.Object) {
		e := o.(*corev1.Endpoints)
		for i := range e.Subsets {
			for j := range e.Subsets[i].Ports {
				if e.Subsets[i].Ports[j].Protocol == "" {
					e.Subsets[i].Ports[j].Protocol = corev1.ProtocolTCP
				}
			}
		}
	},
	"EndpointSlice": func(o runtime.Object) {
		e := o.(*discoveryv1.EndpointSlice)
		for i := range e.Ports {
			if e.Ports[i].Protocol == nil {
				p := corev1.ProtocolTCP
				e.Ports[i].Protocol = &p
			}
		}
	},
}

// createPreparers reset or derive what the server owns on create.
var createPreparers = map[string]func(runtime.Object){
	"Pod": func(o runtime.Object) {
		p := o.(*corev1.Pod)
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(&p.Spec)}
		if p.Spec.NodeName != "" {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue,
				LastTransitionTime: p.CreationTimestamp}}
		}
	},
	"Namespace": func(o runtime.Object) {
		n := o.(*corev1.Namespace)
		n.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
		if !hasString(n.Spec.Finalizers, string(corev1.FinalizerKubernetes)) {
			n.Spec.Finalizers = append(n.Spec.Finalizers, corev1.FinalizerKubernetes)
		}
	},
	"Job": func(o runtime.Object) {
		j := o.(*batchv1.Job)
		if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
			return
		}
		// As the Kubernetes API server: select the Job's pods by its UID.
		uid := string(j.UID)
		if j.Spec.Template.Labels == nil {
			j.Spec.Template.Labels = map[string]string{}
		}
		for k, v := range map[string]string{
			batchv1.ControllerUidLabel: uid, batchv1.JobNameLabel: j.Name,
			"controller-uid": uid, "job-name": j.Name,
		} {
			j.Spec.Template.Labels[k] = v
		}
		if j.Spec.Selector == nil {
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: uid}}
		}
	},
}

func hasString(list []corev1.FinalizerName, s string) bool {
	for _, x := range list {
		if string(x) == s {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

func defaultTemplate(t *corev1.PodTemplateSpec) { defaultPodSpec(&t.Spec) }

// defaultPodSpec applies the pod spec defaults of SetDefaults_PodSpec and
// SetDefaults_Container.
func defaultPodSpec(s *corev1.PodSpec) {
	if s.DNSPolicy == "" {
		s.DNSPolicy = corev1.DNSClusterFirst
	}
	if s.RestartPolicy == "" {
		s.RestartPolicy = corev1.RestartPolicyAlways
	}
	if s.TerminationGracePeriodSeconds == nil {
		s.TerminationGracePeriodSeconds = ptr(int64(corev1.DefaultTerminationGracePeriodSeconds))
	}
	if s.SchedulerName == "" {
		s.SchedulerName = corev1.DefaultSchedulerName
	}
	if s.SecurityContext == nil {
		s.SecurityContext = &corev1.PodSecurityContext{}
	}
	if s.EnableServiceLinks == nil {
		s.EnableServiceLinks = ptr(true)
	}
	for i := range s.InitContainers {
		defaultContainer(&s.InitContainers[i])
	}
	for i := range s.Containers {
		defaultContainer(&s.Containers[i])
	}
	for i := range s.Volumes {
		v := &s.Volumes[i].VolumeSource
		switch {
		case v.ConfigMap != nil && v.ConfigMap.DefaultMode == nil:
			v.ConfigMap.DefaultMode = ptr(corev1.ConfigMapVolumeSourceDefaultMode)
		case v.Secret != nil && v.Secret.DefaultMode == nil:
			v.Secret.DefaultMode = ptr(corev1.SecretVolumeSourceDefaultMode)
		case v.DownwardAPI != nil && v.DownwardAPI.DefaultMode == nil:
			v.DownwardAPI.DefaultMode = ptr(corev1.DownwardAPIVolumeSourceDefaultMode)
		case v.Projected != nil && v.Projected.DefaultMode == nil:
			v.Projected.DefaultMode = ptr(corev1.ProjectedVolumeSourceDefaultMode)
		case v.HostPath != nil && v.HostPath.Type == nil:
			v.HostPath.Type = ptr(corev1.HostPathUnset)
		}
		if v.DownwardAPI != nil {
			for j := range v.DownwardAPI.Items {
				if f := v.DownwardAPI.Items[j].FieldRef; f != nil && f.APIVersion == "" {
					f.APIVersion = "v1"
				}
			}
		}
	}
}

func defaultContainer(c *corev1.Container) {
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = pullPolicyFor(c.Image)
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil && vf.FieldRef != nil && vf.FieldRef.APIVersion == "" {
			vf.FieldRef.APIVersion = "v1"
		}
	}
	// Requests default to limits, as SetDefaults_ResourceRequirements does.
	for name, q := range c.Resources.Limits {
		if c.Resources.Requests == nil {
			c.Resources.Requests = corev1.ResourceList{}
		}
		if _, ok := c.Resources.Requests[name]; !ok {
			c.Resources.Requests[name] = q.DeepCopy()
		}
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p == nil {
			continue
		}
		if p.TimeoutSeconds == 0 {
			p.TimeoutSeconds = 1
		}
		if p.PeriodSeconds == 0 {
			p.PeriodSeconds = 10
		}
		if p.SuccessThreshold == 0 {
			p.SuccessThreshold = 1
		}
		if p.FailureThreshold == 0 {
			p.FailureThreshold = 3
		}
		if p.HTTPGet != nil && p.HTTPGet.Scheme == "" {
			p.HTTPGet.Scheme = corev1.URISchemeHTTP
		}
		if p.HTTPGet != nil && p.HTTPGet.Path == "" {
			p.HTTPGet.Path = "/"
		}
	}
}

// pullPolicyFor returns Always for ":latest" or untagged images and
// IfNotPresent otherwise.
func pullPolicyFor(image string) corev1.PullPolicy {
	if strings.Contains(image, "@") {
		return corev1.PullIfNotPresent
	}
	name := image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	i := strings.LastIndex(name, ":")
	if i < 0 || name[i+1:] == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// qosClass computes a pod's quality of service class.
func qosClass(s *corev1.PodSpec) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	zero := resource.Quantity{}
	guaranteed := true
	all := append(append([]corev1.Container{}, s.InitContainers...), s.Containers...)
	for _, c := range all {
		for n, q := range c.Resources.Requests {
			if (n == corev1.ResourceCPU || n == corev1.ResourceMemory) && q.Cmp(zero) > 0 {
				requests[n] = q
			}
		}
		have := 0
		for n, q := range c.Resources.Limits {
			if (n == corev1.ResourceCPU || n == corev1.ResourceMemory) && q.Cmp(zero) > 0 {
				limits[n] = q
				have++
			}
		}
		if have != 2 {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for _, c := range all {
			for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				r, l := c.Resources.Requests[n], c.Resources.Limits[n]
				if r.Cmp(l) != 0 {
					guaranteed = false
				}
			}
		}
	}
	if guaranteed {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
