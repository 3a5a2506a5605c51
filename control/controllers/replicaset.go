package controllers

import (
	"context"
	"fmt"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

func init() { register("replicaset", setupReplicaSet) }

// BurstReplicas bounds the pods one ReplicaSet sync creates or deletes.
const BurstReplicas = 500

// rsController keeps each ReplicaSet's pods at spec.replicas.
type rsController struct {
	m      *Manager
	rec    *Recorder
	rsInf  cache.SharedIndexInformer
	podInf cache.SharedIndexInformer
	exp    *Expectations
	pods   podControl
	q      *Queue
}

func setupReplicaSet(m *Manager) func(ctx context.Context) {
	rc := &rsController{
		m: m, rec: m.Recorder("replicaset-controller"),
		rsInf: m.Informers.For(&appsv1.ReplicaSet{}), podInf: m.Informers.For(&corev1.Pod{}),
		exp: NewExpectations(m.Clock),
	}
	rc.pods = podControl{c: m.Client, rec: rc.rec, exp: rc.exp}
	rc.q = NewQueue("replicaset", m.Clock, m.Log, rc.sync)
	ensureIndexers(rc.rsInf, IndexController)
	ensureIndexers(rc.podInf, IndexController, IndexOrphan)
	rc.rsInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    rc.q.Enqueue,
		UpdateFunc: func(_, n any) { rc.q.Enqueue(n) },
		DeleteFunc: func(o any) {
			if rs, ok := tombstoned(o).(*appsv1.ReplicaSet); ok {
				rc.exp.Forget(keyOf(rs))
				rc.q.Add(keyOf(rs))
			}
		},
	})
	rc.podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    rc.addPod,
		UpdateFunc: rc.updatePod,
		DeleteFunc: func(o any) {
			if p, ok := tombstoned(o).(*corev1.Pod); ok {
				rc.deletePod(p)
			}
		},
	})
	return func(ctx context.Context) { rc.q.Run(ctx, m.Opts.Workers) }
}

// ownerRS resolves a controller reference to a cached ReplicaSet.
func (rc *rsController) ownerRS(ns string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	rs, _ := cachedController[*appsv1.ReplicaSet](rc.rsInf, "ReplicaSet", ns, ref)
	return rs
}

// enqueueMatching enqueues the ReplicaSets whose selector matches an
// orphan pod, so one of them adopts it.
func (rc *rsController) enqueueMatching(p *corev1.Pod) {
	for _, rs := range selecting(rc.rsInf, p.Namespace, p.Labels, func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector }) {
		rc.q.Add(keyOf(rs))
	}
}

func (rc *rsController) addPod(o any) {
	p := o.(*corev1.Pod)
	if p.DeletionTimestamp != nil {
		rc.deletePod(p)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		if rs := rc.ownerRS(p.Namespace, ref); rs != nil {
			rc.exp.CreationObserved(keyOf(rs))
			rc.q.Add(keyOf(rs))
		}
		return
	}
	rc.enqueueMatching(p)
}

func (rc *rsController) updatePod(o, n any) {
	old, cur := o.(*corev1.Pod), n.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	labelsChanged := !reflect.DeepEqual(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil {
		// A graceful delete: replace the pod now, not when it is gone.
		rc.deletePod(cur)
		if labelsChanged {
			rc.deletePod(old)
		}
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)
	refChanged := !reflect.DeepEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if rs := rc.ownerRS(old.Namespace, oldRef); rs != nil {
			rc.q.Add(keyOf(rs))
		}
	}
	if curRef != nil {
		if rs := rc.ownerRS(cur.Namespace, curRef); rs != nil {
			rc.q.Add(keyOf(rs))
		}
		return
	}
	if labelsChanged || refChanged {
		rc.enqueueMatching(cur)
	}
}

func (rc *rsController) deletePod(p *corev1.Pod) {
	if rs := rc.ownerRS(p.Namespace, metav1.GetControllerOfNoCopy(p)); rs != nil {
		rc.exp.DeletionObserved(keyOf(rs), podKey(p))
		rc.q.Add(keyOf(rs))
	}
}

// sync reconciles one ReplicaSet.
func (rc *rsController) sync(ctx context.Context, key string) error {
	rs, ok := fromCacheKey[*appsv1.ReplicaSet](rc.rsInf, key)
	if !ok {
		rc.exp.Forget(key)
		return nil
	}
	needsSync := rc.exp.Satisfied(key)
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil || rs.Spec.Selector == nil {
		return nil // the API server validates selectors; nothing to retry
	}
	pods, err := claim(ctx, newRefManager(rc.m.Client, rs, sel), rc.candidatePods(rs))
	if err != nil {
		return err
	}
	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = rc.manage(ctx, key, rs, pods)
	}
	now := rc.m.Clock.Now()
	st := replicaSetStatus(rs, pods, manageErr, now)
	if err := rc.writeStatus(ctx, rs, st); err != nil {
		return err
	}
	if manageErr != nil {
		return manageErr
	}
	if d := nextAvailable(rs, pods, now); d > 0 {
		return RequeueAfter(d)
	}
	return nil
}

