// Package cli owns mini's command line: the cobra commands, their flags,
// output formatting and exit codes. Commands are thin: they parse, call into
// the cluster, control, node and loadbalancer packages, and print.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "0.1.0-dev"

// Exit codes.
const (
	ExitOK       = 0
	ExitError    = 1 // the operation failed
	ExitUsage    = 2 // bad flags or arguments
	ExitNotFound = 3 // the named cluster, context or object does not exist
	ExitDocker   = 4 // Docker is not reachable
)

// exitError carries an exit code with an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode marks err with an exit code.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageError is a bad flag or argument.
func usageError(format string, args ...any) error {
	return withCode(ExitUsage, fmt.Errorf(format, args...))
}

// streams are where commands write.
type streams struct {
	out, errOut io.Writer
	in          io.Reader
}

// Main runs the CLI and returns the process exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st := streams{out: os.Stdout, errOut: os.Stderr, in: os.Stdin}
	root := newRoot(st)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(st.errOut, "error:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if isFlagError(err) {
		return ExitUsage
	}
	return ExitError
}

func isFlagError(err error) bool {
	var fe *flagErr
	return errors.As(err, &fe)
}

type flagErr struct{ err error }

func (e *flagErr) Error() string { return e.err.Error() }

func newRoot(st streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "mini",
		Short:         "Kubernetes-compatible clusters out of Docker containers, in seconds",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetOut(st.out)
	root.SetErr(st.errOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &flagErr{fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())}
	})
	root.AddCommand(newControlPlaneCmd(st))
	for _, add := range extraCommands {
		root.AddCommand(add(st))
	}
	return root
}

// extraCommands lets each command file register itself.
var extraCommands []func(streams) *cobra.Command
