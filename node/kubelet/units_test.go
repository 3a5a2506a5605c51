package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"

	"github.com/minicluster/mini/node/runtime"
)

func TestRestartDelay(t *testing.T) {
	const init, maxD = 10 * time.Second, 5 * time.Minute
	for _, tc := range []struct {
		attempt, base int
		ran           time.Duration
		want          time.Duration
		wantBase      int
	}{
		{0, 0, time.Second, 0, 0},                     // first crash: restart at once
		{1, 0, time.Second, 10 * time.Second, 0},      // second: initial
		{2, 0, time.Second, 20 * time.Second, 0},      // doubling
		{3, 0, time.Second, 40 * time.Second, 0},      //
		{6, 0, time.Second, 5 * time.Minute, 0},       // 320s capped at 5m
		{40, 0, time.Second, 5 * time.Minute, 0},      // stays capped
		{9, 8, time.Second, 10 * time.Second, 8},      // a streak that began at 8
		{9, 0, 10 * time.Minute, 0, 10},               // ran 10 minutes: a new streak
		{9, 0, 10*time.Minute - time.Second, maxD, 0}, // not quite
		{2, 5, time.Second, 0, 3},                     // base beyond attempt: reset
	} {
		d, b := restartDelay(tc.attempt, tc.base, tc.ran, init, maxD)
		if d != tc.want || b != tc.wantBase {
			t.Errorf("restartDelay(attempt %d, base %d, ran %v) = %v, base %d; want %v, base %d", tc.attempt, tc.base, tc.ran, d, b, tc.want, tc.wantBase)
		}
	}
}

func TestPullBackOff(t *testing.T) {
	var b pullBackOff
	now := time.Unix(1000, 0)
	if b.wait(now) != 0 {
		t.Fatal("a fresh back-off waits")
	}
	var waits []time.Duration
	for i := 0; i < 7; i++ {
		b.failed(now, 10*time.Second, time.Minute)
		waits = append(waits, b.wait(now))
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute, time.Minute, time.Minute}
	if !reflect.DeepEqual(waits, want) {
		t.Errorf("pull back-off waits %v, want %v", waits, want)
	}
	b.failed(now.Add(3*time.Minute), 10*time.Second, time.Minute) // long after: starts over
	if w := b.wait(now.Add(3 * time.Minute)); w != 10*time.Second {
		t.Errorf("after a quiet period the back-off is %v, want 10s", w)
	}
}

func TestThresholds(t *testing.T) {
	for _, tc := range []struct {
		start            result
		succ, fail       int32
		outcomes         string // s = success, f = failure
		want             string // result after each outcome: u, s, f
		changedAtIndexes []int
	}{
		{failure, 1, 3, "sffsfff", "ssssssf", []int{0, 6}}, // three failures in a row
		{success, 1, 2, "ffsff", "sfssf", []int{1, 2, 4}},
		{failure, 2, 1, "sssfs", "fssff", nil},
		{unknown, 1, 1, "fs", "fs", nil},
	} {
		th := thresholds{result: tc.start}
		var got strings.Builder
		var changed []int
		for i, o := range tc.outcomes {
			if th.observe(o == 's', tc.succ, tc.fail) {
				changed = append(changed, i)
			}
			got.WriteByte("usf"[th.result])
		}
		if got.String() != tc.want {
			t.Errorf("thresholds(success %d, failure %d) on %s from %v: results %s, want %s", tc.succ, tc.fail, tc.outcomes, tc.start, got.String(), tc.want)
		}
		if tc.changedAtIndexes != nil && !reflect.DeepEqual(changed, tc.changedAtIndexes) {
			t.Errorf("changes reported at %v, want %v", changed, tc.changedAtIndexes)
		}
	}
}

func running1() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
}

