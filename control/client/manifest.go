package client

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// Manifest is one object read from a file, with where it came from.
type Manifest struct {
	GVK    schema.GroupVersionKind
	Info   Info   // where the kind lives in the API
	JSON   []byte // the object as JSON
	Name   string
	NS     string // metadata.namespace as written ("" if absent)
	Source string // file name ("-" for standard input)
	Line   int    // line of the document's start in Source
}

// String names the object as kubectl does ("deployment.apps/web").
func (m Manifest) String() string {
	k := strings.ToLower(m.GVK.Kind)
	if m.GVK.Group != "" {
		k += "." + m.GVK.Group
	}
	return k + "/" + m.Name
}

// ManifestError points at the file and line of a bad document.
type ManifestError struct {
	Source string
	Line   int
	Err    error
}

func (e *ManifestError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Source, e.Line, e.Err) }
func (e *ManifestError) Unwrap() error { return e.Err }

// ErrUnknownKind is wrapped by errors about kinds mini does not serve.
var ErrUnknownKind = errors.New("unknown kind")

// ReadManifests reads every document of the named files; a directory is read
// for *.yaml, *.yml and *.json files (recursively if recursive); "-" reads
// stdin. Multi-document YAML and `kind: List` are expanded.
func ReadManifests(paths []string, recursive bool, stdin io.Reader) ([]Manifest, error) {
	var out []Manifest
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("read standard input: %w", err)
			}
			ms, err := ParseManifests("-", data)
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
			continue
		}
		files, err := manifestFiles(p, recursive)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			ms, err := ParseManifests(f, data)
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no objects found in %s", strings.Join(paths, ", "))
	}
	return out, nil
}

func manifestFiles(p string, recursive bool) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("the path %q does not exist", p)
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != p && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			files = append(files, path)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// ParseManifests splits data into documents and decodes each.
func ParseManifests(source string, data []byte) ([]Manifest, error) {
	var out []Manifest
	for _, doc := range splitDocuments(data) {
		if len(bytes.TrimSpace(stripComments(doc.body))) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSON(doc.body)
		if err != nil {
			return nil, &ManifestError{Source: source, Line: doc.line + yamlErrorLine(err) - 1, Err: fmt.Errorf("malformed YAML: %v", cleanYAMLError(err))}
		}
		ms, err := decodeManifest(js, source, doc.line)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

func decodeManifest(js []byte, source string, line int) ([]Manifest, error) {
	bad := func(format string, args ...any) error {
		return &ManifestError{Source: source, Line: line, Err: fmt.Errorf(format, args...)}
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil, nil
	}
	var head struct {
		metav1.TypeMeta
		Metadata struct {
			Name         string `json:"name"`
			GenerateName string `json:"generateName"`
			Namespace    string `json:"namespace"`
		} `json:"metadata"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, bad("not an object: %v", err)
	}
	if head.Kind == "" {
		return nil, bad("the object has no kind")
	}
	if head.APIVersion == "" {
		return nil, bad("the %s has no apiVersion", head.Kind)
	}
	gv, err := schema.ParseGroupVersion(head.APIVersion)
	if err != nil {
		return nil, bad("invalid apiVersion %q", head.APIVersion)
	}
	if head.Kind == "List" || strings.HasSuffix(head.Kind, "List") && head.Items != nil {
		var out []Manifest
		for _, item := range head.Items {
			ms, err := decodeManifest(item, source, line)
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
		}
		return out, nil
	}
	gvk := gv.WithKind(head.Kind)
	_, info, ok := NewObject(gvk)
	if !ok {
		return nil, &ManifestError{Source: source, Line: line, Err: fmt.Errorf("%w %q in %q: mini serves %s", ErrUnknownKind, head.Kind, head.APIVersion, kindList())}
	}
	if head.Metadata.Name == "" && head.Metadata.GenerateName == "" {
		return nil, bad("the %s has no metadata.name", head.Kind)
	}
	return []Manifest{{GVK: gvk, Info: info, JSON: js, Name: head.Metadata.Name, NS: head.Metadata.Namespace, Source: source, Line: line}}, nil
}

func kindList() string {
	var ks []string
	for _, i := range Kinds() {
		ks = append(ks, i.Kind+" ("+i.GVK().GroupVersion().String()+")")
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

type document struct {
	body []byte
	line int // 1-based line of the first line of body
}

// splitDocuments splits YAML at "---" lines, keeping line numbers.
func splitDocuments(data []byte) []document {
	var docs []document
	var cur bytes.Buffer
	start, n := 1, 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "---") && strings.TrimSpace(strings.TrimLeft(line, "-")) == "" {
			docs = append(docs, document{body: append([]byte(nil), cur.Bytes()...), line: start})
			cur.Reset()
			start = n + 1
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	docs = append(docs, document{body: cur.Bytes(), line: start})
	return docs
}

func stripComments(b []byte) []byte {
	var out bytes.Buffer
	for _, l := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out.Write(l)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// yamlErrorLine extracts "line N" from a YAML parser error (1 if absent).
func yamlErrorLine(err error) int {
	var n int
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		fmt.Sscanf(msg[i+5:], "%d", &n)
	}
	if n < 1 {
		n = 1
	}
	return n
}

func cleanYAMLError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	if i := strings.Index(msg, "line "); i >= 0 {
		if j := strings.Index(msg[i:], ": "); j >= 0 {
			msg = msg[:i] + msg[i+j+2:]
		}
	}
	return strings.TrimSpace(msg)
}
