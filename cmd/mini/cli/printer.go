package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/minicluster/mini/control/client"
)

// tableAccept asks the API server for its server-side Table rendering,
// the columns kubectl prints.
const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

// decodeTable reads a Table response, keeping numbers as written.
func decodeTable(data []byte) (*metav1.Table, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	t := &metav1.Table{}
	if err := dec.Decode(t); err != nil {
		return nil, fmt.Errorf("decoding the server's table: %w", err)
	}
	if t.Kind != "Table" {
		return nil, fmt.Errorf("the server answered a %q, not a Table", t.Kind)
	}
	return t, nil
}

// tableOpts shape the printed table.
type tableOpts struct {
	wide       bool   // also the columns of priority > 0
	namespace  bool   // a NAMESPACE column first
	kindPrefix string // "pod/" prefixed to names (several kinds at once)
	showLabels bool   // a LABELS column last
	noHeaders  bool
}

// tableRows turns a server Table into printed cells: a header row (unless
// noHeaders) then one row per object.
func tableRows(t *metav1.Table, o tableOpts) [][]string {
	var cols []int
	for i, c := range t.ColumnDefinitions {
		if c.Priority == 0 || o.wide {
			cols = append(cols, i)
		}
	}
	var out [][]string
	if !o.noHeaders {
		var h []string
		if o.namespace {
			h = append(h, "NAMESPACE")
		}
		for _, i := range cols {
			h = append(h, strings.ToUpper(t.ColumnDefinitions[i].Name))
		}
		if o.showLabels {
			h = append(h, "LABELS")
		}
		out = append(out, h)
	}
	for _, row := range t.Rows {
		meta := rowMeta(row)
		var r []string
		if o.namespace {
			r = append(r, meta.Namespace)
		}
		for _, i := range cols {
			cell := ""
			if i < len(row.Cells) {
				cell = cellString(row.Cells[i])
			}
			if t.ColumnDefinitions[i].Format == "name" {
				cell = o.kindPrefix + cell
			}
			r = append(r, cell)
		}
		if o.showLabels {
			r = append(r, labelsString(meta.Labels))
		}
		out = append(out, r)
	}
	return out
}

// rowMeta is the object metadata the server attaches to a row.
func rowMeta(row metav1.TableRow) metav1.PartialObjectMetadata {
	var m metav1.PartialObjectMetadata
	if len(row.Object.Raw) > 0 {
		_ = json.Unmarshal(row.Object.Raw, &m)
	}
	return m
}

// cellString prints a cell as kubectl does ("<none>" for null).
func cellString(v any) string {
	switch x := v.(type) {
	case nil:
		return "<none>"
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = cellString(e)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}

// labelsString prints labels as k=v pairs, sorted ("<none>" when empty).
func labelsString(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	keys := sortedKeys(m)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ",")
}

// sortedKeys returns a map's keys in order.
func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// aligner writes rows in columns as kubectl's tab writer does (minimum
// width 6, three spaces of padding, the last column unpadded), and
// remembers the widths so rows printed later (get -w) line up with the
// first ones.
type aligner struct{ widths []int }

func (a *aligner) write(w io.Writer, rows [][]string) error {
	for _, r := range rows {
		for i, c := range r[:max(len(r)-1, 0)] {
			if i >= len(a.widths) {
				a.widths = append(a.widths, 0)
			}
			a.widths[i] = max(a.widths[i], 6, utf8.RuneCountInString(c)+3)
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", a.widths[i]-utf8.RuneCountInString(c)))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// withTypeMeta returns an object's JSON with apiVersion and kind first when
// it lacks them (list items come without), keeping the server's field order.
func withTypeMeta(raw json.RawMessage, r client.Resource) json.RawMessage {
	var head struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(raw, &head) == nil && head.Kind != "" {
		return raw
	}
	t := bytes.TrimSpace(raw)
	if len(t) < 2 || t[0] != '{' {
		return raw
	}
	prefix := fmt.Sprintf(`{"apiVersion":%q,"kind":%q`, r.GVK().GroupVersion().String(), r.Kind)
	rest := bytes.TrimSpace(t[1:])
	if rest[0] != '}' {
		prefix += ","
	}
	return append([]byte(prefix), rest...)
}

// printObjects writes objects as JSON (4-space indent, as kubectl) or
// YAML: one object alone, several as a List.
func printObjects(w io.Writer, format string, objs []json.RawMessage, single bool) error {
	var doc []byte
	if single && len(objs) == 1 {
		doc = objs[0]
	} else {
		items := objs
		if items == nil {
			items = []json.RawMessage{}
		}
		var err error
		doc, err = json.Marshal(struct {
			APIVersion string            `json:"apiVersion"`
			Items      []json.RawMessage `json:"items"`
			Kind       string            `json:"kind"`
			Metadata   map[string]string `json:"metadata"`
		}{"v1", items, "List", map[string]string{"resourceVersion": ""}})
		if err != nil {
			return err
		}
	}
	return printDoc(w, format, doc)
}

// printDoc writes one JSON document as JSON or YAML.
func printDoc(w io.Writer, format string, doc []byte) error {
	if format == "yaml" {
		y, err := yaml.JSONToYAML(doc)
		if err != nil {
			return err
		}
		_, err = w.Write(y)
		return err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, doc, "", "    "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}
