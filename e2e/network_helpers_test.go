package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/minicluster/mini/control/controllers"
)

// netFreePort returns a TCP port free on 127.0.0.1 right now, so that the
// suite never publishes a port a user's program may hold.
func netFreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// netPods lists the pods matching a label selector, via kubectl.
func netPods(t testing.TB, kctx, selector string) []corev1.Pod {
	t.Helper()
	var l corev1.PodList
	out := kubectl(t, "--context", kctx, "get", "pods", "-l", selector, "-o", "json")
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("kubectl get pods -l %s -o json: %v\n%s", selector, err, out)
	}
	return l.Items
}

// netReady reports whether a pod is Ready and not being deleted.
func netReady(p corev1.Pod) bool {
	return p.DeletionTimestamp == nil && controllers.IsPodReady(&p)
}

// netDescribe is one line per pod: name node IP ready.
func netDescribe(pods []corev1.Pod) string {
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "\n  %s on %s ip %s ready %v", p.Name, p.Spec.NodeName, p.Status.PodIP, netReady(p))
	}
	return b.String()
}

// netClient makes every request on a new connection, so that each goes
// through the load balancer's and the nodes' choice of backend again.
var netClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// netGet GETs url and returns the body of a 200 answer.
func netGet(url string) (string, error) {
	resp, err := netClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body), nil
}

// netField returns the value of key=value in an echo answer
// ("pod=P host=H client=IP:PORT"); for client, the IP only.
func netField(answer, key string) string {
	for _, f := range strings.Fields(answer) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			if key == "client" {
				if h, _, err := net.SplitHostPort(v); err == nil {
					return h
				}
			}
			return v
		}
	}
	return ""
}

// netExec runs the echo image's tool in a pod (kubectl exec POD -- /echo
// TOOL ARGS...) and returns its stdout, failing the test unless it exits 0.
func netExec(t testing.TB, kctx, pod string, tool ...string) string {
	t.Helper()
	args := append([]string{"--context", kctx, "exec", pod, "--", "/echo"}, tool...)
	r := run(t, 2*time.Minute, nil, kubectlBin, args...)
	if r.Code != 0 {
		t.Fatalf("in pod %s, /echo %s: want exit 0, got %s", pod, strings.Join(tool, " "), r)
	}
	return strings.TrimSpace(r.Stdout)
}

// netClientAddrServer serves HTTP on addr (an address of the cluster's own
// Docker network), answering each request with the address it came from,
// until the test ends. It returns the URL to GET.
func netClientAddrServer(t testing.TB, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "client=%s\n", r.RemoteAddr)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

// netAttempt is one request of a client loop: when it started and how it
// ended.
type netAttempt struct {
	at  time.Time
	err error
}

// netLoop GETs url again and again, one request at a time, until the
// returned stop is called (or the test ends); stop returns every attempt.
func netLoop(t testing.TB, url string) (stop func() []netAttempt) {
	quit, done := make(chan struct{}), make(chan []netAttempt, 1)
	go func() {
		var out []netAttempt
		for {
			select {
			case <-quit:
				done <- out
				return
			default:
			}
			at := time.Now()
			_, err := netGet(url)
			out = append(out, netAttempt{at: at, err: err})
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var (
		once     sync.Once
		attempts []netAttempt
	)
	stop = func() []netAttempt {
		once.Do(func() { close(quit); attempts = <-done })
		return attempts
	}
	t.Cleanup(func() { stop() })
	return stop
}
