package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/minicluster/mini/control/client"
)

func init() { extraCommands = append(extraCommands, newDescribeCmd) }

func newDescribeCmd(st streams) *cobra.Command {
	var (
		kf       *kubeFlags
		selector string
	)
	cmd := &cobra.Command{
		Use:   "describe KIND [NAME...] | KIND/NAME...",
		Short: "Show objects in detail with their recent events, as kubectl describe does",
		Example: `  mini describe pod echo-5d8f7c6b9d-x2x9k
  mini describe deploy/echo
  mini describe nodes`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			targets, err := parseTargets(args)
			if err != nil {
				return err
			}
			s, err := kf.open()
			if err != nil {
				return err
			}
			return describeTargets(cmd.Context(), st, s, kf, targets, selector)
		},
	}
	kf = addKubeFlags(cmd, true)
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector (describe every match)")
	return cmd
}

func describeTargets(ctx context.Context, st streams, s *session, kf *kubeFlags, targets []target, selector string) error {
	errs := errList{print: errPrinter(st)}
	first := true
	for _, t := range targets {
		r, err := s.resolve(ctx, t.kinds)
		if err != nil {
			return err
		}
		objs, err := describeObjects(ctx, s, kf, r, t.names, selector, &errs)
		if err != nil {
			errs.add(err)
			continue
		}
		if len(objs) == 0 && len(t.names) == 0 {
			fmt.Fprintln(st.errOut, noResources(kf, s, []getGroup{{r: r}}))
		}
		for _, obj := range objs {
			if !first {
				fmt.Fprintln(st.out)
			}
			first = false
			if err := describeOne(ctx, st.out, s, r, obj); err != nil {
				errs.add(err)
			}
		}
	}
	return errs.done()
}

// describeObjects fetches the named objects, or every one (narrowed by
// the selector).
func describeObjects(ctx context.Context, s *session, kf *kubeFlags, r client.Resource, names []string, selector string, errs *errList) ([]runtime.Object, error) {
	var out []runtime.Object
	if len(names) == 0 {
		list, ok := client.NewList(r.GVK())
		if !ok {
			return nil, fmt.Errorf("mini cannot describe %s", r.Resource)
		}
		ns := ""
		if r.Namespaced {
			ns = kf.listNS(s)
		}
		if err := s.c.List(ctx, ns, list, client.ListOptions{LabelSelector: selector}); err != nil {
			return nil, err
		}
		items, err := listItems(list)
		if err != nil {
			return nil, err
		}
		return items, nil
	}
	for _, n := range names {
		obj, _, ok := client.NewObject(r.GVK())
		if !ok {
			return nil, fmt.Errorf("mini cannot describe %s", r.Resource)
		}
		if err := s.c.Get(ctx, s.nsOf(r), n, obj); err != nil {
			errs.add(err)
			continue
		}
		out = append(out, obj)
	}
	return out, nil
}

// listItems returns pointers to the items of a typed list.
func listItems(list runtime.Object) ([]runtime.Object, error) {
	data, err := json.Marshal(list)
	if err != nil {
		return nil, err
	}
	var l struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, err
	}
	info, err := client.InfoFor(list)
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Object, 0, len(l.Items))
	for _, raw := range l.Items {
		obj, _, _ := client.NewObject(info.GVK())
		if err := json.Unmarshal(raw, obj); err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

// describer writes one kind's details (without the events).
type describer func(ctx context.Context, s *session, obj runtime.Object, w *descWriter)

// describers are the kinds with their own layout; others get the generic
// one.
var describers = map[schema.GroupKind]describer{}

func describeOne(ctx context.Context, out io.Writer, s *session, r client.Resource, obj runtime.Object) error {
	w := newDescWriter(out)
	if d, ok := describers[r.GVK().GroupKind()]; ok {
		d(ctx, s, obj, w)
	} else {
		describeGeneric(w, r, obj)
	}
	if r.Kind != "Event" {
		m, _ := metaOf(obj)
		describeEvents(ctx, s, w, r, m)
	}
	return w.flush()
}

// descWriter writes kubectl describe's layout: "Key:\tvalue" lines indented
// two spaces per level, aligned by a tab writer.
type descWriter struct{ tw *tabwriter.Writer }

func newDescWriter(out io.Writer) *descWriter {
	return &descWriter{tw: tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)}
}

func (d *descWriter) line(level int, format string, args ...any) {
	fmt.Fprintf(d.tw, strings.Repeat("  ", level)+format+"\n", args...)
}

func (d *descWriter) flush() error { return d.tw.Flush() }

// keyValues writes a map as "Title:\tk=v" with further pairs on their own
// lines ("<none>" when empty), skipping the last-applied annotation.
func (d *descWriter) keyValues(level int, title string, m map[string]string, sep string) {
	keys := slices.DeleteFunc(sortedKeys(m), func(k string) bool { return k == client.LastApplied })
	if len(keys) == 0 {
		d.line(level, "%s:\t<none>", title)
		return
	}
	for i, k := range keys {
		label := title + ":"
		if i > 0 {
			label = ""
		}
		d.line(level, "%s\t%s%s%s", label, k, sep, m[k])
	}
}

// objectHeader writes Name, Namespace, labels and annotations.
func (d *descWriter) objectHeader(m *metav1.ObjectMeta) {
	d.line(0, "Name:\t%s", m.Name)
	if m.Namespace != "" {
		d.line(0, "Namespace:\t%s", m.Namespace)
	}
	d.keyValues(0, "Labels", m.Labels, "=")
	d.keyValues(0, "Annotations", m.Annotations, ": ")
}

