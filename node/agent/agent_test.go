package agent

import (
	"context"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOwnCgroupV1(t *testing.T) {
	tests := []struct {
		name, file, want, errorHas string
	}{
		{name: "docker host namespace", file: "12:blkio:/docker/abc\n5:memory:/docker/abc\n1:name=systemd:/docker/abc\n", want: "/docker/abc"},
		{name: "combined controllers", file: "4:cpu,cpuacct:/x\n3:memory,hugetlb:/y\n", want: "/y"},
		{name: "private namespace", file: "5:memory:/\n", want: "/"},
		{name: "no memory controller", file: "2:cpu:/z\n", want: "/z"},
		{name: "v2 only", file: "0::/init\n", errorHas: "no cgroup v1 hierarchy"},
	}
	for _, tt := range tests {
		got, err := ownCgroupV1(writeFile(t, tt.file))
		if tt.errorHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errorHas) {
				t.Errorf("%s: error = %v, want %q", tt.name, err, tt.errorHas)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: ownCgroupV1 = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestMemTotalAndOSImage(t *testing.T) {
	m, err := memTotal(writeFile(t, "MemFree: 10 kB\nMemTotal:       24576000 kB\n"))
	if err != nil || m != 24576000*1024 {
		t.Errorf("memTotal = %d, %v; want %d", m, err, 24576000*1024)
	}
	if _, err := memTotal(writeFile(t, "MemFree: 1 kB\n")); err == nil {
		t.Errorf("memTotal without a MemTotal line: no error")
	}
	if got := osImage(writeFile(t, "NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")); got != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("osImage = %q", got)
	}
}

func TestNodeObject(t *testing.T) {
	taint := corev1.Taint{Key: "gpu", Value: "yes", Effect: corev1.TaintEffectNoSchedule}
	cfg := Config{NodeName: "mini-demo-node-1", Version: "0.1.0", DataRoot: t.TempDir(),
		Labels: map[string]string{"tier": "web", corev1.LabelHostname: "spoofed"}, Taints: []corev1.Taint{taint}}
	n := nodeObject(cfg, net.ParseIP("172.30.0.11"), "20.10.24")
	if n.Name != cfg.NodeName || n.Labels[corev1.LabelHostname] != cfg.NodeName || n.Labels[corev1.LabelOSStable] != "linux" {
		t.Errorf("name/labels = %s %v", n.Name, n.Labels)
	}
	if n.Labels["tier"] != "web" || len(n.Spec.Taints) != 1 || n.Spec.Taints[0] != taint {
		t.Errorf("labels %v, taints %v; want tier=web added and the taint %v", n.Labels, n.Spec.Taints, taint)
	}
	for k := range n.Labels {
		if strings.HasPrefix(k, "node-role.kubernetes.io/") {
			t.Errorf("node has a role label %s; nodes have none", k)
		}
	}
	if len(n.Status.Addresses) == 0 || n.Status.Addresses[0].Type != corev1.NodeInternalIP || n.Status.Addresses[0].Address != "172.30.0.11" {
		t.Errorf("addresses = %v, want InternalIP 172.30.0.11 first", n.Status.Addresses)
	}
	if n.Status.DaemonEndpoints.KubeletEndpoint.Port != KubeletPort {
		t.Errorf("kubelet port = %d", n.Status.DaemonEndpoints.KubeletEndpoint.Port)
	}
	if n.Status.NodeInfo.ContainerRuntimeVersion != "docker://20.10.24" {
		t.Errorf("runtime version = %q", n.Status.NodeInfo.ContainerRuntimeVersion)
	}
	cpu := n.Status.Capacity[corev1.ResourceCPU]
	mem := n.Status.Capacity[corev1.ResourceMemory]
	if cpu.Value() < 1 || mem.Value() < 1<<20 {
		t.Errorf("capacity cpu=%s memory=%s, want the host's", cpu.String(), mem.String())
	}
	if !strings.HasPrefix(n.Status.NodeInfo.KubeletVersion, "v1.") {
		t.Errorf("kubelet version %q does not parse as a Kubernetes version", n.Status.NodeInfo.KubeletVersion)
	}
}

func TestReaperReportsOwnChildren(t *testing.T) {
	r := newReaper(false)
	defer r.stop()
	other := exec.Command("sh", "-c", "exit 0")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	p, err := r.start(exec.Command("sh", "-c", "exit 7"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ws := <-p.exited:
		if ws.ExitStatus() != 7 {
			t.Fatalf("exit status %d, want 7", ws.ExitStatus())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit reported within 10s")
	}
	// A child not started through the reaper keeps its own Wait.
	if err := other.Wait(); err != nil {
		t.Fatalf("other child's Wait: %v (the reaper took it)", err)
	}
}

// fakeDockerd is a script standing in for dockerd: it counts its starts in
// a file and exits at once the first two times, then stays up (until
// SIGTERM, which it records).
func fakeDockerd(t *testing.T, dir string) string {
	script := `#!/bin/sh
echo start >> ` + dir + `/starts
n=$(wc -l < ` + dir + `/starts)
echo "fake dockerd run $n" >&2
if [ "$n" -le 2 ]; then exit 3; fi
trap 'echo term >> ` + dir + `/terms; exit 0' TERM
while :; do sleep 0.05; done
`
	p := filepath.Join(dir, "dockerd")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDockerdSupervisorRestartsAndStops(t *testing.T) {
	dir := t.TempDir()
	r := newReaper(false)
	defer r.stop()
	var logs strings.Builder
	d := newDockerd(fakeDockerd(t, dir), filepath.Join(dir, "sock"), filepath.Join(dir, "log", "dockerd.log"), nil, r, log.New(&logs, "", 0))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, _ := os.ReadFile(filepath.Join(dir, "starts"))
		if strings.Count(string(data), "start") >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fake dockerd started %d times in 20s, want 3 (restart after exits); log:\n%s", strings.Count(string(data), "start"), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := d.restarts.Load(); got != 2 {
		t.Errorf("restarts = %d, want 2", got)
	}
	if !strings.Contains(logs.String(), "exit status 3") || !strings.Contains(logs.String(), "fake dockerd run 1") {
		t.Errorf("the supervisor's log should quote the exit and the end of dockerd's log:\n%s", logs.String())
	}
	time.Sleep(200 * time.Millisecond) // let the third one install its trap
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("supervisor did not return within 10s of cancel")
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "terms")); !strings.Contains(string(data), "term") {
		t.Errorf("dockerd was not stopped with SIGTERM; log:\n%s", logs.String())
	}
}

func TestDockerdPingOverUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "d.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1024)
				n, _ := c.Read(buf)
				if strings.HasPrefix(string(buf[:n]), "GET /_ping") {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
					return
				}
				io.WriteString(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
			}()
		}
	}()
	d := newDockerd("unused", sock, filepath.Join(dir, "log"), nil, nil, log.New(io.Discard, "", 0))
	if err := d.waitUp(context.Background(), 5*time.Second); err != nil {
		t.Fatalf("waitUp against a socket that answers: %v", err)
	}
	d2 := newDockerd("unused", filepath.Join(dir, "absent.sock"), filepath.Join(dir, "log"), nil, nil, log.New(io.Discard, "", 0))
	if err := d2.waitUp(context.Background(), 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "absent.sock") {
		t.Fatalf("waitUp on a missing socket = %v, want an error naming the socket", err)
	}
}

