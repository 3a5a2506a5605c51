package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/minicluster/mini/cluster"
	"github.com/minicluster/mini/control/client"
)

func init() {
	extraCommands = append(extraCommands, newClusterCmd)
}

func newClusterCmd(st streams) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Create, list, stop, start and delete clusters", Args: cobra.NoArgs}
	cmd.AddCommand(newClusterCreateCmd(st), newClusterListCmd(st), newClusterDeleteCmd(st),
		newClusterStopCmd(st), newClusterStartCmd(st))
	return cmd
}

// docker connects to the engine, mapping failure to ExitDocker; with
// --verbose it logs every Docker call.
func docker(ctx context.Context) (*cluster.Docker, error) {
	cluster.Version = Version
	var opts []cluster.ConnectOption
	if l := verboseLog(ctx); l != nil {
		opts = append(opts, cluster.WithCallLog(l.Printf))
	}
	d, err := cluster.Connect(ctx, opts...)
	if err != nil {
		return nil, withCode(ExitDocker, err)
	}
	return d, nil
}

// clusterErr gives errors of the cluster package their exit codes.
func clusterErr(err error) error {
	var (
		du *cluster.DockerUnreachableError
		nf *cluster.NotFoundError
		ex *cluster.ExistsError
		pu *cluster.PortInUseError
		bi *cluster.BaseImageError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &du):
		return withCode(ExitDocker, err)
	case errors.As(err, &nf):
		if strings.HasPrefix(nf.What, "cluster ") {
			err = fmt.Errorf("%w (mini cluster list shows the clusters there are)", err)
		}
		return withCode(ExitNotFound, err)
	case errors.As(err, &ex):
		return withCode(ExitExists, err)
	case errors.As(err, &pu), errors.As(err, &bi):
		return withCode(ExitUsage, err)
	}
	return err
}

// timed connects to Docker, runs f, and prints done with the time it took.
func timed(ctx context.Context, st streams, done string, f func(context.Context, *cluster.Docker) error) error {
	d, err := docker(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	start := time.Now()
	if err := f(ctx, d); err != nil {
		return clusterErr(err)
	}
	fmt.Fprintf(st.out, "%s (%.2fs)\n", done, time.Since(start).Seconds())
	return nil
}

// isTerminal reports whether w is a terminal fit for colour and redrawn
// progress lines: a character device, TERM is not "dumb" and NO_COLOR is
// unset (https://no-color.org). Otherwise output is plain lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" || os.Getenv("NO_COLOR") != "" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newClusterCreateCmd(st streams) *cobra.Command {
	var fl createFlags
	cmd := &cobra.Command{
		Use:   "create [NAME] [--config FILE]",
		Short: "Create a cluster: a control plane, N nodes and a load balancer, as Docker containers",
		Long: `Create a cluster: a control plane, N nodes and a load balancer, as Docker containers.

A cluster config file (--config; print an example with: mini config init)
describes everything these flags do and more (per-node labels and taints).
A flag given on the command line wins over the file's field, and a list
flag (--port, --node-label, --node-taint, --load-image) replaces the file's
whole list.`,
		Example: `  mini cluster create demo --nodes 3 -p 8080:30080@loadbalancer
  mini cluster create ci --api-port 127.0.0.1:6550 --timeout 2m
  mini cluster create --config cluster.yaml --nodes 2
  mini cluster create gpu --node-label gpu=yes --node-taint gpu=yes:NoSchedule --load-image myapp:dev`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := fl.options(cmd.Flags().Changed, args)
			if err != nil {
				return err
			}
			d, err := docker(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			o.Out, o.Fancy = st.out, isTerminal(st.out)
			start := time.Now()
			res, err := cluster.Create(cmd.Context(), d, o)
			if err != nil {
				return clusterErr(err)
			}
			printCreated(st.out, res, time.Since(start))
			return nil
		},
	}
	fl.register(cmd)
	return cmd
}

// createFlags are the flags of cluster create.
type createFlags struct {
	config, apiPort, baseImage    string
	nodes                         int
	ports, labels, taints, images []string
	wait, updateKC, switchKC      bool
	timeout                       time.Duration
}

