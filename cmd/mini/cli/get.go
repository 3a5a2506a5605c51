package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/control/client"
)

func init() { extraCommands = append(extraCommands, newGetCmd) }

// getOptions are `mini get`'s flags.
type getOptions struct {
	kf                      *kubeFlags
	output, selector, field string
	watch, watchOnly        bool
	showLabels, noHeaders   bool
}

func newGetCmd(st streams) *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:   "get KIND[,KIND...] [NAME...] | KIND/NAME...",
		Short: "List objects as kubectl does: the server's table, wide columns, YAML, JSON or names; -w follows changes",
		Example: `  mini get pods -o wide
  mini get deploy,svc -l app=echo
  mini get pods -A
  mini get deployment/echo -o yaml
  mini get pods -w`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), st, args)
		},
	}
	o.kf = addKubeFlags(cmd, true)
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "output format: wide, yaml, json or name")
	f.StringVarP(&o.selector, "selector", "l", "", "label selector, e.g. app=echo,tier!=db")
	f.StringVar(&o.field, "field-selector", "", "field selector, e.g. status.phase=Running")
	f.BoolVarP(&o.watch, "watch", "w", false, "after listing, print objects as they change")
	f.BoolVar(&o.watchOnly, "watch-only", false, "print changes only, without the first listing")
	f.BoolVar(&o.showLabels, "show-labels", false, "add a LABELS column")
	f.BoolVar(&o.noHeaders, "no-headers", false, "leave out the header row")
	return cmd
}

// getGroup is one resource type of a get with its named objects (none:
// every object).
type getGroup struct {
	r     client.Resource
	names []string
}

func (o *getOptions) run(ctx context.Context, st streams, args []string) error {
	switch o.output {
	case "", "wide", "yaml", "json", "name":
	default:
		return usageError("unknown output format %q: use wide, yaml, json or name", o.output)
	}
	o.watch = o.watch || o.watchOnly
	targets, err := parseTargets(args)
	if err != nil {
		return err
	}
	s, err := o.kf.open()
	if err != nil {
		return err
	}
	groups, err := o.groups(ctx, s, targets)
	if err != nil {
		return err
	}
	if o.watch {
		if len(groups) != 1 || len(groups[0].names) > 1 {
			return usageError("watch (-w) follows one resource type, or one object")
		}
		return o.watchGroup(ctx, st, s, groups[0])
	}
	if o.output == "" || o.output == "wide" {
		return o.printTables(ctx, st, s, groups)
	}
	return o.printObjects(ctx, st, s, groups)
}

// groups resolves the targets' kinds.
func (o *getOptions) groups(ctx context.Context, s *session, targets []target) ([]getGroup, error) {
	rs, err := s.resources(ctx)
	if err != nil {
		return nil, err
	}
	var out []getGroup
	for _, t := range targets {
		if len(t.names) > 0 && o.selector != "" {
			return nil, usageError("a name cannot be given with a selector (-l)")
		}
		kinds, err := expandKinds(rs, t.kinds)
		if err != nil {
			return nil, kubeErr(err)
		}
		for _, k := range kinds {
			out = append(out, getGroup{r: k, names: t.names})
		}
	}
	return out, nil
}

// listQuery carries -l and --field-selector.
func (o *getOptions) listQuery() url.Values {
	q := url.Values{}
	if o.selector != "" {
		q.Set("labelSelector", o.selector)
	}
	if o.field != "" {
		q.Set("fieldSelector", o.field)
	}
	return q
}

// listPath is where objects of g are listed (all namespaces with -A).
func (o *getOptions) listPath(s *session, g getGroup) string {
	if !g.r.Namespaced {
		return g.r.Path("", "", "")
	}
	return g.r.Path(o.kf.listNS(s), "", "")
}

