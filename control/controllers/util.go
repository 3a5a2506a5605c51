package controllers

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/dump"

	"github.com/minicluster/mini/control/client"
)

// Informer index names shared by the controllers. An index is added to a
// shared informer once (ensureIndexers), whichever controller asks first.
const (
	// IndexController indexes objects by the UID of their controller
	// (the ownerReference with controller=true).
	IndexController = "controller-uid"
	// IndexOrphan indexes objects that have no controller by namespace, so
	// a controller finds the candidates for adoption without a full scan.
	IndexOrphan = "orphan-namespace"
	// IndexOwner indexes objects by the UIDs of all their owners.
	IndexOwner = "owner-uid"
	// IndexNodeName indexes pods by the node they are bound to.
	IndexNodeName = "node-name"
)

// indexFuncs are the index functions behind the index names above.
var indexFuncs = cache.Indexers{
	IndexController: func(obj any) ([]string, error) {
		m, ok := obj.(metav1.Object)
		if !ok {
			return nil, nil
		}
		if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
			return []string{string(ref.UID)}, nil
		}
		return nil, nil
	},
	IndexOrphan: func(obj any) ([]string, error) {
		m, ok := obj.(metav1.Object)
		if !ok || metav1.GetControllerOfNoCopy(m) != nil {
			return nil, nil
		}
		return []string{m.GetNamespace()}, nil
	},
	IndexOwner: func(obj any) ([]string, error) {
		m, ok := obj.(metav1.Object)
		if !ok {
			return nil, nil
		}
		refs := m.GetOwnerReferences()
		out := make([]string, 0, len(refs))
		for _, r := range refs {
			out = append(out, string(r.UID))
		}
		return out, nil
	},
	IndexNodeName: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	},
}

// ensureIndexers adds the named shared indexes to inf unless present. It
// must be called before the informer starts (from a controller's setup).
func ensureIndexers(inf cache.SharedIndexInformer, names ...string) {
	have := inf.GetIndexer().GetIndexers()
	add := cache.Indexers{}
	for _, n := range names {
		if _, ok := have[n]; !ok {
			add[n] = indexFuncs[n]
		}
	}
	if len(add) == 0 {
		return
	}
	if err := inf.AddIndexers(add); err != nil {
		panic(fmt.Sprintf("adding informer indexes %v: %v", names, err))
	}
}

// byIndex returns the typed objects of an informer index value.
func byIndex[T any](inf cache.SharedIndexInformer, index, value string) []T {
	objs, err := inf.GetIndexer().ByIndex(index, value)
	if err != nil {
		panic(fmt.Sprintf("informer index %q: %v", index, err))
	}
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// fromCache returns the cached object ns/name of an informer, or false.
func fromCache[T any](inf cache.SharedIndexInformer, ns, name string) (T, bool) {
	if ns != "" {
		name = ns + "/" + name
	}
	return fromCacheKey[T](inf, name)
}

// fromCacheKey returns the cached object of an informer with the queue key
// key ("namespace/name" or "name"), or false.
func fromCacheKey[T any](inf cache.SharedIndexInformer, key string) (T, bool) {
	obj, ok, _ := inf.GetIndexer().GetByKey(key)
	if !ok {
		var zero T
		return zero, false
	}
	t, ok := obj.(T)
	return t, ok
}

// selecting returns the cached controllers in namespace ns whose non-empty
// selector (selectorOf) matches lbls: the candidates to adopt an orphan.
func selecting[T metav1.Object](inf cache.SharedIndexInformer, ns string, lbls map[string]string, selectorOf func(T) *metav1.LabelSelector) []T {
	var out []T
	for _, c := range byIndex[T](inf, cache.NamespaceIndex, ns) {
		sel, err := metav1.LabelSelectorAsSelector(selectorOf(c))
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(lbls)) {
			out = append(out, c)
		}
	}
	return out
}

// tombstoned unwraps the object of a delete notification.
func tombstoned(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

// keyOf returns the queue key ("namespace/name" or "name") of an object.
func keyOf(m metav1.Object) string {
	if m.GetNamespace() == "" {
		return m.GetName()
	}
	return m.GetNamespace() + "/" + m.GetName()
}

// gvkOf returns the group version kind of a typed object the client knows.
func gvkOf(obj runtime.Object) schema.GroupVersionKind {
	info, err := client.InfoFor(obj)
	if err != nil {
		panic(err)
	}
	return info.GVK()
}

// joinErrors joins errors with "; " (nil when there are none).
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return fmt.Errorf("%w (and %d more: %s)", errs[0], len(errs)-1, strings.Join(msgs[1:], "; "))
}

// ComputeHash returns the pod-template-hash of a template exactly as
// Kubernetes's controller.ComputeHash does: FNV-32a over the template's
// deep-hash dump (k8s.io/utils/dump.ForHash), then the collision count as
// 8 little-endian bytes when set, printed in decimal and encoded with
// rand.SafeEncodeString. The same template thus gets the same
// ReplicaSet name as on Kubernetes (given the same defaulting).
func ComputeHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v", dump.ForHash(*template))
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// namespaceTerminating reports whether a create failed only because its
// namespace is being deleted (no event or failure condition is due then).
func namespaceTerminating(err error) bool {
	return apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) ||
		(apierrors.IsForbidden(err) && strings.Contains(err.Error(), "because it is being terminated"))
}
