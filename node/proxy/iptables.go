package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Runner applies rules to the kernel.
type Runner interface {
	// Restore applies an iptables-restore document without flushing chains
	// it does not declare.
	Restore(ctx context.Context, rules []byte) error
	// Chains lists the user chains of a table.
	Chains(ctx context.Context, table string) ([]string, error)
	// EnsureJump makes sure chain starts with a jump to target.
	EnsureJump(ctx context.Context, table, chain, target string) error
}

// Exec runs the iptables binaries, optionally inside a network namespace
// (NetNS non-empty: "ip netns exec NAME", for tests).
type Exec struct{ NetNS string }

func (e Exec) cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	if e.NetNS != "" {
		return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", e.NetNS, name}, args...)...)
	}
	return exec.CommandContext(ctx, name, args...)
}

func (e Exec) run(c *exec.Cmd) ([]byte, error) {
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", strings.Join(c.Args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Restore implements Runner.
func (e Exec) Restore(ctx context.Context, rules []byte) error {
	c := e.cmd(ctx, "iptables-restore", "--noflush", "-w", "5")
	c.Stdin = bytes.NewReader(rules)
	_, err := e.run(c)
	return err
}

// Chains implements Runner.
func (e Exec) Chains(ctx context.Context, table string) ([]string, error) {
	out, err := e.run(e.cmd(ctx, "iptables-save", "-t", table))
	if err != nil {
		return nil, err
	}
	var chains []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, ":") {
			if f := strings.Fields(line[1:]); len(f) > 0 {
				chains = append(chains, f[0])
			}
		}
	}
	return chains, sc.Err()
}

// EnsureJump implements Runner.
func (e Exec) EnsureJump(ctx context.Context, table, chain, target string) error {
	if _, err := e.run(e.cmd(ctx, "iptables", "-w", "5", "-t", table, "-C", chain, "-j", target)); err == nil {
		return nil
	}
	_, err := e.run(e.cmd(ctx, "iptables", "-w", "5", "-t", table, "-I", chain, "1", "-j", target))
	return err
}

// Output runs any command (in the namespace, if set) and returns its stdout.
func (e Exec) Output(ctx context.Context, name string, args ...string) ([]byte, error) {
	return e.run(e.cmd(ctx, name, args...))
}
