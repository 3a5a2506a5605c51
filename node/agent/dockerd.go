package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
)

// dockerd starts and supervises the node's inner Docker engine.
type dockerd struct {
	bin      string
	args     []string
	socket   string
	logPath  string
	reaper   *reaper
	log      *log.Logger
	stopWait time.Duration // SIGTERM to SIGKILL on shutdown
	hc       *http.Client
	restarts atomic.Int32
}

func newDockerd(bin, socket, logPath string, args []string, r *reaper, logger *log.Logger) *dockerd {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: false,
	}
	return &dockerd{bin: bin, args: args, socket: socket, logPath: logPath, reaper: r, log: logger,
		stopWait: 5 * time.Second, hc: &http.Client{Transport: tr, Timeout: 2 * time.Second}}
}

// run keeps dockerd running until ctx ends, restarting it with back-off
// (200 ms doubling to 10 s, reset after a minute up) when it exits; then it
// stops it gracefully.
func (d *dockerd) run(ctx context.Context) {
	backoff := 200 * time.Millisecond
	for {
		started := time.Now()
		proc, err := d.start()
		if err != nil {
			d.log.Printf("dockerd: start: %v", err)
		} else {
			select {
			case ws := <-proc.exited:
				d.log.Printf("dockerd exited (%s) after %s; its log (%s) ends with:\n%s", describeWait(ws),
					time.Since(started).Round(time.Millisecond), d.logPath, tail(d.logPath, 30))
			case <-ctx.Done():
				d.stop(proc)
				return
			}
		}
		if time.Since(started) > time.Minute {
			backoff = 200 * time.Millisecond
		}
		d.restarts.Add(1)
		d.log.Printf("dockerd: restarting in %s", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (d *dockerd) start() (child, error) {
	if err := os.MkdirAll(filepath.Dir(d.logPath), 0o755); err != nil {
		return child{}, err
	}
	lf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return child{}, err
	}
	defer lf.Close() // the child keeps its own descriptor
	// A previous dockerd killed hard leaves its pid file and socket.
	os.Remove("/var/run/docker.pid")
	os.Remove(d.socket)
	cmd := exec.Command(d.bin, d.args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return d.reaper.start(cmd)
}

// stop sends SIGTERM and waits up to stopWait before SIGKILL.
func (d *dockerd) stop(p child) {
	syscall.Kill(p.pid, syscall.SIGTERM)
	select {
	case <-p.exited:
		d.log.Printf("dockerd stopped")
	case <-time.After(d.stopWait):
		d.log.Printf("dockerd did not stop within %s; killing it and its process group", d.stopWait)
		syscall.Kill(-p.pid, syscall.SIGKILL) // dockerd leads its own group, with its containerd
		select {
		case <-p.exited:
		case <-time.After(time.Second):
		}
	}
}

// ping asks dockerd's /_ping.
func (d *dockerd) ping(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	resp, err := d.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/_ping answered %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

// waitUp polls /_ping until it answers or timeout passes.
func (d *dockerd) waitUp(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = d.ping(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting %s for dockerd to answer on %s: %v (log: %s)", timeout, d.socket, last, d.logPath)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// version returns dockerd's version ("" when it does not answer).
func (d *dockerd) version(ctx context.Context) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/version", nil)
	resp, err := d.hc.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var v struct{ Version string }
	if json.NewDecoder(resp.Body).Decode(&v) != nil {
		return ""
	}
	return v.Version
}

func describeWait(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