func (fl *createFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&fl.config, "config", "", "cluster config file (mini config init prints an example); flags given win over its fields")
	f.IntVarP(&fl.nodes, "nodes", "n", 1, "number of nodes")
	f.StringArrayVarP(&fl.ports, "port", "p", nil, "publish [IP:]HOSTPORT:NODEPORT[/udp]@loadbalancer (repeatable); the IP defaults to 127.0.0.1")
	f.StringVar(&fl.apiPort, "api-port", "", "host address of the API, [IP:]PORT (default 127.0.0.1 and a free port)")
	f.BoolVar(&fl.wait, "wait", true, "wait until every node is Ready")
	f.DurationVar(&fl.timeout, "timeout", 5*time.Minute, "give up (and roll back) after this long")
	f.StringVar(&fl.baseImage, "node-base-image", "", "Docker-in-Docker base image of the nodes (default "+cluster.DefaultNodeBase+", or $"+cluster.NodeBaseEnv+")")
	f.StringArrayVar(&fl.labels, "node-label", nil, "label every Node with KEY=VALUE (repeatable)")
	f.StringArrayVar(&fl.taints, "node-taint", nil, "taint every Node with KEY[=VALUE]:EFFECT, EFFECT NoSchedule, PreferNoSchedule or NoExecute (repeatable)")
	f.StringArrayVar(&fl.images, "load-image", nil, "load this image from the host's Docker into the nodes once they are Ready (repeatable)")
	f.BoolVar(&fl.updateKC, "kubeconfig-update-default", true, "merge the cluster's context into the default kubeconfig ($KUBECONFIG or ~/.kube/config)")
	f.BoolVar(&fl.switchKC, "kubeconfig-switch-context", true, "make the cluster's context the current one")
	cmd.MarkFlagFilename("config", "yaml", "yml")
}

// options builds the create options: the config file's fields (if any),
// then the flags, each flag only when changed(name) or without a file.
func (fl *createFlags) options(changed func(string) bool, args []string) (cluster.CreateOptions, error) {
	o := cluster.CreateOptions{Nodes: 1, Wait: fl.wait, Timeout: fl.timeout, UpdateKubeconfig: fl.updateKC, SwitchContext: fl.switchKC}
	if fl.config != "" {
		var err error
		if o, err = cluster.LoadConfig(fl.config, o); err != nil {
			return o, configErr(err)
		}
	} else {
		changed = func(string) bool { return true }
	}
	if len(args) == 1 {
		o.Name = args[0]
	}
	if o.Name == "" {
		return o, usageError("name the cluster: mini cluster create NAME, or name: in the --config file")
	}
	var err error
	sets := []struct {
		flag string
		set  func()
	}{
		{"nodes", func() { o.Nodes = fl.nodes }},
		{"port", func() { o.Ports, err = parsePorts(fl.ports) }},
		{"api-port", func() { o.APIHost, o.APIPort, err = parseAPIPort(fl.apiPort) }},
		{"node-base-image", func() { o.NodeBaseImage = fl.baseImage }},
		{"node-label", func() { o.Node.Labels, err = cluster.ParseNodeLabels(fl.labels) }},
		{"node-taint", func() { o.Node.Taints, err = cluster.ParseTaints(fl.taints) }},
		{"load-image", func() { o.Images = fl.images }},
	}
	for _, s := range sets {
		if changed(s.flag) {
			if s.set(); err != nil {
				return o, usageError("--%s: %v", s.flag, err)
			}
		}
	}
	if err := o.Validate(); err != nil {
		return o, usageError("%v", err)
	}
	return o, nil
}

func parsePorts(specs []string) ([]cluster.PortMapping, error) {
	var out []cluster.PortMapping
	for _, p := range specs {
		pm, err := cluster.ParsePortMapping(p)
		if err != nil {
			return nil, err
		}
		out = append(out, pm)
	}
	return out, nil
}

func parseAPIPort(s string) (string, int, error) {
	if s == "" {
		return "", 0, nil
	}
	return cluster.ParseAPIAddress(s)
}

