package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
)

func init() { extraCommands = append(extraCommands, newLogsCmd) }

func newLogsCmd(st streams) *cobra.Command {
	var (
		kf    *kubeFlags
		o     corev1.PodLogOptions
		tail  int64
		since time.Duration
	)
	cmd := &cobra.Command{
		Use:   "logs POD|TYPE/NAME [CONTAINER] [-c CONTAINER] [-f] [--tail N] [--previous]",
		Short: "Print a container's log (of a pod, or of one pod of a deployment, service, …)",
		Example: `  mini logs echo-5d8f7c6b9d-x2x9k
  mini logs deploy/echo -f --tail 20
  mini logs web-0 -c sidecar --previous`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				if o.Container != "" {
					return usageError("give the container either as an argument or with -c, not both")
				}
				o.Container = args[1]
			}
			if tail >= 0 {
				o.TailLines = &tail
			}
			if since > 0 {
				secs := int64(since.Round(time.Second).Seconds())
				o.SinceSeconds = &secs
			}
			s, err := kf.open()
			if err != nil {
				return err
			}
			return streamLogs(cmd.Context(), st, s, args[0], o)
		},
	}
	kf = addKubeFlags(cmd, false)
	f := cmd.Flags()
	f.StringVarP(&o.Container, "container", "c", "", "container (default: the pod's default or first container)")
	f.BoolVarP(&o.Follow, "follow", "f", false, "stream the log as it grows")
	f.Int64Var(&tail, "tail", -1, "print only the last N lines (-1: all)")
	f.BoolVarP(&o.Previous, "previous", "p", false, "the log of the container's previous run (after a restart)")
	f.BoolVar(&o.Timestamps, "timestamps", false, "prefix each line with its time")
	f.DurationVar(&since, "since", 0, "only lines newer than this (e.g. 5m)")
	return cmd
}

func streamLogs(ctx context.Context, st streams, s *session, arg string, o corev1.PodLogOptions) error {
	t, err := podFor(ctx, s, arg)
	if err != nil {
		return err
	}
	if t.n > 1 {
		fmt.Fprintf(st.errOut, "Found %d pods, using pod/%s\n", t.n, t.pod.Name)
	}
	if o.Container == "" {
		name, note := defaultContainer(t.pod)
		if note != "" {
			fmt.Fprintln(st.errOut, note)
		}
		o.Container = name
	}
	body, err := s.c.Logs(ctx, t.pod.Namespace, t.pod.Name, &o)
	if err != nil {
		return kubeErr(err)
	}
	defer body.Close()
	if _, err := io.Copy(st.out, body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading the log of %s: %w", t.pod.Name, err)
	}
	return nil
}
