// Package plantest starts a real control plane (badger on disk in a temp
// directory, HTTPS on a loopback port) inside a test, for the in-process
// cluster tier of tests: control plane plus simulated nodes, no Docker.
package plantest

import (
	"context"
	"io"
	"log"
	"path/filepath"
	"testing"
	"time"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/plane"
)

// Env is a running control plane.
type Env struct {
	Plane      *plane.Plane
	Client     *client.Client // admin, over HTTPS like a remote user
	Kubeconfig string         // path of the admin kubeconfig
	Dir        string
	cancel     context.CancelFunc
	done       chan error
}

// Options tune the plane.
type Options struct {
	Components  []plane.Component
	HistorySize int
	Dir         string // reuse a data directory (restart tests); default t.TempDir()
	Verbose     bool   // send the plane's log to the test log
}

// Start runs a control plane until the test ends.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	dir := o.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	logger := log.New(io.Discard, "", 0)
	if o.Verbose {
		logger = log.New(testWriter{t}, "plane: ", log.Lmicroseconds)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := plane.Start(ctx, plane.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: logger,
		Components: o.Components, HistorySize: o.HistorySize, Version: "test"})
	if err != nil {
		cancel()
		t.Fatalf("start control plane: %v", err)
	}
	kc := filepath.Join(dir, plane.KubeconfigFile)
	cfg, _, err := client.LoadKubeconfig(kc, "")
	if err != nil {
		cancel()
		t.Fatalf("load kubeconfig: %v", err)
	}
	c, err := client.New(cfg)
	if err != nil {
		cancel()
		t.Fatalf("client: %v", err)
	}
	e := &Env{Plane: p, Client: c, Kubeconfig: kc, Dir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- p.Run(ctx) }()
	t.Cleanup(e.Stop)
	return e
}

// Stop shuts the plane down (idempotent).
func (e *Env) Stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case <-e.done:
	case <-time.After(10 * time.Second):
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