func printCreated(w io.Writer, r *cluster.Result, took time.Duration) {
	fmt.Fprintf(w, "Cluster %s is ready in %.1fs: %d node%s (%s), API https://%s\n", r.Name, took.Seconds(),
		len(r.Nodes), map[bool]string{true: "", false: "s"}[len(r.Nodes) == 1], r.NodeMode, r.API)
	for _, p := range r.Ports {
		fmt.Fprintf(w, "  %s:%d/%s -> NodePort %d on every Ready node\n", p.HostIP, p.HostPort, p.Proto, p.NodePort)
	}
	if r.KubeconfigPath != "" {
		fmt.Fprintf(w, "kubectl context %s is in %s\n", r.Kubeconfig.Context, r.KubeconfigPath)
	} else {
		fmt.Fprintf(w, "Get its kubeconfig with: mini kubeconfig get %s\n", r.Name)
	}
}

func newClusterListCmd(st streams) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List clusters",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := docker(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			infos, err := cluster.List(cmd.Context(), d)
			if err != nil {
				return clusterErr(err)
			}
			ready := make([]string, len(infos))
			var wg sync.WaitGroup
			for k, i := range infos {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var err error
					if ready[k], err = readyOf(cmd.Context(), d, i); err != nil {
						ready[k] = fmt.Sprintf("?/%d", len(i.Nodes))
						fmt.Fprintf(st.errOut, "warning: cluster %s: cannot count its Ready nodes: %v\n", i.Name, err)
					}
				}()
			}
			wg.Wait()
			tw := tabwriter.NewWriter(st.out, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tNODES\tAPI\tPORTS\tSTATUS")
			for k, i := range infos {
				var ports []string
				for _, p := range i.Ports {
					ports = append(ports, p.String())
				}
				ps := strings.Join(ports, ",")
				if ps == "" {
					ps = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.Name, ready[k], i.API, ps, i.Status)
			}
			return tw.Flush()
		},
	}
}

// readyOf renders READY/TOTAL nodes, asking the cluster's API (for up to
// 5 s).
func readyOf(ctx context.Context, d *cluster.Docker, i cluster.Info) (string, error) {
	total := len(i.Nodes)
	if i.Running == 0 {
		return fmt.Sprintf("0/%d", total), nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	kc, err := cluster.Kubeconfig(ctx, d, i.Name)
	if err != nil {
		return "", err
	}
	c, err := client.New(client.Config{Server: kc.Server, CAData: kc.CAData, Token: kc.Token, Timeout: 5 * time.Second})
	if err != nil {
		return "", err
	}
	var nl corev1.NodeList
	if err := c.List(ctx, "", &nl, client.ListOptions{}); err != nil {
		return "", err
	}
	ready := 0
	for _, n := range nl.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return fmt.Sprintf("%d/%d", ready, total), nil
}

func newClusterDeleteCmd(st streams) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete clusters: every container, volume and network, and their kubeconfig entries",
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return usageError("name the clusters to delete, or pass --all")
			}
			d, err := docker(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			if all {
				infos, err := cluster.List(cmd.Context(), d)
				if err != nil {
					return clusterErr(err)
				}
				for _, i := range infos {
					args = append(args, i.Name)
				}
			}
			for _, name := range args {
				if err := cluster.ValidateName(name); err != nil {
					return usageError("%v", err)
				}
			}
			var errs []error
			for _, name := range args {
				start := time.Now()
				existed, err := cluster.Delete(cmd.Context(), d, name, "")
				switch {
				case err != nil:
					errs = append(errs, fmt.Errorf("delete %s: %w", name, err))
				case existed:
					fmt.Fprintf(st.out, "Deleted cluster %s (%.2fs)\n", name, time.Since(start).Seconds())
				default:
					fmt.Fprintf(st.out, "Cluster %s does not exist; nothing to delete\n", name)
				}
			}
			return clusterErr(errors.Join(errs...))
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "delete every cluster")
	return cmd
}

func newClusterStopCmd(st streams) *cobra.Command {
	return &cobra.Command{
		Use:   "stop NAME",
		Short: "Stop a cluster's containers, keeping all its state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return timed(cmd.Context(), st, "Stopped cluster "+args[0], func(ctx context.Context, d *cluster.Docker) error {
				return cluster.Stop(ctx, d, args[0])
			})
		},
	}
}

func newClusterStartCmd(st streams) *cobra.Command {
	var (
		wait    bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "start NAME",
		Short: "Start a stopped cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return timed(ctx, st, "Started cluster "+args[0], func(ctx context.Context, d *cluster.Docker) error {
				return cluster.Start(ctx, d, args[0], wait)
			})
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", true, "wait until every node is Ready again")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up waiting after this long")
	return cmd
}
