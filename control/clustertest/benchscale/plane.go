package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minicluster/mini/control/api"
	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/clustertest"
	"github.com/minicluster/mini/control/controllers"
	"github.com/minicluster/mini/control/pki"
	"github.com/minicluster/mini/control/plane"
)

// Environment of the control plane child process.
const (
	envPlaneDir   = "MINI_BENCH_PLANE_DIR"
	envComponents = "MINI_BENCH_COMPONENTS" // "all" or "none"
	envCPUProfile = "MINI_BENCH_CPUPROFILE"
	envMemProfile = "MINI_BENCH_MEMPROFILE"
	envMemLimit   = "MINI_BENCH_MEMLIMIT"    // the plane's --memory-limit
	envInFlight   = "MINI_BENCH_MAXINFLIGHT" // the plane's --max-inflight
	envProbeToken = "MINI_BENCH_PROBE_TOKEN" // the probe's bearer token
)

// benchClusterCIDR is the pod network of the benchmark's cluster: 8,192
// node /24s below the service range 10.96.0.0/12.
const benchClusterCIDR = "10.64.0.0/11"

// runPlaneChild is the child process: a control plane on dir until SIGTERM.
func runPlaneChild(dir string) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if f := os.Getenv(envCPUProfile); f != "" {
		out, err := os.Create(f)
		if err != nil {
			log.Fatalf("cpu profile: %v", err)
		}
		pprof.StartCPUProfile(out)
		defer func() { pprof.StopCPUProfile(); out.Close() }()
	}
	if f := os.Getenv(envMemProfile); f != "" {
		defer func() { // at SIGTERM, with every pod of the run still stored
			out, err := os.Create(f)
			if err == nil {
				pprof.Lookup("heap").WriteTo(out, 0)
				out.Close()
			}
		}()
	}
	limit, err := plane.MemoryLimit(os.Getenv(envMemLimit), os.Getenv("GOMEMLIMIT"))
	if err != nil {
		log.Fatalf("control plane: %v", err)
	}
	cfg := plane.Config{DataDir: dir, Listen: "127.0.0.1:0", Version: "bench", Logger: log.New(os.Stderr, "plane: ", log.Lmicroseconds),
		MemoryLimit: limit, Users: map[string]api.User{os.Getenv(envProbeToken): {Name: "probe"}}}
	if v := os.Getenv(envInFlight); v != "" {
		if cfg.MaxInFlight, err = strconv.Atoi(v); err != nil {
			log.Fatalf("control plane: max in-flight %q: %v", v, err)
		}
	}
	if os.Getenv(envComponents) == "all" {
		// 1,000 nodes need more /24 pod CIDRs than 10.244.0.0/16 has.
		cfg.Components = clustertest.PlaneComponents(clustertest.Options{Controllers: controllers.Options{ClusterCIDR: benchClusterCIDR}})
	}
	p, err := plane.Start(ctx, cfg)
	if err != nil {
		log.Fatalf("control plane: %v", err)
	}
	fmt.Println("ready")
	if err := p.Run(ctx); err != nil {
		log.Printf("control plane: %v", err)
	}
}

// child is the control plane running as a subprocess, so that its peak
// memory can be read on its own.
type child struct {
	cmd  *exec.Cmd
	dir  string
	done chan error
	// clients of the plane: the admin (workload and watch), the nodes
	// (with the node credentials, as real node agents), and the probe (a
	// user of its own).
	admin, node, probe *client.Client
}

// startPlane starts the control plane child with its clients.
func startPlane(withComponents bool, cfg config, cpuProfile, memProfile string) (*child, error) {
	dir, err := os.MkdirTemp("", "mini-bench-")
	if err != nil {
		return nil, err
	}
	comps := "none"
	if withComponents {
		comps = "all"
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envPlaneDir+"="+dir, envComponents+"="+comps, envCPUProfile+"="+cpuProfile, envMemProfile+"="+memProfile, envMemLimit+"="+cfg.memLimit, envInFlight+"="+cfg.maxInFlight, envProbeToken+"="+probeToken)
	logf, err := os.Create(filepath.Join(dir, "plane.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start control plane child: %w", err)
	}
	ch := &child{cmd: cmd, dir: dir, done: make(chan error, 1)}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := sc.Scan() && sc.Text() == "ready"
		ready <- ok
		io.Copy(io.Discard, out)
	}()
	go func() { ch.done <- cmd.Wait(); logf.Close() }()
	select {
	case ok := <-ready:
		if !ok {
			ch.stop()
			return nil, fmt.Errorf("the control plane child did not start; see %s", logf.Name())
		}
	case <-time.After(30 * time.Second):
		ch.stop()
		return nil, fmt.Errorf("the control plane child was not ready after 30s")
	}
	if err := ch.connect(); err != nil {
		ch.stop()
		return nil, err
	}
	return ch, nil
}

