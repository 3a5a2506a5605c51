package e2e

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// podsCluster is the cluster TestPods's steps share.
type podsCluster struct {
	name, kctx   string
	echo, crash  string // test image tags
	nodes        []string
	replacedPods []string // deployment pods deleted by the steps
	crashyWatch  *podWatch
}

// termDelay is the echo pods' TERM_DELAY: how long they take to exit after
// SIGTERM (well inside their 30 s grace period).
const termDelay = 4 * time.Second

const echoDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 6
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      terminationGracePeriodSeconds: 30
      containers:
      - name: echo
        image: %s
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: TERM_DELAY, value: %s}
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
`

// crashy has a healthy container and one that exits 1 at once, forever;
// live has a liveness probe the test makes fail.
const crashyAndLive = `apiVersion: v1
kind: Pod
metadata: {name: crashy, labels: {app: crashy}}
spec:
  containers:
  - name: web
    image: %[1]s
    env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
  - name: crash
    image: %[2]s
---
apiVersion: v1
kind: Pod
metadata: {name: live, labels: {app: live}}
spec:
  containers:
  - name: echo
    image: %[1]s
    env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
    livenessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1, failureThreshold: 2}
    readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
`

// TestPods runs pods on a real 3-node cluster: a 6-replica Deployment of a
// FROM-scratch image loaded with `mini image load`, logs and exec through
// stock kubectl, a crash loop with back-off, a liveness restart, graceful
// deletion, and a node agent restart that keeps its pods.
func TestPods(t *testing.T) {
	c := &podsCluster{name: uniqueName("e2e-pods")}
	c.kctx = "mini-" + c.name
	c.echo, c.crash = testImage(t, "echo"), testImage(t, "crash")
	createCluster(t, c.name, "--nodes", "3")
	c.nodes = nodeNames(c.name, 0, 1, 2)
	wantNodes(t, c.kctx, c.nodes...)
	mustMini(t, "image", "load", c.echo, c.crash, "-c", c.name)
	kubectlApply(t, c.kctx, fmt.Sprintf(crashyAndLive, c.echo, c.crash))
	c.crashyWatch = watchPod(t, c.kctx, "crashy")
	kubectlApply(t, c.kctx, fmt.Sprintf(echoDeployment, c.echo, termDelay))

	steps := []struct {
		name string
		f    func(*testing.T)
	}{
		{"deployment spreads Ready pods over 3 nodes", c.stepDeployment},
		{"logs", c.stepLogs},
		{"exec", c.stepExec},
		{"crash loop back-off", c.stepCrashLoop},
		{"liveness restart", c.stepLiveness},
		{"graceful deletion", c.stepGracefulDelete},
		{"agent restart keeps pods", c.stepAgentRestart},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.f) {
			t.FailNow() // later steps build on this one
		}
	}
}

// readyEcho waits until the Deployment has exactly 6 Ready pods (none
// terminating, none of replacedPods) and returns them sorted by name.
func (c *podsCluster) readyEcho(t *testing.T) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	waitFor(t, 3*time.Minute, "6 Ready pods of Deployment echo", func() string {
		pods = getPods(t, c.kctx, "app=echo")
		ready := 0
		for i := range pods {
			for _, gone := range c.replacedPods {
				if pods[i].Name == gone {
					return fmt.Sprintf("deleted pod %s is still listed:%s", gone, describePods(pods))
				}
			}
			if podReady(&pods[i]) {
				ready++
			}
		}
		if len(pods) != 6 || ready != 6 {
			return fmt.Sprintf("want 6 pods, all Ready; got %d pods, %d Ready:%s", len(pods), ready, describePods(pods))
		}
		return ""
	})
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods
}

func (c *podsCluster) stepDeployment(t *testing.T) {
	pods := c.readyEcho(t)
	cidrs := map[string]*net.IPNet{}
	for _, line := range strings.Split(strings.TrimSpace(kubectl(t, "--context", c.kctx, "get", "nodes", "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.spec.podCIDR}{"\n"}{end}`)), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			_, n, err := net.ParseCIDR(f[1])
			if err != nil {
				t.Fatalf("node %s has podCIDR %q: %v", f[0], f[1], err)
			}
			cidrs[f[0]] = n
		}
	}
	nodes, ips := map[string]int{}, map[string]string{}
	for _, p := range pods {
		nodes[p.Spec.NodeName]++
		if other, dup := ips[p.Status.PodIP]; dup || p.Status.PodIP == "" {
			t.Fatalf("want a distinct pod IP per pod; %s has %q, as %s:%s", p.Name, p.Status.PodIP, other, describePods(pods))
		}
		ips[p.Status.PodIP] = p.Name
		if n := cidrs[p.Spec.NodeName]; n == nil || !n.Contains(net.ParseIP(p.Status.PodIP)) {
			t.Errorf("pod %s on %s has IP %s: want it inside the node's podCIDR %v", p.Name, p.Spec.NodeName, p.Status.PodIP, n)
		}
		if p.Status.HostIP == "" {
			t.Errorf("pod %s: want status.hostIP set, got none", p.Name)
		}
		want := fmt.Sprintf("echo: pod %s host %s listening on :8080", p.Name, p.Name)
		if out := kubectl(t, "--context", c.kctx, "logs", p.Name); !strings.Contains(out, want) {
			t.Errorf("kubectl logs %s: want a line %q (the pod reports its name), got %q", p.Name, want, out)
		}
	}
	if len(nodes) != 3 {
		t.Fatalf("want the 6 replicas on all 3 nodes, got pods per node %v:%s", nodes, describePods(pods))
	}
	t.Logf("6 pods Ready, per node %v, IPs %v", nodes, ips)
}

