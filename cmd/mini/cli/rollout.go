package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minicluster/mini/control/client"
)

func init() { extraCommands = append(extraCommands, newRolloutCmd) }

// changeCause is the annotation rollout history shows.
const changeCause = "kubernetes.io/change-cause"

func newRolloutCmd(st streams) *cobra.Command {
	cmd := &cobra.Command{Use: "rollout", Short: "Follow, list, undo and restart the rollouts of deployments, daemon sets and stateful sets", Args: cobra.NoArgs}
	cmd.AddCommand(newRolloutStatusCmd(st), newRolloutHistoryCmd(st), newRolloutUndoCmd(st), newRolloutRestartCmd(st))
	return cmd
}

// rolloutObject reads the workload "KIND/NAME" (or "KIND NAME") names.
func rolloutObject(ctx context.Context, s *session, args []string) (client.Resource, runtime.Object, error) {
	kind, name, err := parseKindName(args, "")
	if err != nil {
		return client.Resource{}, nil, err
	}
	r, err := s.resolve(ctx, kind)
	if err != nil {
		return client.Resource{}, nil, err
	}
	switch r.GVK().GroupKind().String() {
	case "Deployment.apps", "DaemonSet.apps", "StatefulSet.apps":
	default:
		return client.Resource{}, nil, usageError("rollouts are for deployments, daemon sets and stateful sets, not %s", r.Resource)
	}
	obj, _, _ := client.NewObject(r.GVK())
	if err := s.c.Get(ctx, s.ns, name, obj); err != nil {
		return client.Resource{}, nil, kubeErr(err)
	}
	return r, obj, nil
}

// rolloutSubcommand builds a `mini rollout` verb acting on one workload.
func rolloutSubcommand(use, short string, run func(ctx context.Context, s *session, r client.Resource, obj runtime.Object) error) *cobra.Command {
	var kf *kubeFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := kf.open()
			if err != nil {
				return err
			}
			r, obj, err := rolloutObject(cmd.Context(), s, args)
			if err != nil {
				return err
			}
			return run(cmd.Context(), s, r, obj)
		},
	}
	kf = addKubeFlags(cmd, false)
	return cmd
}

func newRolloutStatusCmd(st streams) *cobra.Command {
	var (
		timeout time.Duration
		watch   bool
	)
	cmd := rolloutSubcommand("status KIND/NAME", "Print a rollout's progress and wait until it completes",
		func(ctx context.Context, s *session, r client.Resource, obj runtime.Object) error {
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return followRollout(ctx, st, s, r, obj, watch)
		})
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: wait as long as it takes)")
	cmd.Flags().BoolVarP(&watch, "watch", "w", true, "wait until the rollout completes")
	return cmd
}

// followRollout prints each new status message until the rollout is done.
func followRollout(ctx context.Context, st streams, s *session, r client.Resource, obj runtime.Object, watch bool) error {
	name := metaName(obj)
	last := ""
	err := watchObject(ctx, s, r, s.ns, name, func(ev objectEvent) (bool, error) {
		if ev.gone {
			return false, withCode(ExitNotFound, fmt.Errorf("%s %q was deleted", qualifiedKind(r), name))
		}
		cur, _, _ := client.NewObject(r.GVK())
		if err := json.Unmarshal(ev.obj, cur); err != nil {
			return false, err
		}
		msg, done, err := rolloutStatus(cur)
		if err != nil {
			return false, err
		}
		if msg != last {
			fmt.Fprintln(st.out, msg)
			last = msg
		}
		return done || !watch, nil
	})
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("timed out waiting for the rollout of %s/%s to finish", qualifiedKind(r), name)
	}
	return err
}

func metaName(obj runtime.Object) string {
	m, _ := metaOf(obj)
	return m.Name
}

// revision is one entry of a workload's rollout history.
type revision struct {
	n        int64
	cause    string
	template *corev1.PodTemplateSpec
	patch    []byte // how to return to it (stateful and daemon sets)
}

