package api

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// goodPodSpec uses most of what mini's nodes support, valid.
func goodPodSpec() corev1.PodSpec {
	always := corev1.ContainerRestartPolicyAlways
	return corev1.PodSpec{
		Volumes: []corev1.Volume{
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "app"}, Items: []corev1.KeyToPath{{Key: "a", Path: "conf/a"}}}}},
			{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "app"}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}},
			{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
				Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
		},
		InitContainers: []corev1.Container{
			{Name: "init", Image: "busybox:1.36", Command: []string{"true"}},
			{Name: "sidecar", Image: "envoy:1", RestartPolicy: &always,
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9901)}}}},
		},
		Containers: []corev1.Container{{
			Name:  "web",
			Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP, HostPort: 5353}},
			Env: []corev1.EnvVar{
				{Name: "PLAIN", Value: "v"},
				{Name: "my.relaxed-name:ok", Value: "v"},
				{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
				{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
				{Name: "CM", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "app"}, Key: "a"}}},
				{Name: "SEC", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "app"}, Key: "k"}}},
			},
			EnvFrom: []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app"}}}},
			VolumeMounts: []corev1.VolumeMount{{Name: "cfg", MountPath: "/etc/app"}, {Name: "tmp", MountPath: "/tmp", SubPath: "x"},
				{Name: "sec", MountPath: "/secret", ReadOnly: true}, {Name: "host", MountPath: "/host"}, {Name: "info", MountPath: "/info"}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			},
			LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}},
			StartupProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}}},
			Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 2}}},
		}},
		NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
		Tolerations: []corev1.Toleration{
			{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))},
			{Key: "dedicated", Value: "web", Effect: corev1.TaintEffectNoSchedule},
			{Operator: corev1.TolerationOpExists},
		},
		Affinity: &corev1.Affinity{
			NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}}}},
			PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 50,
				PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}},
		},
		TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.ScheduleAnyway}},
		Hostname:                  "web-0",
		Subdomain:                 "web",
		ActiveDeadlineSeconds:     ptr(int64(600)),
	}
}

func podWith(mod func(s *corev1.PodSpec)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"app": "web"}}, Spec: goodPodSpec()}
	mod(&p.Spec)
	return p
}

func c0(s *corev1.PodSpec) *corev1.Container { return &s.Containers[0] }

