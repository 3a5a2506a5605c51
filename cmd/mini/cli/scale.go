package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minicluster/mini/control/client"
)

func init() { extraCommands = append(extraCommands, newScaleCmd) }

func newScaleCmd(st streams) *cobra.Command {
	var (
		kf       *kubeFlags
		replicas int
		current  int
	)
	cmd := &cobra.Command{
		Use:   "scale KIND/NAME... | KIND NAME... --replicas N",
		Short: "Set the replicas of deployments, replica sets and stateful sets",
		Example: `  mini scale deploy/echo --replicas 5
  mini scale sts web --replicas 0`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if replicas < 0 {
				return usageError("--replicas is required and must be 0 or more")
			}
			targets, err := parseTargets(args)
			if err != nil {
				return err
			}
			s, err := kf.open()
			if err != nil {
				return err
			}
			errs := errList{print: errPrinter(st)}
			for _, t := range targets {
				if len(t.names) == 0 {
					return usageError("name the objects to scale (KIND/NAME or KIND NAME)")
				}
				r, err := s.resolve(cmd.Context(), t.kinds)
				if err != nil {
					return err
				}
				if !r.HasSubresource("scale") {
					return usageError("%s cannot be scaled (no scale subresource)", r.Resource)
				}
				for _, n := range t.names {
					if err := scaleOne(cmd.Context(), s, r, n, int32(replicas), current); err != nil {
						errs.add(err)
						continue
					}
					fmt.Fprintf(st.out, "%s/%s scaled\n", qualifiedKind(r), n)
				}
			}
			return errs.done()
		},
	}
	kf = addKubeFlags(cmd, false)
	cmd.Flags().IntVar(&replicas, "replicas", -1, "the new number of replicas (required)")
	cmd.Flags().IntVar(&current, "current-replicas", -1, "only scale if the current replicas are this many")
	return cmd
}

// scaleOne writes the scale subresource (checking the current replicas
// first when asked).
func scaleOne(ctx context.Context, s *session, r client.Resource, name string, n int32, current int) error {
	path := r.Path(s.nsOf(r), name, "scale")
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	if current >= 0 {
		var sc autoscalingv1.Scale
		data, err := s.c.Do(ctx, client.Request{Method: http.MethodGet, Path: path})
		if err == nil {
			err = json.Unmarshal(data, &sc)
		}
		if err != nil {
			return err
		}
		if sc.Spec.Replicas != int32(current) {
			return fmt.Errorf("expected replicas of %s/%s to be %d, was %d", qualifiedKind(r), name, current, sc.Spec.Replicas)
		}
		patch = fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"spec":{"replicas":%d}}`, sc.ResourceVersion, n)
	}
	_, err := s.c.Do(ctx, client.Request{Method: http.MethodPatch, Path: path, Body: []byte(patch), ContentType: string(types.MergePatchType)})
	return err
}
