package controllers

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/minicluster/mini/control/client"
)

func init() { register("garbagecollector", setupGC) }

// gcKind is one kind the collector watches.
type gcKind struct {
	id    string // queue key prefix: resource.group
	info  client.Info
	proto runtime.Object
	inf   cache.SharedIndexInformer
}

// garbageCollector deletes objects whose owners are gone and carries out
// foreground and orphan deletions, over every kind the client knows. The
// owner→dependents graph is an informer index on ownerReference UIDs; an
// owner missing from the caches is confirmed gone by a live read before
// anything is deleted.
type garbageCollector struct {
	m     *Manager
	rec   *Recorder
	kinds map[string]*gcKind
	byGVK map[schema.GroupVersionKind]*gcKind
	q     *Queue
}

func setupGC(m *Manager) func(ctx context.Context) {
	gc := &garbageCollector{m: m, rec: m.Recorder("garbage-collector-controller"),
		kinds: map[string]*gcKind{}, byGVK: map[schema.GroupVersionKind]*gcKind{}}
	gc.q = NewQueue("garbagecollector", m.Clock, m.Log, gc.sync)
	for _, info := range client.Kinds() {
		proto, _, ok := client.NewObject(info.GVK())
		if !ok {
			continue
		}
		k := &gcKind{id: info.Resource + "." + info.Group, info: info, proto: proto, inf: m.Informers.For(proto)}
		ensureIndexers(k.inf, IndexOwner)
		gc.kinds[k.id], gc.byGVK[info.GVK()] = k, k
		k.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { gc.observe(k, nil, o) },
			UpdateFunc: func(o, n any) { gc.observe(k, o, n) },
			DeleteFunc: func(o any) { gc.deleted(o) },
		})
	}
	return func(ctx context.Context) { gc.q.Run(ctx, m.Opts.Workers) }
}

func (gc *garbageCollector) key(k *gcKind, m metav1.Object) string {
	return k.id + "|" + keyOf(m)
}

// inGC reports whether an object concerns the collector: it has owners, or
// it is being deleted with an orphan or foreground finalizer.
func inGC(m metav1.Object) bool {
	if len(m.GetOwnerReferences()) > 0 {
		return true
	}
	fs := m.GetFinalizers()
	return m.GetDeletionTimestamp() != nil &&
		(slices.Contains(fs, metav1.FinalizerOrphanDependents) || slices.Contains(fs, metav1.FinalizerDeleteDependents))
}

func (gc *garbageCollector) observe(k *gcKind, o, n any) {
	cur, ok := n.(metav1.Object)
	if !ok || !inGC(cur) {
		return
	}
	if o != nil {
		old := o.(metav1.Object)
		if reflect.DeepEqual(old.GetOwnerReferences(), cur.GetOwnerReferences()) &&
			reflect.DeepEqual(old.GetFinalizers(), cur.GetFinalizers()) &&
			(old.GetDeletionTimestamp() == nil) == (cur.GetDeletionTimestamp() == nil) {
			return
		}
	}
	gc.q.Add(gc.key(k, cur))
}

// deleted wakes what an object's disappearance concerns: its dependents
// (now perhaps garbage) and its owners (perhaps waiting for it).
func (gc *garbageCollector) deleted(o any) {
	m, ok := tombstoned(o).(metav1.Object)
	if !ok {
		return
	}
	gc.enqueueDependents(m.GetUID())
	for _, r := range m.GetOwnerReferences() {
		if k, ns, ok := gc.ownerKind(m, r); ok {
			if owner, found := fromCache[ownedObject](k.inf, ns, r.Name); found {
				gc.q.Add(gc.key(k, owner))
			}
		}
	}
}

func (gc *garbageCollector) enqueueDependents(uid types.UID) {
	for _, k := range gc.kinds {
		for _, d := range byIndex[ownedObject](k.inf, IndexOwner, string(uid)) {
			gc.q.Add(gc.key(k, d))
		}
	}
}

// dependents returns the cached dependents of uid with their kinds.
func (gc *garbageCollector) dependents(uid types.UID) ([]*gcKind, []ownedObject) {
	var ks []*gcKind
	var out []ownedObject
	for _, k := range gc.kinds {
		for _, d := range byIndex[ownedObject](k.inf, IndexOwner, string(uid)) {
			ks, out = append(ks, k), append(out, d)
		}
	}
	return ks, out
}

// ownerKind resolves an ownerReference of dependent to a watched kind and
// the namespace the owner lives in. It fails for kinds the client does not
// know and for namespaced owners of cluster-scoped dependents (which
// Kubernetes also never resolves).
func (gc *garbageCollector) ownerKind(dependent metav1.Object, r metav1.OwnerReference) (*gcKind, string, bool) {
	gv, err := schema.ParseGroupVersion(r.APIVersion)
	if err != nil {
		return nil, "", false
	}
	k, ok := gc.byGVK[gv.WithKind(r.Kind)]
	if !ok {
		return nil, "", false
	}
	if !k.info.Namespaced {
		return k, "", true
	}
	if dependent.GetNamespace() == "" {
		return nil, "", false
	}
	return k, dependent.GetNamespace(), true
}

func (gc *garbageCollector) sync(ctx context.Context, key string) error {
	id, rest, ok := strings.Cut(key, "|")
	k := gc.kinds[id]
	if !ok || k == nil {
		return nil
	}
	obj, found := fromCacheKey[ownedObject](k.inf, rest)
	if !found {
		return nil
	}
	if err := gc.syncOwner(ctx, k, obj); err != nil {
		return err
	}
	return gc.syncDependent(ctx, k, obj)
}

