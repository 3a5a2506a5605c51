package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minicluster/mini/internal/testimage"
)

// TestCLIVerbs drives every object verb of mini (apply, get, describe,
// logs, exec, scale, rollout, port-forward, delete) against one real
// two-node cluster, as a user at a shell would.
func TestCLIVerbs(t *testing.T) {
	name := uniqueName("cli")
	createCluster(t, name, "--nodes", "2")
	img := testImage(t, testimage.Echo)
	mustMini(t, "image", "load", img, "-c", name)
	manifest := filepath.Join(t.TempDir(), "echo.yaml")
	writeEcho(t, manifest, img, "1")

	if out := mustMini(t, "apply", "-f", manifest); out != "deployment.apps/echo created\nservice/echo created\n" {
		t.Fatalf("mini apply printed %q", out)
	}
	if out := stockKubectl(t, "apply", "-f", manifest); !strings.Contains(out, "deployment.apps/echo unchanged") {
		t.Errorf("stock kubectl apply after mini apply: %q, want unchanged", out)
	}
	rolledOut(t)
	pods := echoPods(t, 2)

	t.Run("get", func(t *testing.T) { cliGet(t, name, pods) })
	t.Run("get -w during a restart", func(t *testing.T) { cliWatchRestart(t, pods) })
	pods = echoPods(t, 2)
	t.Run("describe", func(t *testing.T) {
		out := mustMini(t, "describe", "pod", pods[0])
		for _, want := range []string{`Name:\s+` + pods[0] + `\n`, `Status:\s+Running\n`, `Image:\s+` + regexp.QuoteMeta(img) + `\n`,
			`Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message\n`, `Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned default/` + pods[0],
			`Normal\s+Started\s+\S+\s+kubelet\s+Started container echo`} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("describe pod does not match %s:\n%s", want, out)
			}
		}
		if out := mustMini(t, "describe", "deploy/echo"); !strings.Contains(out, "ScalingReplicaSet") || !strings.Contains(out, "Replicas:               2 desired | 2 updated | 2 total | 2 available") {
			t.Errorf("describe deploy/echo:\n%s", out)
		}
	})
	t.Run("logs", func(t *testing.T) {
		waitFor(t, time.Minute, "the pod's log", func() string {
			if out := mustMini(t, "logs", pods[0]); !strings.Contains(out, "echo: pod "+pods[0]+" host ") {
				return fmt.Sprintf("log %q", out)
			}
			return ""
		})
		r := runMini(t, "logs", "deploy/echo", "--tail", "1")
		if r.Code != 0 || strings.Count(r.Stdout, "\n") != 1 || !strings.Contains(r.Stderr, "Found 2 pods, using pod/") {
			t.Errorf("logs deploy/echo --tail 1: %s", r)
		}
	})
	t.Run("exec", func(t *testing.T) {
		if out := mustMini(t, "exec", pods[0], "--", "/echo", "print", "hello", "from", "mini"); out != "hello from mini\n" {
			t.Errorf("exec printed %q", out)
		}
		if r := runMini(t, "exec", "deploy/echo", "--", "/echo", "exit", "3"); r.Code != 3 || !strings.Contains(r.Stderr, "command terminated with exit code 3") {
			t.Errorf("exec of a command exiting 3: %s", r)
		}
	})
	t.Run("port-forward", func(t *testing.T) { cliPortForward(t) })
	t.Run("scale", func(t *testing.T) {
		if out := mustMini(t, "scale", "deploy/echo", "--replicas", "3"); out != "deployment.apps/echo scaled\n" {
			t.Errorf("scale printed %q", out)
		}
		rolledOut(t)
		echoPods(t, 3)
	})
	t.Run("rollout", func(t *testing.T) { cliRollout(t, manifest, img) })
	t.Run("delete", func(t *testing.T) {
		out := mustMini(t, "delete", "-f", manifest)
		if out != "deployment.apps \"echo\" deleted\nservice \"echo\" deleted\n" {
			t.Errorf("delete -f printed %q", out)
		}
		if r := runMini(t, "get", "deploy", "echo"); r.Code != 3 || !strings.Contains(r.Stderr, `deployments.apps "echo" not found`) {
			t.Errorf("get after delete (which waits): want exit 3 not found, got %s", r)
		}
		if r := runMini(t, "delete", "svc", "echo"); r.Code != 3 {
			t.Errorf("deleting a missing service: want exit 3, got %s", r)
		}
	})
}