// twoOnDifferentNodes returns two of the pods on different nodes.
func twoOnDifferentNodes(t *testing.T, pods []corev1.Pod) (a, b corev1.Pod) {
	t.Helper()
	for _, p := range pods[1:] {
		if p.Spec.NodeName != pods[0].Spec.NodeName {
			return pods[0], p
		}
	}
	t.Fatalf("want pods on two nodes, got:%s", describePods(pods))
	return
}

func (c *podsCluster) stepLogs(t *testing.T) {
	a, b := twoOnDifferentNodes(t, c.readyEcho(t))
	// -f: a request from a on another node appears in b's followed log.
	f := followLogs(t, "--context", c.kctx, b.Name)
	f.waitOutput(t, time.Minute, "listening on :8080")
	path := "/from-" + a.Name
	kubectl(t, "--context", c.kctx, "exec", a.Name, "--", "/echo", "check", "http://"+b.Status.PodIP+":8080"+path)
	wantLine := fmt.Sprintf("echo: GET %s from %s:", path, a.Status.PodIP)
	f.waitOutput(t, time.Minute, wantLine)

	// --tail
	all := strings.Split(strings.TrimSpace(kubectl(t, "--context", c.kctx, "logs", b.Name)), "\n")
	tail := kubectl(t, "--context", c.kctx, "logs", b.Name, "--tail=1")
	if want := all[len(all)-1] + "\n"; tail != want || !strings.HasPrefix(tail, wantLine) {
		t.Errorf("kubectl logs %s --tail=1: want the last line %q, got %q (all: %q)", b.Name, want, tail, all)
	}
	if two := kubectl(t, "--context", c.kctx, "logs", b.Name, "--tail=2"); strings.Count(two, "\n") != 2 {
		t.Errorf("kubectl logs %s --tail=2: want 2 lines, got %q", b.Name, two)
	}

	// -c picks a container of a two-container pod.
	waitFor(t, 2*time.Minute, "pod crashy's web container to run", func() string {
		p, _ := getPod(t, c.kctx, "crashy")
		if p == nil || containerStatus(p, "web").State.Running == nil {
			return fmt.Sprintf("pod: %v", p)
		}
		return ""
	})
	if out := kubectl(t, "--context", c.kctx, "logs", "crashy", "-c", "web"); !strings.Contains(out, "echo: pod crashy host crashy listening") || strings.Contains(out, "crash:") {
		t.Errorf("kubectl logs crashy -c web: want only the echo server's lines, got %q", out)
	}

	// --previous: the attempt before the current one; none for a container
	// that never restarted.
	runID := regexp.MustCompile(`crash: run (\d+) started`)
	waitFor(t, 2*time.Minute, "kubectl logs crashy -c crash --previous to show an earlier run than the current one", func() string {
		if containerStatus(mustPod(t, c.kctx, "crashy"), "crash").RestartCount < 1 {
			return "no restart yet"
		}
		prev := run(t, time.Minute, nil, kubectlBin, "--context", c.kctx, "logs", "crashy", "-c", "crash", "--previous")
		cur := run(t, time.Minute, nil, kubectlBin, "--context", c.kctx, "logs", "crashy", "-c", "crash")
		mp, mc := runID.FindStringSubmatch(prev.Stdout), runID.FindStringSubmatch(cur.Stdout)
		if prev.Code != 0 || cur.Code != 0 || mp == nil || mc == nil || !strings.Contains(prev.Stdout, "crash: exiting with code 1") || mp[1] >= mc[1] {
			return fmt.Sprintf("--previous: %s\ncurrent: %s", prev, cur)
		}
		return ""
	})
	r := run(t, time.Minute, nil, kubectlBin, "--context", c.kctx, "logs", b.Name, "--previous")
	if r.Code == 0 || !strings.Contains(r.Stderr, "previous terminated container") {
		t.Errorf("kubectl logs %s --previous (never restarted): want an error saying there is no previous terminated container, got %s", b.Name, r)
	}
}

