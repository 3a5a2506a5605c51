package cli

import (
	"log"

	"github.com/spf13/cobra"

	"github.com/minicluster/mini/node/agent"
)

func init() {
	nodeSubcommands = append(nodeSubcommands, newNodeAgentCmd)
}

// nodeKubelet returns the kubelet the node agent runs (nil: none). The lead
// wires kubelet.Run here.
var nodeKubelet = func() agent.KubeletFunc { return nil }

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
