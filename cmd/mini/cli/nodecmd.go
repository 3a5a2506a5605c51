package cli

import (
	"github.com/spf13/cobra"
)

// nodeSubcommands build the children of `mini node`: create, delete, list
// and agent in nodes.go, simulate in simulate.go. Each file appends its
// constructors from init.
var nodeSubcommands []func(streams) *cobra.Command

func init() { extraCommands = append(extraCommands, newNodeCmd) }

// newNodeCmd builds the `mini node` parent with its subcommands (a new one
// per root command, so tests can build several roots).
func newNodeCmd(st streams) *cobra.Command {
	p := &cobra.Command{Use: "node", Short: "Add, remove, list and simulate the nodes of a cluster; run a node agent", Args: cobra.NoArgs}
	for _, f := range nodeSubcommands {
		p.AddCommand(f(st))
	}
	return p
}
