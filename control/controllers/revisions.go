package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"reflect"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/minicluster/mini/control/client"
)

// ControllerRevisions record the pod templates of StatefulSets and
// DaemonSets, as Kubernetes does, so that `kubectl rollout history` and
// `kubectl rollout undo` work on them. A revision's data is the strategic
// merge patch {"spec":{"template":{...,"$patch":"replace"}}} that restores
// its template, and its name is <owner>-<hash of that data>.

// revPatch returns the revision data of a pod template.
func revPatch(t *corev1.PodTemplateSpec) ([]byte, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	var tmpl map[string]any
	if err := json.Unmarshal(data, &tmpl); err != nil {
		return nil, err
	}
	tmpl["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
}

// revHash names revision data, with a collision count to step past a clash.
func revHash(data []byte, collisions int32) string {
	h := fnv.New32a()
	h.Write(data)
	if collisions > 0 {
		h.Write([]byte(strconv.Itoa(int(collisions))))
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// revSameData reports whether two revision data blobs are the same JSON.
func revSameData(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// revOwned returns the revisions controlled by uid in ns, oldest first.
func revOwned(inf cache.SharedIndexInformer, ns string, uid types.UID) []*appsv1.ControllerRevision {
	out := controlledBy[*appsv1.ControllerRevision](inf, ns, uid)
	revSort(out)
	return out
}

func revSort(rs []*appsv1.ControllerRevision) {
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].Revision != rs[j].Revision {
			return rs[i].Revision < rs[j].Revision
		}
		return rs[i].Name < rs[j].Name
	})
}

// revOwner is what a revision needs of its owner.
type revOwner struct {
	meta       metav1.Object
	gvk        schema.GroupVersionKind
	template   *corev1.PodTemplateSpec // its labels are copied onto revisions
	collisions *int32                  // the owner's status.collisionCount (read only)
}

// revEnsure returns the revision of the owner's template among existing
// (oldest first), creating it or renumbering it to be the newest when it is
// not already the newest.
func revEnsure(ctx context.Context, c *client.Client, o revOwner, existing []*appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	data, err := revPatch(o.template)
	if err != nil {
		return nil, err
	}
	var max int64
	for _, r := range existing {
		if r.Revision > max {
			max = r.Revision
		}
	}
	for _, r := range existing {
		if !revSameData(r.Data.Raw, data) {
			continue
		}
		if r.Revision == max {
			return r, nil
		}
		up := r.DeepCopy()
		up.Revision = max + 1
		if err := c.Update(ctx, up); err != nil {
			return nil, fmt.Errorf("renumber revision %s: %w", r.Name, err)
		}
		return up, nil
	}
	return revCreate(ctx, c, o, data, max+1)
}

// revCreate creates the revision number of data, named by its hash and
// stepping past hash collisions.
func revCreate(ctx context.Context, c *client.Client, o revOwner, data []byte, number int64) (*appsv1.ControllerRevision, error) {
	collisions := ptr.Deref(o.collisions, 0)
	for attempt := 0; attempt < 8; attempt++ {
		hash := revHash(data, collisions)
		lbls := map[string]string{appsv1.ControllerRevisionHashLabelKey: hash}
		for k, v := range o.template.Labels {
			lbls[k] = v
		}
		rev := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: o.meta.GetName() + "-" + hash, Namespace: o.meta.GetNamespace(), Labels: lbls,
				OwnerReferences: []metav1.OwnerReference{*newControllerRef(o.meta, o.gvk)}},
			Data:     runtime.RawExtension{Raw: data},
			Revision: number,
		}
		err := c.Create(ctx, rev)
		if err == nil {
			return rev, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create revision %s: %w", rev.Name, err)
		}
		cur := &appsv1.ControllerRevision{}
		if err := c.Get(ctx, rev.Namespace, rev.Name, cur); err != nil {
			return nil, fmt.Errorf("read revision %s: %w", rev.Name, err)
		}
		if ref := metav1.GetControllerOf(cur); ref != nil && ref.UID == o.meta.GetUID() && revSameData(cur.Data.Raw, data) {
			return cur, nil // made by an earlier pass our cache has not seen yet
		}
		collisions++
	}
	return nil, fmt.Errorf("could not name a revision of %s: too many hash collisions", o.meta.GetName())
}

// revPrune deletes the oldest revisions that are not live beyond the
// owner's revisionHistoryLimit (10 when unset).
func revPrune(ctx context.Context, c *client.Client, revs []*appsv1.ControllerRevision, live map[string]bool, historyLimit *int32) error {
	limit := ptr.Deref(historyLimit, 10)
	var dead []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live[r.Name] {
			dead = append(dead, r)
		}
	}
	for i := 0; i < len(dead)-int(limit); i++ {
		err := c.Delete(ctx, &appsv1.ControllerRevision{}, dead[i].Namespace, dead[i].Name, nil)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete old revision %s: %w", dead[i].Name, err)
		}
	}
	return nil
}
