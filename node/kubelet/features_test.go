package kubelet_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"

	"github.com/minicluster/mini/internal/testimage"
	"github.com/minicluster/mini/node/kubelet/kubelettest"
)

func TestInitContainersVolumesAndEnv(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{})
	ctx := h.Ctx
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"greeting": "hello", "color": "blue"}}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec", Namespace: "default"}, Data: map[string][]byte{"pw": []byte("s3cret")}}
	for _, o := range []kruntime.Object{cm, sec} {
		if err := h.Env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	hostDir := t.TempDir()
	os.WriteFile(filepath.Join(hostDir, "note"), []byte("from the node"), 0o644)
	img := h.Images[testimage.Echo]
	mode := int32(0o400)
	work := corev1.VolumeMount{Name: "work", MountPath: "/work"}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "vols", Labels: map[string]string{"app": "vols"}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{
				{Name: "setup", Image: img, Command: []string{"/echo", "write", "/work/ready", "init-done"}, VolumeMounts: []corev1.VolumeMount{work}},
				{Name: "check", Image: img, Args: []string{"read", "/work/ready"}, VolumeMounts: []corev1.VolumeMount{work}},
			},
			Containers: []corev1.Container{
				{Name: "main", Image: img, Env: []corev1.EnvVar{podNameEnv(),
					{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "pw"}}}},
					EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
					VolumeMounts: []corev1.VolumeMount{work, {Name: "cfg", MountPath: "/etc/cfg"}, {Name: "sec", MountPath: "/etc/sec"},
						{Name: "pod", MountPath: "/etc/pod"}, {Name: "host", MountPath: "/host", ReadOnly: true}, {Name: "mem", MountPath: "/mem"},
						{Name: "cfg", MountPath: "/color", SubPath: "color"}}},
				{Name: "side", Image: img, Env: []corev1.EnvVar{{Name: "PORT", Value: "9090"}}, VolumeMounts: []corev1.VolumeMount{{Name: "mem", MountPath: "/mem"}}},
			},
			Volumes: []corev1.Volume{
				{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec", Items: []corev1.KeyToPath{{Key: "pw", Path: "password", Mode: &mode}}}}},
				{Name: "pod", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
				{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir}}},
			},
		}}
	h.CreatePod(p)
	p = h.WaitPod("vols", "Running", 90*time.Second, kubelettest.Running)
	for _, s := range p.Status.InitContainerStatuses {
		if s.State.Terminated == nil || s.State.Terminated.ExitCode != 0 || s.State.Terminated.Reason != "Completed" {
			t.Errorf("init container %s: %+v, want terminated Completed", s.Name, s.State)
		}
	}
	read := func(c, path string) string { out, _ := exec(t, h, p, c, "/echo", "read", path); return out }
	for path, want := range map[string]string{"/work/ready": "init-done", "/etc/cfg/greeting": "hello", "/etc/sec/password": "s3cret",
		"/etc/pod/name": "vols", "/etc/pod/labels": `app="vols"`, "/host/note": "from the node", "/color": "blue"} {
		if got := read("main", path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if out, code := exec(t, h, p, "side", "/echo", "write", "/mem/x", "shared"); code != 0 || read("main", "/mem/x") != "shared" {
		t.Errorf("the memory emptyDir is not shared: write %d %q, main reads %q", code, out, read("main", "/mem/x"))
	}
	if out, code := exec(t, h, p, "main", "/echo", "write", "/host/x", "no"); code == 0 {
		t.Errorf("a read-only hostPath was writable: %q", out)
	}
	env, _ := exec(t, h, p, "main", "/echo", "env")
	for _, want := range []string{"greeting=hello", "color=blue", "PW=s3cret", "POD_NAME=vols"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
	// an updated ConfigMap reaches the mounted files
	cm.Data["greeting"] = "bonjour"
	if err := h.Env.Client.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(40 * time.Second)
	for read("main", "/etc/cfg/greeting") != "bonjour" {
		if time.Now().After(deadline) {
			t.Fatalf("the configMap volume still says %q 40s after the update", read("main", "/etc/cfg/greeting"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestImagePullPolicies(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{BackOffInitial: time.Second, BackOffMax: 4 * time.Second})
	mk := func(name, image string, policy corev1.PullPolicy) {
		h.CreatePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image, ImagePullPolicy: policy}}}})
	}
	mk("never", "mini-test-absent:never", corev1.PullNever)
	mk("pull", "mini-test-absent:pull", corev1.PullIfNotPresent)
	mk("always-local", h.Images[testimage.Echo], corev1.PullAlways)
	waitingIs := func(reason string) func(*corev1.Pod) bool {
		return func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
				p.Status.ContainerStatuses[0].State.Waiting.Reason == reason
		}
	}
	p := h.WaitPod("never", "ErrImageNeverPull", 60*time.Second, waitingIs("ErrImageNeverPull"))
	if msg := p.Status.ContainerStatuses[0].State.Waiting.Message; msg != `Container image "mini-test-absent:never" is not present with pull policy of Never` {
		t.Errorf("message %q", msg)
	}
	h.WaitPod("pull", "ErrImagePull", 60*time.Second, waitingIs("ErrImagePull"))
	h.WaitPod("pull", "ImagePullBackOff", 30*time.Second, waitingIs("ImagePullBackOff"))
	ev := strings.Join(h.Events("pull"), "\n")
	for _, want := range []string{`Pulling: Pulling image "mini-test-absent:pull"`, `Failed: Failed to pull image "mini-test-absent:pull"`,
		"Failed: Error: ErrImagePull", `BackOff: Back-off pulling image "mini-test-absent:pull"`} {
		if !strings.Contains(ev, want) {
			t.Errorf("events of pod pull lack %q:\n%s", want, ev)
		}
	}
	h.WaitPod("always-local", "Running with the local image", 90*time.Second, kubelettest.Running)
	if ev := strings.Join(h.Events("always-local"), "\n"); !strings.Contains(ev, "using the image already present on the node") {
		t.Errorf("no event says the local image is used:\n%s", ev)
	}
}

