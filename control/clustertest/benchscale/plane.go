package main

import (
	"bufio"
	"context"
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
	"syscall"
	"time"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/clustertest"
	"github.com/minicluster/mini/control/controllers"
	"github.com/minicluster/mini/control/plane"
)

// Environment of the control plane child process.
const (
	envPlaneDir   = "MINI_BENCH_PLANE_DIR"
	envComponents = "MINI_BENCH_COMPONENTS" // "all" or "none"
	envCPUProfile = "MINI_BENCH_CPUPROFILE"
	envMemProfile = "MINI_BENCH_MEMPROFILE"
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
	cfg := plane.Config{DataDir: dir, Listen: "127.0.0.1:0", Version: "bench", Logger: log.New(os.Stderr, "plane: ", log.Lmicroseconds)}
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
}

// startPlane starts the control plane child and returns a client for it.
func startPlane(withComponents bool, cpuProfile, memProfile string) (*child, *client.Client, error) {
	dir, err := os.MkdirTemp("", "mini-bench-")
	if err != nil {
		return nil, nil, err
	}
	comps := "none"
	if withComponents {
		comps = "all"
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envPlaneDir+"="+dir, envComponents+"="+comps, envCPUProfile+"="+cpuProfile, envMemProfile+"="+memProfile)
	logf, err := os.Create(filepath.Join(dir, "plane.log"))
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start control plane child: %w", err)
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
			return nil, nil, fmt.Errorf("the control plane child did not start; see %s", logf.Name())
		}
	case <-time.After(30 * time.Second):
		ch.stop()
		return nil, nil, fmt.Errorf("the control plane child was not ready after 30s")
	}
	cfg, _, err := client.LoadKubeconfig(filepath.Join(dir, plane.KubeconfigFile), "")
	if err != nil {
		ch.stop()
		return nil, nil, err
	}
	cfg.Timeout = time.Minute
	c, err := client.New(cfg)
	if err != nil {
		ch.stop()
		return nil, nil, err
	}
	return ch, c, nil
}

// peakRSS returns the child's VmHWM in bytes.
func (c *child) peakRSS() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", c.cmd.Process.Pid)
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
