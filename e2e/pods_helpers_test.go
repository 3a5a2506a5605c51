package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// getPods lists the pods matching a label selector through kubectl.
func getPods(t testing.TB, kctx, selector string) []corev1.Pod {
	t.Helper()
	var list corev1.PodList
	out := kubectl(t, "--context", kctx, "get", "pods", "-l", selector, "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("kubectl get pods -l %s -o json: %v\n%s", selector, err, out)
	}
	return list.Items
}

// getPod reads one pod through kubectl; ok is false when it does not exist.
func getPod(t testing.TB, kctx, name string) (pod *corev1.Pod, ok bool) {
	t.Helper()
	r := run(t, 2*time.Minute, nil, kubectlBin, "--context", kctx, "get", "pod", name, "-o", "json")
	if r.Code != 0 {
		if strings.Contains(r.Stderr, "NotFound") || strings.Contains(r.Stderr, "not found") {
			return nil, false
		}
		t.Fatalf("kubectl get pod %s: want exit 0 or NotFound, got %s", name, r)
	}
	pod = &corev1.Pod{}
	if err := json.Unmarshal([]byte(r.Stdout), pod); err != nil {
		t.Fatalf("kubectl get pod %s -o json: %v\n%s", name, err, r.Stdout)
	}
	return pod, true
}

// podReady reports whether a pod is Running with its Ready condition True.
func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// containerStatus returns the status of a pod's container name (zero when
// the pod reports none yet).
func containerStatus(p *corev1.Pod, name string) corev1.ContainerStatus {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == name {
			return s
		}
	}
	return corev1.ContainerStatus{Name: name}
}

// describePods says, one pod a line, where each pod is and in what state
// (for failure messages).
func describePods(pods []corev1.Pod) string {
	var b strings.Builder
	for i := range pods {
		p := &pods[i]
		fmt.Fprintf(&b, "\n  %s uid=%s node=%s ip=%s phase=%s ready=%v deleting=%v", p.Name, p.UID, p.Spec.NodeName,
			p.Status.PodIP, p.Status.Phase, podReady(p), p.DeletionTimestamp != nil)
		for _, s := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, " [%s restarts=%d %s]", s.Name, s.RestartCount, stateString(s.State))
		}
	}
	return b.String()
}

func stateString(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Waiting != nil:
		return "waiting:" + s.Waiting.Reason
	case s.Terminated != nil:
		return fmt.Sprintf("terminated:%s(%d)", s.Terminated.Reason, s.Terminated.ExitCode)
	}
	return "none"
}

// follower is a running `kubectl logs -f` whose output is collected.
type follower struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	out  bytes.Buffer
}

func (f *follower) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.out.Write(p)
}

// String returns the output so far.
func (f *follower) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.out.String()
}

// followLogs starts `kubectl logs -f` with args; it is stopped when the
// test ends.
func followLogs(t testing.TB, args ...string) *follower {
	t.Helper()
	f := &follower{done: make(chan struct{})}
	f.cmd = exec.Command(kubectlBin, append([]string{"logs", "-f"}, args...)...)
	f.cmd.Stdout, f.cmd.Stderr = f, f
	if err := f.cmd.Start(); err != nil {
		t.Fatalf("kubectl logs -f %s: %v", strings.Join(args, " "), err)
	}
	go func() { f.cmd.Wait(); close(f.done) }()
	t.Cleanup(func() {
		f.cmd.Process.Kill()
		<-f.done
	})
	return f
}

// waitOutput waits until the output contains want.
func (f *follower) waitOutput(t testing.TB, timeout time.Duration, want string) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("`kubectl %s` to print %q", strings.Join(f.cmd.Args[1:], " "), want), func() string {
		if out := f.String(); !strings.Contains(out, want) {
			return fmt.Sprintf("output so far: %q", out)
		}
		return ""
	})
}

// waitExit waits until kubectl ends (the followed container stopped).
func (f *follower) waitExit(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-f.done:
	case <-time.After(timeout):
		t.Fatalf("`kubectl %s` still runs after %s (its container should have stopped); output: %q",
			strings.Join(f.cmd.Args[1:], " "), timeout, f.String())
	}
}

// nodeDocker runs the docker CLI inside a node container (against its inner
// dockerd) and fails unless it exits 0.
func nodeDocker(t testing.TB, node string, args ...string) string {
	t.Helper()
	r := run(t, time.Minute, nil, "docker", append([]string{"exec", node, "docker"}, args...)...)
	if r.Code != 0 {
		t.Fatalf("docker exec %s docker %s: want exit 0, got %s", node, strings.Join(args, " "), r)
	}
	return r.Stdout
}

// podEvents returns "reason: message" of the events about a pod.
func podEvents(t testing.TB, kctx, pod string) []string {
	t.Helper()
	var list corev1.EventList
	out := kubectl(t, "--context", kctx, "get", "events", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("kubectl get events -o json: %v\n%s", err, out)
	}
	var evs []string
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "Pod" && e.InvolvedObject.Name == pod {
			evs = append(evs, e.Reason+": "+e.Message)
		}
	}
	return evs
}

// podWatch collects every version of a pod that `kubectl get pod NAME -w
// -o json` prints.
type podWatch struct {
	mu       sync.Mutex
	versions []corev1.Pod
	err      error
}

// watchPod starts watching a pod; the watch stops when the test ends.
func watchPod(t testing.TB, kctx, name string) *podWatch {
	t.Helper()
	w := &podWatch{}
	cmd := exec.Command(kubectlBin, "--context", kctx, "get", "pod", name, "-w", "-o", "json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("kubectl get pod %s -w: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		dec := json.NewDecoder(stdout)
		for {
			var p corev1.Pod
			err := dec.Decode(&p)
			w.mu.Lock()
			if err != nil {
				w.err = fmt.Errorf("kubectl get pod %s -w ended: %v (stderr %q)", name, err, stderr.String())
				w.mu.Unlock()
				return
			}
			w.versions = append(w.versions, p)
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
	})
	return w
}

// seen returns the versions seen so far, and the error that ended the
// watch, if it ended.
func (w *podWatch) seen() ([]corev1.Pod, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]corev1.Pod(nil), w.versions...), w.err
}
