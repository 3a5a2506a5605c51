package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

func init() { register("deployment", setupDeployment) }

// deployController rolls Deployments out through ReplicaSets. The
// decisions are the pure functions of deployment_plan.go and
// deployment_status.go; this file reads the caches and writes the results.
type deployController struct {
	m      *Manager
	rec    *Recorder
	dInf   cache.SharedIndexInformer
	rsInf  cache.SharedIndexInformer
	podInf cache.SharedIndexInformer
	q      *Queue
}

func setupDeployment(m *Manager) func(ctx context.Context) {
	dc := &deployController{
		m: m, rec: m.Recorder("deployment-controller"),
		dInf: m.Informers.For(&appsv1.Deployment{}), rsInf: m.Informers.For(&appsv1.ReplicaSet{}),
		podInf: m.Informers.For(&corev1.Pod{}),
	}
	dc.q = NewQueue("deployment", m.Clock, m.Log, dc.sync)
	ensureIndexers(dc.rsInf, IndexController, IndexOrphan)
	ensureIndexers(dc.podInf, IndexController)
	dc.dInf.AddEventHandler(dc.q.Handler())
	dc.rsInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) { dc.rsChanged(nil, o.(*appsv1.ReplicaSet)) },
		UpdateFunc: func(o, n any) {
			if old, cur := o.(*appsv1.ReplicaSet), n.(*appsv1.ReplicaSet); old.ResourceVersion != cur.ResourceVersion {
				dc.rsChanged(old, cur)
			}
		},
		DeleteFunc: func(o any) {
			if rs, ok := tombstoned(o).(*appsv1.ReplicaSet); ok {
				dc.enqueueOwner(rs.Namespace, metav1.GetControllerOfNoCopy(rs))
			}
		},
	})
	dc.podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: dc.podDeleted})
	return func(ctx context.Context) { dc.q.Run(ctx, m.Opts.Workers) }
}

// enqueueOwner enqueues the Deployment a controller reference names.
func (dc *deployController) enqueueOwner(ns string, ref *metav1.OwnerReference) {
	if d, ok := cachedController[*appsv1.Deployment](dc.dInf, "Deployment", ns, ref); ok {
		dc.q.Add(keyOf(d))
	}
}

// rsChanged enqueues the Deployments concerned by a ReplicaSet change:
// its controller (old and new), or those that may adopt it.
func (dc *deployController) rsChanged(old, cur *appsv1.ReplicaSet) {
	curRef := metav1.GetControllerOfNoCopy(cur)
	if old != nil {
		if oldRef := metav1.GetControllerOfNoCopy(old); oldRef != nil && !reflect.DeepEqual(oldRef, curRef) {
			dc.enqueueOwner(old.Namespace, oldRef)
		}
	}
	if curRef != nil {
		dc.enqueueOwner(cur.Namespace, curRef)
		return
	}
	if cur.DeletionTimestamp != nil || (old != nil && reflect.DeepEqual(old.Labels, cur.Labels) && metav1.GetControllerOfNoCopy(old) == nil) {
		return
	}
	for _, d := range selecting(dc.dInf, cur.Namespace, cur.Labels, func(d *appsv1.Deployment) *metav1.LabelSelector { return d.Spec.Selector }) {
		dc.q.Add(keyOf(d))
	}
}

// podDeleted wakes a Recreate Deployment waiting for its old pods to go.
func (dc *deployController) podDeleted(o any) {
	p, ok := tombstoned(o).(*corev1.Pod)
	if !ok {
		return
	}
	rs, ok := cachedController[*appsv1.ReplicaSet](dc.rsInf, "ReplicaSet", p.Namespace, metav1.GetControllerOfNoCopy(p))
	if !ok {
		return
	}
	d, ok := cachedController[*appsv1.Deployment](dc.dInf, "Deployment", p.Namespace, metav1.GetControllerOfNoCopy(rs))
	if ok && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		dc.q.Add(keyOf(d))
	}
}

