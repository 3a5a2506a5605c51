package api

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "sigs.k8s.io/json"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// objAttrs are what selectors look at, computed once per stored version
// and kept with it in the store's memory (every object, and every version
// in the watch history), so they are kept as flat pair lists: a map costs
// several times as much for a handful of entries.
type objAttrs struct {
	labels pairs
	fields pairs
}

// pairs is a set of keys and values as one slice: key0, value0, key1,
// value1, … sorted by key. It serves as both labels.Labels and
// fields.Fields.
type pairs []string

var (
	_ labels.Labels = pairs(nil)
	_ fields.Fields = pairs(nil)
)

// pairsOf returns m as pairs.
func pairsOf(m map[string]string) pairs {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	p := make(pairs, 0, 2*len(m))
	for _, k := range keys {
		p = append(p, k, m[k])
	}
	return p
}

func (p pairs) find(key string) (int, bool) {
	n := len(p) / 2
	i := sort.Search(n, func(i int) bool { return p[2*i] >= key })
	return i, i < n && p[2*i] == key
}

// Has reports whether key is set.
func (p pairs) Has(key string) bool {
	_, ok := p.find(key)
	return ok
}

// Get returns key's value ("" if unset).
func (p pairs) Get(key string) string {
	v, _ := p.Lookup(key)
	return v
}

// Lookup returns key's value and whether it is set.
func (p pairs) Lookup(key string) (string, bool) {
	if i, ok := p.find(key); ok {
		return p[2*i+1], true
	}
	return "", false
}

func attrsOf(res *Resource, obj runtime.Object) *objAttrs {
	m, err := meta.Accessor(obj)
	if err != nil {
		return &objAttrs{}
	}
	f := fields.Set{"metadata.name": m.GetName()}
	if res.Namespaced {
		f["metadata.namespace"] = m.GetNamespace()
	}
	if res.Fields != nil {
		for k, v := range res.Fields(obj) {
			f[k] = v
		}
	}
	return &objAttrs{labels: pairsOf(m.GetLabels()), fields: pairsOf(f)}
}

var (
	defaultRegOnce sync.Once
	defaultReg     *Registry
)

func registryForAttrs() *Registry {
	defaultRegOnce.Do(func() {
		defaultReg, _ = NewRegistry(DefaultResources()...)
	})
	return defaultReg
}

// StoreAttrs derives the selector attributes of a stored object; pass it as
// store.Options.Attrs so that attributes are rebuilt when the store loads.
func StoreAttrs(key string, value []byte) any {
	res := registryForAttrs().forKey(key)
	if res == nil {
		return &objAttrs{}
	}
	obj := res.New()
	if err := kjson.UnmarshalCaseSensitivePreserveInts(value, obj); err != nil {
		return &objAttrs{}
	}
	return attrsOf(res, obj)
}

// selector is a parsed label and field selector pair.
type selector struct {
	labels labels.Selector
	fields fields.Selector
}

func (sel selector) empty() bool { return sel.labels.Empty() && sel.fields.Empty() }

func (sel selector) matches(a any) bool {
	if sel.empty() {
		return true
	}
	at, ok := a.(*objAttrs)
	if !ok || at == nil {
		return false
	}
	return sel.labels.Matches(at.labels) && sel.fields.Matches(at.fields)
}

// supportedFields lists the field selector keys a resource accepts.
func supportedFields(res *Resource) []string {
	keys := []string{"metadata.name"}
	if res.Namespaced {
		keys = append(keys, "metadata.namespace")
	}
	if res.Fields != nil {
		for k := range res.Fields(res.New()) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// parseSelector reads labelSelector and fieldSelector, and the implicit
// name selector of a request for one object.
func parseSelector(res *Resource, labelSel, fieldSel, name string) (selector, error) {
	ls, err := labels.Parse(labelSel)
	if err != nil {
		return selector{}, apierrors.NewBadRequest(fmt.Sprintf("unable to parse labelSelector %q: %v", labelSel, err))
	}
	fs, err := fields.ParseSelector(fieldSel)
	if err != nil {
		return selector{}, apierrors.NewBadRequest(fmt.Sprintf("unable to parse fieldSelector %q: %v", fieldSel, err))
	}
	supported := supportedFields(res)
	for _, req := range fs.Requirements() {
		i := sort.SearchStrings(supported, req.Field)
		if i == len(supported) || supported[i] != req.Field {
			return selector{}, apierrors.NewBadRequest(fmt.Sprintf(
				"field label not supported: %s (%s accept: %s)", req.Field, res.Name, strings.Join(supported, ", ")))
		}
	}
	if name != "" {
		fs = fields.AndSelectors(fs, fields.OneTermEqualSelector("metadata.name", name))
	}
	return selector{labels: ls, fields: fs}, nil
}