func (o *getOptions) printTables(ctx context.Context, st streams, s *session, groups []getGroup) error {
	errs := errList{print: errPrinter(st)}
	printed, named := false, false
	for _, g := range groups {
		named = named || len(g.names) > 0
		t, err := o.table(ctx, s, g, &errs)
		if err != nil {
			errs.add(err)
			continue
		}
		if t == nil || len(t.Rows) == 0 {
			continue
		}
		if printed {
			fmt.Fprintln(st.out)
		}
		topts := tableOpts{wide: o.output == "wide", namespace: o.kf.allNamespaces && g.r.Namespaced,
			showLabels: o.showLabels, noHeaders: o.noHeaders}
		if len(groups) > 1 {
			topts.kindPrefix = qualifiedKind(g.r) + "/"
		}
		if err := (&aligner{}).write(st.out, tableRows(t, topts)); err != nil {
			return err
		}
		printed = true
	}
	if !printed && !named && errs.done() == nil {
		fmt.Fprintln(st.errOut, noResources(o.kf, s, groups))
	}
	return errs.done()
}

// noResources is kubectl's message for an empty listing.
func noResources(kf *kubeFlags, s *session, groups []getGroup) string {
	for _, g := range groups {
		if g.r.Namespaced && !kf.allNamespaces {
			return fmt.Sprintf("No resources found in %s namespace.", s.ns)
		}
	}
	return "No resources found"
}

// table fetches g's objects as one server Table: the listing, or each named
// object (errors for missing ones go to errs).
func (o *getOptions) table(ctx context.Context, s *session, g getGroup, errs *errList) (*metav1.Table, error) {
	if len(g.names) == 0 {
		data, err := s.c.Do(ctx, client.Request{Method: http.MethodGet, Path: o.listPath(s, g), Query: o.listQuery(), Accept: tableAccept})
		if err != nil {
			return nil, err
		}
		return decodeTable(data)
	}
	var out *metav1.Table
	for _, n := range g.names {
		data, err := s.c.Do(ctx, client.Request{Method: http.MethodGet, Path: g.r.Path(s.nsOf(g.r), n, ""), Accept: tableAccept})
		if err != nil {
			errs.add(err)
			continue
		}
		t, err := decodeTable(data)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = t
		} else {
			out.Rows = append(out.Rows, t.Rows...)
		}
	}
	return out, nil
}

// rawObjects fetches g's objects as JSON, with apiVersion and kind set.
func (o *getOptions) rawObjects(ctx context.Context, s *session, g getGroup, errs *errList) ([]json.RawMessage, error) {
	var out []json.RawMessage
	if len(g.names) == 0 {
		data, err := s.c.Do(ctx, client.Request{Method: http.MethodGet, Path: o.listPath(s, g), Query: o.listQuery()})
		if err != nil {
			return nil, err
		}
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(data, &list); err != nil {
			return nil, fmt.Errorf("decoding the %s list: %w", g.r.Resource, err)
		}
		for _, it := range list.Items {
			out = append(out, withTypeMeta(it, g.r))
		}
		return out, nil
	}
	for _, n := range g.names {
		data, err := s.c.Do(ctx, client.Request{Method: http.MethodGet, Path: g.r.Path(s.nsOf(g.r), n, "")})
		if err != nil {
			errs.add(err)
			continue
		}
		out = append(out, withTypeMeta(data, g.r))
	}
	return out, nil
}

func (o *getOptions) printObjects(ctx context.Context, st streams, s *session, groups []getGroup) error {
	errs := errList{print: errPrinter(st)}
	var all []json.RawMessage
	for _, g := range groups {
		objs, err := o.rawObjects(ctx, s, g, &errs)
		if err != nil {
			errs.add(err)
			continue
		}
		if o.output == "name" {
			for _, obj := range objs {
				fmt.Fprintf(st.out, "%s/%s\n", qualifiedKind(g.r), rawMeta(obj).Name)
			}
			continue
		}
		all = append(all, objs...)
	}
	if o.output != "name" {
		single := len(groups) == 1 && len(groups[0].names) == 1
		if len(all) > 0 || !single {
			if err := printObjects(st.out, o.output, all, single); err != nil {
				return err
			}
		}
	}
	return errs.done()
}
