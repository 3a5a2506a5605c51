package api

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestValidatePodUpdate(t *testing.T) {
	base := func() *corev1.Pod { return podWith(func(*corev1.PodSpec) {}) }
	runUpdateValidation(t, "Pod", []updateCase{
		change("labels only", base(), func(p *corev1.Pod) { p.Labels["v"] = "2" }),
		change("new image", base(), func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = "nginx:1.28"
			p.Spec.InitContainers[0].Image = "busybox:2"
		}),
		change("shorter deadline", base(), func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(60)) }),
		change("added toleration", base(), func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists})
		}),
		change("toleration seconds", base(), func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr(int64(10)) }),
		change("longer deadline", base(), func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(6000)) },
			"spec.activeDeadlineSeconds: Invalid value"),
		change("deadline removed", base(), func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil },
			"spec.activeDeadlineSeconds: Invalid value"),
		change("toleration removed", base(), func(p *corev1.Pod) { p.Spec.Tolerations = p.Spec.Tolerations[1:] },
			"spec.tolerations: Forbidden"),
		change("port changed", base(), func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 8080 }, "spec: Forbidden"),
		change("node changed", base(), func(p *corev1.Pod) { p.Spec.NodeName = "other" }, "spec: Forbidden"),
		change("resources changed", base(), func(p *corev1.Pod) { p.Spec.Containers[0].Resources.Limits = nil }, "spec: Forbidden"),
		change("container added", base(), func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "x", Image: "x"})
		}, "spec.containers: Forbidden"),
		change("negative grace raised to 1", podWith(func(s *corev1.PodSpec) { s.TerminationGracePeriodSeconds = ptr(int64(-5)) }),
			func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(1)) }),
		change("grace changed", base(), func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(5)) }, "spec: Forbidden"),
	})
}

func TestValidateServiceUpdate(t *testing.T) {
	withIP := func(typ corev1.ServiceType) *corev1.Service {
		return svcWith(func(s *corev1.Service) {
			s.Spec.Type = typ
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.20", []string{"10.96.0.20"}
			if needsNodePorts(typ) {
				s.Spec.Ports[0].NodePort, s.Spec.Ports[1].NodePort = 30080, 30053
			}
		})
	}
	runUpdateValidation(t, "Service", []updateCase{
		change("selector", withIP(corev1.ServiceTypeClusterIP), func(s *corev1.Service) { s.Spec.Selector["app"] = "api" }),
		change("IP left out (kept by the allocator)", withIP(corev1.ServiceTypeClusterIP), func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil
		}),
		change("IP changed", withIP(corev1.ServiceTypeClusterIP), func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.21", []string{"10.96.0.21"}
		}, "spec.clusterIPs[0]: Invalid value"),
		change("IP changed, clusterIPs left as they were", withIP(corev1.ServiceTypeClusterIP), func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.21"
		}, "spec.clusterIPs[0]: Invalid value"),
		change("to headless", withIP(corev1.ServiceTypeClusterIP), func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "None", []string{"None"}
		}, "spec.clusterIPs[0]: Invalid value"),
		change("ClusterIP to NodePort", withIP(corev1.ServiceTypeClusterIP), func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }),
		change("NodePort to ClusterIP keeping node ports", withIP(corev1.ServiceTypeNodePort), func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeClusterIP
		}),
		change("NodePort to ClusterIP with a new node port", withIP(corev1.ServiceTypeNodePort), func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeClusterIP
			s.Spec.Ports[0].NodePort = 30099
		}, "spec.ports[0].nodePort: Forbidden", "spec.ports[1].nodePort: Forbidden"),
		change("ClusterIP to ExternalName", withIP(corev1.ServiceTypeClusterIP), func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "db.example.com"
		}),
		change("ExternalName to ClusterIP", &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "a.b"}},
			func(s *corev1.Service) {
				s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeClusterIP, ""
				s.Spec.Ports = []corev1.ServicePort{{Port: 80}}
			}),
	})
}

