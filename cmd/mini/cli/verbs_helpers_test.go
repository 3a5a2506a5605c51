package cli

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// cliResult is one in-process run of the CLI.
type cliResult struct {
	out, err string
	code     int
}

func (r cliResult) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err
}

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rootMu serializes building command trees: newControlPlaneCmd binds its
// flags to package variables, so two trees built at once race.
var rootMu sync.Mutex

// execCLI runs the mini command line in process, as Main does, with ctx.
func execCLI(ctx context.Context, stdin string, out, errOut *syncBuffer, args ...string) int {
	st := streams{out: out, errOut: errOut, in: strings.NewReader(stdin)}
	rootMu.Lock()
	root := newRoot(st)
	rootMu.Unlock()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	errOut.Write([]byte("error: " + err.Error() + "\n"))
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if isFlagError(err) {
		return ExitUsage
	}
	return ExitError
}

// withKubeconfig adds --kubeconfig kc to args (before a "--").
func withKubeconfig(args []string, kc string) []string {
	i := slices.Index(args, "--")
	if i < 0 {
		i = len(args)
	}
	return slices.Concat(args[:i], []string{"--kubeconfig", kc}, args[i:])
}

// kube runs a verb against the kubeconfig kc and returns what it printed.
func kube(t testing.TB, kc, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut syncBuffer
	code := execCLI(ctx, stdin, &out, &errOut, withKubeconfig(args, kc)...)
	return cliResult{out: out.String(), err: errOut.String(), code: code}
}

// mustKube runs a verb and fails the test unless it exits 0.
func mustKube(t testing.TB, kc string, args ...string) string {
	t.Helper()
	r := kube(t, kc, "", args...)
	if r.code != 0 {
		t.Fatalf("mini %s: want exit 0, got %s", strings.Join(args, " "), r)
	}
	return r.out
}

// background runs a verb until the returned stop is called; stop returns
// what it printed and its exit code.
func background(t testing.TB, kc string, args ...string) (out *syncBuffer, stop func() cliResult) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var errOut syncBuffer
	out = &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- execCLI(ctx, "", out, &errOut, withKubeconfig(args, kc)...) }()
	var once sync.Once
	var res cliResult
	stop = func() cliResult {
		once.Do(func() {
			cancel()
			select {
			case code := <-done:
				res = cliResult{out: out.String(), err: errOut.String(), code: code}
			case <-time.After(30 * time.Second):
				t.Errorf("mini %s did not end within 30s of its context", strings.Join(args, " "))
				res = cliResult{out: out.String(), err: errOut.String(), code: -1}
			}
		})
		return res
	}
	t.Cleanup(func() { stop() })
	return out, stop
}

// header returns the first line's column names.
func header(out string) []string {
	line, _, _ := strings.Cut(out, "\n")
	return strings.Fields(line)
}

// column returns the cells of a named column for rows whose first cell
// starts with prefix (columns are found by the header's offsets, as
// kubectl's output is aligned).
func column(out, name, prefix string) []string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 {
		return nil
	}
	h := lines[0]
	start := strings.Index(h, name)
	if start < 0 {
		return nil
	}
	end := len(h) + 1000
	if rest := h[start+len(name):]; strings.TrimLeft(rest, " ") != "" {
		end = start + len(name) + (len(rest) - len(strings.TrimLeft(rest, " ")))
	}
	var cells []string
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, prefix) || len(l) < start {
			continue
		}
		cells = append(cells, strings.TrimSpace(l[start:min(end, len(l))]))
	}
	return cells
}