func exited(code int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}
}

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func TestPodPhase(t *testing.T) {
	cs := func(states ...corev1.ContainerState) []corev1.ContainerStatus {
		var out []corev1.ContainerStatus
		for _, s := range states {
			out = append(out, corev1.ContainerStatus{State: s})
		}
		return out
	}
	backoff := corev1.ContainerStatus{State: waiting("CrashLoopBackOff"), LastTerminationState: exited(1)}
	for name, tc := range map[string]struct {
		policy        corev1.RestartPolicy
		init, regular []corev1.ContainerStatus
		want          corev1.PodPhase
	}{
		"creating":            {corev1.RestartPolicyAlways, nil, cs(waiting("ContainerCreating")), corev1.PodPending},
		"running":             {corev1.RestartPolicyAlways, nil, cs(running1(), running1()), corev1.PodRunning},
		"one waiting":         {corev1.RestartPolicyAlways, nil, cs(running1(), waiting("ErrImagePull")), corev1.PodPending},
		"crash loop":          {corev1.RestartPolicyAlways, nil, []corev1.ContainerStatus{backoff}, corev1.PodRunning},
		"always, all exited":  {corev1.RestartPolicyAlways, nil, cs(exited(0)), corev1.PodRunning},
		"never, succeeded":    {corev1.RestartPolicyNever, nil, cs(exited(0), exited(0)), corev1.PodSucceeded},
		"never, one failed":   {corev1.RestartPolicyNever, nil, cs(exited(0), exited(2)), corev1.PodFailed},
		"never, one running":  {corev1.RestartPolicyNever, nil, cs(exited(2), running1()), corev1.PodRunning},
		"onfailure, ok":       {corev1.RestartPolicyOnFailure, nil, cs(exited(0)), corev1.PodSucceeded},
		"onfailure, failed":   {corev1.RestartPolicyOnFailure, nil, cs(exited(1)), corev1.PodRunning},
		"init running":        {corev1.RestartPolicyAlways, cs(running1()), cs(waiting("PodInitializing")), corev1.PodPending},
		"init done":           {corev1.RestartPolicyAlways, cs(exited(0)), cs(running1()), corev1.PodRunning},
		"init failed, never":  {corev1.RestartPolicyNever, cs(exited(1)), cs(waiting("PodInitializing")), corev1.PodFailed},
		"init failed, always": {corev1.RestartPolicyAlways, []corev1.ContainerStatus{backoff}, cs(waiting("PodInitializing")), corev1.PodPending},
	} {
		if got := podPhase(&corev1.PodSpec{RestartPolicy: tc.policy}, tc.init, tc.regular); got != tc.want {
			t.Errorf("%s: phase %s, want %s", name, got, tc.want)
		}
	}
}

func TestMergeConditions(t *testing.T) {
	t0, t1 := time.Unix(100, 0), time.Unix(200, 0)
	old := []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)},
		{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(t0)},
		{Type: "example.com/gate", Status: corev1.ConditionTrue},
	}
	got := mergeConditions(old, []corev1.PodCondition{
		{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
	}, t1)
	var summary []string
	for _, c := range got {
		summary = append(summary, fmt.Sprintf("%s=%s@%d", c.Type, c.Status, c.LastTransitionTime.Unix()))
	}
	want := "Initialized=True@200 Ready=True@100 ContainersReady=True@200 PodScheduled=True@100 example.com/gate=True@" + fmt.Sprint(metav1.Time{}.Unix())
	if strings.Join(summary, " ") != want {
		t.Errorf("merged conditions\n %s\nwant\n %s", strings.Join(summary, " "), want)
	}
}

