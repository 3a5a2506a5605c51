package kubelet_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/internal/testimage"
	"github.com/minicluster/mini/node/kubelet/kubelettest"
	"github.com/minicluster/mini/node/runtime"
)

// attempts records, by polling Docker, when each attempt of a container
// started and exited.
type attempts struct {
	mu   sync.Mutex
	runs map[int][2]time.Time
}

func watchAttempts(ctx context.Context, h *kubelettest.Harness, p *corev1.Pod, name string) *attempts {
	a := &attempts{runs: map[int][2]time.Time{}}
	go func() {
		for ctx.Err() == nil {
			if st, err := h.K.Runtime().Pod(ctx, p.UID); err == nil {
				a.mu.Lock()
				for _, c := range st.Containers[name] {
					if !c.StartedAt().IsZero() {
						a.runs[c.Attempt] = [2]time.Time{c.StartedAt(), c.ExitedAt()}
					}
				}
				a.mu.Unlock()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return a
}

func TestCrashLoopBackOff(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{BackOffInitial: 2 * time.Second, BackOffMax: time.Minute})
	p := h.CreatePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "crasher"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "crash", Image: h.Images[testimage.Crash],
			Env: []corev1.EnvVar{{Name: "EXIT_CODE", Value: "3"}, {Name: "DELAY", Value: "300ms"}}}}}})
	p = h.WaitPod("crasher", "a pod object", 10*time.Second, func(*corev1.Pod) bool { return true })
	ctx, cancel := context.WithCancel(h.Ctx)
	defer cancel()
	a := watchAttempts(ctx, h, p, "crash")
	var messages []string
	p = h.WaitPod("crasher", "restartCount 3", 90*time.Second, func(p *corev1.Pod) bool {
		if len(p.Status.ContainerStatuses) == 0 {
			return false
		}
		s := p.Status.ContainerStatuses[0]
		if w := s.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			if len(messages) == 0 || messages[len(messages)-1] != w.Message {
				messages = append(messages, w.Message)
			}
			if s.LastTerminationState.Terminated == nil || s.LastTerminationState.Terminated.ExitCode != 3 || s.LastTerminationState.Terminated.Reason != "Error" {
				t.Errorf("in back-off the last state is %+v, want terminated with exit code 3 (Error)", s.LastTerminationState)
			}
		}
		return s.RestartCount >= 3
	})
	time.Sleep(200 * time.Millisecond)
	cancel()
	if p.Status.Phase != corev1.PodRunning {
		t.Errorf("phase %s, want Running (restartPolicy Always)", p.Status.Phase)
	}
	// Kubernetes's schedule: first restart at once, then 2s, 4s (initial 2s)
	want := []string{"back-off 2s restarting failed container=crash pod=crasher_default(" + string(p.UID) + ")",
		"back-off 4s restarting failed container=crash pod=crasher_default(" + string(p.UID) + ")"}
	if strings.Join(messages, "\n") != strings.Join(want, "\n") {
		t.Errorf("CrashLoopBackOff messages seen:\n%s\nwant:\n%s", strings.Join(messages, "\n"), strings.Join(want, "\n"))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for n, wantGap := range []time.Duration{0, 2 * time.Second, 4 * time.Second} {
		prev, ok1 := a.runs[n]
		next, ok2 := a.runs[n+1]
		if !ok1 || !ok2 {
			t.Errorf("attempts %d and %d not both seen in Docker: %v", n, n+1, a.runs)
			continue
		}
		gap := next[0].Sub(prev[1])
		if gap < wantGap || gap > wantGap+8*time.Second {
			t.Errorf("restart %d came %v after the exit, want %v (+ at most 8s for a loaded Docker)", n+1, gap, wantGap)
		}
	}
	ev := strings.Join(h.Events("crasher"), "\n")
	if !strings.Contains(ev, "BackOff: Back-off restarting failed container crash in pod crasher_default") || !strings.Contains(ev, "Started: Started container crash") {
		t.Errorf("events lack BackOff or Started:\n%s", ev)
	}
}

func TestRestartPolicyNeverAndOnFailure(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{BackOffInitial: time.Second})
	mk := func(name string, policy corev1.RestartPolicy, code string) {
		h.CreatePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{RestartPolicy: policy, Containers: []corev1.Container{{Name: "c", Image: h.Images[testimage.Crash],
				Env: []corev1.EnvVar{{Name: "EXIT_CODE", Value: code}}}}}})
	}
	mk("never-fails", corev1.RestartPolicyNever, "2")
	mk("never-ok", corev1.RestartPolicyNever, "0")
	mk("onfailure-ok", corev1.RestartPolicyOnFailure, "0")
	for name, phase := range map[string]corev1.PodPhase{"never-fails": corev1.PodFailed, "never-ok": corev1.PodSucceeded, "onfailure-ok": corev1.PodSucceeded} {
		p := h.WaitPod(name, "phase "+string(phase), 60*time.Second, func(p *corev1.Pod) bool { return p.Status.Phase == phase })
		s := p.Status.ContainerStatuses[0]
		if s.RestartCount != 0 || s.State.Terminated == nil || hasCondition(p, corev1.PodReady, corev1.ConditionTrue) {
			t.Errorf("pod %s: %s", name, kubelettest.Describe(p))
		}
		if st := h.Pod(p); st.Sandbox() == nil || st.Sandbox().Running() {
			t.Errorf("pod %s finished but its sandbox still runs", name)
		}
	}
}

