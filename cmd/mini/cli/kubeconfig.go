package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/minicluster/mini/cluster"
)

func init() {
	extraCommands = append(extraCommands, newKubeconfigCmd)
}

func newKubeconfigCmd(st streams) *cobra.Command {
	cmd := &cobra.Command{Use: "kubeconfig", Short: "Print or merge a cluster's kubeconfig", Args: cobra.NoArgs}
	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Print the cluster's kubeconfig (admin credentials)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := docker(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			kc, err := cluster.Kubeconfig(cmd.Context(), d, args[0])
			if err != nil {
				return clusterErr(err)
			}
			data, err := kc.Bytes()
			if err != nil {
				return err
			}
			_, err = st.out.Write(data)
			return err
		},
	}
	var (
		path     string
		switchTo bool
	)
	merge := &cobra.Command{
		Use:   "merge NAME",
		Short: "Merge the cluster's context (mini-NAME) into a kubeconfig file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := docker(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			kc, err := cluster.Kubeconfig(cmd.Context(), d, args[0])
			if err != nil {
				return clusterErr(err)
			}
			p := cluster.KubeconfigPath(path)
			if err := cluster.MergeKubeconfig(p, kc, switchTo); err != nil {
				return err
			}
			fmt.Fprintf(st.out, "Merged context %s into %s\n", kc.Context, p)
			return nil
		},
	}
	merge.Flags().StringVar(&path, "output", "", "kubeconfig file to merge into (default $KUBECONFIG's first file or ~/.kube/config)")
	merge.Flags().BoolVar(&switchTo, "kubeconfig-switch-context", true, "make it the current context")
	cmd.AddCommand(get, merge)
	return cmd
}