// mustPod reads a pod that must exist.
func mustPod(t *testing.T, kctx, name string) *corev1.Pod {
	t.Helper()
	p, ok := getPod(t, kctx, name)
	if !ok {
		t.Fatalf("pod %s: want it to exist, got NotFound", name)
	}
	return p
}

func (c *podsCluster) stepExec(t *testing.T) {
	p := c.readyEcho(t)[0].Name
	exec := func(stdin string, args ...string) result {
		return runStdin(t, 2*time.Minute, stdin, nil, kubectlBin, append([]string{"--context", c.kctx, "exec"}, args...)...)
	}
	want := func(what string, r result, code int, stdout, stderr string) {
		t.Helper()
		if r.Code != code || r.Stdout != stdout || !strings.Contains(r.Stderr, stderr) {
			t.Errorf("%s: want exit %d, stdout %q, stderr containing %q; got %s", what, code, stdout, stderr, r)
		}
	}
	want("exec print", exec("", p, "--", "/echo", "print", "hello", "pods"), 0, "hello pods\n", "")
	want("exec hostname", exec("", p, "--", "/echo", "hostname"), 0, p+"\n", "")
	want("exec -i with stdin", exec("line one\nline two\n", "-i", p, "--", "/echo", "cat"), 0, "line one\nline two\n", "")
	want("exec exit code", exec("", p, "--", "/echo", "exit", "3"), 3, "", "exit code 3")
	want("exec stderr", exec("", p, "--", "/echo", "stderr", "oops"), 0, "", "oops")
	want("exec -c web", exec("", "crashy", "-c", "web", "--", "/echo", "hostname"), 0, "crashy\n", "")
	if r := exec("", p, "--", "/echo", "env"); r.Code != 0 || !strings.Contains(r.Stdout, "POD_NAME="+p+"\n") {
		t.Errorf("exec env: want POD_NAME=%s in the environment, got %s", p, r)
	}
	if r := exec("", p, "--", "/no-such-binary"); r.Code == 0 {
		t.Errorf("exec of a missing binary: want a non-zero exit, got %s", r)
	}
}

// attemptTimes are the start and exit times of the attempts of a container,
// by restart count, as its statuses reported them.
type attemptTimes map[int32]*corev1.ContainerStateTerminated

// record notes what one container status says about its attempts: the
// latest attempt's exit (in state, or in lastState while it waits for its
// restart), or the previous attempt's exit while the latest runs.
func (a attemptTimes) record(s corev1.ContainerStatus) {
	switch {
	case s.State.Terminated != nil:
		a[s.RestartCount] = s.State.Terminated
	case s.State.Waiting != nil && s.LastTerminationState.Terminated != nil:
		a[s.RestartCount] = s.LastTerminationState.Terminated
	case s.State.Running != nil && s.LastTerminationState.Terminated != nil && s.RestartCount > 0:
		a[s.RestartCount-1] = s.LastTerminationState.Terminated
	}
}

// delay is how long the kubelet waited between attempt n's exit and
// attempt n+1's start (ok false when either is unknown).
func (a attemptTimes) delay(n int32) (time.Duration, bool) {
	prev, next := a[n], a[n+1]
	if prev == nil || next == nil {
		return 0, false
	}
	return next.StartedAt.Sub(prev.FinishedAt.Time), true
}

