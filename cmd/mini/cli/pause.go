package cli

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newPauseCmd) }

// newPauseCmd is the process of a pod's sandbox container: it holds the
// pod's network namespace, sleeps until SIGTERM or SIGINT, and, being PID 1
// of its container, reaps any zombie handed to it.
func newPauseCmd(st streams) *cobra.Command {
	return &cobra.Command{
		Use:    "pause",
		Short:  "Hold a pod's namespaces until SIGTERM (the pod sandbox process)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			chld := make(chan os.Signal, 8)
			signal.Notify(chld, syscall.SIGCHLD)
			defer signal.Stop(chld)
			for {
				select {
				case <-cmd.Context().Done(): // SIGTERM or SIGINT (see Main)
					return nil
				case <-chld:
					reapZombies()
				}
			}
		},
	}
}

// reapZombies waits for every exited child without blocking.
func reapZombies() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