func TestValidatePodSpec(t *testing.T) {
	const ctr = "spec.containers[0]"
	runValidation(t, "Pod", []validationCase{
		{"valid with defaults", podWith(func(*corev1.PodSpec) {}), nil},
		{"minimal", &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}, nil},
		{"no containers", podWith(func(s *corev1.PodSpec) { s.Containers = nil }), []string{"spec.containers: Required value"}},
		{"no image", podWith(func(s *corev1.PodSpec) { c0(s).Image = "" }), []string{ctr + ".image: Required value"}},
		{"image with blanks", podWith(func(s *corev1.PodSpec) { c0(s).Image = " nginx" }), []string{ctr + ".image: Invalid value"}},
		{"no name", podWith(func(s *corev1.PodSpec) { c0(s).Name = "" }), []string{ctr + ".name: Required value"}},
		{"bad name", podWith(func(s *corev1.PodSpec) { c0(s).Name = "Web_1" }), []string{ctr + ".name: Invalid value"}},
		{"duplicate container", podWith(func(s *corev1.PodSpec) {
			s.Containers = append(s.Containers, corev1.Container{Name: "web", Image: "x"})
		}),
			[]string{"spec.containers[1].name: Duplicate value"}},
		{"init name clashes", podWith(func(s *corev1.PodSpec) { s.InitContainers[0].Name = "web" }), []string{"spec.initContainers[0].name: Duplicate value"}},
		{"port zero", podWith(func(s *corev1.PodSpec) { c0(s).Ports[0].ContainerPort = 0 }), []string{ctr + ".ports[0].containerPort: Required value"}},
		{"port too big", podWith(func(s *corev1.PodSpec) { c0(s).Ports[0].ContainerPort = 70000 }), []string{ctr + ".ports[0].containerPort: Invalid value"}},
		{"host port too big", podWith(func(s *corev1.PodSpec) { c0(s).Ports[1].HostPort = 65536 }), []string{ctr + ".ports[1].hostPort: Invalid value"}},
		{"bad protocol", podWith(func(s *corev1.PodSpec) { c0(s).Ports[0].Protocol = "HTTP" }), []string{ctr + ".ports[0].protocol: Unsupported value"}},
		{"duplicate port name", podWith(func(s *corev1.PodSpec) { c0(s).Ports[1].Name = "http" }), []string{ctr + ".ports[1].name: Duplicate value"}},
		{"bad port name", podWith(func(s *corev1.PodSpec) { c0(s).Ports[0].Name = "a-very-long-port-name" }), []string{ctr + ".ports[0].name: Invalid value"}},
		{"duplicate host port", podWith(func(s *corev1.PodSpec) {
			s.Containers = append(s.Containers, corev1.Container{Name: "dns2", Image: "x",
				Ports: []corev1.ContainerPort{{ContainerPort: 53, HostPort: 5353, Protocol: corev1.ProtocolUDP}}})
		}), []string{"spec.containers[1].ports[0].hostPort: Duplicate value"}},
		{"host network port mismatch", podWith(func(s *corev1.PodSpec) { s.HostNetwork = true }), []string{ctr + ".ports[1].hostPort: Invalid value"}},
		{"empty env name", podWith(func(s *corev1.PodSpec) { c0(s).Env[0].Name = "" }), []string{ctr + ".env[0].name: Required value"}},
		{"env name with =", podWith(func(s *corev1.PodSpec) { c0(s).Env[0].Name = "A=B" }), []string{ctr + ".env[0].name: Invalid value"}},
		{"valueFrom empty", podWith(func(s *corev1.PodSpec) { c0(s).Env[2].ValueFrom = &corev1.EnvVarSource{} }),
			[]string{ctr + ".env[2].valueFrom: Invalid value"}},
		{"valueFrom two sources", podWith(func(s *corev1.PodSpec) {
			c0(s).Env[5].ValueFrom.SecretKeyRef = c0(s).Env[6].ValueFrom.SecretKeyRef
		}), []string{ctr + ".env[5].valueFrom: Invalid value"}},
		{"value and valueFrom", podWith(func(s *corev1.PodSpec) { c0(s).Env[2].Value = "x" }), []string{ctr + ".env[2].valueFrom: Invalid value"}},
		{"bad fieldRef", podWith(func(s *corev1.PodSpec) { c0(s).Env[2].ValueFrom.FieldRef.FieldPath = "spec.nope" }),
			[]string{ctr + ".env[2].valueFrom.fieldRef.fieldPath: Unsupported value"}},
		{"configMapKeyRef without key", podWith(func(s *corev1.PodSpec) { c0(s).Env[5].ValueFrom.ConfigMapKeyRef.Key = "" }),
			[]string{ctr + ".env[5].valueFrom.configMapKeyRef.key: Required value"}},
		{"bad resourceFieldRef", podWith(func(s *corev1.PodSpec) { c0(s).Env[4].ValueFrom.ResourceFieldRef.Resource = "limits.gpu" }),
			[]string{ctr + ".env[4].valueFrom.resourceFieldRef.resource: Unsupported value"}},
		{"envFrom without source", podWith(func(s *corev1.PodSpec) { c0(s).EnvFrom[0].ConfigMapRef = nil }), []string{ctr + ".envFrom: Invalid value"}},
		{"volume without source", podWith(func(s *corev1.PodSpec) { s.Volumes[2].EmptyDir = nil }), []string{"spec.volumes[2]: Required value"}},
		{"volume with two sources", podWith(func(s *corev1.PodSpec) { s.Volumes[2].HostPath = &corev1.HostPathVolumeSource{Path: "/x"} }),
			[]string{"spec.volumes[2].hostPath: Forbidden"}},
		{"duplicate volume", podWith(func(s *corev1.PodSpec) { s.Volumes[1].Name = "cfg" }),
			[]string{"spec.volumes[1].name: Duplicate value", ctr + ".volumeMounts[2].name: Not found"}},
		{"bad volume name", podWith(func(s *corev1.PodSpec) { s.Volumes[2].Name = "Tmp"; c0(s).VolumeMounts[1].Name = "Tmp" }),
			[]string{"spec.volumes[2].name: Invalid value"}},
		{"configMap volume without name", podWith(func(s *corev1.PodSpec) { s.Volumes[0].ConfigMap.Name = "" }),
			[]string{"spec.volumes[0].configMap.name: Required value"}},
		{"configMap item escapes", podWith(func(s *corev1.PodSpec) { s.Volumes[0].ConfigMap.Items[0].Path = "../a" }),
			[]string{"spec.volumes[0].configMap.items[0].path: Invalid value"}},
		{"bad file mode", podWith(func(s *corev1.PodSpec) { s.Volumes[1].Secret.DefaultMode = ptr(int32(01000)) }),
			[]string{"spec.volumes[1].secret.defaultMode: Invalid value"}},
		{"secret volume without name", podWith(func(s *corev1.PodSpec) { s.Volumes[1].Secret.SecretName = "" }),
			[]string{"spec.volumes[1].secret.secretName: Required value"}},
		{"hostPath without path", podWith(func(s *corev1.PodSpec) { s.Volumes[3].HostPath.Path = "" }),
			[]string{"spec.volumes[3].hostPath.path: Required value"}},
		{"mount of missing volume", podWith(func(s *corev1.PodSpec) { c0(s).VolumeMounts[0].Name = "nope" }),
			[]string{ctr + ".volumeMounts[0].name: Not found"}},
		{"mount without path", podWith(func(s *corev1.PodSpec) { c0(s).VolumeMounts[0].MountPath = "" }),
			[]string{ctr + ".volumeMounts[0].mountPath: Required value"}},
		{"mount path twice", podWith(func(s *corev1.PodSpec) { c0(s).VolumeMounts[1].MountPath = "/etc/app" }),
			[]string{ctr + ".volumeMounts[1].mountPath: Invalid value"}},
		{"absolute subPath", podWith(func(s *corev1.PodSpec) { c0(s).VolumeMounts[1].SubPath = "/x" }),
			[]string{ctr + ".volumeMounts[1].subPath: Invalid value"}},
		{"negative request", podWith(func(s *corev1.PodSpec) { c0(s).Resources.Requests[corev1.ResourceCPU] = resource.MustParse("-1") }),
			[]string{ctr + ".resources.requests[cpu]: Invalid value"}},
		{"negative limit", podWith(func(s *corev1.PodSpec) { c0(s).Resources.Limits[corev1.ResourceMemory] = resource.MustParse("-1Mi") }),
			[]string{ctr + ".resources.limits[memory]: Invalid value", ctr + ".resources.requests[memory]: Invalid value"}},
		{"request above limit", podWith(func(s *corev1.PodSpec) { c0(s).Resources.Requests[corev1.ResourceCPU] = resource.MustParse("2") }),
			[]string{ctr + ".resources.requests: Invalid value"}},
		{"unknown resource", podWith(func(s *corev1.PodSpec) { c0(s).Resources.Limits["gpu"] = resource.MustParse("1") }),
			[]string{ctr + ".resources.limits[gpu]: Invalid value", ctr + ".resources.requests[gpu]: Invalid value"}},
		{"extended resource request without limit", podWith(func(s *corev1.PodSpec) {
			c0(s).Resources.Requests["example.com/dongle"] = resource.MustParse("1")
		}), []string{ctr + ".resources.limits: Required value"}},
		{"probe without handler", podWith(func(s *corev1.PodSpec) { c0(s).LivenessProbe.HTTPGet = nil }),
			[]string{ctr + ".livenessProbe: Required value"}},
		{"probe with two handlers", podWith(func(s *corev1.PodSpec) {
			c0(s).ReadinessProbe.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}
		}),
			[]string{ctr + ".readinessProbe.tcpSocket: Forbidden"}},
		{"probe bad port", podWith(func(s *corev1.PodSpec) { c0(s).LivenessProbe.HTTPGet.Port = intstr.FromInt32(0) }),
			[]string{ctr + ".livenessProbe.httpGet.port: Invalid value"}},
		{"grpc probe bad port", podWith(func(s *corev1.PodSpec) { c0(s).StartupProbe.GRPC.Port = 99999 }),
			[]string{ctr + ".startupProbe.grpc.port: Invalid value"}},
		{"exec probe without command", podWith(func(s *corev1.PodSpec) { c0(s).ReadinessProbe.Exec.Command = nil }),
			[]string{ctr + ".readinessProbe.exec.command: Required value"}},
		{"liveness success threshold", podWith(func(s *corev1.PodSpec) { c0(s).LivenessProbe.SuccessThreshold = 2 }),
			[]string{ctr + ".livenessProbe.successThreshold: Invalid value"}},
		{"negative probe period", podWith(func(s *corev1.PodSpec) { c0(s).ReadinessProbe.PeriodSeconds = -1 }),
			[]string{ctr + ".readinessProbe.periodSeconds: Invalid value"}},
		{"probe on plain init container", podWith(func(s *corev1.PodSpec) {
			s.InitContainers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"x"}}}}
		}), []string{"spec.initContainers[0].readinessProbe: Forbidden"}},
		{"restartPolicy on container", podWith(func(s *corev1.PodSpec) { c0(s).RestartPolicy = s.InitContainers[1].RestartPolicy }),
			[]string{ctr + ".restartPolicy: Forbidden"}},
		{"bad pull policy", podWith(func(s *corev1.PodSpec) { c0(s).ImagePullPolicy = "Sometimes" }),
			[]string{ctr + ".imagePullPolicy: Unsupported value"}},
		{"bad restart policy", podWith(func(s *corev1.PodSpec) { s.RestartPolicy = "Sometimes" }), []string{"spec.restartPolicy: Unsupported value"}},
		{"bad dns policy", podWith(func(s *corev1.PodSpec) { s.DNSPolicy = "Google" }), []string{"spec.dnsPolicy: Unsupported value"}},
		{"dns None without config", podWith(func(s *corev1.PodSpec) { s.DNSPolicy = corev1.DNSNone }), []string{"spec.dnsConfig: Required value"}},
		{"bad nameserver", podWith(func(s *corev1.PodSpec) { s.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"dns.local"}} }),
			[]string{"spec.dnsConfig.nameservers[0]: Invalid value"}},
		{"negative grace period", podWith(func(s *corev1.PodSpec) { s.TerminationGracePeriodSeconds = ptr(int64(-1)) }),
			[]string{"spec.terminationGracePeriodSeconds: Invalid value"}},
		{"zero active deadline", podWith(func(s *corev1.PodSpec) { s.ActiveDeadlineSeconds = ptr(int64(0)) }),
			[]string{"spec.activeDeadlineSeconds: Invalid value"}},
		{"bad node selector", podWith(func(s *corev1.PodSpec) { s.NodeSelector["bad key!"] = "x" }), []string{"spec.nodeSelector: Invalid value"}},
		{"bad node selector value", podWith(func(s *corev1.PodSpec) { s.NodeSelector["zone"] = "a b" }), []string{"spec.nodeSelector: Invalid value"}},
		{"bad node name", podWith(func(s *corev1.PodSpec) { s.NodeName = "Node_1" }), []string{"spec.nodeName: Invalid value"}},
		{"toleration bad operator", podWith(func(s *corev1.PodSpec) { s.Tolerations[1].Operator = "Gte" }),
			[]string{"spec.tolerations[1].operator: Unsupported value"}},
		{"toleration bad effect", podWith(func(s *corev1.PodSpec) { s.Tolerations[1].Effect = "NoRun" }),
			[]string{"spec.tolerations[1].effect: Unsupported value"}},
		{"toleration Exists with value", podWith(func(s *corev1.PodSpec) { s.Tolerations[0].Value = "x" }),
			[]string{"spec.tolerations[0].operator: Invalid value"}},
		{"toleration no key Equal", podWith(func(s *corev1.PodSpec) { s.Tolerations[2].Operator = corev1.TolerationOpEqual }),
			[]string{"spec.tolerations[2].operator: Invalid value"}},
		{"tolerationSeconds without NoExecute", podWith(func(s *corev1.PodSpec) { s.Tolerations[1].TolerationSeconds = ptr(int64(1)) }),
			[]string{"spec.tolerations[1].effect: Invalid value"}},
		{"node affinity without terms", podWith(func(s *corev1.PodSpec) {
			s.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = nil
		}), []string{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required value"}},
		{"node affinity In without values", podWith(func(s *corev1.PodSpec) {
			s.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values = nil
		}), []string{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value"}},
		{"pod affinity without topology key", podWith(func(s *corev1.PodSpec) {
			s.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey = ""
		}), []string{"spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey: Required value"}},
		{"spread without skew", podWith(func(s *corev1.PodSpec) { s.TopologySpreadConstraints[0].MaxSkew = 0 }),
			[]string{"spec.topologySpreadConstraints[0].maxSkew: Invalid value"}},
		{"bad hostname", podWith(func(s *corev1.PodSpec) { s.Hostname = "web.0" }), []string{"spec.hostname: Invalid value"}},
	})
}
