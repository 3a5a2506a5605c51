package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/minicluster/mini/control/client"
)

func init() { extraCommands = append(extraCommands, newApplyCmd) }

func newApplyCmd(st streams) *cobra.Command {
	var (
		files     []string
		recursive bool
		kf        *kubeFlags
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|- [-R]",
		Short: "Create or update objects from manifests (kubectl's client-side apply, last-applied three-way merge)",
		Example: `  mini apply -f app.yaml
  mini apply -f manifests/ -R
  cat app.yaml | mini apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usageError("must specify -f (a file, a directory or - for standard input)")
			}
			ms, err := client.ReadManifests(files, recursive, st.in)
			if err != nil {
				return kubeErr(err)
			}
			s, err := kf.open()
			if err != nil {
				return err
			}
			return applyAll(cmd.Context(), st, s, kf.namespace, ms)
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "manifest file, directory or - (repeatable)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "read directories recursively")
	kf = addKubeFlags(cmd, false)
	return cmd
}

// applyAll applies each manifest in order, printing what happened to it as
// kubectl does; it goes on after a failure and fails at the end.
func applyAll(ctx context.Context, st streams, s *session, nsFlag string, ms []client.Manifest) error {
	errs := errList{print: errPrinter(st)}
	for _, m := range ms {
		if err := checkManifestNS(m, nsFlag); err != nil {
			errs.add(err)
			continue
		}
		if m.Name == "" {
			errs.add(usageError("%s:%d: the %s has only metadata.generateName; apply needs metadata.name", m.Source, m.Line, m.GVK.Kind))
			continue
		}
		res, err := s.c.Apply(ctx, m, s.ns)
		if err != nil {
			errs.add(fmt.Errorf("%s (%s:%d): %w", m, m.Source, m.Line, err))
			continue
		}
		fmt.Fprintf(st.out, "%s %s\n", m, res)
	}
	return errs.done()
}

// checkManifestNS refuses a manifest whose namespace contradicts -n, as
// kubectl does.
func checkManifestNS(m client.Manifest, nsFlag string) error {
	if nsFlag == "" || m.NS == "" || !m.Info.Namespaced || m.NS == nsFlag {
		return nil
	}
	return usageError("the namespace from the provided object %q does not match the namespace %q; pass --namespace=%s to act on it", m.NS, nsFlag, m.NS)
}