func TestLivenessProbeRestartsContainer(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{})
	p := echoPod(h, "live")
	p.Spec.Containers[0].LivenessProbe = &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 2,
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}}
	h.CreatePod(p)
	p = h.WaitPod("live", "Running and Ready", 90*time.Second, kubelettest.Running)
	time.Sleep(2500 * time.Millisecond) // passing probes do not restart it
	if st := h.Pod(p); st.Latest("echo").Attempt != 0 {
		t.Fatalf("a healthy container was restarted")
	}
	if out, code := exec(t, h, p, "echo", "/echo", "fail-health"); code != 0 {
		t.Fatalf("fail-health: %d %s", code, out)
	}
	p = h.WaitPod("live", "a restart after the liveness probe failed", 45*time.Second, func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount == 1 && kubelettest.Running(p)
	})
	if last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; last == nil || last.ExitCode != 0 {
		t.Errorf("last state %+v, want the graceful exit (0) of the killed container", p.Status.ContainerStatuses[0].LastTerminationState)
	}
	ev := strings.Join(h.Events("live"), "\n")
	for _, want := range []string{"Unhealthy: Liveness probe failed: HTTP probe failed with statuscode: 500",
		"Killing: Container echo failed liveness probe, will be restarted"} {
		if !strings.Contains(ev, want) {
			t.Errorf("events lack %q:\n%s", want, ev)
		}
	}
}

func TestReadinessProbeFlipsReady(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{})
	p := echoPod(h, "ready")
	p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 1,
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/echo", "check", "http://localhost:8080/healthz"}}}}
	h.CreatePod(p)
	p = h.WaitPod("ready", "Ready", 90*time.Second, kubelettest.Running)
	exec(t, h, p, "echo", "/echo", "fail-health")
	p = h.WaitPod("ready", "not Ready", 30*time.Second, func(p *corev1.Pod) bool {
		return hasCondition(p, corev1.PodReady, corev1.ConditionFalse) && hasCondition(p, corev1.ContainersReady, corev1.ConditionFalse)
	})
	if s := p.Status.ContainerStatuses[0]; s.Ready || s.State.Running == nil || s.RestartCount != 0 || p.Status.Phase != corev1.PodRunning {
		t.Errorf("an unready container must keep running: %s", kubelettest.Describe(p))
	}
	exec(t, h, p, "echo", "/echo", "heal")
	h.WaitPod("ready", "Ready again", 30*time.Second, kubelettest.Running)
}

// finalStatus watches a pod until it is deleted and returns its final
// state (the kubelet's last status write completes the deletion).
func finalStatus(t *testing.T, h *kubelettest.Harness, name string, timeout time.Duration) (*corev1.Pod, time.Time) {
	t.Helper()
	w, err := h.Env.Client.Watch(h.Ctx, &corev1.Pod{}, "default", client.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var last *corev1.Pod
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-w.ResultChan():
			switch ev.Type {
			case watch.Added, watch.Modified:
				last = ev.Object.(*corev1.Pod)
			case watch.Deleted:
				return ev.Object.(*corev1.Pod), time.Now()
			}
		case <-deadline:
			t.Fatalf("pod %s not deleted within %v; last:\n%s", name, timeout, kubelettest.Describe(last))
		}
	}
}