func TestOOMKilledAndResources(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{})
	lim := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi"), corev1.ResourceCPU: resource.MustParse("500m")}
	h.CreatePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "hog"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "hog", Image: h.Images[testimage.Echo],
			Args: []string{"alloc", "200"}, Resources: corev1.ResourceRequirements{Limits: lim}}}}})
	p := h.WaitPod("hog", "Failed", 90*time.Second, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	term := p.Status.ContainerStatuses[0].State.Terminated
	if term == nil || term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Errorf("a container over its memory limit: %s, want terminated OOMKilled 137", kubelettest.Describe(p))
	}
	c := h.Pod(p).Latest("hog")
	hc := c.Inspect.HostConfig
	if hc.Memory != 32<<20 || hc.CPUQuota != 50000 || hc.CPUPeriod != 100000 || hc.CPUShares != 512 {
		t.Errorf("Docker limits memory %d quota %d period %d shares %d; want 32Mi, 50000/100000, 512", hc.Memory, hc.CPUQuota, hc.CPUPeriod, hc.CPUShares)
	}
}

func TestHostPort(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{})
	port := int32(20000 + rand.IntN(20000))
	p := echoPod(h, "published")
	p.Spec.Containers[0].Ports[0].HostPort = port
	h.CreatePod(p)
	h.WaitPod("published", "Running", 90*time.Second, kubelettest.Running)
	ctx, cancel := context.WithTimeout(h.Ctx, 10*time.Second)
	defer cancel()
	var last string
	for ctx.Err() == nil {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if last = string(b); strings.Contains(last, "pod=published") {
				return
			}
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("hostPort %d on the node IP does not reach the pod: %s", port, last)
}
