package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A cluster config file: `mini cluster create --config FILE`.
const (
	ConfigAPIVersion = "mini.dev/v1alpha1"
	ConfigKind       = "Cluster"
)

// configFields are the top-level fields of a cluster config file, in the
// order `mini config init` shows them.
var configFields = []string{"apiVersion", "kind", "name", "nodes", "apiPort", "ports", "nodeBaseImage",
	"nodeLabels", "nodeTaints", "nodeOverrides", "images"}

var overrideFields = []string{"index", "labels", "taints"}

// ConfigError says what is wrong with a cluster config file, and where.
type ConfigError struct {
	File  string
	Line  int    // 1-based; 0 when it is about the whole file
	Field string // e.g. "nodeTaints[1]"; "" for a syntax error
	Err   error
}

func (e *ConfigError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %v", loc, e.Field, e.Err)
	}
	return fmt.Sprintf("%s: %v", loc, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// LoadConfig reads a cluster config file and applies it to o (see
// ParseConfig).
func LoadConfig(path string, o CreateOptions) (CreateOptions, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return o, fmt.Errorf("read the cluster config: %w", err)
	}
	return ParseConfig(path, data, o)
}

// ParseConfig applies a cluster config document (read from file, which
// names it in errors) to o: each field the document sets replaces o's.
// Unknown fields, wrong types and bad values are *ConfigError with the line
// and field.
func ParseConfig(file string, data []byte, o CreateOptions) (CreateOptions, error) {
	p := &configParser{file: file}
	root, err := p.document(data)
	if err != nil {
		return o, err
	}
	if err := p.apply(root, &o); err != nil {
		return o, err
	}
	return o, nil
}

type configParser struct{ file string }

func (p *configParser) errAt(n *yaml.Node, field string, format string, a ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &ConfigError{File: p.file, Line: line, Field: field, Err: fmt.Errorf(format, a...)}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses the one YAML document of data; its root is a mapping.
func (p *configParser) document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ConfigError{File: p.file, Err: errors.New("the file is empty (print an example with: mini config init)")}
		}
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			msg := m[2]
			if strings.HasPrefix(msg, "did not find expected") {
				// The parser names the line where the block it could not finish starts.
				msg += " (in the block starting on this line: check the indentation of the lines after it)"
			}
			return nil, &ConfigError{File: p.file, Line: line, Err: fmt.Errorf("malformed YAML: %s", msg)}
		}
		return nil, &ConfigError{File: p.file, Err: fmt.Errorf("malformed YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, p.errAt(&next, "", "a cluster config is one YAML document; this file has more")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, p.errAt(root, "", "want a mapping with apiVersion: %s and kind: %s, got %s", ConfigAPIVersion, ConfigKind, describe(root))
	}
	return root, nil
}

// describe names the YAML type of n for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return fmt.Sprintf("%q", n.Value)
}

// fieldSet is a mapping's fields by name, and the unknown ones in order.
type fieldSet struct {
	values  map[string]*yaml.Node // nil for a null value
	keys    map[string]*yaml.Node
	unknown []*yaml.Node // their key nodes
}

// fields reads mapping m (at path) whose known field names are known.
func (p *configParser) fields(m *yaml.Node, path string, known []string) (fieldSet, error) {
	fs := fieldSet{values: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], deref(m.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return fs, p.errAt(k, path, "field names are strings, got %s", describe(k))
		}
		if _, dup := fs.values[k.Value]; dup {
			return fs, p.errAt(k, join(path, k.Value), "is given twice")
		}
		fs.keys[k.Value] = k
		if !slices.Contains(known, k.Value) {
			fs.unknown = append(fs.unknown, k)
		}
		if v.Tag != "!!null" { // "field:" with no value leaves it unset
			fs.values[k.Value] = v
		} else {
			fs.values[k.Value] = nil
		}
	}
	return fs, nil
}