// sync reconciles one Deployment.
func (dc *deployController) sync(ctx context.Context, key string) error {
	cached, ok := fromCacheKey[*appsv1.Deployment](dc.dInf, key)
	if !ok {
		return nil
	}
	d := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || d.Spec.Selector == nil {
		return nil // refused by validation; nothing to retry
	}
	if sel.Empty() {
		dc.rec.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			return dc.writeStatus(ctx, d)
		}
		return nil
	}
	candidates := controlledBy[*appsv1.ReplicaSet](dc.rsInf, d.Namespace, d.UID)
	candidates = append(candidates, byIndex[*appsv1.ReplicaSet](dc.rsInf, IndexOrphan, d.Namespace)...)
	rsList, err := claim(ctx, newRefManager(dc.m.Client, d, sel), candidates)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		newRS, old, err := dc.newAndOld(ctx, d, rsList, false)
		if err != nil {
			return err
		}
		return dc.syncStatus(ctx, d, withNew(old, newRS), newRS)
	}
	st := *d.Status.DeepCopy()
	if pausedCondition(d, &st, dc.m.Clock.Now()) {
		d.Status = st
		if err := dc.writeStatus(ctx, d); err != nil {
			return err
		}
	}
	if d.Spec.Paused {
		return dc.syncScale(ctx, d, rsList)
	}
	if newRS, old := splitRSs(d, rsList); isScalingEvent(d, newRS, old) {
		return dc.syncScale(ctx, d, rsList)
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return dc.rolloutRecreate(ctx, d, rsList)
	}
	return dc.rolloutRolling(ctx, d, rsList)
}

// syncScale sizes the ReplicaSets for the desired replicas without rolling
// (scaling events and paused Deployments).
func (dc *deployController) syncScale(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := dc.newAndOld(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := dc.apply(ctx, d, planScale(d, newRS, old), &newRS, old); err != nil {
		return err
	}
	if d.Spec.Paused {
		dc.prune(ctx, d, old)
	}
	return dc.syncStatus(ctx, d, withNew(old, newRS), newRS)
}

func (dc *deployController) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := dc.newAndOld(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	return dc.rollout(ctx, d, planRolling(d, newRS, old), newRS, old)
}

func (dc *deployController) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := dc.newAndOld(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	plan, create := planRecreate(d, newRS, old, dc.oldPodsRunning(newRS, old))
	if create {
		if newRS, old, err = dc.newAndOld(ctx, d, rsList, true); err != nil {
			return err
		}
		plan, _ = planRecreate(d, newRS, old, false)
	}
	return dc.rollout(ctx, d, plan, newRS, old)
}

// rollout carries out one step of a rollout, prunes the old ReplicaSets
// once it is complete, and writes the rollout's status.
func (dc *deployController) rollout(ctx context.Context, d *appsv1.Deployment, plan []resize, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	if err := dc.apply(ctx, d, plan, &newRS, old); err != nil {
		return err
	}
	if len(plan) == 0 && deploymentComplete(d, &d.Status) {
		dc.prune(ctx, d, old)
	}
	return dc.syncRollout(ctx, d, withNew(old, newRS), newRS)
}

// oldPodsRunning reports whether any pod of an old ReplicaSet still exists
// and has not finished (terminating pods included).
func (dc *deployController) oldPodsRunning(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) bool {
	if sumStatus(old, func(s *appsv1.ReplicaSetStatus) int32 { return s.Replicas }) > 0 {
		return true
	}
	for _, rs := range old {
		for _, p := range controlledBy[*corev1.Pod](dc.podInf, rs.Namespace, rs.UID) {
			if !IsPodTerminal(p) {
				return true
			}
		}
	}
	return false
}

// apply carries out resizes, replacing the resized ReplicaSets in *newRS
// and old by their updated versions.
func (dc *deployController) apply(ctx context.Context, d *appsv1.Deployment, plan []resize, newRS **appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	for _, r := range plan {
		updated, err := dc.scaleRS(ctx, d, r.RS, r.To)
		if err != nil {
			return err
		}
		if *newRS != nil && (*newRS).UID == r.RS.UID {
			*newRS = updated
		}
		for i := range old {
			if old[i].UID == r.RS.UID {
				old[i] = updated
			}
		}
	}
	return nil
}

// scaleRS sets a ReplicaSet's replicas and its desired/max-replicas
// annotations, recording ScalingReplicaSet when the size changes.
func (dc *deployController) scaleRS(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, to int32) (*appsv1.ReplicaSet, error) {
	from := specOf(rs)
	out := rs.DeepCopy()
	annotated := setReplicasAnnotations(out, replicasOf(d.Spec.Replicas), replicasOf(d.Spec.Replicas)+maxSurge(d))
	if from == to && !annotated {
		return rs, nil
	}
	out.Spec.Replicas = &to
	if err := dc.m.Client.Update(ctx, out); err != nil {
		return nil, fmt.Errorf("scaling ReplicaSet %s to %d: %w", keyOf(rs), to, err)
	}
	if from != to {
		op := "up"
		if to < from {
			op = "down"
		}
		dc.rec.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", op, rs.Name, from, to)
	}
	return out, nil
}

// prune deletes old ReplicaSets beyond revisionHistoryLimit.
func (dc *deployController) prune(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet) {
	for _, rs := range rsToPrune(d, old) {
		uid := rs.UID
		err := dc.m.Client.Delete(ctx, &appsv1.ReplicaSet{}, rs.Namespace, rs.Name, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			dc.m.Log.Printf("deployment %s: deleting old ReplicaSet %s: %v", keyOf(d), rs.Name, err)
		}
	}
}

// syncStatus writes the replica counts and Available condition.
func (dc *deployController) syncStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	st := deploymentStatus(d, all, newRS, dc.m.Clock.Now())
	if equality.Semantic.DeepEqual(d.Status, st) {
		return nil
	}
	d.Status = st
	return dc.writeStatus(ctx, d)
}

