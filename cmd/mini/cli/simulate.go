package cli

import (
	"fmt"
	"log"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/node/heartbeat"
	"github.com/minicluster/mini/node/sim"
)

func init() { nodeSubcommands = append(nodeSubcommands, newNodeSimulateCmd) }

func newNodeSimulateCmd(st streams) *cobra.Command {
	var (
		kubeconfig, kcontext, cpu, memory string
		pods                              int
		o                                 sim.Options
	)
	cmd := &cobra.Command{
		Use:   "simulate --count N",
		Short: "Join simulated nodes (no containers) to a cluster, for tests and scale experiments",
		Long: `Register N simulated nodes with the cluster of a kubeconfig and keep them alive
until interrupted. They heartbeat and report Ready like real nodes; pods bound
to them go Running and Ready with IPs from the node's pod CIDR, though nothing
runs; pods of Jobs (restartPolicy Never or OnFailure) complete after
--job-duration; deleted pods are finalized at once. Killing this process stops
the heartbeats: the control plane then sees the nodes die and moves their pods.`,
		Example: `  mini node simulate --kubeconfig ./data/kubeconfig.yaml --count 100
  mini node simulate --count 3 --prefix gpu --cpu 32 --memory 128Gi`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Count < 1 {
				return usageError("--count must be at least 1")
			}
			capacity, err := simCapacity(cpu, memory, pods)
			if err != nil {
				return err
			}
			o.Capacity = capacity
			cfg, _, err := client.LoadKubeconfig(kubeconfig, kcontext)
			if err != nil {
				return err
			}
			cfg.UserAgent = "mini-node-simulate"
			c, err := client.New(cfg)
			if err != nil {
				return err
			}
			start := time.Now()
			o.Logger = log.New(st.errOut, "", log.LstdFlags)
			o.OnReady = func(names []string) {
				took := time.Since(start).Round(time.Millisecond)
				if len(names) == 1 {
					fmt.Fprintf(st.out, "1 simulated node (%s) registered and Ready in %s\n", names[0], took)
					return
				}
				fmt.Fprintf(st.out, "%d simulated nodes (%s … %s) registered and Ready in %s\n", len(names), names[0], names[len(names)-1], took)
			}
			return sim.Run(cmd.Context(), c, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&kcontext, "context", "", "kubeconfig context (default the current one)")
	f.IntVar(&o.Count, "count", 0, "number of nodes to simulate (required)")
	f.StringVar(&o.Prefix, "prefix", "sim", "node name prefix: PREFIX-0, PREFIX-1, …")
	f.StringVar(&cpu, "cpu", "8", "cpu capacity of each node")
	f.StringVar(&memory, "memory", "32Gi", "memory capacity of each node")
	f.IntVar(&pods, "pods", 110, "pod capacity of each node")
	f.DurationVar(&o.JobDuration, "job-duration", time.Second, "how long containers of run-to-completion pods run before exiting 0")
	f.DurationVar(&o.Heartbeat.LeaseDuration, "lease-duration", heartbeat.LeaseDuration, "lease duration each node declares: the control plane treats a node silent this long as lost")
	f.DurationVar(&o.Heartbeat.Interval, "heartbeat-interval", 0, "how often each node renews its lease (default a fifth of --lease-duration)")
	return cmd
}

// simCapacity parses the capacity flags.
func simCapacity(cpu, memory string, pods int) (corev1.ResourceList, error) {
	c, err := resource.ParseQuantity(cpu)
	if err != nil || c.Sign() <= 0 {
		return nil, usageError("--cpu %q is not a positive quantity (e.g. 8 or 500m)", cpu)
	}
	m, err := resource.ParseQuantity(memory)
	if err != nil || m.Sign() <= 0 {
		return nil, usageError("--memory %q is not a positive quantity (e.g. 32Gi)", memory)
	}
	if pods < 1 {
		return nil, usageError("--pods must be at least 1, not %d", pods)
	}
	return corev1.ResourceList{corev1.ResourceCPU: c, corev1.ResourceMemory: m,
		corev1.ResourcePods: *resource.NewQuantity(int64(pods), resource.DecimalSI)}, nil
}
