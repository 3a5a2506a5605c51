package api

import (
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// TableDef is a kind's server-side printer: the columns kubectl shows and
// how one object fills them.
type TableDef struct {
	Columns []metav1.TableColumnDefinition
	Row     func(obj runtime.Object, now time.Time) []any
}

// col builds a column definition; priority 1 columns appear with -o wide.
func col(name, typ string, priority int32, desc string) metav1.TableColumnDefinition {
	format := ""
	if name == "Name" {
		format = "name"
	}
	return metav1.TableColumnDefinition{Name: name, Type: typ, Format: format, Priority: priority, Description: desc}
}

// nameCol and ageCol are shared by every printer.
var (
	nameCol = col("Name", "string", 0, "Name must be unique within a namespace.")
	ageCol  = col("Age", "string", 0, "CreationTimestamp is a timestamp representing the server time when this object was created.")
)

// age renders a timestamp as kubectl does ("5m", "3h2m", "<unknown>").
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// defaultTable is used for kinds without a printer: Name and Age.
var defaultTable = &TableDef{
	Columns: []metav1.TableColumnDefinition{nameCol, ageCol},
	Row: func(obj runtime.Object, now time.Time) []any {
		m := objectMeta(obj)
		return []any{m.Name, age(m.CreationTimestamp, now)}
	},
}

func tableOptions(r *http.Request) metav1.TableOptions {
	o := metav1.TableOptions{IncludeObject: metav1.IncludeMetadata}
	switch v := metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject")); v {
	case metav1.IncludeNone, metav1.IncludeObject:
		o.IncludeObject = v
	}
	return o
}

// table renders objects as a meta.k8s.io Table.
func (s *Server) table(res *Resource, objs []runtime.Object, n negotiated, opts metav1.TableOptions, rv string) *metav1.Table {
	def := res.Table
	if def == nil {
		def = defaultTable
	}
	t := &metav1.Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/" + n.tableVersion}}
	t.ResourceVersion = rv
	if !opts.NoHeaders {
		t.ColumnDefinitions = def.Columns
	}
	now := s.now()
	t.Rows = make([]metav1.TableRow, 0, len(objs))
	for _, obj := range objs {
		row := metav1.TableRow{Cells: def.Row(obj, now)}
		switch opts.IncludeObject {
		case metav1.IncludeObject:
			setTypeMeta(res, obj)
			row.Object = runtime.RawExtension{Object: obj}
		case metav1.IncludeMetadata, "":
			row.Object = runtime.RawExtension{Object: partialMeta(obj, n.tableVersion)}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}