func TestGracefulTermination(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{})
	mk := func(name, delay string, grace int64) {
		p := echoPod(h, name)
		p.Spec.TerminationGracePeriodSeconds = &grace
		p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "TERM_DELAY", Value: delay})
		h.CreatePod(p)
	}
	mk("quick", "1s", 10) // exits 1s after SIGTERM, well within its grace period
	mk("stuck", "60s", 3) // outlives its 3s grace period: SIGKILL
	for _, n := range []string{"quick", "stuck"} {
		h.WaitPod(n, "Running", 90*time.Second, kubelettest.Running)
	}
	type result struct {
		pod  *corev1.Pod
		took time.Duration
	}
	res := map[string]result{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range []string{"quick", "stuck"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			go func() {
				time.Sleep(300 * time.Millisecond) // the watch is open by then
				if err := h.Env.Client.Delete(h.Ctx, &corev1.Pod{}, "default", n, nil); err != nil {
					t.Errorf("delete %s: %v", n, err)
				}
			}()
			p, at := finalStatus(t, h, n, 40*time.Second)
			mu.Lock()
			res[n] = result{p, at.Sub(start) - 300*time.Millisecond}
			mu.Unlock()
		}()
	}
	wg.Wait()
	check := func(name string, code int32, min, max time.Duration) {
		r := res[name]
		s := r.pod.Status.ContainerStatuses[0]
		if s.State.Terminated == nil || s.State.Terminated.ExitCode != code {
			t.Errorf("%s: final status %s, want terminated with exit code %d", name, kubelettest.Describe(r.pod), code)
		}
		if r.took < min || r.took > max {
			t.Errorf("%s: deleted %v after the request, want between %v and %v", name, r.took, min, max)
		}
	}
	// the upper bounds leave room for a slow, shared Docker daemon
	check("quick", 0, time.Second, 8*time.Second)
	check("stuck", 137, 3*time.Second, 10*time.Second)
	for _, n := range []string{"quick", "stuck"} {
		if !strings.Contains(strings.Join(h.Events(n), "\n"), "Killing: Stopping container echo") {
			t.Errorf("%s: no Killing event: %v", n, h.Events(n))
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for es, _ := h.K.Runtime().List(h.Ctx); len(es) != 0; es, _ = h.K.Runtime().List(h.Ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("containers left 20s after both pods were deleted: %v", es)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestAgentRestartAdoptsPods(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{})
	h.CreatePod(echoPod(h, "keep"))
	h.CreatePod(echoPod(h, "gone"))
	keep := h.WaitPod("keep", "Running", 90*time.Second, kubelettest.Running)
	gone := h.WaitPod("gone", "Running", 90*time.Second, kubelettest.Running)
	before := ids(h.Pod(keep))
	h.StopKubelet()
	zero := int64(0)
	if err := h.Env.Client.Delete(h.Ctx, &corev1.Pod{}, "default", "gone", &metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	h.StartKubelet()
	deadline := time.Now().Add(15 * time.Second)
	for len(h.Pod(gone).All()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the containers of a pod deleted while the agent was down are still there: %v", ids(h.Pod(gone)))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // a resync or two of the new kubelet
	if after := ids(h.Pod(keep)); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("containers of a running pod changed across an agent restart:\nbefore %v\nafter  %v", before, after)
	}
	p := h.WaitPod("keep", "Running", time.Second, kubelettest.Running)
	if s := p.Status.ContainerStatuses[0]; s.RestartCount != 0 || s.State.Running == nil || !s.State.Running.StartedAt.Equal(&keep.Status.ContainerStatuses[0].State.Running.StartedAt) {
		t.Errorf("status after the agent restart: %s", kubelettest.Describe(p))
	}
}

// ids lists a pod's Docker containers with their state.
func ids(st *runtime.PodState) []string {
	var out []string
	for _, c := range st.All() {
		out = append(out, c.ID[:12]+"/"+c.Name+"/"+c.Inspect.State.Status)
	}
	return sortStrings(out)
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func TestLifecycleHooks(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{})
	dir := t.TempDir()
	p := echoPod(h, "hooked")
	c := &p.Spec.Containers[0]
	c.VolumeMounts = []corev1.VolumeMount{{Name: "host", MountPath: "/host"}}
	c.Lifecycle = &corev1.Lifecycle{
		PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/echo", "write", "/host/poststart", "started"}}},
		PreStop:   &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/echo", "write", "/host/prestop", "stopping"}}},
	}
	p.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}}}
	h.CreatePod(p)
	h.WaitPod("hooked", "Running", 90*time.Second, kubelettest.Running)
	if b, err := os.ReadFile(filepath.Join(dir, "poststart")); err != nil || string(b) != "started" {
		t.Errorf("postStart hook: %q %v", b, err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		h.Env.Client.Delete(h.Ctx, &corev1.Pod{}, "default", "hooked", nil)
	}()
	finalStatus(t, h, "hooked", 60*time.Second)
	if b, err := os.ReadFile(filepath.Join(dir, "prestop")); err != nil || string(b) != "stopping" {
		t.Errorf("preStop hook: %q %v", b, err)
	}
}

func TestSandboxDeathRecreatesPod(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{})
	h.CreatePod(echoPod(h, "phoenix"))
	p := h.WaitPod("phoenix", "Running", 90*time.Second, kubelettest.Running)
	sb := h.Pod(p).Sandbox()
	if err := h.Docker.ContainerKill(h.Ctx, sb.ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	p = h.WaitPod("phoenix", "Running in a new sandbox", 90*time.Second, func(p *corev1.Pod) bool {
		return kubelettest.Running(p) && p.Status.ContainerStatuses[0].RestartCount == 1
	})
	st := h.Pod(p)
	if st.Sandbox().ID == sb.ID || st.Sandbox().Attempt != 1 || !st.Sandbox().Running() {
		t.Errorf("sandbox after the old one died: %+v", st.Sandbox().Meta)
	}
	if got := httpGet(t, "http://"+p.Status.PodIP+":8080/"); !strings.Contains(got, "pod=phoenix") {
		t.Errorf("the pod does not answer on its new IP %s: %q", p.Status.PodIP, got)
	}
	if ev := strings.Join(h.Events("phoenix"), "\n"); !strings.Contains(ev, "SandboxChanged: Pod sandbox changed, it will be killed and re-created.") {
		t.Errorf("no SandboxChanged event:\n%s", ev)
	}
}
