package agentserver_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/internal/testimage"
	"github.com/minicluster/mini/node/kubelet/kubelettest"
)

func echoPod(h *kubelettest.Harness, name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "echo", Image: h.Images[testimage.Echo],
			Env: []corev1.EnvVar{{Name: "POD_NAME", Value: name}},
			ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
				HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}}}}}}
}

// logs reads a pod's log through the API server (which proxies to the
// agent), as kubectl logs does.
func logs(t *testing.T, h *kubelettest.Harness, pod string, q url.Values) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(h.Ctx, 10*time.Second)
	defer cancel()
	data, err := h.Env.Client.Do(ctx, client.Request{Method: http.MethodGet, Path: "/api/v1/namespaces/default/pods/" + pod + "/log", Query: q, Accept: "*/*"})
	if err != nil {
		t.Fatalf("logs of %s (%v): %v", pod, q, err)
	}
	return string(data)
}

func TestLogsThroughAPIServer(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{BackOffInitial: time.Second})
	p := h.CreatePod(echoPod(h, "talker"))
	p = h.WaitPod("talker", "Running", 90*time.Second, kubelettest.Running)

	var all string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(all, "(stderr)") && time.Now().Before(deadline); {
		all = logs(t, h, "talker", nil) // the program may not have printed yet
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(all, "echo: pod talker host talker listening on :8080\n") || !strings.Contains(all, "echo: started (stderr)\n") {
		t.Errorf("log = %q, want the stdout and stderr start lines", all)
	}
	if got := logs(t, h, "talker", url.Values{"tailLines": {"1"}}); strings.Count(got, "\n") != 1 || !strings.Contains(all, got) {
		t.Errorf("tailLines=1 gave %q", got)
	}
	ts := logs(t, h, "talker", url.Values{"timestamps": {"true"}})
	first := strings.SplitN(ts, " ", 2)[0]
	if _, err := time.Parse(time.RFC3339Nano, first); err != nil {
		t.Errorf("timestamps=true: line starts with %q, not an RFC 3339 time", first)
	}

	// follow: a request to the pod shows up in the open stream
	ctx, cancel := context.WithTimeout(h.Ctx, 15*time.Second)
	defer cancel()
	rc, err := h.Env.Client.Open(ctx, client.Request{Method: http.MethodGet, Path: "/api/v1/namespaces/default/pods/talker/log",
		Query: url.Values{"follow": {"true"}, "tailLines": {"0"}}, Accept: "*/*"})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	time.Sleep(500 * time.Millisecond)
	resp, err := http.Get("http://" + p.Status.PodIP + ":8080/followed")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case l := <-lines:
		if !strings.Contains(l, "GET /followed") {
			t.Errorf("followed line %q, want the request", l)
		}
	case <-ctx.Done():
		t.Fatal("the followed log showed nothing within 15s of a request")
	}

	// previous: none yet, then the attempt before a restart
	_, err = h.Env.Client.Do(h.Ctx, client.Request{Method: http.MethodGet, Path: "/api/v1/namespaces/default/pods/talker/log",
		Query: url.Values{"previous": {"true"}}})
	if err == nil || !strings.Contains(err.Error(), `previous terminated container "echo" in pod "talker" not found`) {
		t.Errorf("previous of a container that never restarted: %v", err)
	}
	h.CreatePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "crasher"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "crash", Image: h.Images[testimage.Crash]}}}})
	h.WaitPod("crasher", "a restart", 90*time.Second, func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	cur, prev := logs(t, h, "crasher", nil), logs(t, h, "crasher", url.Values{"previous": {"true"}})
	if !strings.HasPrefix(prev, "crash: run ") || !strings.Contains(prev, "crash: exiting with code 1") || prev == cur {
		t.Errorf("previous log %q should be the earlier run's, current %q", prev, cur)
	}
}

// restConfig is the admin's client-go configuration of the harness's API
// server.
func restConfig(h *kubelettest.Harness) *rest.Config {
	cfg := h.Env.Client.Config()
	return &rest.Config{Host: cfg.Server, BearerToken: cfg.Token, TLSClientConfig: rest.TLSClientConfig{CAData: cfg.CAData}}
}

type sizes struct {
	ch chan *remotecommand.TerminalSize
}

func (s sizes) Next() *remotecommand.TerminalSize { return <-s.ch }