// syncOwner carries out orphan and foreground deletions of obj.
func (gc *garbageCollector) syncOwner(ctx context.Context, k *gcKind, obj metav1.Object) error {
	kinds, deps := gc.dependents(obj.GetUID())
	infos := make([]dependentInfo, len(deps))
	for i, d := range deps {
		infos[i].Deleting = d.GetDeletionTimestamp() != nil
		for _, r := range d.GetOwnerReferences() {
			if r.UID == obj.GetUID() && r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion {
				infos[i].Blocks = true
			}
		}
	}
	switch decideOwner(obj, infos) {
	case ownerOrphan:
		for _, d := range deps {
			if err := releaseRef(ctx, gc.m.Client, d, obj.GetUID()); err != nil {
				return err
			}
		}
		return gc.removeFinalizer(ctx, k, obj, metav1.FinalizerOrphanDependents)
	case ownerDeleteDeps:
		for i, d := range deps {
			if !infos[i].Deleting {
				gc.q.Add(gc.key(kinds[i], d))
			}
		}
	case ownerFinishDeletion:
		return gc.removeFinalizer(ctx, k, obj, metav1.FinalizerDeleteDependents)
	}
	return nil
}

// syncDependent deletes obj, or drops some of its ownerReferences, when
// its owners are gone or being deleted.
func (gc *garbageCollector) syncDependent(ctx context.Context, k *gcKind, obj metav1.Object) error {
	act, err := gc.decide(ctx, obj)
	if err != nil || act.Verb == gcNone {
		return err
	}
	// Decide again on the live object: the cache may lag behind.
	live, lm, err := gc.live(ctx, k, obj)
	if err != nil || live == nil {
		return err
	}
	if act, err = gc.decide(ctx, lm); err != nil {
		return err
	}
	switch act.Verb {
	case gcRemoveRefs:
		for _, uid := range act.UIDs {
			if err := releaseRef(ctx, gc.m.Client, live.(ownedObject), uid); err != nil {
				return err
			}
		}
	case gcDelete:
		uid := lm.GetUID()
		policy := act.Policy
		err := gc.m.Client.Delete(ctx, k.proto, lm.GetNamespace(), lm.GetName(),
			&metav1.DeleteOptions{PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("garbage collecting %s %s: %w", k.info.Kind, keyOf(lm), err)
		}
	}
	return nil
}

// decide classifies obj's owners and applies decideDependent.
func (gc *garbageCollector) decide(ctx context.Context, obj metav1.Object) (gcAction, error) {
	refs := obj.GetOwnerReferences()
	if len(refs) == 0 || obj.GetDeletionTimestamp() != nil {
		return gcAction{}, nil
	}
	states := make(map[types.UID]ownerState, len(refs))
	for _, r := range refs {
		s, err := gc.ownerState(ctx, obj, r)
		if err != nil {
			return gcAction{}, err
		}
		states[r.UID] = s
	}
	_, deps := gc.dependents(obj.GetUID())
	return decideDependent(refs, states, len(deps) > 0, obj), nil
}

// ownerState finds the owner a reference names: in the cache, or, when the
// cache does not have it with that UID, by a live read.
func (gc *garbageCollector) ownerState(ctx context.Context, dependent metav1.Object, r metav1.OwnerReference) (ownerState, error) {
	k, ns, ok := gc.ownerKind(dependent, r)
	if !ok {
		return ownerSolid, nil
	}
	owner, found := fromCache[metav1.Object](k.inf, ns, r.Name)
	if !found || owner.GetUID() != r.UID {
		live := k.proto.DeepCopyObject()
		err := gc.m.Client.Get(ctx, ns, r.Name, live)
		if apierrors.IsNotFound(err) {
			return ownerDangling, nil
		}
		if err != nil {
			return ownerSolid, fmt.Errorf("looking up owner %s %s of %s: %w", r.Kind, r.Name, keyOf(dependent), err)
		}
		owner, _ = meta.Accessor(live)
		if owner.GetUID() != r.UID {
			return ownerDangling, nil
		}
	}
	if owner.GetDeletionTimestamp() != nil && slices.Contains(owner.GetFinalizers(), metav1.FinalizerDeleteDependents) {
		return ownerWaiting, nil
	}
	return ownerSolid, nil
}

// live reads obj afresh; it returns nil when obj is gone or was replaced
// by another object of the same name.
func (gc *garbageCollector) live(ctx context.Context, k *gcKind, obj metav1.Object) (runtime.Object, metav1.Object, error) {
	live := k.proto.DeepCopyObject()
	err := gc.m.Client.Get(ctx, obj.GetNamespace(), obj.GetName(), live)
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	lm, _ := meta.Accessor(live)
	if lm.GetUID() != obj.GetUID() {
		return nil, nil, nil
	}
	return live, lm, nil
}

// removeFinalizer removes a finalizer from the live object (same UID),
// which completes its deletion when it was the last.
func (gc *garbageCollector) removeFinalizer(ctx context.Context, k *gcKind, obj metav1.Object, f string) error {
	live, lm, err := gc.live(ctx, k, obj)
	if err != nil || live == nil || !slices.Contains(lm.GetFinalizers(), f) {
		return err
	}
	var keep []string
	for _, x := range lm.GetFinalizers() {
		if x != f {
			keep = append(keep, x)
		}
	}
	lm.SetFinalizers(keep)
	if err := gc.m.Client.Update(ctx, live); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing finalizer %s from %s %s: %w", f, k.info.Kind, keyOf(obj), err)
	}
	return nil
}
