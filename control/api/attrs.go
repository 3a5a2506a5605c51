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

// objAttrs are what selectors look at, computed once per stored version.
type objAttrs struct {
	labels labels.Set
	fields fields.Set
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
	return &objAttrs{labels: labels.Set(m.GetLabels()), fields: f}
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