// revisions lists a workload's history, oldest first: a Deployment's
// ReplicaSets, or the ControllerRevisions of a StatefulSet or DaemonSet.
func revisions(ctx context.Context, s *session, obj runtime.Object) ([]revision, error) {
	var out []revision
	if d, ok := obj.(*appsv1.Deployment); ok {
		rss, err := ownedReplicaSets(ctx, s, d)
		if err != nil {
			return nil, err
		}
		for _, rs := range rss {
			t := rs.Spec.Template.DeepCopy()
			delete(t.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
			out = append(out, revision{n: revisionOf(rs.Annotations), cause: rs.Annotations[changeCause], template: t})
		}
		return out, nil
	}
	m, _ := metaOf(obj)
	var l appsv1.ControllerRevisionList
	if err := s.c.List(ctx, m.Namespace, &l, client.ListOptions{}); err != nil {
		return nil, err
	}
	for _, cr := range l.Items {
		if !isControlledBy(&cr.ObjectMeta, m.UID) {
			continue
		}
		var data struct {
			Spec struct {
				Template corev1.PodTemplateSpec `json:"template"`
			} `json:"spec"`
		}
		_ = json.Unmarshal(cr.Data.Raw, &data)
		out = append(out, revision{n: cr.Revision, cause: cr.Annotations[changeCause], template: &data.Spec.Template, patch: cr.Data.Raw})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	return out, nil
}

func newRolloutHistoryCmd(st streams) *cobra.Command {
	var rev int64
	cmd := rolloutSubcommand("history KIND/NAME [--revision N]", "List a workload's revisions, or show one's pod template",
		func(ctx context.Context, s *session, r client.Resource, obj runtime.Object) error {
			revs, err := revisions(ctx, s, obj)
			if err != nil {
				return err
			}
			return printHistory(st, qualifiedKind(r)+"/"+metaName(obj), revs, rev)
		})
	cmd.Flags().Int64Var(&rev, "revision", 0, "show this revision's pod template")
	return cmd
}

func printHistory(st streams, name string, revs []revision, rev int64) error {
	w := newDescWriter(st.out)
	if rev > 0 {
		for _, r := range revs {
			if r.n == rev {
				w.line(0, "%s with revision #%d", name, rev)
				describePodTemplate(w, r.template)
				return w.flush()
			}
		}
		return withCode(ExitNotFound, fmt.Errorf("unable to find the specified revision %d of %s", rev, name))
	}
	if len(revs) == 0 {
		fmt.Fprintf(st.out, "No rollout history found for %s\n", name)
		return nil
	}
	w.line(0, "%s ", name)
	w.line(0, "REVISION\tCHANGE-CAUSE")
	for _, r := range revs {
		w.line(0, "%d\t%s", r.n, orNone(r.cause))
	}
	w.line(0, "")
	return w.flush()
}

func newRolloutUndoCmd(st streams) *cobra.Command {
	var to int64
	cmd := rolloutSubcommand("undo KIND/NAME [--to-revision N]", "Roll back to the previous revision (or to a given one)",
		func(ctx context.Context, s *session, r client.Resource, obj runtime.Object) error {
			msg, err := undo(ctx, s, r, obj, to)
			if err != nil {
				return err
			}
			fmt.Fprintf(st.out, "%s/%s %s\n", qualifiedKind(r), metaName(obj), msg)
			return nil
		})
	cmd.Flags().Int64Var(&to, "to-revision", 0, "the revision to return to (0: the previous one)")
	return cmd
}

// undo returns a workload to revision to (0: the one before the current).
func undo(ctx context.Context, s *session, r client.Resource, obj runtime.Object, to int64) (string, error) {
	revs, err := revisions(ctx, s, obj)
	if err != nil {
		return "", err
	}
	target, err := undoTarget(revs, currentRevision(obj, revs), to)
	if err != nil {
		return "", err
	}
	name := metaName(obj)
	var pt types.PatchType
	var patch []byte
	if d, ok := obj.(*appsv1.Deployment); ok {
		if equality.Semantic.DeepEqual(&d.Spec.Template, target.template) {
			return fmt.Sprintf("skipped rollback (current template already matches revision %d)", target.n), nil
		}
		pt = types.JSONPatchType
		patch, err = json.Marshal([]map[string]any{{"op": "replace", "path": "/spec/template", "value": target.template}})
		if err != nil {
			return "", err
		}
	} else {
		pt, patch = types.StrategicMergePatchType, target.patch
	}
	_, err = s.c.Do(ctx, client.Request{Method: http.MethodPatch, Path: r.Path(s.ns, name, ""), Body: patch, ContentType: string(pt)})
	if err != nil {
		return "", kubeErr(err)
	}
	return "rolled back", nil
}

// currentRevision is the revision a workload runs now: a Deployment's
// annotation, else the newest.
func currentRevision(obj runtime.Object, revs []revision) int64 {
	if d, ok := obj.(*appsv1.Deployment); ok {
		return revisionOf(d.Annotations)
	}
	if len(revs) == 0 {
		return 0
	}
	return revs[len(revs)-1].n
}

// undoTarget picks the revision to roll back to: to, or the newest one
// older than current.
func undoTarget(revs []revision, current, to int64) (revision, error) {
	if to > 0 {
		for _, r := range revs {
			if r.n == to {
				return r, nil
			}
		}
		return revision{}, withCode(ExitNotFound, fmt.Errorf("unable to find the specified revision %d in history", to))
	}
	var best *revision
	for i := range revs {
		if revs[i].n < current && (best == nil || revs[i].n > best.n) {
			best = &revs[i]
		}
	}
	if best == nil {
		return revision{}, withCode(ExitNotFound, errors.New("no previous revision to roll back to"))
	}
	return *best, nil
}

func newRolloutRestartCmd(st streams) *cobra.Command {
	return rolloutSubcommand("restart KIND/NAME", "Replace a workload's pods with new ones (a rollout of the same template)",
		func(ctx context.Context, s *session, r client.Resource, obj runtime.Object) error {
			if d, ok := obj.(*appsv1.Deployment); ok && d.Spec.Paused {
				return fmt.Errorf("can't restart paused deployment %s (run rollout resume first)", d.Name)
			}
			patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`,
				time.Now().Format(time.RFC3339))
			_, err := s.c.Do(ctx, client.Request{Method: http.MethodPatch, Path: r.Path(s.ns, metaName(obj), ""),
				Body: []byte(patch), ContentType: string(types.StrategicMergePatchType)})
			if err != nil {
				return kubeErr(err)
			}
			fmt.Fprintf(st.out, "%s/%s restarted\n", qualifiedKind(r), metaName(obj))
			return nil
		})
}