// candidatePods returns the active pods the ReplicaSet owns or might
// adopt.
func (rc *rsController) candidatePods(rs *appsv1.ReplicaSet) []*corev1.Pod {
	owned := controlledBy[*corev1.Pod](rc.podInf, rs.Namespace, rs.UID)
	owned = append(owned, byIndex[*corev1.Pod](rc.podInf, IndexOrphan, rs.Namespace)...)
	out := owned[:0]
	for _, p := range owned {
		if IsPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

// relatedPods returns the pods of every ReplicaSet with the same
// controller as rs (its Deployment's), used to spread scale-downs.
func (rc *rsController) relatedPods(rs *appsv1.ReplicaSet, own []*corev1.Pod) []*corev1.Pod {
	ref := metav1.GetControllerOfNoCopy(rs)
	if ref == nil {
		return own
	}
	var out []*corev1.Pod
	for _, sib := range controlledBy[*appsv1.ReplicaSet](rc.rsInf, rs.Namespace, ref.UID) {
		out = append(out, controlledBy[*corev1.Pod](rc.podInf, sib.Namespace, sib.UID)...)
	}
	return out
}

// manage creates or deletes pods so that len(pods) == spec.replicas.
func (rc *rsController) manage(ctx context.Context, key string, rs *appsv1.ReplicaSet, pods []*corev1.Pod) error {
	diff := len(pods) - int(replicasOf(rs.Spec.Replicas))
	switch {
	case diff < 0:
		ref := newControllerRef(rs, gvkOf(rs))
		creates := make([]*corev1.Pod, min(-diff, BurstReplicas))
		for i := range creates {
			creates[i] = podFromTemplate(&rs.Spec.Template, rs, ref)
		}
		return rc.pods.createPods(ctx, key, rs, creates)
	case diff > 0:
		victims := podsToDelete(pods, rc.relatedPods(rs, pods), min(diff, BurstReplicas), rc.m.Clock.Now())
		return rc.pods.deletePods(ctx, key, rs, victims)
	}
	return nil
}

// writeStatus stores st (with observedGeneration) unless nothing changed.
func (rc *rsController) writeStatus(ctx context.Context, rs *appsv1.ReplicaSet, st appsv1.ReplicaSetStatus) error {
	if equality.Semantic.DeepEqual(rs.Status, st) {
		return nil
	}
	out := rs.DeepCopy()
	out.Status = st
	if err := rc.m.Client.UpdateStatus(ctx, out); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("updating status of ReplicaSet %s: %w", keyOf(rs), err)
	}
	return nil
}

func replicasOf(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// replicaSetStatus computes a ReplicaSet's status from its active pods:
// counts, observedGeneration, and the ReplicaFailure condition that
// reports the last create or delete error until a sync succeeds.
func replicaSetStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	st := *rs.Status.DeepCopy()
	tmpl := labels.SelectorFromSet(rs.Spec.Template.Labels)
	st.Replicas, st.FullyLabeledReplicas, st.ReadyReplicas, st.AvailableReplicas = int32(len(pods)), 0, 0, 0
	for _, p := range pods {
		if tmpl.Matches(labels.Set(p.Labels)) {
			st.FullyLabeledReplicas++
		}
		if IsPodReady(p) {
			st.ReadyReplicas++
			if IsPodAvailable(p, rs.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
	}
	st.ObservedGeneration = rs.Generation
	failure := rsCondition(st.Conditions, appsv1.ReplicaSetReplicaFailure)
	switch {
	case manageErr != nil && failure == nil:
		reason := "FailedCreate"
		if len(pods) > int(replicasOf(rs.Spec.Replicas)) {
			reason = "FailedDelete"
		}
		st.Conditions = append(st.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: reason,
			Message: manageErr.Error(), LastTransitionTime: metav1.NewTime(now),
		})
	case manageErr == nil && failure != nil:
		var keep []appsv1.ReplicaSetCondition
		for _, c := range st.Conditions {
			if c.Type != appsv1.ReplicaSetReplicaFailure {
				keep = append(keep, c)
			}
		}
		st.Conditions = keep
	}
	return st
}

func rsCondition(cs []appsv1.ReplicaSetCondition, t appsv1.ReplicaSetConditionType) *appsv1.ReplicaSetCondition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}

// nextAvailable returns how long until the next ready pod becomes
// available under minReadySeconds (0 when none is waiting).
func nextAvailable(rs *appsv1.ReplicaSet, pods []*corev1.Pod, now time.Time) time.Duration {
	return nextAvailableIn(pods, rs.Spec.MinReadySeconds, now)
}
