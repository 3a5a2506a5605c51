package agent

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// reaper waits for every child of PID 1: the processes it started (whose
// exit it reports) and the orphans re-parented to it (which it only reaps).
// Children are started through it, under its lock, so an exit is never
// reaped before its pid is known.
type reaper struct {
	// orphans: reap every child (PID 1); otherwise only those started here,
	// so other children of the process keep their exec.Cmd.Wait.
	orphans bool
	mu      sync.Mutex
	waiting map[int]chan syscall.WaitStatus
	sigs    chan os.Signal
	done    chan struct{}
}

func newReaper(orphans bool) *reaper {
	r := &reaper{orphans: orphans, waiting: map[int]chan syscall.WaitStatus{}, sigs: make(chan os.Signal, 8), done: make(chan struct{})}
	signal.Notify(r.sigs, syscall.SIGCHLD)
	go r.loop()
	return r
}

// child is a process started through the reaper.
type child struct {
	pid    int
	exited <-chan syscall.WaitStatus // receives the wait status once
}

// start starts cmd and returns it as a child whose exit is reported.
// cmd's standard streams must be nil or *os.File, so that no copying
// goroutine waits on exec.Cmd.Wait (which the reaper replaces).
func (r *reaper) start(cmd *exec.Cmd) (child, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return child{}, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.waiting[cmd.Process.Pid] = ch
	return child{pid: cmd.Process.Pid, exited: ch}, nil
}

func (r *reaper) loop() {
	for {
		select {
		case <-r.done:
			return
		case <-r.sigs:
		}
		r.reapAll()
	}
}

// reapAll waits for every exited child without blocking.
func (r *reaper) reapAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.orphans {
		for pid, ch := range r.waiting {
			var ws syscall.WaitStatus
			if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got == pid && err == nil {
				ch <- ws
				delete(r.waiting, pid)
			}
		}
		return
	}
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		if ch, ok := r.waiting[pid]; ok {
			ch <- ws
			delete(r.waiting, pid)
		}
	}
}

func (r *reaper) stop() {
	signal.Stop(r.sigs)
	close(r.done)
}

// runQuiet runs a short command through the reaper and reports whether it
// exited 0 (its output is discarded).
func runQuiet(r *reaper, name string, args ...string) error {
	p, err := r.start(exec.Command(name, args...))
	if err != nil {
		return err
	}
	select {
	case ws := <-p.exited:
		if ws.ExitStatus() != 0 || ws.Signaled() {
			return fmt.Errorf("%s: %s", name, describeWait(ws))
		}
		return nil
	case <-time.After(10 * time.Second):
		syscall.Kill(p.pid, syscall.SIGKILL)
		return fmt.Errorf("%s: no answer within 10s", name)
	}
}
