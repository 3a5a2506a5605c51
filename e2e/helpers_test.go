package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// result is one finished command.
type result struct {
	Stdout, Stderr string
	Code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// run runs a command with extra environment variables, bounded by timeout.
func run(t testing.TB, timeout time.Duration, env []string, name string, args ...string) result {
	t.Helper()
	return runStdin(t, timeout, "", env, name, args...)
}

// runStdin is run with stdin (none when empty).
func runStdin(t testing.TB, timeout time.Duration, stdin string, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish within %s\n%s", name, strings.Join(args, " "), timeout, r)
	}
	return r
}

// runMini runs the mini binary built for this run.
func runMini(t testing.TB, args ...string) result {
	t.Helper()
	return run(t, 5*time.Minute, nil, miniBin, args...)
}

// mustMini runs mini and fails the test unless it exits 0; it returns stdout.
func mustMini(t testing.TB, args ...string) string {
	t.Helper()
	r := runMini(t, args...)
	if r.Code != 0 {
		t.Fatalf("mini %s: want exit 0, got %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// kubectl runs stock kubectl (with the suite's KUBECONFIG) and fails the
// test unless it exits 0.
func kubectl(t testing.TB, args ...string) string {
	t.Helper()
	r := run(t, 2*time.Minute, nil, kubectlBin, args...)
	if r.Code != 0 {
		t.Fatalf("kubectl %s: want exit 0, got %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// uniqueName returns a cluster name unique to this run.
func uniqueName(prefix string) string {
	b := make([]byte, 3)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// createCluster creates a cluster with extra create flags and deletes it
// when the test ends.
func createCluster(t testing.TB, name string, args ...string) string {
	t.Helper()
	t.Cleanup(func() { deleteCluster(t, name) })
	return mustMini(t, append([]string{"cluster", "create", name}, args...)...)
}

// deleteCluster deletes a cluster (idempotent) and checks nothing with its
// labels remains.
func deleteCluster(t testing.TB, name string) {
	t.Helper()
	if r := runMini(t, "cluster", "delete", name); r.Code != 0 {
		t.Errorf("mini cluster delete %s: %s", name, r)
	}
	if left := leftovers(t, name); left != "" {
		t.Errorf("after deleting cluster %s these Docker objects remain:\n%s", name, left)
	}
}

// leftovers lists the containers, volumes and networks labelled with the
// cluster ("" when none).
func leftovers(t testing.TB, name string) string {
	t.Helper()
	var b strings.Builder
	for _, kind := range []string{"container", "volume", "network"} {
		args := []string{kind, "ls", "-q", "--filter", "label=mini.cluster=" + name}
		if kind == "container" {
			args = []string{"ps", "-aq", "--filter", "label=mini.cluster=" + name}
		}
		r := run(t, time.Minute, nil, "docker", args...)
		if r.Code != 0 {
			t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
		}
		if s := strings.TrimSpace(r.Stdout); s != "" {
			fmt.Fprintf(&b, "%ss: %s\n", kind, strings.ReplaceAll(s, "\n", " "))
		}
	}
	return b.String()
}

// nodeStates returns "name=Ready|NotReady@InternalIP" per node, via kubectl.
func nodeStates(t testing.TB, context string) map[string]string {
	t.Helper()
	out := kubectl(t, "--context", context, "get", "nodes", "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}`)
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			m[f[0]] = f[1] + "@" + f[2]
		} else if len(f) > 0 {
			m[f[0]] = "incomplete: " + line
		}
	}
	return m
}

// waitFor polls cond every 200 ms until it returns "" (done) or timeout
// passes, then fails with its last answer.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		last := cond()
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last: %s", timeout, what, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
