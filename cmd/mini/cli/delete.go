package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/control/client"
)

func init() { extraCommands = append(extraCommands, newDeleteCmd) }

// deleteOptions are `mini delete`'s flags.
type deleteOptions struct {
	kf             *kubeFlags
	files          []string
	recursive      bool
	all            bool
	selector       string
	wait           bool
	timeout        time.Duration
	cascade        string
	gracePeriod    int
	now            bool
	ignoreNotFound bool
}

func newDeleteCmd(st streams) *cobra.Command {
	o := &deleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete -f FILE|DIR|- | KIND NAME... | KIND/NAME... | KIND --all | KIND -l SELECTOR",
		Short: "Delete objects and wait until they are gone, as kubectl does",
		Example: `  mini delete -f app.yaml
  mini delete deploy echo
  mini delete pods -l app=echo
  mini delete pods --all --wait=false`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), st, args)
		},
	}
	o.kf = addKubeFlags(cmd, true)
	f := cmd.Flags()
	f.StringSliceVarP(&o.files, "filename", "f", nil, "delete the objects of these manifests (file, directory or -)")
	f.BoolVarP(&o.recursive, "recursive", "R", false, "read directories recursively")
	f.BoolVar(&o.all, "all", false, "delete every object of the kinds named")
	f.StringVarP(&o.selector, "selector", "l", "", "delete the objects matching a label selector")
	f.BoolVar(&o.wait, "wait", true, "wait until the objects are gone")
	f.DurationVar(&o.timeout, "timeout", 0, "give up waiting after this long (0: no limit)")
	f.StringVar(&o.cascade, "cascade", "background", "dependents: background, foreground (wait for them) or orphan (keep them)")
	f.IntVar(&o.gracePeriod, "grace-period", -1, "seconds a pod gets to stop (-1: its own)")
	f.BoolVar(&o.now, "now", false, "stop pods at once (grace period 1)")
	f.BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "do not fail on objects that do not exist")
	return cmd
}

// delTarget is one object to delete.
type delTarget struct {
	r        client.Resource
	ns, name string
}

func (o *deleteOptions) run(ctx context.Context, st streams, args []string) error {
	opts, err := o.deleteOpts()
	if err != nil {
		return err
	}
	if len(o.files) > 0 && len(args) > 0 {
		return usageError("give either -f or resource arguments, not both")
	}
	if len(o.files) == 0 && len(args) == 0 {
		return usageError("you must specify the type of resource to delete, or -f")
	}
	s, err := o.kf.open()
	if err != nil {
		return err
	}
	errs := errList{print: errPrinter(st)}
	items, err := o.targets(ctx, st, s, args, &errs)
	if err != nil {
		return err
	}
	if len(items) == 0 && errs.done() == nil && len(o.files) == 0 {
		fmt.Fprintln(st.errOut, "No resources found")
	}
	type pending struct {
		delTarget
		uid string
	}
	var gone []pending
	for _, it := range items {
		uid, err := o.deleteOne(ctx, s, it, opts)
		if apierrors.IsNotFound(err) && o.ignoreNotFound {
			continue
		}
		if err != nil {
			errs.add(err)
			continue
		}
		fmt.Fprintf(st.out, "%s %q deleted\n", qualifiedKind(it.r), it.name)
		gone = append(gone, pending{it, uid})
	}
	if o.wait {
		wctx := ctx
		if o.timeout > 0 {
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(ctx, o.timeout)
			defer cancel()
		}
		for _, p := range gone {
			if err := waitGone(wctx, s, p.delTarget, p.uid); err != nil {
				errs.add(err)
			}
		}
	}
	return errs.done()
}

