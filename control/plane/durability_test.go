package plane_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/pki"
	"github.com/minicluster/mini/control/plane"
)

// process is a "mini control-plane" process started by a test.
type process struct {
	cmd    *exec.Cmd
	url    string
	done   chan struct{}
	stderr *bytes.Buffer
}

var servingLine = regexp.MustCompile(`control plane serving on (https://\S+);`)

// startProcess runs the mini binary's control plane on dir and waits until
// it says it is serving.
func startProcess(t *testing.T, dir string) *process {
	t.Helper()
	cmd := exec.Command(miniBinary(t), "control-plane", "--data-dir", dir, "--listen", "127.0.0.1:0")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	p := &process{cmd: cmd, done: make(chan struct{}), stderr: &bytes.Buffer{}}
	urls := make(chan string, 1)
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(t) })
	select {
	case p.url = <-urls:
		return p
	case <-p.done:
	case <-time.After(30 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	t.Fatalf("mini control-plane on %s did not report serving within 30s; stderr:\n%s", dir, p.stderr.String())
	return nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("process %d did not die within 10s of SIGKILL", p.cmd.Process.Pid)
	}
}

func processClient(t *testing.T, dir string) (*client.Client, client.Config) {
	t.Helper()
	cfg, _, err := client.LoadKubeconfig(filepath.Join(dir, plane.KubeconfigFile), "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, cfg
}

// ack is an acknowledged write: the object's data and resourceVersion.
type ack struct {
	value string
	rv    int64
}

// TestDurabilityAfterKill9 writes from several goroutines to the real
// binary, kills it with SIGKILL in the middle of the load, restarts it on
// the same data directory and checks that every acknowledged write is
// there (the same or a newer version, never an older one) and that the
// credentials did not change.
func TestDurabilityAfterKill9(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir)
	c, cfgBefore := processClient(t, dir)
	credsBefore := readCredentials(t, dir)

	const writers = 8
	var (
		mu    sync.Mutex
		acked = map[string]ack{}
		total int
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("w%d-%d", g, i), Namespace: "default"},
					Data: map[string]string{"v": "0"}}
				for v := 0; v < 5 && ctx.Err() == nil; v++ {
					cm.Data["v"] = strconv.Itoa(v)
					var err error
					if v == 0 {
						err = c.Create(ctx, cm)
					} else {
						err = c.Update(ctx, cm)
					}
					if err != nil {
						return // the process is gone
					}
					rv, _ := strconv.ParseInt(cm.ResourceVersion, 10, 64)
					mu.Lock()
					acked[cm.Name] = ack{value: cm.Data["v"], rv: rv}
					total++
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once the load is well under way, while requests are in flight.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := total
		mu.Unlock()
		if n >= 400 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes acknowledged in 60s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.kill(t)
	cancel()
	wg.Wait()
	t.Logf("%d writes acknowledged to %d objects before SIGKILL", total, len(acked))

	startProcess(t, dir)
	if got := readCredentials(t, dir); got != credsBefore {
		t.Errorf("credentials changed across the restart")
	}
	c2, cfgAfter := processClient(t, dir)
	if cfgAfter.Token != cfgBefore.Token || !bytes.Equal(cfgAfter.CAData, cfgBefore.CAData) {
		t.Errorf("the kubeconfig's token or CA changed across the restart")
	}
	var maxRV int64
	for name, a := range acked {
		var cm corev1.ConfigMap
		if err := c2.Get(context.Background(), "default", name, &cm); err != nil {
			t.Errorf("acknowledged write %s (rv %d, v=%s) lost: %v", name, a.rv, a.value, err)
			continue
		}
		rv, _ := strconv.ParseInt(cm.ResourceVersion, 10, 64)
		switch {
		case rv < a.rv:
			t.Errorf("%s: resourceVersion %d after restart, older than the acknowledged %d", name, rv, a.rv)
		case rv == a.rv && cm.Data["v"] != a.value:
			t.Errorf("%s: at acknowledged resourceVersion %d the value is %q, want %q", name, rv, cm.Data["v"], a.value)
		case rv > a.rv && cm.Data["v"] != strconv.Itoa(mustAtoi(t, a.value)+1):
			t.Errorf("%s: newer resourceVersion %d holds %q; only the in-flight write v=%d could have landed", name, rv, cm.Data["v"], mustAtoi(t, a.value)+1)
		}
		maxRV = max(maxRV, a.rv)
	}
	// The revision counter goes on from where it was.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-restart", Namespace: "default"}}
	if err := c2.Create(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	if rv, _ := strconv.ParseInt(cm.ResourceVersion, 10, 64); rv <= maxRV {
		t.Errorf("first write after restart got resourceVersion %d, not above the acknowledged %d", rv, maxRV)
	}
	// The old client (old token and CA, new port) still works.
	cfgBefore.Server = cfgAfter.Server
	old, _ := client.New(cfgBefore)
	if err := old.Get(context.Background(), "default", "after-restart", &corev1.ConfigMap{}); err != nil {
		t.Errorf("the pre-restart credentials no longer work: %v", err)
	}
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readCredentials returns the CA certificate and tokens stored in dir.
func readCredentials(t *testing.T, dir string) string {
	t.Helper()
	var all []byte
	for _, f := range []string{pki.CACertFile, pki.CAKeyFile, pki.TokensFile} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("credentials: %v", errors.Unwrap(err))
		}
		all = append(all, data...)
	}
	return string(all)
}