func metaOf(obj runtime.Object) (*metav1.ObjectMeta, bool) {
	a, ok := obj.(interface{ GetObjectMeta() metav1.Object })
	if !ok {
		return &metav1.ObjectMeta{}, false
	}
	m, ok := a.GetObjectMeta().(*metav1.ObjectMeta)
	return m, ok
}

// when prints a timestamp as kubectl describe does.
func when(t metav1.Time) string {
	if t.IsZero() {
		return "<unset>"
	}
	return t.Format(time.RFC1123Z)
}

// since prints the age of a timestamp ("5m").
func since(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// controlledBy names an object's controller ("ReplicaSet/echo-5d8f").
func controlledBy(m *metav1.ObjectMeta) string {
	for _, o := range m.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			return o.Kind + "/" + o.Name
		}
	}
	return ""
}

// describeEvents lists the object's events, oldest first.
func describeEvents(ctx context.Context, s *session, w *descWriter, r client.Resource, m *metav1.ObjectMeta) {
	sel := "involvedObject.name=" + m.Name
	if m.Namespace != "" {
		sel += ",involvedObject.namespace=" + m.Namespace
	}
	if m.UID != "" {
		sel += ",involvedObject.uid=" + string(m.UID)
	}
	ns := m.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault // where events of cluster-scoped objects go
	}
	var list corev1.EventList
	if err := s.c.List(ctx, ns, &list, client.ListOptions{FieldSelector: sel}); err != nil {
		w.line(0, "Events:\t<unavailable: %v>", err)
		return
	}
	if len(list.Items) == 0 {
		w.line(0, "Events:\t<none>")
		return
	}
	evs := list.Items
	sort.SliceStable(evs, func(i, j int) bool { return eventTime(&evs[i]).Before(eventTime(&evs[j])) })
	w.line(0, "Events:")
	w.line(1, "Type\tReason\tAge\tFrom\tMessage")
	w.line(1, "----\t------\t----\t----\t-------")
	for i := range evs {
		e := &evs[i]
		age := duration.HumanDuration(time.Since(eventTime(e)))
		if e.Count > 1 && !e.FirstTimestamp.IsZero() {
			age = fmt.Sprintf("%s (x%d over %s)", age, e.Count, duration.HumanDuration(time.Since(e.FirstTimestamp.Time)))
		}
		from := e.Source.Component
		if from == "" {
			from = e.ReportingController
		}
		w.line(1, "%s\t%s\t%s\t%s\t%s", e.Type, e.Reason, age, from, strings.TrimSpace(e.Message))
	}
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.FirstTimestamp.Time
}

// describeGeneric writes any object: its metadata, then its other fields
// with their names in Title Case, as kubectl's generic describer does.
func describeGeneric(w *descWriter, r client.Resource, obj runtime.Object) {
	m, _ := metaOf(obj)
	w.objectHeader(m)
	w.line(0, "API Version:\t%s", r.GVK().GroupVersion())
	w.line(0, "Kind:\t%s", r.Kind)
	data, _ := json.Marshal(obj)
	var fields map[string]any
	_ = json.Unmarshal(data, &fields)
	meta, _ := fields["metadata"].(map[string]any)
	for _, k := range []string{"name", "namespace", "labels", "annotations", "managedFields"} {
		delete(meta, k)
	}
	genericField(w, 0, "metadata", meta)
	keys := sortedKeys(fields)
	for _, k := range keys {
		if k != "apiVersion" && k != "kind" && k != "metadata" {
			genericField(w, 0, k, fields[k])
		}
	}
}

// genericField writes one field: scalars inline, maps and lists nested.
func genericField(w *descWriter, level int, key string, v any) {
	name := titleCase(key)
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			return
		}
		w.line(level, "%s:", name)
		for _, k := range sortedKeys(x) {
			genericField(w, level+1, k, x[k])
		}
	case []any:
		if len(x) == 0 {
			return
		}
		w.line(level, "%s:", name)
		for _, e := range x {
			if em, ok := e.(map[string]any); ok {
				for _, k := range sortedKeys(em) {
					genericField(w, level+1, k, em[k])
				}
				continue
			}
			w.line(level+1, "%v", e)
		}
	case nil:
	default:
		w.line(level, "%s:\t%v", name, x)
	}
}

// initialisms are words kubectl's labels spell in capitals.
var initialisms = map[string]bool{"Api": true, "Uid": true, "Ip": true, "Ips": true, "Url": true, "Id": true,
	"Cidr": true, "Cidrs": true, "Dns": true, "Tcp": true, "Udp": true, "Http": true, "Tls": true}

// titleCase turns a JSON field name into kubectl's label: "podIP" →
// "Pod IP", "leaseDurationSeconds" → "Lease Duration Seconds", "apiVersion"
// → "API Version".
func titleCase(s string) string {
	var words []string
	rs := []rune(s)
	start := 0
	isUpper := func(r rune) bool { return r >= 'A' && r <= 'Z' }
	for i := 1; i < len(rs); i++ {
		prev, next := rs[i-1], rune(0)
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		plural := next == 's' && i+2 == len(rs) // "IPs" stays a word
		if isUpper(rs[i]) && (!isUpper(prev) || next >= 'a' && next <= 'z' && !plural) {
			words = append(words, string(rs[start:i]))
			start = i
		}
	}
	words = append(words, string(rs[start:]))
	for i, w := range words {
		w = strings.ToUpper(w[:1]) + w[1:]
		if initialisms[w] {
			w = strings.ToUpper(w)
		}
		words[i] = w
	}
	return strings.Join(words, " ")
}
