package kubelet_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/minicluster/mini/internal/testimage"
	"github.com/minicluster/mini/node/kubelet/kubelettest"
	"github.com/minicluster/mini/node/runtime"
)

func podNameEnv() corev1.EnvVar {
	return corev1.EnvVar{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}
}

// echoPod is a pod with one echo container serving on 8080, ready once
// it serves.
func echoPod(h *kubelettest.Harness, name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "echo", Image: h.Images[testimage.Echo],
			Env: []corev1.EnvVar{podNameEnv()}, Ports: []corev1.ContainerPort{{ContainerPort: 8080, Name: "http"}},
			ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
				HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}}}}}}
}

// exec runs a command in a pod's container through Docker and returns its
// output.
func exec(t *testing.T, h *kubelettest.Harness, p *corev1.Pod, container string, cmd ...string) (string, int) {
	t.Helper()
	c := h.Pod(p).Latest(container)
	if c == nil {
		t.Fatalf("pod %s has no container %s in Docker", p.Name, container)
	}
	var out bytes.Buffer
	code, err := h.K.Runtime().Exec(h.Ctx, c.ID, cmd, runtime.StreamOptions{Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatalf("exec %v in %s/%s: %v", cmd, p.Name, container, err)
	}
	return out.String(), code
}

// httpGet GETs url, retrying for a few seconds while the server starts.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := http.Client{Timeout: 3 * time.Second}
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var resp *http.Response
		if resp, err = c.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
	}
	t.Fatalf("GET %s: %v", url, err)
	return ""
}

func TestPodContainersShareLocalhost(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{})
	p := echoPod(h, "duo")
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: h.Images[testimage.Echo],
		Env: []corev1.EnvVar{{Name: "PORT", Value: "9090"}, {Name: "GREETING", Value: "hi $(PORT) $$(PORT)"}}})
	h.CreatePod(p)
	p = h.WaitPod("duo", "Running and Ready", 90*time.Second, kubelettest.Running)

	_, subnet, _ := net.ParseCIDR(h.Subnet)
	if ip := net.ParseIP(p.Status.PodIP); ip == nil || !subnet.Contains(ip) {
		t.Errorf("podIP %q is not in the pod network %s", p.Status.PodIP, h.Subnet)
	}
	if p.Status.HostIP != "127.0.0.1" || p.Status.StartTime == nil {
		t.Errorf("hostIP %q startTime %v, want 127.0.0.1 and a start time", p.Status.HostIP, p.Status.StartTime)
	}
	for _, typ := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodScheduled} {
		if !hasCondition(p, typ, corev1.ConditionTrue) {
			t.Errorf("condition %s is not True:\n%s", typ, kubelettest.Describe(p))
		}
	}
	st := h.Pod(p)
	for _, s := range p.Status.ContainerStatuses {
		c := st.Latest(s.Name)
		if c == nil || s.ContainerID != "docker://"+c.ID || s.State.Running == nil || !s.Ready || s.RestartCount != 0 || s.ImageID == "" {
			t.Errorf("container status %+v does not match Docker's container %v", s, c)
		}
	}
	// the side container reaches the echo server on localhost
	out, code := exec(t, h, p, "side", "/echo", "check", "http://localhost:8080/healthz")
	if code != 0 {
		t.Errorf("side container cannot reach localhost:8080 (exit %d): %s", code, out)
	}
	// and the node reaches both on the pod IP
	if got := httpGet(t, "http://"+p.Status.PodIP+":8080/"); !strings.Contains(got, "pod=duo host=duo") {
		t.Errorf("GET podIP:8080 = %q, want the pod name and hostname", got)
	}
	if got := httpGet(t, "http://"+p.Status.PodIP+":9090/"); !strings.Contains(got, "host=duo") {
		t.Errorf("GET podIP:9090 = %q, want the side container's answer", got)
	}
	env, _ := exec(t, h, p, "side", "/echo", "env")
	for _, want := range []string{"GREETING=hi 9090 $(PORT)", "PORT=9090"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("side container env lacks %q:\n%s", want, env)
		}
	}
	resolv, _ := exec(t, h, p, "echo", "/echo", "read", "/etc/resolv.conf")
	want := "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
	if resolv != want {
		t.Errorf("/etc/resolv.conf = %q, want %q", resolv, want)
	}
	hosts, _ := exec(t, h, p, "side", "/echo", "read", "/etc/hosts")
	if !strings.Contains(hosts, fmt.Sprintf("%s\tduo\n", p.Status.PodIP)) || !strings.Contains(hosts, "127.0.0.1\tlocalhost") {
		t.Errorf("/etc/hosts lacks the pod's entry:\n%s", hosts)
	}
}

func hasCondition(p *corev1.Pod, typ corev1.PodConditionType, status corev1.ConditionStatus) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c.Status == status
		}
	}
	return false
}
