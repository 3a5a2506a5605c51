package cli

import (
	"context"
	"fmt"
	"log"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/minicluster/mini/cluster"
	"github.com/minicluster/mini/node/agent"
	"github.com/minicluster/mini/node/heartbeat"
	"github.com/minicluster/mini/node/kubelet"
	"github.com/minicluster/mini/node/podnet"
	"github.com/minicluster/mini/node/proxy"
)

func init() {
	nodeSubcommands = append(nodeSubcommands, newNodeAgentCmd, newNodeCreateCmd, newNodeDeleteCmd, newNodeListCmd)
}

func newNodeCreateCmd(st streams) *cobra.Command {
	o := cluster.AddNodesOptions{Wait: true}
	cmd := &cobra.Command{
		Use:   "create -c CLUSTER [--count K]",
		Short: "Add nodes to a cluster (next free index and address, same image and flags)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Cluster == "" {
				return usageError("--cluster (-c) is required")
			}
			if o.Count < 1 {
				return usageError("--count %d: add at least one node", o.Count)
			}
			o.Out, o.Fancy = st.out, isTerminal(st.out)
			var names []string
			err := timed(cmd.Context(), st, "Added nodes to "+o.Cluster, func(ctx context.Context, d *cluster.Docker) (err error) {
				names, err = cluster.AddNodes(ctx, d, o)
				return err
			})
			for _, n := range names {
				fmt.Fprintln(st.out, n)
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&o.Cluster, "cluster", "c", "", "cluster to add nodes to (required)")
	cmd.Flags().IntVar(&o.Count, "count", 1, "how many nodes to add")
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "wait until the new nodes are Ready")
	return cmd
}

func newNodeDeleteCmd(st streams) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NODE...",
		Short: "Drain nodes through the API (cordon, evict their pods), then remove their containers, volumes and Node objects",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, n := range args {
				err := timed(cmd.Context(), st, "Deleted node "+n, func(ctx context.Context, d *cluster.Docker) error {
					return cluster.DeleteNode(ctx, d, n, st.out)
				})
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func newNodeListCmd(st streams) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:     "list [-c CLUSTER]",
		Aliases: []string{"ls"},
		Short:   "List node containers",
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
			found := name == ""
			tw := tabwriter.NewWriter(st.out, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCLUSTER\tIP\tSTATE\tMODE")
			for _, i := range infos {
				if name != "" && i.Name != name {
					continue
				}
				found = true
				for _, n := range i.Nodes {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name, i.Name, n.IP, n.State, n.Mode)
				}
			}
			if !found {
				return withCode(ExitNotFound, fmt.Errorf("cluster %q does not exist", name))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&name, "cluster", "c", "", "only this cluster's nodes")
	return cmd
}

// nodeKubelet returns what the node agent runs once its Node is registered:
// the kubelet, the pod network (routes and masquerading) and the service
// proxy, side by side until the agent stops or one of them fails.
func nodeKubelet() agent.KubeletFunc {
	return func(ctx context.Context, env agent.Env) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errc := make(chan error, 3)
		go func() {
			errc <- kubelet.RunNode(ctx, kubelet.NodeConfig{Client: env.Client, NodeName: env.Node.Name,
				NodeIP: env.NodeIP.String(), DockerSocket: env.DockerSocket, StateDir: env.StateDir, Logger: env.Logger})
		}()
		go func() {
			cidr, err := heartbeat.WaitPodCIDR(ctx, env.Client, env.Node.Name, 2*time.Minute)
			if err != nil {
				errc <- err
				return
			}
			errc <- podnet.New(env.Client, podnet.Config{NodeName: env.Node.Name, ClusterCIDR: clusterCIDR,
				ServiceCIDR: serviceCIDR, PodCIDR: cidr}, nil, env.Logger).Run(ctx)
		}()
		go func() {
			errc <- proxy.New(env.Client, proxy.Options{Config: proxy.Config{ClusterCIDR: clusterCIDR}, Logger: env.Logger}).Run(ctx)
		}()
		err := <-errc
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
}

// The cluster's address ranges (the control plane's defaults).
const (
	clusterCIDR = "10.244.0.0/16"
	serviceCIDR = "10.96.0.0/12"
)

func newNodeAgentCmd(st streams) *cobra.Command {
	var dockerdArgs []string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent (PID 1 of a node container; configured by MINI_* variables)",
		Long: `Run the node agent: PID 1 of a node container. It starts and supervises the
inner dockerd, registers the Node (MINI_NODE_NAME) with the control plane
(MINI_SERVER, MINI_TOKEN, MINI_CA), renews its Lease and reports it Ready while
dockerd answers. mini cluster create sets these variables.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := agent.ConfigFromEnv()
			if err != nil {
				return usageError("%v", err)
			}
			cfg.Version = Version
			cfg.DockerdArgs = dockerdArgs
			cfg.Logger = log.New(st.errOut, "agent: ", log.LstdFlags|log.Lmicroseconds)
			cfg.Kubelet = nodeKubelet()
			return agent.Run(cmd.Context(), cfg)
		},
	}
	cmd.Flags().StringArrayVar(&dockerdArgs, "dockerd-arg", nil, "extra argument for the inner dockerd (repeatable)")
	return cmd
}