func TestEnv(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1",
		Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"}},
		Spec: corev1.PodSpec{NodeName: "node-1"}}
	c := &corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}
	field := func(p string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: p}}
	}
	opt := true
	c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}, Prefix: "CFG_"},
		{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Optional: &opt}}}
	c.Env = []corev1.EnvVar{
		{Name: "NAME", ValueFrom: field("metadata.name")}, {Name: "NS", ValueFrom: field("metadata.namespace")},
		{Name: "UID", ValueFrom: field("metadata.uid")}, {Name: "APP", ValueFrom: field("metadata.labels['app']")},
		{Name: "NODE", ValueFrom: field("spec.nodeName")}, {Name: "IP", ValueFrom: field("status.podIP")},
		{Name: "HOST", ValueFrom: field("status.hostIP")},
		{Name: "CPU_REQ", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: resource.MustParse("1m")}}},
		{Name: "MEM_LIM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
		{Name: "CPU_LIM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
		{Name: "KEY", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "color"}}},
		{Name: "PASS", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "pw"}}},
		{Name: "URL", Value: "http://$(IP):$(PORT)/$(NAME) $$(NAME) $(UNSET)"},
		{Name: "NAME", Value: "override"},
	}
	e := &envContext{pod: pod, podIP: "10.244.1.5", nodeIP: "172.18.0.3", nodeCPU: resource.MustParse("2"), nodeMemory: resource.MustParse("8Gi"),
		objs: fakeObjects(map[string]kruntime.Object{
			"cfg": &corev1.ConfigMap{Data: map[string]string{"color": "blue", "size": "L"}},
			"sec": &corev1.Secret{Data: map[string][]byte{"pw": []byte("s3cret")}},
		}),
		services: []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}}}}}
	got, err := e.env(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443", "KUBERNETES_SERVICE_PORT_HTTPS=443",
		"KUBERNETES_PORT=tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP_PROTO=tcp",
		"KUBERNETES_PORT_443_TCP_PORT=443", "KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1",
		"CFG_color=blue", "CFG_size=L", "NAME=override", "NS=ns", "UID=uid-1", "APP=web", "NODE=node-1", "IP=10.244.1.5", "HOST=172.18.0.3",
		"CPU_REQ=250", "MEM_LIM=64", "CPU_LIM=2", "KEY=blue", "PASS=s3cret", "URL=http://10.244.1.5:$(PORT)/p $(NAME) $(UNSET)"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("env:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for name, ev := range map[string]corev1.EnvVar{
		`configmap "nope" not found`:                 {Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}},
		"couldn't find key k in ConfigMap ns/cfg":    {Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "k"}}},
		"couldn't find key k in Secret ns/sec":       {Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "k"}}},
		`unsupported fieldPath "spec.priorityClass"`: {Name: "X", ValueFrom: field("spec.priorityClass")},
	} {
		_, err := e.env(context.Background(), &corev1.Container{Name: "c", Env: []corev1.EnvVar{ev}})
		if err == nil || err.Error() != name {
			t.Errorf("env error %v, want %q", err, name)
		}
	}
}

func fakeObjects(objs map[string]kruntime.Object) *objects {
	return &objects{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		get: func(_ context.Context, ns, name string, into kruntime.Object) error {
			o, ok := objs[name]
			if !ok || reflect.TypeOf(o) != reflect.TypeOf(into) {
				return apierrors.NewNotFound(corev1.Resource("object"), name)
			}
			reflect.ValueOf(into).Elem().Set(reflect.ValueOf(o).Elem())
			return nil
		}}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "B": "two"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for in, want := range map[string]string{
		"$(A)":         "1",
		"x$(A)y$(B)z":  "x1ytwoz",
		"$$(A)":        "$(A)",
		"$(C)":         "$(C)",
		"$(A":          "$(A",
		"$A":           "$A",
		"cost $$5":     "cost $5",
		"trailing $":   "trailing $",
		"$($(A))":      "$($(A))",
		"":             "",
		"plain string": "plain string",
	} {
		if got := expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFormatMap(t *testing.T) {
	got := formatMap(map[string]string{"b": `say "hi"`, "a": "1"})
	if want := "a=\"1\"\nb=\"say \\\"hi\\\"\""; got != want {
		t.Errorf("formatMap = %q, want %q", got, want)
	}
}

func TestResolvConf(t *testing.T) {
	ndots := "2"
	node := []byte("nameserver 127.0.0.11\nnameserver 192.0.2.53\nsearch corp.example\noptions ndots:0\n")
	for name, tc := range map[string]struct {
		spec corev1.PodSpec
		want string
	}{
		"cluster first": {corev1.PodSpec{DNSPolicy: corev1.DNSClusterFirst},
			"search ns.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"},
		"host network": {corev1.PodSpec{DNSPolicy: corev1.DNSClusterFirst, HostNetwork: true},
			"search corp.example\nnameserver 192.0.2.53\noptions ndots:0\n"},
		"with host net": {corev1.PodSpec{DNSPolicy: corev1.DNSClusterFirstWithHostNet, HostNetwork: true},
			"search ns.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"},
		"none": {corev1.PodSpec{DNSPolicy: corev1.DNSNone, DNSConfig: &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.b"}}},
			"search a.b\nnameserver 1.1.1.1\n"},
		"merged config": {corev1.PodSpec{DNSPolicy: corev1.DNSClusterFirst, DNSConfig: &corev1.PodDNSConfig{Searches: []string{"x.y"},
			Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &ndots}, {Name: "edns0"}}}},
			"search ns.svc.cluster.local svc.cluster.local cluster.local x.y\nnameserver 10.96.0.10\noptions ndots:2 edns0\n"},
	} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: tc.spec}
		if got := string(resolvConf(pod, "10.96.0.10", "cluster.local", node)); got != tc.want {
			t.Errorf("%s: resolv.conf\n%s\nwant\n%s", name, got, tc.want)
		}
	}
	// the node's only resolver is Docker's loopback one: the cluster DNS it is
	pod := &corev1.Pod{Spec: corev1.PodSpec{DNSPolicy: corev1.DNSDefault}}
	if got := string(resolvConf(pod, "10.96.0.10", "cluster.local", []byte("nameserver 127.0.0.11\n"))); got != "nameserver 10.96.0.10\n" {
		t.Errorf("Default with a loopback-only node resolver: %q", got)
	}
}

