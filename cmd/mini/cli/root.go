// Package cli owns mini's command line: the cobra commands, their flags,
// output formatting and exit codes. Commands are thin: they parse, call into
// the cluster, control, node and loadbalancer packages, and print.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "0.1.0-dev"

// Exit codes.
const (
	ExitOK       = 0
	ExitError    = 1 // the operation failed
	ExitUsage    = 2 // bad flags, arguments or config file; a host port in use
	ExitNotFound = 3 // the named cluster, node, context, image or object does not exist
	ExitDocker   = 4 // Docker is not reachable
	ExitExists   = 5 // the cluster to create exists already
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
	return run(ctx, streams{out: os.Stdout, errOut: os.Stderr, in: os.Stdin}, args)
}

// run runs one command line, prints its error and returns the exit code.
func run(ctx context.Context, st streams, args []string) int {
	root := newRoot(st)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(st.errOut, "error:", err)
	}
	return exitCode(err)
}

// exitCode is the process exit code for a command's error.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case isFlagError(err), strings.HasPrefix(err.Error(), "unknown command "):
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

// Parents' persistent hooks (root's --verbose) run even when a subcommand
// has its own.
func init() { cobra.EnableTraverseRunHooks = true }

func newRoot(st streams) *cobra.Command {
	var verbose bool
	root := &cobra.Command{
		Use:           "mini",
		Short:         "Kubernetes-compatible clusters out of Docker containers, in seconds",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
		// --verbose reaches the commands through their context.
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			if verbose {
				cmd.SetContext(withVerbose(cmd.Context(), st.errOut))
			}
		},
	}
	root.SetOut(st.out)
	root.SetErr(st.errOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &flagErr{fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())}
	})
	root.PersistentFlags().BoolVar(&verbose, "verbose", false, "say more on stderr: every Docker API call with its status and duration")
	root.AddCommand(newControlPlaneCmd(st))
	for _, add := range extraCommands {
		root.AddCommand(add(st))
	}
	argsAreUsage(root)
	addCompletions(root)
	return root
}

// argsAreUsage makes wrong positional arguments a usage error (exit 2),
// like bad flags, in every command; a group command (mini cluster) given
// an unknown subcommand says so.
func argsAreUsage(c *cobra.Command) {
	if c.HasSubCommands() && !c.Runnable() {
		c.Args = nil
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("unknown command %q for %q\nSee '%s --help'.", args[0], cmd.CommandPath(), cmd.CommandPath())
			}
			return cmd.Help()
		}
	}
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError("%v\nSee '%s --help'.", err, cmd.CommandPath())
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		argsAreUsage(sub)
	}
}

type verboseKey struct{}

// withVerbose marks ctx as verbose: details go to w.
func withVerbose(ctx context.Context, w io.Writer) context.Context {
	return context.WithValue(ctx, verboseKey{}, log.New(w, "", log.Ltime|log.Lmicroseconds))
}

// verboseLog returns the logger of --verbose, or nil.
func verboseLog(ctx context.Context) *log.Logger {
	l, _ := ctx.Value(verboseKey{}).(*log.Logger)
	return l
}

// extraCommands lets each command file register itself.
var extraCommands []func(streams) *cobra.Command