func TestChooseIPTables(t *testing.T) {
	bin := t.TempDir()
	for _, f := range []string{"iptables-legacy", "iptables-save-legacy", "iptables-restore-legacy"} {
		if err := os.WriteFile(filepath.Join(bin, f), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	iptablesLegacyDir = filepath.Join(t.TempDir(), "legacy")
	var ran []string
	works := map[string]bool{}
	run := func(name string, args ...string) error {
		ran = append(ran, filepath.Base(name))
		if works[filepath.Base(name)] {
			return nil
		}
		return os.ErrNotExist
	}

	works["iptables"] = true
	if got := chooseIPTables(run); got != "iptables" || os.Getenv("PATH") != bin {
		t.Fatalf("working default: chose %q, PATH %q", got, os.Getenv("PATH"))
	}

	works = map[string]bool{"iptables-legacy": true}
	got := chooseIPTables(run)
	if !strings.HasPrefix(got, "iptables-legacy") {
		t.Fatalf("broken default, working legacy: chose %q (ran %v)", got, ran)
	}
	if !strings.HasPrefix(os.Getenv("PATH"), iptablesLegacyDir+string(os.PathListSeparator)) {
		t.Errorf("PATH %q does not start with %s", os.Getenv("PATH"), iptablesLegacyDir)
	}
	for _, name := range []string{"iptables", "iptables-save", "iptables-restore"} {
		target, err := os.Readlink(filepath.Join(iptablesLegacyDir, name))
		if err != nil || target != filepath.Join(bin, name+"-legacy") {
			t.Errorf("%s -> %q, %v; want the -legacy binary", name, target, err)
		}
	}

	works = map[string]bool{}
	if got := chooseIPTables(run); !strings.Contains(got, "no working iptables-legacy") {
		t.Errorf("nothing works: chose %q", got)
	}
}

func TestConfigFromEnvLabelsAndTaints(t *testing.T) {
	for k, v := range map[string]string{EnvServer: "https://172.30.0.2:6443", EnvToken: "tok", EnvCA: "PEM", EnvNodeName: "n0"} {
		t.Setenv(k, v)
	}
	t.Setenv(EnvNodeLabels, `{"tier":"web"}`)
	t.Setenv(EnvNodeTaints, `[{"key":"gpu","effect":"NoSchedule"}]`)
	c, err := ConfigFromEnv()
	if err != nil || c.Labels["tier"] != "web" || len(c.Taints) != 1 || c.Taints[0].Key != "gpu" || c.Taints[0].Effect != corev1.TaintEffectNoSchedule {
		t.Fatalf("ConfigFromEnv = labels %v taints %v err %v; want tier=web and gpu:NoSchedule", c.Labels, c.Taints, err)
	}
	t.Setenv(EnvNodeTaints, `gpu:NoSchedule`)
	if _, err := ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), EnvNodeTaints) {
		t.Errorf("ConfigFromEnv with a non-JSON %s: err %v, want one naming the variable", EnvNodeTaints, err)
	}
}
