package runtime

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLabelsRoundTrip(t *testing.T) {
	for _, m := range []Meta{
		{PodUID: "u1", PodName: "web-0", PodNamespace: "ns", Node: "n1", Name: SandboxName, Kind: KindSandbox, Attempt: 2},
		{PodUID: "u1", PodName: "web-0", PodNamespace: "ns", Node: "n1", Name: "app", Kind: KindRegular, Attempt: 7, SandboxID: "abc", Hash: "f00", BackOffBase: 3},
		{PodUID: "u2", PodName: "p", PodNamespace: "default", Node: "n2", Name: "setup", Kind: KindInit, SandboxID: "def", Hash: "1"},
	} {
		l := m.Labels(map[string]string{"mini.test": "x", LabelPodUID: "must-not-win"})
		got, err := ParseLabels(l)
		if err != nil {
			t.Fatalf("ParseLabels(%v): %v", l, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip of %+v gave %+v", m, got)
		}
		if l["mini.test"] != "x" {
			t.Errorf("extra label lost: %v", l)
		}
	}
}

func TestParseLabelsErrors(t *testing.T) {
	good := Meta{PodUID: "u", PodName: "p", PodNamespace: "n", Name: "c", Kind: KindRegular}.Labels(nil)
	for name, tc := range map[string]struct {
		key, value, want string
	}{
		"no uid":        {LabelPodUID, "", "lack the pod uid"},
		"bad count":     {LabelRestartCount, "x", "is not a restart count"},
		"negative":      {LabelRestartCount, "-1", "is not a restart count"},
		"bad type":      {LabelType, "vm", "is neither"},
		"bad base":      {LabelBackOffBase, "?", "is not a restart count"},
		"no container":  {LabelContainer, "", "container name"},
		"no namespace":  {LabelPodNamespace, "", "namespace"},
		"no pod name":   {LabelPodName, "", "name"},
		"sandbox typed": {LabelType, "", "is neither"},
	} {
		l := map[string]string{}
		for k, v := range good {
			l[k] = v
		}
		l[tc.key] = tc.value
		if _, err := ParseLabels(l); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
}

func TestContainerName(t *testing.T) {
	m := Meta{PodUID: "123", PodName: "web", PodNamespace: "prod", Name: "nginx", Kind: KindRegular, Attempt: 4}
	if got := m.ContainerName(); got != "k8s_nginx_web_prod_123_4" {
		t.Errorf("container name %q", got)
	}
	m.Kind = KindSandbox
	if got := m.ContainerName(); got != "k8s_POD_web_prod_123_4" {
		t.Errorf("sandbox name %q", got)
	}
}

func inspect(s container.State) *container.InspectResponse {
	return &container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{ID: "abc", State: &s, Created: "2026-01-02T03:04:00.5Z"}}
}

func TestState(t *testing.T) {
	start, end := "2026-01-02T03:04:05.678Z", "2026-01-02T03:05:06.1Z"
	ts := func(s string) metav1.Time {
		x, _ := time.Parse(time.RFC3339Nano, s)
		return metav1.NewTime(x.Truncate(time.Second))
	}
	for name, tc := range map[string]struct {
		in   container.State
		want corev1.ContainerState
	}{
		"running": {container.State{Status: "running", Running: true, StartedAt: start},
			corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ts(start)}}},
		"completed": {container.State{Status: "exited", StartedAt: start, FinishedAt: end},
			corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", StartedAt: ts(start), FinishedAt: ts(end), ContainerID: "docker://abc"}}},
		"error": {container.State{Status: "exited", ExitCode: 3, StartedAt: start, FinishedAt: end},
			corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error", StartedAt: ts(start), FinishedAt: ts(end), ContainerID: "docker://abc"}}},
		"oom": {container.State{Status: "exited", ExitCode: 137, OOMKilled: true, StartedAt: start, FinishedAt: end},
			corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled", StartedAt: ts(start), FinishedAt: ts(end), ContainerID: "docker://abc"}}},
		"cannot start": {container.State{Status: "created", ExitCode: 127, Error: "exec: \"/nope\": not found", StartedAt: "0001-01-01T00:00:00Z"},
			corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 127, Reason: "ContainerCannotRun", Message: "exec: \"/nope\": not found", ContainerID: "docker://abc"}}},
		"created": {container.State{Status: "created"},
			corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}},
	} {
		if got := State(inspect(tc.in)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: state %+v, want %+v", name, got, tc.want)
		}
	}
}

func TestExitedAt(t *testing.T) {
	c := &Container{Inspect: inspect(container.State{Status: "created", Error: "boom", ExitCode: 128})}
	if !c.Finished() || c.ExitedAt().IsZero() || c.ExitCode() != 128 {
		t.Errorf("a container that failed to start: finished %v exitedAt %v code %d; want finished at its creation with 128", c.Finished(), c.ExitedAt(), c.ExitCode())
	}
	c = &Container{Inspect: inspect(container.State{Status: "running", Running: true})}
	if c.Finished() || !c.ExitedAt().IsZero() {
		t.Errorf("a running container is not finished")
	}
}

func TestResources(t *testing.T) {
	rl := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return l
	}
	for name, tc := range map[string]struct {
		req, lim corev1.ResourceList
		want     container.Resources
	}{
		"best effort": {nil, nil, container.Resources{CPUShares: 2}},
		"request":     {rl("cpu", "250m"), nil, container.Resources{CPUShares: 256}},
		"limits":      {rl("cpu", "500m"), rl("cpu", "1", "memory", "64Mi"), container.Resources{CPUShares: 512, CPUPeriod: 100000, CPUQuota: 100000, Memory: 64 << 20, MemorySwap: 64 << 20}},
		"tiny quota":  {nil, rl("cpu", "1m"), container.Resources{CPUShares: 2, CPUPeriod: 100000, CPUQuota: 1000}},
	} {
		c := &corev1.Container{Resources: corev1.ResourceRequirements{Requests: tc.req, Limits: tc.lim}}
		if got := resources(c); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", name, got, tc.want)
		}
	}
}

func TestUser(t *testing.T) {
	i := func(v int64) *int64 { return &v }
	pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{RunAsUser: i(1000), RunAsGroup: i(2000)}}}
	if got := user(pod, &corev1.Container{}); got != "1000:2000" {
		t.Errorf("pod-level user %q", got)
	}
	if got := user(pod, &corev1.Container{SecurityContext: &corev1.SecurityContext{RunAsUser: i(0)}}); got != "0:2000" {
		t.Errorf("container overrides uid: %q", got)
	}
	if got := user(&corev1.Pod{}, &corev1.Container{}); got != "" {
		t.Errorf("no security context: %q", got)
	}
}

func TestHostname(t *testing.T) {
	long := strings.Repeat("a", 62) + "-b"
	for _, tc := range []struct {
		pod          corev1.Pod
		host, domain string
	}{
		{corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}}, "web", ""},
		{corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "ns"}, Spec: corev1.PodSpec{Subdomain: "web"}}, "web-0", "web.ns.svc.cluster.local"},
		{corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "ns"}, Spec: corev1.PodSpec{Hostname: "h"}}, "h", ""},
		{corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: long, Namespace: "ns"}}, strings.Repeat("a", 62), ""},
	} {
		h, d := Hostname(&tc.pod, "cluster.local")
		if h != tc.host || d != tc.domain {
			t.Errorf("pod %s: hostname %q domain %q, want %q %q", tc.pod.Name, h, d, tc.host, tc.domain)
		}
	}
}