func (p *configParser) unknownField(fs fieldSet, path string, known []string) error {
	if len(fs.unknown) == 0 {
		return nil
	}
	k := fs.unknown[0]
	return p.errAt(k, join(path, k.Value), "unknown field (the fields are %s)", strings.Join(known, ", "))
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// identity checks kind and apiVersion (kind first: a Kubernetes manifest
// given by mistake is told so).
func (p *configParser) identity(root *yaml.Node, fs fieldSet) error {
	want := map[string]string{"kind": ConfigKind, "apiVersion": ConfigAPIVersion}
	for _, f := range []string{"kind", "apiVersion"} {
		v := fs.values[f]
		if v == nil {
			return p.errAt(root, f, "is missing: a cluster config starts with apiVersion: %s and kind: %s", ConfigAPIVersion, ConfigKind)
		}
		if v.Kind != yaml.ScalarNode || v.Value != want[f] {
			hint := ""
			if f == "kind" {
				hint = "; a Kubernetes manifest goes to `mini apply -f` or `kubectl apply -f`, not --config"
			}
			return p.errAt(v, f, "%s is not a mini cluster config (want %s: %s)%s", describe(v), f, want[f], hint)
		}
	}
	return nil
}

// apply sets o's fields from the document's.
func (p *configParser) apply(root *yaml.Node, o *CreateOptions) error {
	fs, err := p.fields(root, "", configFields)
	if err != nil {
		return err
	}
	if err := p.identity(root, fs); err != nil {
		return err
	}
	if err := p.unknownField(fs, "", configFields); err != nil {
		return err
	}
	setters := map[string]func(*yaml.Node) error{
		"name":          func(n *yaml.Node) error { return p.setString(n, "name", &o.Name, ValidateName) },
		"nodes":         func(n *yaml.Node) error { return p.setNodes(n, o) },
		"apiPort":       func(n *yaml.Node) error { return p.setAPIPort(n, o) },
		"ports":         func(n *yaml.Node) error { return p.setPorts(n, o) },
		"nodeBaseImage": func(n *yaml.Node) error { return p.setString(n, "nodeBaseImage", &o.NodeBaseImage, ValidateImageRef) },
		"nodeLabels":    func(n *yaml.Node) error { return p.setLabels(n, "nodeLabels", &o.Node.Labels) },
		"nodeTaints":    func(n *yaml.Node) error { return p.setTaints(n, "nodeTaints", &o.Node) },
		"nodeOverrides": func(n *yaml.Node) error { return p.setOverrides(n, o) },
		"images":        func(n *yaml.Node) error { return p.setImages(n, o) },
	}
	for _, f := range configFields { // in a fixed order: nodes before nodeOverrides
		if n := fs.values[f]; n != nil && setters[f] != nil { // null: unset
			if err := setters[f](n); err != nil {
				return err
			}
		}
	}
	if err := CheckPorts(apiHostOr(o.APIHost), o.APIPort, o.Ports); err != nil {
		return p.errAt(fs.keys["ports"], "ports", "%v", err)
	}
	return nil
}

func apiHostOr(h string) string {
	if h == "" {
		return DefaultHostIP
	}
	return h
}

func isNull(n *yaml.Node) bool { return n.Tag == "!!null" }

// scalar returns n's value when it is a scalar.
func (p *configParser) scalar(n *yaml.Node, field, want string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", p.errAt(n, field, "want %s, got %s", want, describe(n))
	}
	return n.Value, nil
}

func (p *configParser) setString(n *yaml.Node, field string, dst *string, check func(string) error) error {
	if isNull(n) {
		*dst = ""
		return nil
	}
	s, err := p.scalar(n, field, "a string")
	if err != nil {
		return err
	}
	if err := check(s); err != nil {
		return p.errAt(n, field, "%v", err)
	}
	*dst = s
	return nil
}

// list returns the items of a sequence (none for null).
func (p *configParser) list(n *yaml.Node, field string) ([]*yaml.Node, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errAt(n, field, "want a list, got %s", describe(n))
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, it := range n.Content {
		items[i] = deref(it)
	}
	return items, nil
}

// deref follows an alias (*name) to the node its anchor (&name) marks.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// strings applies each item's string to f, naming the item in errors.
func (p *configParser) strings(n *yaml.Node, field string, f func(string) error) error {
	items, err := p.list(n, field)
	if err != nil {
		return err
	}
	for i, it := range items {
		name := fmt.Sprintf("%s[%d]", field, i)
		s, err := p.scalar(it, name, "a string")
		if err != nil {
			return err
		}
		if err := f(s); err != nil {
			return p.errAt(it, name, "%v", err)
		}
	}
	return nil
}

func (p *configParser) setNodes(n *yaml.Node, o *CreateOptions) error {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return p.errAt(n, "nodes", "want a whole number, got %s", describe(n))
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < 1 || v > MaxNodes {
		return p.errAt(n, "nodes", "%s: a cluster has 1 to %d nodes", n.Value, MaxNodes)
	}
	o.Nodes = v
	return nil
}