// stockKubectl runs kubectl and returns its output. kubectlBin may be
// scripts/kubectl, which prints the path of a kubectl rather than being
// one; then that path is used.
func stockKubectl(t *testing.T, args ...string) string {
	t.Helper()
	bin := kubectlBin
	if strings.HasSuffix(bin, filepath.Join("scripts", "kubectl")) {
		r := run(t, 10*time.Minute, nil, bin)
		if r.Code != 0 {
			t.Fatalf("scripts/kubectl: %s", r)
		}
		bin = strings.TrimSpace(r.Stdout)
	}
	r := run(t, 2*time.Minute, nil, bin, args...)
	if r.Code != 0 {
		t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// writeEcho writes the echo Deployment and Service; version goes into an
// environment variable, so changing it rolls the pods.
func writeEcho(t *testing.T, path, img, version string) {
	t.Helper()
	m := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
spec:
  replicas: 2
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: echo
        image: %s
        env:
        - {name: VERSION, value: "%s"}
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        ports: [{containerPort: 8080}]
        readinessProbe:
          periodSeconds: 1
          httpGet: {path: /healthz, port: 8080}
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080}]
`, img, version)
	if err := os.WriteFile(path, []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rolledOut waits with mini rollout status for the echo Deployment.
func rolledOut(t *testing.T) string {
	t.Helper()
	out := mustMini(t, "rollout", "status", "deploy/echo", "--timeout", "3m")
	if !strings.HasSuffix(out, "deployment \"echo\" successfully rolled out\n") {
		t.Fatalf("rollout status printed %q", out)
	}
	return out
}

// echoPods waits until exactly n echo pods exist, all Running and Ready
// (mini get -o wide), and returns their names.
func echoPods(t *testing.T, n int) []string {
	t.Helper()
	var names []string
	waitFor(t, 3*time.Minute, fmt.Sprintf("%d echo pods Running", n), func() string {
		out := mustMini(t, "get", "pods", "-l", "app=echo")
		names = nil
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			f := strings.Fields(l)
			if len(f) != 5 || f[1] != "1/1" || f[2] != "Running" {
				return "get pods printed " + out
			}
			names = append(names, f[0])
		}
		if len(names) != n {
			return "get pods printed " + out
		}
		return ""
	})
	return names
}

func cliGet(t *testing.T, cluster string, pods []string) {
	wide := mustMini(t, "get", "pods", "-o", "wide")
	lines := strings.Split(strings.TrimSpace(wide), "\n")
	if h := strings.Join(strings.Fields(lines[0]), " "); h != "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES" {
		t.Errorf("get pods -o wide header %q", h)
	}
	nodes := nodeNames(cluster, 0, 1)
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 9 || !slices.Contains(pods, f[0]) || !strings.HasPrefix(f[5], "10.244.") || !slices.Contains(nodes, f[6]) {
			t.Errorf("get pods -o wide row %q: want a pod of %v with a pod IP on one of %v", l, pods, nodes)
		}
	}
	out := mustMini(t, "get", "deploy,svc")
	for _, want := range []string{`(?m)^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\ndeployment.apps/echo\s+2/2\s+2\s+2\s+\d+s\n\n`,
		`(?m)^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$`, `(?m)^service/echo\s+ClusterIP\s+10\.96\.\d+\.\d+\s+<none>\s+80/TCP\s`,
		`(?m)^service/kubernetes\s+ClusterIP\s+10\.96\.0\.1\s`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("get deploy,svc does not match %s:\n%s", want, out)
		}
	}
	if out := mustMini(t, "get", "no", "-o", "name"); out != "node/"+nodes[0]+"\nnode/"+nodes[1]+"\n" {
		t.Errorf("get no -o name: %q", out)
	}
	if r := runMini(t, "get", "widgets"); r.Code != 2 || !strings.Contains(r.Stderr, `the server doesn't have a resource type "widgets"`) {
		t.Errorf("get of an unknown kind: %s", r)
	}
	if r := runMini(t, "get", "pod", "nope"); r.Code != 3 || !strings.Contains(r.Stderr, `pods "nope" not found`) {
		t.Errorf("get of a missing pod: %s", r)
	}
}

// cliProc is a mini process left running (get -w, port-forward).
type cliProc struct {
	cmd  *exec.Cmd
	out  *cliBuffer
	errb *cliBuffer
	done chan error
}

type cliBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *cliBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *cliBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func startCLI(t *testing.T, args ...string) *cliProc {
	t.Helper()
	b := &cliProc{cmd: exec.Command(miniBin, args...), out: &cliBuffer{}, errb: &cliBuffer{}, done: make(chan error, 1)}
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.errb
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("mini %s: %v", strings.Join(args, " "), err)
	}
	go func() { b.done <- b.cmd.Wait() }()
	t.Cleanup(func() { b.interrupt(t) })
	return b
}