// probeToken is the probe user's bearer token (any unguessable string).
var probeToken = fmt.Sprintf("probe-%d-%d", os.Getpid(), time.Now().UnixNano())

// connect makes the child's clients from its kubeconfig and tokens.
func (c *child) connect() error {
	cfg, _, err := client.LoadKubeconfig(filepath.Join(c.dir, plane.KubeconfigFile), "")
	if err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(c.dir, pki.TokensFile))
	if err != nil {
		return err
	}
	var tokens pki.Tokens
	if err := json.Unmarshal(data, &tokens); err != nil {
		return fmt.Errorf("read %s: %w", pki.TokensFile, err)
	}
	cfg.Timeout = time.Minute
	for _, x := range []struct {
		c     **client.Client
		token string
	}{{&c.admin, cfg.Token}, {&c.node, tokens.Node}, {&c.probe, probeToken}} {
		cfg.Token = x.token
		if *x.c, err = client.New(cfg); err != nil {
			return err
		}
	}
	return nil
}

// memStatus is the memory of a process as /proc/PID/status reports it.
type memStatus struct {
	hwm, rss, anon, file int64 // VmHWM, VmRSS, RssAnon, RssFile+RssShmem
}

// memory reads the child's memStatus.
func (c *child) memory() (memStatus, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return memStatus{}, err
	}
	return parseMemStatus(string(data))
}

func parseMemStatus(status string) (memStatus, error) {
	var m memStatus
	fields := map[string]*int64{"VmHWM:": &m.hwm, "VmRSS:": &m.rss, "RssAnon:": &m.anon, "RssFile:": &m.file, "RssShmem:": &m.file}
	found := 0
	for _, line := range strings.Split(status, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || fields[f[0]] == nil {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return m, fmt.Errorf("malformed %s in /proc status: %w", f[0], err)
		}
		*fields[f[0]] += kb << 10
		found++
	}
	if found == 0 {
		return m, fmt.Errorf("no memory figures in /proc status")
	}
	return m, nil
}

// sampleMemory records the peaks of the child's RSS and anonymous RSS every
// 100ms until stop is called. The kernel's VmHWM is the peak of the whole
// RSS, including the badger files the plane maps (file-backed pages the
// kernel can drop); the anonymous part is the process's own heap.
func (c *child) sampleMemory() (stop func() memStatus) {
	var (
		mu   sync.Mutex
		peak memStatus
	)
	sample := func() {
		m, err := c.memory()
		if err != nil {
			return
		}
		mu.Lock()
		peak.hwm, peak.rss, peak.anon, peak.file = max(peak.hwm, m.hwm), max(peak.rss, m.rss), max(peak.anon, m.anon), max(peak.file, m.file)
		mu.Unlock()
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() memStatus {
		close(done)
		<-exited
		sample()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// cpuTime returns the CPU time (user + system) the child has used.
func (c *child) cpuTime() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return statCPU(string(data))
}

// statCPU reads utime and stime (fields 14 and 15, in clock ticks of 1/100 s
// on Linux) from a /proc/PID/stat line.
func statCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc stat line")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat line")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed utime/stime in /proc stat line")
	}
	return time.Duration(u+s) * 10 * time.Millisecond, nil
}

// selfCPU returns the CPU time this process has used.
func selfCPU() time.Duration {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	d, _ := statCPU(string(data))
	return d
}

// loadAverage returns the 1-minute load average ("?" if unknown).
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(data))[0]
}

// stop ends the child (SIGTERM, then SIGKILL after 15s) and removes its
// data directory.
func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	// Keep the log of the last plane for a look after the run.
	if data, err := os.ReadFile(filepath.Join(c.dir, "plane.log")); err == nil {
		os.WriteFile(filepath.Join(os.TempDir(), "mini-bench-plane.log"), data, 0o644)
	}
	os.RemoveAll(c.dir)
}
