package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func init() { register("statefulset", setupStatefulSet) }

// stsController runs StatefulSets: ordinal pods with stable names and DNS
// identities, ordered or parallel start, rolling updates by revision.
type stsController struct {
	m    *Manager
	sets cache.SharedIndexInformer
	pods cache.SharedIndexInformer
	revs cache.SharedIndexInformer
	rec  *Recorder
}

func setupStatefulSet(m *Manager) func(ctx context.Context) {
	c := &stsController{
		m: m, rec: m.Recorder("statefulset-controller"),
		sets: m.Informers.For(&appsv1.StatefulSet{}),
		pods: m.Informers.For(&corev1.Pod{}),
		revs: m.Informers.For(&appsv1.ControllerRevision{}),
	}
	ensureIndexers(c.pods, IndexController)
	ensureIndexers(c.revs, IndexController)
	q := NewQueue("statefulset", m.Clock, m.Log, c.sync)
	c.sets.AddEventHandler(q.Handler())
	c.pods.AddEventHandler(podOwnerEvents(q, "StatefulSet", nil))
	return func(ctx context.Context) { q.Run(ctx, m.Opts.Workers) }
}

func (c *stsController) sync(ctx context.Context, key string) error {
	set, ok := fromCacheKey[*appsv1.StatefulSet](c.sets, key)
	if !ok {
		return nil
	}
	if set.DeletionTimestamp != nil {
		return nil
	}
	revs, err := c.revisions(ctx, set)
	if err != nil {
		return err
	}
	pods := controlledBy[*corev1.Pod](c.pods, set.Namespace, set.UID)
	now := c.m.Clock.Now()
	plan := stsPlanFor(set, pods, revs, now)
	for _, p := range plan.create {
		err := c.m.Client.Create(ctx, p)
		switch {
		case apierrors.IsAlreadyExists(err): // our cache is behind
		case err != nil:
			c.rec.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", p.Name, set.Name, err)
			return fmt.Errorf("create pod %s: %w", p.Name, err)
		default:
			c.rec.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", p.Name, set.Name)
		}
	}
	for _, p := range plan.delete {
		uid := p.UID
		err := c.m.Client.Delete(ctx, &corev1.Pod{}, p.Namespace, p.Name, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			c.rec.Eventf(set, corev1.EventTypeWarning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %v", p.Name, set.Name, err)
			return fmt.Errorf("delete pod %s: %w", p.Name, err)
		}
		if err == nil {
			c.rec.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", p.Name, set.Name)
		}
	}
	if !equality.Semantic.DeepEqual(plan.status, set.Status) {
		up := set.DeepCopy()
		up.Status = plan.status
		if err := c.m.Client.UpdateStatus(ctx, up); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("update status: %w", err)
		}
	}
	if err := c.pruneRevisions(ctx, set, revs, pods); err != nil {
		return err
	}
	if plan.recheck > 0 {
		return RequeueAfter(plan.recheck)
	}
	return nil
}

// revisions makes sure the revision of the set's template exists and
// returns it with the current revision.
func (c *stsController) revisions(ctx context.Context, set *appsv1.StatefulSet) (stsRevs, error) {
	owned := revOwned(c.revs, set.Namespace, set.UID)
	upd, err := revEnsure(ctx, c.m.Client, revOwner{meta: set, gvk: stsGVK, template: &set.Spec.Template, collisions: set.Status.CollisionCount}, owned)
	if err != nil {
		return stsRevs{}, err
	}
	r := stsRevs{updateName: upd.Name, update: &set.Spec.Template, currentName: upd.Name, current: &set.Spec.Template}
	if cur := set.Status.CurrentRevision; cur != "" && cur != upd.Name {
		for _, rev := range owned {
			if rev.Name != cur {
				continue
			}
			if t, err := stsTemplateOf(rev); err == nil {
				r.currentName, r.current = cur, t
			}
		}
	}
	return r, nil
}

func (c *stsController) pruneRevisions(ctx context.Context, set *appsv1.StatefulSet, r stsRevs, pods []*corev1.Pod) error {
	live := map[string]bool{r.currentName: true, r.updateName: true}
	for _, p := range pods {
		live[stsRevisionOf(p)] = true
	}
	return revPrune(ctx, c.m.Client, revOwned(c.revs, set.Namespace, set.UID), live, set.Spec.RevisionHistoryLimit)
}
