package cli

import (
	"sync"

	"github.com/spf13/cobra"
)

var nodeParent struct {
	once sync.Once
	cmd  *cobra.Command
}

// nodeCmd returns the shared `mini node` parent, built once. Command files
// add their subcommands through nodeSubcommands (node create/delete/list/
// agent in nodes.go, node simulate in simulate.go).
func nodeCmd() *cobra.Command {
	nodeParent.once.Do(func() {
		nodeParent.cmd = &cobra.Command{Use: "node", Short: "Add, remove and list the nodes of a cluster; run a node agent", Args: cobra.NoArgs}
	})
	return nodeParent.cmd
}

// nodeSubcommands build the children of `mini node`.
var nodeSubcommands []func(streams) *cobra.Command

var nodeChildren sync.Once

func init() {
	extraCommands = append(extraCommands, func(st streams) *cobra.Command {
		p := nodeCmd()
		nodeChildren.Do(func() {
			for _, f := range nodeSubcommands {
				p.AddCommand(f(st))
			}
		})
		return p
	})
}
