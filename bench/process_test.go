// Package bench holds mini's benchmarks that need the real binary: they
// build cmd/mini, run its control plane as a separate process on loopback
// HTTPS and measure it from outside, with baselines taken in the same run.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/plane"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// miniBinary builds cmd/mini once per benchmark process.
func miniBinary(b *testing.B) string {
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "mini-bench-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "mini")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/minicluster/mini/cmd/mini")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/mini: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return binPath
}

// process is a running "mini control-plane", or (for profiling with
// -cpuprofile, MINI_BENCH_INPROCESS=1) a plane inside the benchmark process.
type process struct {
	cmd     *exec.Cmd
	dir     string
	url     string
	done    chan struct{}
	inProc  *plane.Plane
	stopRun context.CancelFunc
}

func startInProcess(b *testing.B) *process {
	dir := b.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	pl, err := plane.Start(ctx, plane.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: log.New(io.Discard, "", 0), Version: "bench"})
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { pl.Run(ctx); close(done) }()
	p := &process{dir: dir, url: pl.URL, done: done, inProc: pl, stopRun: cancel}
	b.Cleanup(p.stop)
	return p
}

var servingLine = regexp.MustCompile(`control plane serving on (https://\S+);`)

func startProcess(b *testing.B) *process {
	if os.Getenv("MINI_BENCH_INPROCESS") == "1" {
		return startInProcess(b)
	}
	dir := b.TempDir()
	args := []string{"control-plane", "--data-dir", dir, "--listen", "127.0.0.1:0"}
	// MINI_BENCH_PLANE_ARGS adds flags, to compare settings (e.g.
	// "--max-inflight -1").
	args = append(args, strings.Fields(os.Getenv("MINI_BENCH_PLANE_ARGS"))...)
	cmd := exec.Command(miniBinary(b), args...)
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	pw.Close()
	p := &process{cmd: cmd, dir: dir, done: make(chan struct{})}
	urls := make(chan string, 1)
	var log bytes.Buffer
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	go func() { cmd.Wait(); close(p.done) }()
	b.Cleanup(p.stop)
	select {
	case p.url = <-urls:
		return p
	case <-p.done:
	case <-time.After(30 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	b.Fatalf("control plane did not report serving within 30s:\n%s", log.String())
	return nil
}

func (p *process) stop() {
	if p.inProc != nil {
		p.stopRun()
		<-p.done
		return
	}
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// rssMB reads the resident set size of the process from /proc.
func (p *process) rssMB(b *testing.B) float64 {
	pid := os.Getpid() // in process: the benchmark's own (clients included)
	if p.cmd != nil {
		pid = p.cmd.Process.Pid
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	b.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// cpu returns the CPU time (user and system) the process has used.
func (p *process) cpu(b *testing.B) time.Duration {
	if p.cmd == nil {
		return selfCPU()
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the line, in clock ticks (100 per second).
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clients returns n clients with their own connections, as n programs
// would have.
func (p *process) clients(b *testing.B, n int) []*client.Client {
	cfg, _, err := client.LoadKubeconfig(filepath.Join(p.dir, plane.KubeconfigFile), "")
	if err != nil {
		b.Fatal(err)
	}
	out := make([]*client.Client, n)
	for i := range out {
		if out[i], err = client.New(cfg); err != nil {
			b.Fatal(err)
		}
	}
	return out
}