func (p *configParser) setAPIPort(n *yaml.Node, o *CreateOptions) error {
	var s string
	if err := p.setString(n, "apiPort", &s, func(string) error { return nil }); err != nil || s == "" {
		o.APIHost, o.APIPort = "", 0
		return err
	}
	host, port, err := ParseAPIAddress(s)
	if err != nil {
		return p.errAt(n, "apiPort", "%v", err)
	}
	o.APIHost, o.APIPort = host, port
	return nil
}

func (p *configParser) setPorts(n *yaml.Node, o *CreateOptions) error {
	o.Ports = nil
	return p.strings(n, "ports", func(s string) error {
		pm, err := ParsePortMapping(s)
		o.Ports = append(o.Ports, pm)
		return err
	})
}

func (p *configParser) setImages(n *yaml.Node, o *CreateOptions) error {
	o.Images = nil
	return p.strings(n, "images", func(s string) error {
		o.Images = append(o.Images, s)
		return ValidateImageRef(s)
	})
}

func (p *configParser) setTaints(n *yaml.Node, field string, dst *NodeSettings) error {
	dst.Taints = nil
	var raw []string
	if err := p.strings(n, field, func(s string) error {
		_, err := ParseTaint(s)
		raw = append(raw, s)
		return err
	}); err != nil {
		return err
	}
	taints, err := ParseTaints(raw)
	if err != nil {
		return p.errAt(n, field, "%v", err)
	}
	dst.Taints = taints
	return nil
}

// setLabels reads a mapping of label keys to values (any scalar: a YAML
// true or 3 is the string "true" or "3").
func (p *configParser) setLabels(n *yaml.Node, field string, dst *map[string]string) error {
	*dst = nil
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return p.errAt(n, field, "want a mapping of label keys to values, got %s", describe(n))
	}
	m := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		key, err := p.scalar(k, field, "a label key")
		if err != nil {
			return err
		}
		name := field + "." + key
		if _, dup := m[key]; dup {
			return p.errAt(k, name, "is given twice")
		}
		if m[key], err = p.scalar(v, name, "a label value"); err != nil {
			return err
		}
		if isNull(v) {
			m[key] = ""
		}
		if err := ValidateNodeLabels(map[string]string{key: m[key]}); err != nil {
			return p.errAt(k, name, "%v", err)
		}
	}
	*dst = m
	return nil
}

// setOverrides reads nodeOverrides: a list of {index, labels, taints}.
func (p *configParser) setOverrides(n *yaml.Node, o *CreateOptions) error {
	items, err := p.list(n, "nodeOverrides")
	if err != nil {
		return err
	}
	o.PerNode = nil
	for i, it := range items {
		path := fmt.Sprintf("nodeOverrides[%d]", i)
		if it.Kind != yaml.MappingNode {
			return p.errAt(it, path, "want a mapping with index, labels and taints, got %s", describe(it))
		}
		fs, err := p.fields(it, path, overrideFields)
		if err != nil {
			return err
		}
		if err := p.unknownField(fs, path, overrideFields); err != nil {
			return err
		}
		idxNode := fs.values["index"]
		if idxNode == nil || idxNode.Tag != "!!int" {
			return p.errAt(it, path+".index", "want the node's index (a whole number: node-0 is 0)")
		}
		idx, err := strconv.Atoi(idxNode.Value)
		if err != nil || idx < 0 || idx >= o.Nodes {
			return p.errAt(idxNode, path+".index", "node index %s, but the cluster has %d node%s (indices 0 to %d)", idxNode.Value, o.Nodes, plural(o.Nodes), o.Nodes-1)
		}
		if _, dup := o.PerNode[idx]; dup {
			return p.errAt(idxNode, path+".index", "node %d has two overrides; put them in one", idx)
		}
		var s NodeSettings
		if l := fs.values["labels"]; l != nil {
			if err := p.setLabels(l, path+".labels", &s.Labels); err != nil {
				return err
			}
		}
		if t := fs.values["taints"]; t != nil {
			if err := p.setTaints(t, path+".taints", &s); err != nil {
				return err
			}
		}
		if o.PerNode == nil {
			o.PerNode = map[int]NodeSettings{}
		}
		o.PerNode[idx] = s
	}
	return nil
}