func TestValidateDataUpdates(t *testing.T) {
	frozenCM := &corev1.ConfigMap{Data: map[string]string{"a": "1"}, Immutable: ptr(true)}
	runUpdateValidation(t, "ConfigMap", []updateCase{
		change("mutable data", &corev1.ConfigMap{Data: map[string]string{"a": "1"}}, func(c *corev1.ConfigMap) { c.Data["a"] = "2" }),
		change("immutable labels", frozenCM, func(c *corev1.ConfigMap) { c.Labels = map[string]string{"x": "y"} }),
		change("immutable data", frozenCM, func(c *corev1.ConfigMap) { c.Data["a"] = "2" }, "data: Forbidden"),
		change("immutable binaryData", frozenCM, func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"b": {1}} }, "binaryData: Forbidden"),
		change("unfreeze", frozenCM, func(c *corev1.ConfigMap) { c.Immutable = ptr(false) }, "immutable: Forbidden"),
	})
	frozen := &corev1.Secret{Data: map[string][]byte{"a": {1}}, Immutable: ptr(true)}
	runUpdateValidation(t, "Secret", []updateCase{
		change("mutable data", &corev1.Secret{Data: map[string][]byte{"a": {1}}}, func(s *corev1.Secret) { s.Data["a"] = []byte{2} }),
		change("immutable data", frozen, func(s *corev1.Secret) { s.StringData = map[string]string{"a": "2"} }, "data: Forbidden"),
		change("unfreeze", frozen, func(s *corev1.Secret) { s.Immutable = nil }, "immutable: Forbidden"),
		change("type", &corev1.Secret{}, func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeBasicAuth
			s.Data = map[string][]byte{"username": nil}
		},
			"type: Invalid value"),
	})
	cr := &appsv1.ControllerRevision{Data: runtime.RawExtension{Raw: []byte(`{"spec":{"a":1}}`)}, Revision: 1}
	runUpdateValidation(t, "ControllerRevision", []updateCase{
		change("same data, other spacing", cr, func(r *appsv1.ControllerRevision) { r.Data.Raw = []byte(`{ "spec": { "a": 1 } }`) }),
		change("new data", cr, func(r *appsv1.ControllerRevision) { r.Data.Raw = []byte(`{"spec":{"a":2}}`) }, "data: Invalid value"),
	})
	runUpdateValidation(t, "EndpointSlice", []updateCase{
		change("ports", sliceWith(func(*discoveryv1.EndpointSlice) {}).(*discoveryv1.EndpointSlice),
			func(s *discoveryv1.EndpointSlice) { s.Ports = s.Ports[:1] }),
		change("address type", sliceWith(func(*discoveryv1.EndpointSlice) {}).(*discoveryv1.EndpointSlice),
			func(s *discoveryv1.EndpointSlice) {
				s.AddressType = discoveryv1.AddressTypeFQDN
				s.Endpoints[0].Addresses = []string{"a.example.com"}
			}, "addressType: Invalid value"),
	})
}

func TestValidateNodeUpdate(t *testing.T) {
	bare := func() *corev1.Node { return &corev1.Node{} }
	assigned := func() *corev1.Node {
		return &corev1.Node{Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}}}
	}
	runUpdateValidation(t, "Node", []updateCase{
		change("assign CIDR", bare(), func(n *corev1.Node) { n.Spec.PodCIDR = "10.244.1.0/24" }),
		change("assign CIDRs", bare(), func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/24"} }),
		change("cordon", assigned(), func(n *corev1.Node) { n.Spec.Unschedulable = true }),
		change("podCIDR only, same", assigned(), func(n *corev1.Node) { n.Spec.PodCIDRs = nil }),
		change("change CIDR", assigned(), func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.2.0/24", nil }, "spec.podCIDRs: Forbidden"),
		change("clear CIDR", assigned(), func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "", nil }, "spec.podCIDRs: Forbidden"),
		change("change provider", &corev1.Node{Spec: corev1.NodeSpec{ProviderID: "mini://a"}}, func(n *corev1.Node) { n.Spec.ProviderID = "mini://b" },
			"spec.providerID: Forbidden"),
	})
}