func (o *deleteOptions) deleteOpts() (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	var p metav1.DeletionPropagation
	switch o.cascade {
	case "background", "true":
		p = metav1.DeletePropagationBackground
	case "foreground":
		p = metav1.DeletePropagationForeground
	case "orphan", "false":
		p = metav1.DeletePropagationOrphan
	default:
		return nil, usageError("--cascade %q: use background, foreground or orphan", o.cascade)
	}
	opts.PropagationPolicy = &p
	grace := int64(o.gracePeriod)
	if o.now {
		grace = 1
	}
	if grace >= 0 {
		opts.GracePeriodSeconds = &grace
	}
	return opts, nil
}

// targets lists what to delete: the manifests' objects, the named ones, or
// every object of the kinds (--all or -l).
func (o *deleteOptions) targets(ctx context.Context, st streams, s *session, args []string, errs *errList) ([]delTarget, error) {
	var out []delTarget
	if len(o.files) > 0 {
		ms, err := client.ReadManifests(o.files, o.recursive, st.in)
		if err != nil {
			return nil, kubeErr(err)
		}
		for _, m := range ms {
			r := client.Resource{Info: m.Info}
			ns := m.NS
			if ns == "" {
				ns = s.ns
			}
			if !r.Namespaced {
				ns = ""
			}
			out = append(out, delTarget{r, ns, m.Name})
		}
		return out, nil
	}
	targets, err := parseTargets(args)
	if err != nil {
		return nil, err
	}
	rs, err := s.resources(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		kinds, err := expandKinds(rs, t.kinds)
		if err != nil {
			return nil, kubeErr(err)
		}
		if len(t.names) > 0 && (o.all || o.selector != "") {
			return nil, usageError("names cannot be given with --all or -l")
		}
		if len(t.names) == 0 && !o.all && o.selector == "" {
			return nil, usageError("resource(s) were provided, but no name was specified: give names, --all or -l")
		}
		for _, r := range kinds {
			if len(t.names) > 0 {
				for _, n := range t.names {
					out = append(out, delTarget{r, s.nsOf(r), n})
				}
				continue
			}
			found, err := o.listNames(ctx, s, r)
			if err != nil {
				errs.add(err)
				continue
			}
			out = append(out, found...)
		}
	}
	return out, nil
}

// listNames lists the objects of r that --all or -l select.
func (o *deleteOptions) listNames(ctx context.Context, s *session, r client.Resource) ([]delTarget, error) {
	ns := ""
	if r.Namespaced {
		ns = o.kf.listNS(s)
	}
	q := map[string][]string{}
	if o.selector != "" {
		q["labelSelector"] = []string{o.selector}
	}
	data, err := s.c.Do(ctx, client.Request{Method: http.MethodGet, Path: r.Path(ns, "", ""), Query: q})
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, err
	}
	var out []delTarget
	for _, it := range list.Items {
		m := rawMeta(it)
		out = append(out, delTarget{r, m.Namespace, m.Name})
	}
	return out, nil
}

// deleteOne deletes an object and returns its uid.
func (o *deleteOptions) deleteOne(ctx context.Context, s *session, t delTarget, opts *metav1.DeleteOptions) (string, error) {
	opts.TypeMeta = metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "v1"}
	body, err := json.Marshal(opts)
	if err != nil {
		return "", err
	}
	data, err := s.c.Do(ctx, client.Request{Method: http.MethodDelete, Path: t.r.Path(t.ns, t.name, ""), Body: body})
	if err != nil {
		return "", err
	}
	var st metav1.Status
	if json.Unmarshal(data, &st) == nil && st.Kind == "Status" && st.Details != nil {
		return string(st.Details.UID), nil // deleted at once
	}
	return string(rawMeta(data).UID), nil
}

// waitGone waits until the object is gone (or replaced by another with
// the same name).
func waitGone(ctx context.Context, s *session, t delTarget, uid string) error {
	err := watchObject(ctx, s, t.r, t.ns, t.name, func(ev objectEvent) (bool, error) {
		return ev.gone || uid != "" && ev.uid != "" && ev.uid != uid, nil
	})
	if ctx.Err() != nil {
		return fmt.Errorf("timed out waiting for %s %q to be deleted", qualifiedKind(t.r), t.name)
	}
	return err
}