// syncRollout writes the status with the rollout's Progressing condition
// and comes back in time to notice a missed progress deadline.
func (dc *deployController) syncRollout(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	now := dc.m.Clock.Now()
	st := rolloutStatus(d, all, newRS, now)
	if equality.Semantic.DeepEqual(d.Status, st) {
		if after := progressCheckAfter(d, &st, now); after > 0 {
			return RequeueAfter(after)
		}
		return nil
	}
	d.Status = st
	return dc.writeStatus(ctx, d)
}

func (dc *deployController) writeStatus(ctx context.Context, d *appsv1.Deployment) error {
	if err := dc.m.Client.UpdateStatus(ctx, d); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("updating status of Deployment %s: %w", keyOf(d), err)
	}
	return nil
}

// newAndOld splits the Deployment's ReplicaSets into the new one and the
// old ones, bringing the new one's revision and annotations up to date
// (and the Deployment's revision annotation with them); with create, a
// missing new ReplicaSet is created.
func (dc *deployController) newAndOld(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	newRS, old := splitRSs(d, rsList)
	revision := maxRevision(old) + 1
	if newRS == nil {
		if !create {
			return nil, old, nil
		}
		rs, err := dc.createNewRS(ctx, d, old, revision)
		return rs, old, err
	}
	out := newRS.DeepCopy()
	if setNewRSAnnotations(d, out, revision, true) || out.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
		out.Spec.MinReadySeconds = d.Spec.MinReadySeconds
		if err := dc.m.Client.Update(ctx, out); err != nil {
			return nil, nil, fmt.Errorf("updating the new ReplicaSet %s: %w", keyOf(out), err)
		}
	}
	if err := dc.setRevision(ctx, d, out.Annotations[RevisionAnnotation]); err != nil {
		return nil, nil, err
	}
	if hasProgressDeadline(d) && deploymentCondition(&d.Status, appsv1.DeploymentProgressing) == nil {
		setDeploymentCondition(&d.Status, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
			reasonFoundNewRS, fmt.Sprintf("Found new replica set %q", out.Name), dc.m.Clock.Now()))
		if err := dc.writeStatus(ctx, d); err != nil {
			return nil, nil, err
		}
	}
	return out, old, nil
}