func TestHostsFile(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "ns"},
		Spec: corev1.PodSpec{Subdomain: "web", HostAliases: []corev1.HostAlias{{IP: "192.0.2.1", Hostnames: []string{"foo", "bar"}}}}}
	got := string(hostsFile(pod, "10.244.1.7", "cluster.local"))
	want := "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n" +
		"10.244.1.7\tweb-0.web.ns.svc.cluster.local\tweb-0\n\n# Entries added by HostAliases.\n192.0.2.1\tfoo\tbar\n"
	if got != want {
		t.Errorf("hosts:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}
	if err := writeAtomic(dir, map[string]file{"a": {[]byte("1"), 0o644}, "sub/b": {[]byte("2"), 0o600}}); err != nil {
		t.Fatal(err)
	}
	data1, _ := os.Readlink(filepath.Join(dir, "..data"))
	if read("a") != "1" || read("sub/b") != "2" {
		t.Fatalf("files a=%q sub/b=%q", read("a"), read("sub/b"))
	}
	if fi, _ := os.Stat(filepath.Join(dir, "sub/b")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode of sub/b %v, want 0600", fi.Mode().Perm())
	}
	if err := writeAtomic(dir, map[string]file{"a": {[]byte("1"), 0o644}, "sub/b": {[]byte("2"), 0o600}}); err != nil {
		t.Fatal(err)
	}
	if d, _ := os.Readlink(filepath.Join(dir, "..data")); d != data1 {
		t.Errorf("an unchanged set was rewritten (%s → %s)", data1, d)
	}
	if err := writeAtomic(dir, map[string]file{"a": {[]byte("new"), 0o644}, "c": {[]byte("3"), 0o644}}); err != nil {
		t.Fatal(err)
	}
	if read("a") != "new" || read("c") != "3" || !strings.HasPrefix(read("sub/b"), "<") {
		t.Errorf("after the update a=%q c=%q sub/b=%q (want new, 3, gone)", read("a"), read("c"), read("sub/b"))
	}
	if _, err := os.Stat(filepath.Join(dir, data1)); err == nil {
		t.Errorf("the old data directory %s was kept", data1)
	}
	if err := writeAtomic(dir, map[string]file{"../escape": {nil, 0o644}}); err == nil {
		t.Errorf("a path leaving the volume was accepted")
	}
}

func TestComputeStatusWaitingAndBackOff(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways,
			InitContainers: []corev1.Container{{Name: "init", Image: "i:1"}},
			Containers:     []corev1.Container{{Name: "app", Image: "a:1"}}},
		Status: corev1.PodStatus{QOSClass: corev1.PodQOSBestEffort, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}}}
	v := podView{pod: pod, state: emptyState(), nodeIP: "172.18.0.2", now: time.Unix(1000, 0),
		waiting: map[string]*corev1.ContainerStateWaiting{"init": {Reason: reasonErrImagePull, Message: "no registry"}},
		probes:  func(string, *corev1.Container) probeState { return probeState{true, true} }}
	st := computeStatus(v)
	if st.Phase != corev1.PodPending || st.HostIP != "172.18.0.2" || st.PodIP != "" || st.StartTime == nil || st.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("status %+v", st)
	}
	if w := st.InitContainerStatuses[0].State.Waiting; w == nil || w.Reason != reasonErrImagePull {
		t.Errorf("init container state %+v, want waiting ErrImagePull", st.InitContainerStatuses[0].State)
	}
	if w := st.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != reasonPodInitializing {
		t.Errorf("app container state %+v, want waiting PodInitializing", st.ContainerStatuses[0].State)
	}
	conds := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range st.Conditions {
		conds[c.Type] = c
	}
	if c := conds[corev1.PodInitialized]; c.Status != corev1.ConditionFalse || c.Message != "containers with incomplete status: [init]" {
		t.Errorf("Initialized %+v", c)
	}
	if c := conds[corev1.PodReady]; c.Status != corev1.ConditionFalse || c.Reason != reasonContainersNotReady {
		t.Errorf("Ready %+v", c)
	}
	if c := conds[corev1.PodScheduled]; c.Status != corev1.ConditionTrue {
		t.Errorf("PodScheduled lost: %+v", st.Conditions)
	}
	if c := conds[corev1.PodReadyToStartContainers]; c.Status != corev1.ConditionFalse {
		t.Errorf("no sandbox, yet PodReadyToStartContainers %+v", c)
	}
}