func (c *podsCluster) stepCrashLoop(t *testing.T) {
	attempts := attemptTimes{}
	var counts []int32
	reasons, backOffs := map[string]bool{}, map[string]bool{}
	backOff := regexp.MustCompile(`^back-off (\S+) restarting failed container`)
	var last corev1.ContainerStatus
	waitFor(t, 4*time.Minute, "the crash container's 4th attempt (restartCount 3) and the back-off delays before attempts 2 and 3", func() string {
		versions, err := c.crashyWatch.seen()
		if err != nil {
			t.Fatal(err)
		}
		attempts, counts = attemptTimes{}, nil
		for i := range versions {
			p := &versions[i]
			if w := containerStatus(p, "web"); w.RestartCount != 0 {
				t.Fatalf("crashy's web container: want it never restarted while its neighbour crashes; got %+v", w)
			}
			last = containerStatus(p, "crash")
			if n := len(counts); n == 0 || counts[n-1] != last.RestartCount {
				counts = append(counts, last.RestartCount)
			}
			attempts.record(last)
			if w := last.State.Waiting; w != nil {
				reasons[w.Reason] = true
				if m := backOff.FindStringSubmatch(w.Message); m != nil {
					backOffs[m[1]] = true
				}
			}
			if last.RestartCount > 0 && p.Status.Phase != corev1.PodRunning {
				t.Fatalf("crashy: want phase Running while it crash-loops (as Kubernetes), got %s", p.Status.Phase)
			}
		}
		_, ok1 := attempts.delay(1)
		_, ok2 := attempts.delay(2)
		if !ok1 || !ok2 {
			return fmt.Sprintf("restart counts seen %v, attempts known %v; last status %+v", counts, keys(attempts), last)
		}
		return ""
	})
	for i := 1; i < len(counts); i++ {
		if counts[i] < counts[i-1] {
			t.Errorf("restartCount went down: seen %v", counts)
		}
	}
	if !reasons["CrashLoopBackOff"] {
		t.Errorf("want the crash container waiting with reason CrashLoopBackOff at some point, saw reasons %v", reasons)
	}
	if !backOffs["10s"] || !backOffs["20s"] {
		t.Errorf("want back-off messages of 10s then 20s (Kubernetes's doubling from 10 s), saw %v", backOffs)
	}
	d1, _ := attempts.delay(1)
	d2, _ := attempts.delay(2)
	// Times are whole seconds: a delay is known to ±1 s.
	if d1 < 9*time.Second || d2 < 19*time.Second || d2 <= d1 {
		t.Errorf("want growing restart delays, about 10 s before attempt 2 and 20 s before attempt 3; got %v and %v (attempts %v)", d1, d2, attempts)
	}
	t.Logf("restart counts seen %v; delays before attempts 2 and 3: %v, %v; back-offs %v", counts, d1, d2, backOffs)
	// Later steps check that a node agent restart changes no container:
	// the crashing one would.
	kubectl(t, "--context", c.kctx, "delete", "pod", "crashy", "--wait=true", "--timeout=2m")
}

