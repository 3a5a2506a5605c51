package cli

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/minicluster/mini/internal/testimage"
	"github.com/minicluster/mini/node/kubelet/kubelettest"
)

// logs, exec and port-forward need a node agent that runs containers:
// these run against a real kubelet (kubelettest: the control plane in
// process, the kubelet and its agent server on loopback, pods as
// containers of the host's Docker), through the API server's proxy, as
// kubectl's would.

func TestStreamVerbsInProcess(t *testing.T) {
	h := kubelettest.Start(t, kubelettest.Options{})
	kc := h.Env.Kubeconfig
	h.CreatePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "talker", Labels: map[string]string{"app": "echo"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "echo", Image: h.Images[testimage.Echo], Env: []corev1.EnvVar{{Name: "POD_NAME", Value: "talker"}},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
			{Name: "side", Image: h.Images[testimage.Echo], Env: []corev1.EnvVar{{Name: "PORT", Value: "8081"}, {Name: "POD_NAME", Value: "side"}}},
		}}})
	h.WaitPod("talker", "Running", 90*time.Second, kubelettest.Running)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: "default"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "echo"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}}}
	if err := h.Env.Client.Create(h.Ctx, svc); err != nil {
		t.Fatal(err)
	}

	t.Run("logs", func(t *testing.T) {
		var r cliResult
		waitUntil(t, 20*time.Second, "the echo server's first log line", func() bool {
			r = kube(t, kc, "", "logs", "talker")
			return strings.Contains(r.out, "echo: pod talker host ")
		}, &r)
		if r.code != 0 || !strings.Contains(r.err, `Defaulted container "echo" out of: echo, side`) {
			t.Errorf("logs of a two-container pod: %s", r)
		}
		waitUntil(t, 20*time.Second, "the side container's first log line", func() bool {
			r = kube(t, kc, "", "logs", "talker", "-c", "side")
			return r.code == 0 && strings.Contains(r.out, "echo: pod side host ")
		}, &r)
		if out := mustKube(t, kc, "logs", "svc/echo", "side", "--tail", "1"); strings.Count(out, "\n") != 1 {
			t.Errorf("logs svc/echo side --tail 1 printed %q, want one line", out)
		}
		wantCode(t, kube(t, kc, "", "logs", "talker", "-c", "nope"), ExitError, "container nope is not valid for pod talker", "logs of a missing container")
		wantCode(t, kube(t, kc, "", "logs", "nope"), ExitNotFound, `pods "nope" not found`, "logs of a missing pod")
		// -f follows: a request to the server shows up in the followed log.
		out, stop := background(t, kc, "logs", "-f", "talker", "-c", "echo", "--tail", "0")
		waitUntil(t, 20*time.Second, "logs -f to print a new request", func() bool {
			mustKube(t, kc, "exec", "talker", "-c", "side", "--", "/echo", "check", "http://127.0.0.1:8080/followed")
			return strings.Contains(out.String(), "GET /followed")
		}, nil)
		if r := stop(); r.code != 0 || strings.Contains(r.out, "listening on") {
			t.Errorf("logs -f --tail 0: %s", r)
		}
	})

	t.Run("exec", func(t *testing.T) {
		if out := mustKube(t, kc, "exec", "talker", "-c", "echo", "--", "/echo", "print", "hello", "world"); out != "hello world\n" {
			t.Errorf("exec print: %q", out)
		}
		r := kube(t, kc, "piped input\n", "exec", "-i", "svc/echo", "--", "/echo", "cat")
		if r.code != 0 || r.out != "piped input\n" || !strings.Contains(r.err, "Defaulted container") {
			t.Errorf("exec -i cat: %s", r)
		}
		r = kube(t, kc, "", "exec", "talker", "-c", "echo", "--", "/echo", "exit", "7")
		if r.code != 7 || !strings.Contains(r.err, "command terminated with exit code 7") {
			t.Errorf("exec of a command exiting 7: %s", r)
		}
		r = kube(t, kc, "", "exec", "talker", "-c", "echo", "--", "/echo", "stderr", "oops")
		if r.code != 0 || r.err != "oops\n" {
			t.Errorf("exec writing to stderr: %s", r)
		}
		if r := kube(t, kc, "", "exec", "-t", "talker", "-c", "echo", "--", "/echo", "tty"); r.code != 0 || r.out != "notty\n" || !strings.Contains(r.err, "Unable to use a TTY") {
			t.Errorf("exec -t without a terminal: %s", r)
		}
		wantCode(t, kube(t, kc, "", "exec", "talker", "/echo", "print"), ExitUsage, "the command after --", "exec without --")
	})

	t.Run("port-forward", func(t *testing.T) {
		for _, c := range []struct{ target, port, want string }{
			{"svc/echo", ":80", "pod=talker "},
			{"talker", ":http", "pod=talker "},
			{"pod/talker", ":8081", "pod=side "},
		} {
			out, stop := background(t, kc, "port-forward", c.target, c.port)
			local := ""
			fwd := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)`)
			waitUntil(t, 20*time.Second, "port-forward to listen", func() bool {
				if m := fwd.FindStringSubmatch(out.String()); m != nil {
					local = m[1]
				}
				return local != ""
			}, nil)
			body := httpGet(t, "http://127.0.0.1:"+local+"/")
			if !strings.HasPrefix(body, c.want) {
				t.Errorf("port-forward %s %s: GET / answered %q, want %q…", c.target, c.port, body, c.want)
			}
			if r := stop(); r.code != 0 || strings.Contains(r.out, "[::1]") {
				t.Errorf("port-forward %s: %s (it must end cleanly and listen on 127.0.0.1 only)", c.target, r)
			}
		}
		wantCode(t, kube(t, kc, "", "port-forward", "svc/echo", "9999:81"), ExitUsage, "service echo does not have a service port 81", "forward to a missing service port")
	})
}

// waitUntil polls cond every 100ms; on timeout it fails with last (when
// given).
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool, last *cliResult) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			if last != nil {
				t.Fatalf("waited %s for %s; last: %s", timeout, what, *last)
			}
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