func TestValidateWorkloadUpdates(t *testing.T) {
	narrower := func(sel **metav1.LabelSelector) {
		*sel = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "front"}}
	}
	runUpdateValidation(t, "Deployment", []updateCase{
		change("scale and new image", deployWith(func(*appsv1.Deployment) {}), func(d *appsv1.Deployment) {
			d.Spec.Replicas = ptr(int32(5))
			d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
		}),
		change("selector", deployWith(func(*appsv1.Deployment) {}), func(d *appsv1.Deployment) { narrower(&d.Spec.Selector) }, "spec.selector: Invalid value"),
	})
	runUpdateValidation(t, "ReplicaSet", []updateCase{
		change("selector", &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Selector: webSelector(), Template: webTemplate()}},
			func(r *appsv1.ReplicaSet) { narrower(&r.Spec.Selector) }, "spec.selector: Invalid value"),
	})
	runUpdateValidation(t, "DaemonSet", []updateCase{
		change("selector", &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Selector: webSelector(), Template: webTemplate()}},
			func(d *appsv1.DaemonSet) { narrower(&d.Spec.Selector) }, "spec.selector: Invalid value"),
	})
	sts := func() *appsv1.StatefulSet {
		return &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{ServiceName: "web", Selector: webSelector(), Template: webTemplate()}}
	}
	runUpdateValidation(t, "StatefulSet", []updateCase{
		change("allowed fields", sts(), func(s *appsv1.StatefulSet) {
			s.Spec.Replicas = ptr(int32(4))
			s.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
			s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr(int32(2))
			s.Spec.MinReadySeconds = 5
			s.Spec.RevisionHistoryLimit = ptr(int32(3))
			s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 1}
			s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
		}),
		change("service name", sts(), func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "web2" }, "spec: Forbidden"),
		change("pod management", sts(), func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }, "spec: Forbidden"),
		change("claim templates", sts(), func(s *appsv1.StatefulSet) {
			s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
		}, "spec: Forbidden"),
	})
}

func TestValidateJobUpdate(t *testing.T) {
	suspended := func() *batchv1.Job { return jobWith(func(j *batchv1.Job) { j.Spec.Suspend = ptr(true) }) }
	started := func() *batchv1.Job {
		j := suspended()
		now := metav1.Now()
		j.Status.StartTime = &now
		return j
	}
	indexed := func() *batchv1.Job {
		return jobWith(func(j *batchv1.Job) {
			m := batchv1.IndexedCompletion
			j.Spec.CompletionMode, j.Spec.Completions, j.Spec.Parallelism = &m, ptr(int32(3)), ptr(int32(3))
		})
	}
	runUpdateValidation(t, "Job", []updateCase{
		change("parallelism and suspend", jobWith(func(*batchv1.Job) {}), func(j *batchv1.Job) {
			j.Spec.Parallelism, j.Spec.Suspend = ptr(int32(3)), ptr(true)
		}),
		change("image", jobWith(func(*batchv1.Job) {}), func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "x:2" },
			"spec.template: Invalid value"),
		change("selector", jobWith(func(*batchv1.Job) {}), func(j *batchv1.Job) { j.Spec.Selector.MatchLabels["x"] = "y" },
			"spec.selector: Invalid value", "spec.template.metadata.labels: Invalid value"),
		change("completions", jobWith(func(*batchv1.Job) {}), func(j *batchv1.Job) { j.Spec.Completions = ptr(int32(4)) },
			"spec.completions: Invalid value"),
		change("indexed elastic", indexed(), func(j *batchv1.Job) { j.Spec.Completions, j.Spec.Parallelism = ptr(int32(5)), ptr(int32(5)) }),
		change("indexed completions alone", indexed(), func(j *batchv1.Job) { j.Spec.Completions = ptr(int32(5)) }, "spec.completions: Invalid value"),
		change("scheduling of suspended job", suspended(), func(j *batchv1.Job) {
			j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
			j.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
			j.Spec.Template.Annotations = map[string]string{"a": "b"}
		}),
		change("scheduling of started job", started(), func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"} },
			"spec.template: Invalid value"),
		change("ports of suspended job", suspended(), func(j *batchv1.Job) {
			j.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 81}}
		}, "spec.template: Invalid value"),
	})
}
