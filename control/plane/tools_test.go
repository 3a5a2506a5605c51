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
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests of this package drive the control plane with real clients:
// stock kubectl (scripts/kubectl) and the mini binary itself, built once per
// test run into a temporary directory.

var (
	binDir    string
	buildOnce sync.Once
	miniPath  string
	buildErr  error

	kubectlOnce sync.Once
	kubectlBin  string
	kubectlErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// repoRoot is the directory of the module's go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.HasPrefix(data, []byte("module github.com/minicluster/mini\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod of github.com/minicluster/mini above the test directory")
		}
		dir = parent
	}
}

// miniBinary builds cmd/mini (static, as shipped) once and returns its path.
func miniBinary(t testing.TB) string {
	t.Helper()
	root := repoRoot(t)
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "mini-plane-test-")
		if buildErr != nil {
			return
		}
		miniPath = filepath.Join(binDir, "mini")
		cmd := exec.Command("go", "build", "-o", miniPath, "./cmd/mini")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/mini: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return miniPath
}

// kubectlPath returns the kubectl that scripts/kubectl chooses (building it
// from hack/tools on first use when none is installed).
func kubectlPath(t testing.TB) string {
	t.Helper()
	root := repoRoot(t)
	kubectlOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "kubectl"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			kubectlErr = fmt.Errorf("scripts/kubectl: %v\n%s", err, stderr.String())
			return
		}
		kubectlBin = strings.TrimSpace(string(out))
	})
	if kubectlErr != nil {
		t.Fatal(kubectlErr)
	}
	return kubectlBin
}

// kubectl runs stock kubectl with only KUBECONFIG set (no extra flags), in
// a private HOME so that its discovery cache starts empty.
type kubectl struct {
	t          *testing.T
	bin        string
	kubeconfig string
	home       string
	dir        string // working directory for relative manifest paths
}

func newKubectl(t *testing.T, kubeconfig string) *kubectl {
	return &kubectl{t: t, bin: kubectlPath(t), kubeconfig: kubeconfig, home: t.TempDir(), dir: t.TempDir()}
}

func (k *kubectl) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Dir = k.dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+k.kubeconfig, "HOME="+k.home, "KUBECACHEDIR="+filepath.Join(k.home, "cache"))
	return cmd
}

// run runs kubectl to completion (at most a minute) and returns its output
// and exit code.
func (k *kubectl) run(args ...string) (stdout, stderr string, code int) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := k.command(ctx, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		k.t.Fatalf("kubectl %s did not return within a minute\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), o.String(), e.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		k.t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return o.String(), e.String(), code
}

// ok runs kubectl and fails the test unless it exits 0.
func (k *kubectl) ok(args ...string) string {
	k.t.Helper()
	out, errOut, code := k.run(args...)
	if code != 0 {
		k.t.Fatalf("kubectl %s: exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// writeFile writes a manifest into the working directory.
func (k *kubectl) writeFile(name, content string) string {
	k.t.Helper()
	p := filepath.Join(k.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		k.t.Fatal(err)
	}
	return p
}

// lineReader collects a running command's stdout line by line.
type lineReader struct {
	lines chan string
}

func readLines(r interface{ Read([]byte) (int, error) }) *lineReader {
	lr := &lineReader{lines: make(chan string, 1000)}
	go func() {
		defer close(lr.lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lr.lines <- sc.Text()
		}
	}()
	return lr
}

// waitFor returns the first line matching re, failing after timeout with
// every line seen.
func (lr *lineReader) waitFor(t *testing.T, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	var seen []string
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lr.lines:
			if !ok {
				t.Fatalf("output ended before a line matching %q; lines seen:\n%s", re, strings.Join(seen, "\n"))
			}
			if re.MatchString(l) {
				return l
			}
			seen = append(seen, l)
		case <-deadline:
			t.Fatalf("no line matching %q within %s; lines seen:\n%s", re, timeout, strings.Join(seen, "\n"))
		}
	}
}