func emptyState() *runtime.PodState {
	return &runtime.PodState{Containers: map[string][]*runtime.Container{}}
}

// TestWorkerWakesOnlyOnChange: the echo of the worker's own status write
// does not wake it; a change of spec, metadata or a status written by
// someone else does.
func TestWorkerWakesOnlyOnChange(t *testing.T) {
	base := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "u1", Name: "p", ResourceVersion: "10", Labels: map[string]string{"a": "1"}},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Reason: "mine"}}
	cases := map[string]struct {
		change func(p *corev1.Pod)
		wake   bool
	}{
		"echo of the own write": {func(p *corev1.Pod) {}, false},
		"foreign status":        {func(p *corev1.Pod) { p.Status.Reason = "NodeLost" }, true},
		"label":                 {func(p *corev1.Pod) { p.Labels["a"] = "2" }, true},
		"annotation":            {func(p *corev1.Pod) { p.Annotations = map[string]string{"x": "y"} }, true},
		"spec":                  {func(p *corev1.Pod) { p.Spec.Containers[0].Image = "img:2" }, true},
		"deletion": {func(p *corev1.Pod) {
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := &worker{uid: "u1", wakeCh: make(chan struct{}, 1), pod: base.DeepCopy()}
			written := base.DeepCopy()
			written.ResourceVersion = "11"
			w.wrote(written)
			echo := written.DeepCopy()
			echo.ResourceVersion = "11"
			tc.change(echo)
			w.update(echo, false)
			woke := len(w.wakeCh) == 1
			if woke != tc.wake {
				t.Errorf("woke %v, want %v", woke, tc.wake)
			}
			if p, _ := w.snapshot(); p.ResourceVersion != "11" || !equality.Semantic.DeepEqual(p, echo) {
				t.Errorf("the worker keeps %+v, want the update %+v", p.ObjectMeta, echo.ObjectMeta)
			}
		})
	}
	t.Run("before any write", func(t *testing.T) {
		w := &worker{uid: "u1", wakeCh: make(chan struct{}, 1), pod: base.DeepCopy()}
		w.update(base.DeepCopy(), false)
		if len(w.wakeCh) != 1 {
			t.Error("an update before the worker wrote any status did not wake it")
		}
	})
}