// interrupt sends Ctrl-C and returns the exit code (-1 if it had to be
// killed).
func (b *cliProc) interrupt(t *testing.T) int {
	if b.cmd.ProcessState == nil {
		b.cmd.Process.Signal(syscall.SIGINT)
	}
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
		t.Errorf("mini %s did not end within 30s of Ctrl-C", strings.Join(b.cmd.Args[1:], " "))
		return -1
	}
	b.done <- nil // later calls return at once
	return b.cmd.ProcessState.ExitCode()
}

func cliWatchRestart(t *testing.T, before []string) {
	w := startCLI(t, "get", "pods", "-w", "-l", "app=echo")
	waitFor(t, time.Minute, "get -w to list the pods", func() string {
		if s := w.out.String(); !strings.Contains(s, before[0]) || !strings.Contains(s, before[1]) {
			return fmt.Sprintf("stdout %q, stderr %q", s, w.errb.String())
		}
		return ""
	})
	if out := mustMini(t, "rollout", "restart", "deploy/echo"); out != "deployment.apps/echo restarted\n" {
		t.Errorf("rollout restart printed %q", out)
	}
	if out := rolledOut(t); !strings.Contains(out, "Waiting for deployment") {
		t.Errorf("rollout status after a restart showed no progress: %q", out)
	}
	after := echoPods(t, 2)
	for _, p := range after {
		if slices.Contains(before, p) {
			t.Fatalf("pod %s survived the restart (before %v, after %v)", p, before, after)
		}
	}
	waitFor(t, time.Minute, "get -w to print the new pods Running", func() string {
		s := w.out.String()
		for _, p := range after {
			if !regexp.MustCompile(`(?m)^` + p + `\s+1/1\s+Running`).MatchString(s) {
				return fmt.Sprintf("no Running row of %s in %q", p, s)
			}
		}
		return ""
	})
	code := w.interrupt(t)
	out := w.out.String()
	if code != 0 || strings.Count(out, "NAME ") != 1 || !regexp.MustCompile(`(?m)^`+before[0]+`\s+\S+\s+Terminating`).MatchString(out) {
		t.Errorf("get -w: want exit 0, one header, the old pods Terminating; got exit %d:\n%s%s", code, out, w.errb.String())
	}
}

func cliPortForward(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	pf := startCLI(t, "port-forward", "svc/echo", fmt.Sprintf("%d:80", port))
	want := fmt.Sprintf("Forwarding from 127.0.0.1:%d -> 8080", port)
	waitFor(t, time.Minute, "port-forward to listen", func() string {
		if s := pf.out.String(); !strings.Contains(s, want) {
			return fmt.Sprintf("stdout %q, stderr %q", s, pf.errb.String())
		}
		return ""
	})
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatalf("GET through port-forward: %v\n%s%s", err, pf.out.String(), pf.errb.String())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "pod=echo-") {
		t.Errorf("GET through port-forward answered %q, want pod=echo-…", body)
	}
	if strings.Contains(pf.out.String(), "[::1]") || strings.Contains(pf.out.String(), "0.0.0.0") {
		t.Errorf("port-forward listens beyond 127.0.0.1:\n%s", pf.out.String())
	}
	if code := pf.interrupt(t); code != 0 {
		t.Errorf("port-forward exited %d on Ctrl-C:\n%s", code, pf.errb.String())
	}
}

func cliRollout(t *testing.T, manifest, img string) {
	writeEcho(t, manifest, img, "2")
	if out := mustMini(t, "apply", "-f", manifest); out != "deployment.apps/echo configured\nservice/echo unchanged\n" {
		t.Errorf("apply of a changed manifest printed %q", out)
	}
	rolledOut(t)
	hist := mustMini(t, "rollout", "history", "deploy/echo")
	if hist != "deployment.apps/echo \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n3         <none>\n\n" {
		t.Errorf("rollout history printed %q", hist)
	}
	if out := mustMini(t, "rollout", "undo", "deploy/echo"); out != "deployment.apps/echo rolled back\n" {
		t.Errorf("rollout undo printed %q", out)
	}
	rolledOut(t)
	env := mustMini(t, "exec", "deploy/echo", "--", "/echo", "env")
	if !strings.Contains(env, "VERSION=1\n") {
		t.Errorf("after undo the pods run with %q, want VERSION=1 (revision 2, the restart)", env)
	}
	if out := mustMini(t, "rollout", "history", "deploy/echo"); !strings.HasSuffix(out, "\n1         <none>\n3         <none>\n4         <none>\n\n") {
		t.Errorf("history after undo: %q (revision 2 becomes 4)", out)
	}
}
