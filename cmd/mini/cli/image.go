package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minicluster/mini/cluster"
)

func init() {
	extraCommands = append(extraCommands, newImageCmd)
}

func newImageCmd(st streams) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Move images into clusters", Args: cobra.NoArgs}
	var name string
	load := &cobra.Command{
		Use:   "load IMAGE... -c CLUSTER",
		Short: "Copy images from the host's Docker into every node of a cluster (and nodes added later), without a registry",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return usageError("--cluster (-c) is required")
			}
			var nodes []string
			return timed(cmd.Context(), st, "Loaded "+strings.Join(args, " ")+" into cluster "+name, func(ctx context.Context, d *cluster.Docker) (err error) {
				nodes, err = cluster.LoadImages(ctx, d, name, args)
				if err == nil {
					fmt.Fprintf(st.out, "  into %s\n", strings.Join(nodes, ", "))
				}
				return err
			})
		},
	}
	load.Flags().StringVarP(&name, "cluster", "c", "", "cluster to load into (required)")
	cmd.AddCommand(load)
	return cmd
}