// execPod runs a command in a pod through the API server with client-go's
// WebSocket executor (what kubectl exec uses).
func execPod(t *testing.T, h *kubelettest.Harness, pod string, opts remotecommand.StreamOptions, cmd ...string) error {
	t.Helper()
	q := url.Values{"container": {"echo"}, "command": cmd}
	for k, on := range map[string]bool{"stdin": opts.Stdin != nil, "stdout": opts.Stdout != nil, "stderr": opts.Stderr != nil, "tty": opts.Tty} {
		q.Set(k, strconv.FormatBool(on))
	}
	cfg := restConfig(h)
	u := cfg.Host + "/api/v1/namespaces/default/pods/" + pod + "/exec?" + q.Encode()
	ex, err := remotecommand.NewWebSocketExecutor(cfg, "GET", u)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(h.Ctx, 20*time.Second)
	defer cancel()
	return ex.StreamWithContext(ctx, opts)
}

func TestExecThroughAPIServer(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{})
	h.CreatePod(echoPod(h, "shell"))
	h.WaitPod("shell", "Running", 90*time.Second, kubelettest.Running)

	var out, errOut bytes.Buffer
	if err := execPod(t, h, "shell", remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut}, "/echo", "print", "hello", "world"); err != nil {
		t.Fatalf("exec: %v", err)
	}
	if out.String() != "hello world\n" {
		t.Errorf("stdout %q, want %q", out.String(), "hello world\n")
	}
	out.Reset()
	if err := execPod(t, h, "shell", remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut}, "/echo", "stderr", "oops"); err != nil || errOut.String() != "oops\n" {
		t.Errorf("stderr %q (err %v), want %q", errOut.String(), err, "oops\n")
	}
	err := execPod(t, h, "shell", remotecommand.StreamOptions{Stdout: &out}, "/echo", "exit", "3")
	var ee utilexec.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 3 {
		t.Errorf("exit 3: error %v (%T), want an exit error with status 3", err, err)
	}
	out.Reset()
	err = execPod(t, h, "shell", remotecommand.StreamOptions{Stdin: strings.NewReader("from stdin\n"), Stdout: &out}, "/echo", "cat")
	if err != nil || out.String() != "from stdin\n" {
		t.Errorf("cat: %q (err %v), want the input back", out.String(), err)
	}
	out.Reset()
	// kubectl exec -it: a terminal whose input stays open; the size is
	// sent before the command reads it
	q := sizes{make(chan *remotecommand.TerminalSize, 1)}
	q.ch <- &remotecommand.TerminalSize{Width: 100, Height: 40}
	stdin, _ := io.Pipe()
	defer stdin.Close()
	err = execPod(t, h, "shell", remotecommand.StreamOptions{Stdin: stdin, Stdout: &out, Tty: true, TerminalSizeQueue: q},
		"/echo", "sleep", "1s", "tty")
	if err != nil || strings.TrimSpace(out.String()) != "tty 40x100" {
		t.Errorf("tty exec printed %q (err %v), want a 40x100 terminal", out.String(), err)
	}
}

func TestAgentRequiresNodeToken(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{})
	n := &corev1.Node{}
	if err := h.Env.Client.Get(h.Ctx, "", h.Node, n); err != nil {
		t.Fatal(err)
	}
	port := n.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port == 0 || n.Annotations["node.mini.dev/serving-cert-sha256"] == "" {
		t.Fatalf("node %s does not publish its agent: port %d annotations %v", h.Node, port, n.Annotations)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 5 * time.Second}
	base := "https://127.0.0.1:" + strconv.Itoa(int(port))
	for tok, want := range map[string]int{"": http.StatusUnauthorized, "wrong": http.StatusUnauthorized, h.NodeClient.Config().Token: http.StatusOK} {
		req, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("token %q: status %d, want %d", tok, resp.StatusCode, want)
		}
	}
}

func TestAttachThroughAPIServer(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{})
	h.CreatePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "catter"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "echo", Image: h.Images[testimage.Echo],
			Args: []string{"cat"}, Stdin: true}}}})
	h.WaitPod("catter", "Running", 90*time.Second, kubelettest.Running)
	cfg := restConfig(h)
	u := cfg.Host + "/api/v1/namespaces/default/pods/catter/attach?container=echo&stdin=true&stdout=true&stderr=true"
	ex, err := remotecommand.NewWebSocketExecutor(cfg, "GET", u)
	if err != nil {
		t.Fatal(err)
	}
	in, w := io.Pipe()
	var out syncBuffer
	ctx, cancel := context.WithTimeout(h.Ctx, 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: in, Stdout: &out, Stderr: &out})
	}()
	w.Write([]byte("attached line\n"))
	for !strings.Contains(out.String(), "attached line") {
		select {
		case err := <-done:
			t.Fatalf("attach ended before echoing (%v): %q", err, out.String())
		case <-ctx.Done():
			t.Fatalf("attach did not echo the input: %q", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
