package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
)

func init() { extraCommands = append(extraCommands, newPortForwardCmd) }

func newPortForwardCmd(st streams) *cobra.Command {
	var kf *kubeFlags
	cmd := &cobra.Command{
		Use:   "port-forward POD|svc/NAME|deploy/NAME [LOCAL:]REMOTE...",
		Short: "Forward local ports (on 127.0.0.1 only) to a pod's ports until interrupted",
		Example: `  mini port-forward svc/echo 9090:80
  mini port-forward deploy/echo :8080
  mini port-forward echo-5d8f7c6b9d-x2x9k 8080`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := kf.open()
			if err != nil {
				return err
			}
			return portForward(cmd.Context(), st, s, args[0], args[1:])
		},
	}
	kf = addKubeFlags(cmd, false)
	return cmd
}

func portForward(ctx context.Context, st streams, s *session, arg string, specs []string) error {
	t, err := podFor(ctx, s, arg)
	if err != nil {
		return err
	}
	p := t.pod
	remote := func(port string) (int32, error) { return containerPort(p, port) }
	if svc, ok := t.via.(*corev1.Service); ok {
		remote = func(port string) (int32, error) { return servicePort(svc, p, port) }
	}
	ports, err := translatePorts(specs, remote)
	if err != nil {
		return err
	}
	if p.Status.Phase != corev1.PodRunning {
		return fmt.Errorf("unable to forward port because pod %s is not running; current status=%s", p.Name, p.Status.Phase)
	}
	ready := make(chan struct{})
	err = s.c.PortForward(ctx, p.Namespace, p.Name, []string{"127.0.0.1"}, ports, ready, st.out, st.errOut)
	if ctx.Err() != nil {
		return nil // interrupted: the normal end
	}
	return kubeErr(err)
}
