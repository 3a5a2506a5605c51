package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/minicluster/mini/control/client"
)

// Owner references: the controller reference a controller puts on what it
// creates, an owner's objects and an object's owner in the informer caches,
// adoption and release of objects by selector, release of dependents by the
// garbage collector, and the pod events that wake a pod's controller.

// newControllerRef returns the ownerReference a controller puts on what it
// creates: controller=true and blockOwnerDeletion=true.
func newControllerRef(owner metav1.Object, gvk schema.GroupVersionKind) *metav1.OwnerReference {
	t := true
	return &metav1.OwnerReference{
		APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: owner.GetName(), UID: owner.GetUID(),
		Controller: &t, BlockOwnerDeletion: &t,
	}
}

// ownedObject is a typed API object with metadata.
type ownedObject interface {
	metav1.Object
	runtime.Object
}

// refManager adopts and releases objects for one controller, as Kubernetes's
// ControllerRefManager does: orphans that match the selector are adopted
// (once a fresh read confirms the controller still exists and is not being
// deleted), owned objects that stop matching are released.
type refManager struct {
	c        *client.Client
	owner    ownedObject
	gvk      schema.GroupVersionKind
	selector labels.Selector
	checked  bool
	adoptErr error
}

func newRefManager(c *client.Client, owner ownedObject, selector labels.Selector) *refManager {
	return &refManager{c: c, owner: owner, gvk: gvkOf(owner), selector: selector}
}

// canAdopt reads the owner afresh (once) and refuses adoption when it is
// gone, replaced, or being deleted.
func (m *refManager) canAdopt(ctx context.Context) error {
	if m.checked {
		return m.adoptErr
	}
	m.checked = true
	fresh := m.owner.DeepCopyObject()
	if err := m.c.Get(ctx, m.owner.GetNamespace(), m.owner.GetName(), fresh); err != nil {
		m.adoptErr = fmt.Errorf("checking %s %s before adoption: %w", m.gvk.Kind, keyOf(m.owner), err)
		return m.adoptErr
	}
	fm := fresh.(metav1.Object)
	switch {
	case fm.GetUID() != m.owner.GetUID():
		m.adoptErr = fmt.Errorf("original %s %s is gone: got uid %s, wanted %s", m.gvk.Kind, keyOf(m.owner), fm.GetUID(), m.owner.GetUID())
	case fm.GetDeletionTimestamp() != nil:
		m.adoptErr = fmt.Errorf("%s %s has just been deleted at %s", m.gvk.Kind, keyOf(m.owner), fm.GetDeletionTimestamp())
	}
	return m.adoptErr
}

// claim returns the objects of objs this controller owns after adopting
// matching orphans and releasing owned objects that no longer match.
// Adopted objects are returned as updated by the server; cached objects are
// never modified.
func claim[T ownedObject](ctx context.Context, m *refManager, objs []T) ([]T, error) {
	var out []T
	var errs []error
	deleting := m.owner.GetDeletionTimestamp() != nil
	for _, o := range objs {
		ref := metav1.GetControllerOfNoCopy(o)
		matches := m.selector.Matches(labels.Set(o.GetLabels()))
		switch {
		case ref != nil && ref.UID != m.owner.GetUID():
			// another controller's
		case ref != nil && matches:
			out = append(out, o)
		case ref != nil:
			if deleting {
				continue
			}
			if err := releaseRef(ctx, m.c, o, m.owner.GetUID()); err != nil {
				errs = append(errs, err)
			}
		case deleting || !matches || o.GetDeletionTimestamp() != nil || o.GetNamespace() != m.owner.GetNamespace():
			// orphan we may not adopt
		default:
			if err := m.canAdopt(ctx); err != nil {
				errs = append(errs, err)
				continue
			}
			adopted, err := adopt(ctx, m, o)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, adopted)
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("claiming objects for %s %s: %w", m.gvk.Kind, keyOf(m.owner), joinErrors(errs))
	}
	return out, nil
}

// adopt adds the controller reference to o with a strategic merge patch
// guarded by o's UID.
func adopt[T ownedObject](ctx context.Context, m *refManager, o T) (T, error) {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []*metav1.OwnerReference{newControllerRef(m.owner, m.gvk)},
		"uid":             o.GetUID(),
	}})
	out := o.DeepCopyObject().(T)
	err := m.c.Patch(ctx, out, o.GetNamespace(), o.GetName(), types.StrategicMergePatchType, patch, "")
	return out, err
}

// releaseRef removes the ownerReference to owner from o with a strategic
// merge patch guarded by o's UID. An object already gone, or one the server
// refuses to change, is not an error.
func releaseRef(ctx context.Context, c *client.Client, o ownedObject, owner types.UID) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []map[string]any{{"$patch": "delete", "uid": owner}},
		"uid":             o.GetUID(),
	}})
	err := c.Patch(ctx, o.DeepCopyObject(), o.GetNamespace(), o.GetName(), types.StrategicMergePatchType, patch, "")
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("releasing %s from %s: %w", keyOf(o), owner, err)
	}
	return nil
}

// controlledBy returns the cached objects in namespace ns whose controller
// is uid (by the IndexController index, which the caller ensures).
func controlledBy[T metav1.Object](inf cache.SharedIndexInformer, ns string, uid types.UID) []T {
	var out []T
	for _, o := range byIndex[T](inf, IndexController, string(uid)) {
		if o.GetNamespace() == ns {
			out = append(out, o)
		}
	}
	return out
}

// cachedController returns the cached object of kind that a controller
// reference names in namespace ns, if it is still the one with the
// reference's UID (not one deleted and recreated under the same name).
func cachedController[T metav1.Object](inf cache.SharedIndexInformer, kind, ns string, ref *metav1.OwnerReference) (T, bool) {
	var zero T
	if ref == nil || ref.Kind != kind {
		return zero, false
	}
	o, ok := fromCache[T](inf, ns, ref.Name)
	if !ok || o.GetUID() != ref.UID {
		return zero, false
	}
	return o, true
}

// podOwnerEvents returns pod handlers that enqueue on q the controller (of
// kind) of each pod, and its former controller when a pod changes hands.
// With exp they also settle that controller's expectations: a pod seen
// appearing is a creation observed, a pod marked for deletion or gone a
// deletion observed. (The ReplicaSet controller, which also adopts, has
// its own handlers.)
func podOwnerEvents(q *Queue, kind string, exp *Expectations) cache.ResourceEventHandler {
	ownerOf := func(obj any) (string, *corev1.Pod) {
		p, ok := tombstoned(obj).(*corev1.Pod)
		if !ok {
			return "", nil
		}
		if ref := metav1.GetControllerOfNoCopy(p); ref != nil && ref.Kind == kind {
			return p.Namespace + "/" + ref.Name, p
		}
		return "", p
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if key, p := ownerOf(obj); key != "" {
				if exp != nil {
					if p.DeletionTimestamp != nil {
						exp.DeletionObserved(key, podKey(p))
					}
					exp.CreationObserved(key)
				}
				q.Add(key)
			}
		},
		UpdateFunc: func(old, cur any) {
			key, p := ownerOf(cur)
			if key != "" {
				if exp != nil && p.DeletionTimestamp != nil {
					exp.DeletionObserved(key, podKey(p))
				}
				q.Add(key)
			}
			if oldKey, _ := ownerOf(old); oldKey != "" && oldKey != key {
				q.Add(oldKey)
			}
		},
		DeleteFunc: func(obj any) {
			if key, p := ownerOf(obj); key != "" {
				if exp != nil {
					exp.DeletionObserved(key, podKey(p))
				}
				q.Add(key)
			}
		},
	}
}
