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
	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/minicluster/mini/control/client"
)

func init() { extraCommands = append(extraCommands, newExecCmd) }

func newExecCmd(st streams) *cobra.Command {
	var (
		kf         *kubeFlags
		container  string
		stdin, tty bool
	)
	cmd := &cobra.Command{
		Use:   "exec [-i] [-t] POD|TYPE/NAME [-c CONTAINER] -- COMMAND [ARG...]",
		Short: "Run a command in a container; its exit code becomes mini's",
		Example: `  mini exec echo-5d8f7c6b9d-x2x9k -- /echo ls /
  mini exec -it deploy/echo -- /echo sh`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash != 1 || len(args) < 2 {
				return usageError("expected POD -- COMMAND [ARG...] (the command after --)")
			}
			s, err := kf.open()
			if err != nil {
				return err
			}
			return runExec(cmd.Context(), st, s, args[0], container, args[1:], stdin, tty)
		},
	}
	kf = addKubeFlags(cmd, false)
	f := cmd.Flags()
	f.StringVarP(&container, "container", "c", "", "container (default: the pod's default or first container)")
	f.BoolVarP(&stdin, "stdin", "i", false, "pass standard input to the command")
	f.BoolVarP(&tty, "tty", "t", false, "give the command a terminal")
	return cmd
}

func runExec(ctx context.Context, st streams, s *session, arg, container string, command []string, stdin, tty bool) error {
	t, err := podFor(ctx, s, arg)
	if err != nil {
		return err
	}
	p := t.pod
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return fmt.Errorf("cannot exec into a container in a completed pod; current phase is %s", p.Status.Phase)
	}
	if container == "" {
		name, note := defaultContainer(p)
		if note != "" {
			fmt.Fprintln(st.errOut, note)
		}
		container = name
	}
	o := client.ExecOptions{Container: container, Command: command, Stdout: st.out, Stderr: st.errOut}
	if stdin {
		o.Stdin = st.in
	}
	in, inTerm := st.in.(*os.File)
	inTerm = inTerm && term.IsTerminal(int(in.Fd()))
	if tty && !(stdin && inTerm) {
		fmt.Fprintln(st.errOut, "Unable to use a TTY - input is not a terminal or the right kind of file")
		tty = false
	}
	if tty {
		o.TTY = true
		restore, sizes, err := rawTerminal(ctx, in, st.out)
		if err != nil {
			return err
		}
		defer restore()
		o.Resize = sizes
	}
	err = s.c.Exec(ctx, p.Namespace, p.Name, o)
	var ce utilexec.CodeExitError
	if errors.As(err, &ce) {
		return withCode(ce.Code, fmt.Errorf("command terminated with exit code %d", ce.Code))
	}
	return kubeErr(err)
}

// rawTerminal puts the terminal in raw mode (undone by restore) and
// reports its size now and on each SIGWINCH.
func rawTerminal(ctx context.Context, in *os.File, out io.Writer) (restore func(), sizes remotecommand.TerminalSizeQueue, err error) {
	old, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return nil, nil, fmt.Errorf("raw terminal: %w", err)
	}
	fd := int(in.Fd())
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd = int(f.Fd())
	}
	q := &sizeQueue{ch: make(chan remotecommand.TerminalSize, 1)}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	wctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(q.ch)
		for {
			if w, h, err := term.GetSize(fd); err == nil {
				select {
				case q.ch <- remotecommand.TerminalSize{Width: uint16(w), Height: uint16(h)}:
				case <-wctx.Done():
					return
				}
			}
			select {
			case <-winch:
			case <-wctx.Done():
				return
			}
		}
	}()
	return func() {
		cancel()
		signal.Stop(winch)
		_ = term.Restore(int(in.Fd()), old)
	}, q, nil
}

// sizeQueue hands terminal sizes to client-go's executor.
type sizeQueue struct {
	ch chan remotecommand.TerminalSize
}

func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	s, ok := <-q.ch
	if !ok {
		return nil
	}
	return &s
}