func keys(a attemptTimes) []int32 {
	var out []int32
	for k := range a {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (c *podsCluster) stepLiveness(t *testing.T) {
	var before corev1.ContainerStatus
	waitFor(t, 2*time.Minute, "pod live to be Ready", func() string {
		p := mustPod(t, c.kctx, "live")
		before = containerStatus(p, "echo")
		if !podReady(p) {
			return describePods([]corev1.Pod{*p})
		}
		return ""
	})
	if before.RestartCount != 0 {
		t.Fatalf("pod live: want restartCount 0 before its probe fails, got %d", before.RestartCount)
	}
	kubectl(t, "--context", c.kctx, "exec", "live", "--", "/echo", "fail-health")
	var after corev1.ContainerStatus
	waitFor(t, 2*time.Minute, "pod live's container to be restarted by its liveness probe and Ready again", func() string {
		p := mustPod(t, c.kctx, "live")
		after = containerStatus(p, "echo")
		if after.RestartCount < 1 || after.ContainerID == before.ContainerID || !podReady(p) {
			return fmt.Sprintf("before %s, now:%s", before.ContainerID, describePods([]corev1.Pod{*p}))
		}
		return ""
	})
	if after.RestartCount != 1 || after.LastTerminationState.Terminated == nil {
		t.Errorf("pod live: want restartCount 1 with the killed container as lastState, got %+v", after)
	}
	evs := strings.Join(podEvents(t, c.kctx, "live"), "\n")
	for _, want := range []string{"Unhealthy: Liveness probe failed", "Killing: Container echo failed liveness probe"} {
		if !strings.Contains(evs, want) {
			t.Errorf("events of pod live: want %q, got:\n%s", want, evs)
		}
	}
	// The killed container got SIGTERM (the echo server logs it), and its
	// log is still there as the previous one.
	if out := kubectl(t, "--context", c.kctx, "logs", "live", "--previous"); !strings.Contains(out, "echo: received terminated") {
		t.Errorf("kubectl logs live --previous: want the killed container's log with its SIGTERM, got %q", out)
	}
}

// deletePod deletes a pod (with extra kubectl delete flags) while following
// its log, waits until it is gone and returns how long that took and the
// followed log. Without flags (the pod's 30 s grace period) the pod must
// still be there, terminating, right after the delete.
func (c *podsCluster) deletePod(t *testing.T, name string, flags ...string) (time.Duration, string) {
	t.Helper()
	f := followLogs(t, "--context", c.kctx, name)
	f.waitOutput(t, time.Minute, "listening on :8080")
	start := time.Now()
	kubectl(t, append([]string{"--context", c.kctx, "delete", "pod", name, "--wait=false"}, flags...)...)
	if p, ok := getPod(t, c.kctx, name); len(flags) == 0 && (!ok || p.DeletionTimestamp == nil) {
		t.Errorf("pod %s right after kubectl delete: want it still there, terminating (its container takes %v to stop), got %v", name, termDelay, p)
	}
	f.waitOutput(t, time.Minute, "echo: received terminated")
	waitFor(t, 2*time.Minute, "pod "+name+" to be gone", func() string {
		if p, ok := getPod(t, c.kctx, name); ok {
			return describePods([]corev1.Pod{*p})
		}
		return ""
	})
	took := time.Since(start)
	f.waitExit(t, time.Minute)
	c.replacedPods = append(c.replacedPods, name)
	return took, f.String()
}

func (c *podsCluster) stepGracefulDelete(t *testing.T) {
	pods := c.readyEcho(t)
	// Default grace (30 s): the server gets SIGTERM, takes TERM_DELAY to
	// exit, and the pod goes once it has.
	took, log := c.deletePod(t, pods[0].Name)
	if !strings.Contains(log, "echo: bye") {
		t.Errorf("pod %s deleted with a 30 s grace period: want its server to finish its %v TERM_DELAY and say bye, got log %q", pods[0].Name, termDelay, log)
	}
	if took < termDelay {
		t.Errorf("pod %s: want it gone no sooner than its container's %v TERM_DELAY after the delete, gone after %v", pods[0].Name, termDelay, took)
	}
	t.Logf("pod %s (TERM_DELAY %v, grace 30s) gone %v after kubectl delete", pods[0].Name, termDelay, took)
	// A grace period shorter than TERM_DELAY: SIGKILL before the bye.
	took, log = c.deletePod(t, pods[1].Name, "--grace-period=1")
	if strings.Contains(log, "echo: bye") {
		t.Errorf("pod %s deleted with --grace-period=1: want its server killed before the end of its %v TERM_DELAY, but it said bye: %q", pods[1].Name, termDelay, log)
	}
	t.Logf("pod %s (TERM_DELAY %v, --grace-period=1) gone %v after kubectl delete", pods[1].Name, termDelay, took)
	// The ReplicaSet replaces both.
	c.readyEcho(t)
}

// podsOn returns the pods bound to node, by name.
func (c *podsCluster) podsOn(t *testing.T, node string) map[string]corev1.Pod {
	t.Helper()
	out := map[string]corev1.Pod{}
	for _, p := range getPods(t, c.kctx, "app in (echo, live)") {
		if p.Spec.NodeName == node {
			out[p.Name] = p
		}
	}
	return out
}

// podFingerprint is what must not change when the agent restarts: the
// pod's UID, its containers' IDs and restart counts, its readiness.
func podFingerprint(p corev1.Pod) string {
	s := fmt.Sprintf("uid=%s ready=%v", p.UID, podReady(&p))
	for _, cs := range p.Status.ContainerStatuses {
		s += fmt.Sprintf(" %s=%s/restarts=%d/%s", cs.Name, cs.ContainerID, cs.RestartCount, stateString(cs.State))
	}
	return s
}

func (c *podsCluster) stepAgentRestart(t *testing.T) {
	node := c.readyEcho(t)[0].Spec.NodeName
	before := c.podsOn(t, node)
	// Pods deleted by earlier steps leave the API before the kubelet has
	// removed their containers: wait until the node holds only containers
	// of the pods it runs, so that their removal is not taken for a change
	// the restart made.
	waitFor(t, time.Minute, "the containers of deleted pods to be removed from "+node, func() string {
		uids := map[string]bool{}
		for _, p := range before {
			uids[string(p.UID)] = true
		}
		out := nodeDocker(t, node, "ps", "-a", "--format", `{{.Label "io.kubernetes.pod.uid"}} {{.Names}}`)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if uid, _, _ := strings.Cut(line, " "); uid != "" && !uids[uid] {
				return "a container of a pod no longer on the node remains: " + line
			}
		}
		return ""
	})
	containersBefore := nodeDocker(t, node, "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}} {{.Names}}")
	startedAt := run(t, time.Minute, nil, "docker", "inspect", "-f", "{{.State.StartedAt}}", node).Stdout
	logs := func() string { return run(t, time.Minute, nil, "docker", "logs", node).Stderr }
	watching := strings.Count(logs(), "watching pods")
	since := time.Now().Add(-time.Second).Unix()
	if r := run(t, time.Minute, nil, "docker", "kill", "--signal", "HUP", node); r.Code != 0 {
		t.Fatalf("docker kill --signal HUP %s: %s", node, r)
	}
	waitFor(t, 2*time.Minute, "the kubelet of "+node+" to restart (SIGHUP) and watch pods again", func() string {
		l := logs()
		if !strings.Contains(l, "SIGHUP: restarting the kubelet") || strings.Count(l, "watching pods") != watching+1 {
			return "node agent log: " + l
		}
		return ""
	})
	// The new kubelet serves logs and exec of the pods it adopted.
	for name := range before {
		if out := kubectl(t, "--context", c.kctx, "exec", name, "--", "/echo", "hostname"); out != name+"\n" {
			t.Errorf("kubectl exec %s -- /echo hostname after the agent restart: want %q, got %q", name, name+"\n", out)
		}
		kubectl(t, "--context", c.kctx, "logs", name, "--tail=1")
	}
	after := c.podsOn(t, node)
	for name, p := range before {
		if a, ok := after[name]; !ok || podFingerprint(a) != podFingerprint(p) {
			t.Errorf("pod %s on %s: want it unchanged by the agent restart, before %s, after %s", name, node, podFingerprint(p), podFingerprint(a))
		}
	}
	if len(after) != len(before) {
		t.Errorf("pods on %s: want the same %d after the agent restart, got %d:%s", node, len(before), len(after), describePods(mapValues(after)))
	}
	if got := nodeDocker(t, node, "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}} {{.Names}}"); sortedLines(got) != sortedLines(containersBefore) {
		t.Errorf("containers in %s: want the same after the agent restart;\nbefore:\n%s\nafter:\n%s", node, containersBefore, got)
	}
	if evs := nodeDocker(t, node, "events", "--since", fmt.Sprint(since), "--until", fmt.Sprint(time.Now().Unix()),
		"--filter", "type=container", "--filter", "event=create", "--filter", "event=start", "--filter", "event=die",
		"--filter", "event=kill", "--filter", "event=destroy", "--format", `{{.Action}} {{index .Actor.Attributes "name"}}`); strings.TrimSpace(evs) != "" {
		t.Errorf("inner Docker of %s: want no container created, started, killed or removed across the agent restart, got events:\n%s", node, evs)
	}
	if now := run(t, time.Minute, nil, "docker", "inspect", "-f", "{{.State.StartedAt}}", node).Stdout; now != startedAt {
		t.Errorf("node container %s: want it not restarted (SIGHUP restarts the kubelet alone), started at %s, now %s", node, startedAt, now)
	}
	// The new kubelet also terminates an adopted pod, gracefully.
	for name, p := range before {
		if p.Labels["app"] == "echo" {
			if _, log := c.deletePod(t, name); !strings.Contains(log, "echo: bye") {
				t.Errorf("pod %s deleted after the agent restart: want a graceful exit (bye), got log %q", name, log)
			}
			break
		}
	}
	c.readyEcho(t)
}

func sortedLines(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(l)
	return strings.Join(l, "\n")
}

func mapValues(m map[string]corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range m {
		out = append(out, p)
	}
	return out
}