// setRevision patches the Deployment's revision annotation (metadata is
// not written by the status subresource).
func (dc *deployController) setRevision(ctx context.Context, d *appsv1.Deployment, revision string) error {
	if revision == "" || d.Annotations[RevisionAnnotation] == revision {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{RevisionAnnotation: revision}, "uid": d.UID,
	}})
	st := d.Status
	if err := dc.m.Client.Patch(ctx, d, d.Namespace, d.Name, types.MergePatchType, patch, ""); err != nil {
		return fmt.Errorf("setting the revision of Deployment %s: %w", keyOf(d), err)
	}
	d.Status = st // keep the status computed in this sync
	return nil
}

// createNewRS creates the ReplicaSet of the current template, named
// <deployment>-<pod-template-hash>, sized for the rollout's first step.
func (dc *deployController) createNewRS(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet, revision int64) (*appsv1.ReplicaSet, error) {
	tmpl := d.Spec.Template.DeepCopy()
	hash := ComputeHash(tmpl, d.Status.CollisionCount)
	tmpl.Labels = copyMap(tmpl.Labels)
	tmpl.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	sel := d.Spec.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	var zero int32
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: d.Namespace, Labels: copyMap(tmpl.Labels),
			OwnerReferences: []metav1.OwnerReference{*newControllerRef(d, gvkOf(d))},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &zero, MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: *tmpl},
	}
	n := newRSReplicas(d, withNew(old, rs), rs)
	rs.Spec.Replicas = &n
	setNewRSAnnotations(d, rs, revision, false)
	err := dc.m.Client.Create(ctx, rs)
	existed := false
	switch {
	case apierrors.IsAlreadyExists(err):
		cur := &appsv1.ReplicaSet{}
		if gerr := dc.m.Client.Get(ctx, d.Namespace, rs.Name, cur); gerr != nil {
			return nil, gerr
		}
		if ref := metav1.GetControllerOfNoCopy(cur); ref != nil && ref.UID == d.UID && equalIgnoreHash(&d.Spec.Template, &cur.Spec.Template) {
			rs, existed = cur, true
			break
		}
		// A different template hashes to the same name: count the
		// collision so that the next hash differs.
		cc := int32(0)
		if d.Status.CollisionCount != nil {
			cc = *d.Status.CollisionCount
		}
		cc++
		d.Status.CollisionCount = &cc
		if werr := dc.writeStatus(ctx, d); werr != nil {
			return nil, werr
		}
		return nil, fmt.Errorf("hash collision for ReplicaSet %s (collision count now %d)", rs.Name, cc)
	case namespaceTerminating(err):
		return nil, err
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		if hasProgressDeadline(d) {
			setDeploymentCondition(&d.Status, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse,
				reasonRSCreateError, msg, dc.m.Clock.Now()))
			_ = dc.writeStatus(ctx, d)
		}
		dc.rec.Eventf(d, corev1.EventTypeWarning, reasonRSCreateError, "%s", msg)
		return nil, err
	}
	if !existed && n > 0 {
		dc.rec.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", rs.Name, n)
	}
	if err := dc.setRevision(ctx, d, strconv.FormatInt(revision, 10)); err != nil {
		return nil, err
	}
	if !existed && hasProgressDeadline(d) {
		setDeploymentCondition(&d.Status, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
			reasonNewRSCreated, fmt.Sprintf("Created new replica set %q", rs.Name), dc.m.Clock.Now()))
		if err := dc.writeStatus(ctx, d); err != nil {
			return nil, err
		}
	}
	return rs, nil
}
