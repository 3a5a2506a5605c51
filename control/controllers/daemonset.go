package controllers

import (
	"context"
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"
)

func init() { register("daemonset", setupDaemonSet) }

// dsController runs DaemonSets: one pod on every eligible node. Pods are
// created with a required node affinity to their node (metadata.name In
// [node]) and the default daemon tolerations; the scheduler binds them.
type dsController struct {
	m     *Manager
	sets  cache.SharedIndexInformer
	pods  cache.SharedIndexInformer
	nodes cache.SharedIndexInformer
	revs  cache.SharedIndexInformer
	rec   *Recorder
	exp   *Expectations
	ctl   podControl
}

func setupDaemonSet(m *Manager) func(ctx context.Context) {
	c := &dsController{
		m: m, rec: m.Recorder("daemonset-controller"), exp: newExpectations(m.Clock, workloadExpectationsTimeout),
		sets:  m.Informers.For(&appsv1.DaemonSet{}),
		pods:  m.Informers.For(&corev1.Pod{}),
		nodes: m.Informers.For(&corev1.Node{}),
		revs:  m.Informers.For(&appsv1.ControllerRevision{}),
	}
	ensureIndexers(c.pods, IndexController)
	ensureIndexers(c.revs, IndexController)
	c.ctl = podControl{c: m.Client, rec: c.rec, exp: c.exp}
	q := NewQueue("daemonset", m.Clock, m.Log, c.sync)
	c.sets.AddEventHandler(q.Handler())
	c.pods.AddEventHandler(podOwnerEvents(q, "DaemonSet", c.exp))
	all := func() {
		for _, o := range c.sets.GetStore().List() {
			q.Enqueue(o)
		}
	}
	c.nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { all() },
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Node), cur.(*corev1.Node)
			if !reflect.DeepEqual(o.Labels, n.Labels) || !reflect.DeepEqual(o.Spec.Taints, n.Spec.Taints) || o.Spec.Unschedulable != n.Spec.Unschedulable {
				all()
			}
		},
		DeleteFunc: func(any) { all() },
	})
	return func(ctx context.Context) { q.Run(ctx, m.Opts.Workers) }
}

func (c *dsController) sync(ctx context.Context, key string) error {
	ds, ok := fromCacheKey[*appsv1.DaemonSet](c.sets, key)
	if !ok {
		c.exp.Forget(key)
		return nil
	}
	if ds.DeletionTimestamp != nil {
		return nil
	}
	hash, err := c.revision(ctx, ds)
	if err != nil {
		return err
	}
	var nodes []*corev1.Node
	for _, o := range c.nodes.GetStore().List() {
		nodes = append(nodes, o.(*corev1.Node))
	}
	pods := controlledBy[*corev1.Pod](c.pods, ds.Namespace, ds.UID)
	plan := dsPlanFor(ds, nodes, pods, hash, c.m.Clock.Now())
	satisfied := c.exp.Satisfied(key)
	if satisfied {
		if err := c.act(ctx, key, ds, hash, plan); err != nil {
			return err
		}
	}
	if !equality.Semantic.DeepEqual(plan.status, ds.Status) {
		up := ds.DeepCopy()
		up.Status = plan.status
		if err := c.m.Client.UpdateStatus(ctx, up); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("update status: %w", err)
		}
	}
	switch {
	case plan.recheck > 0:
		return RequeueAfter(plan.recheck)
	case !satisfied:
		return RequeueAfter(c.exp.Timeout()) // in case the expectations lapse
	}
	return nil
}

func (c *dsController) act(ctx context.Context, key string, ds *appsv1.DaemonSet, hash string, plan dsPlan) error {
	var creates []*corev1.Pod
	for _, node := range plan.create {
		creates = append(creates, dsNewPod(ds, node, hash))
	}
	return c.ctl.apply(ctx, key, ds, creates, plan.delete)
}

// revision makes sure the revision of the template exists, prunes old ones
// and returns the template's hash (the pods' controller-revision-hash).
func (c *dsController) revision(ctx context.Context, ds *appsv1.DaemonSet) (string, error) {
	owned := revOwned(c.revs, ds.Namespace, ds.UID)
	rev, err := revEnsure(ctx, c.m.Client, revOwner{meta: ds, gvk: dsGVK, template: &ds.Spec.Template, collisions: ds.Status.CollisionCount}, owned)
	if err != nil {
		return "", err
	}
	hash := rev.Labels[appsv1.ControllerRevisionHashLabelKey]
	live := map[string]bool{rev.Name: true}
	for _, p := range controlledBy[*corev1.Pod](c.pods, ds.Namespace, ds.UID) {
		live[ds.Name+"-"+p.Labels[appsv1.ControllerRevisionHashLabelKey]] = true
	}
	return hash, revPrune(ctx, c.m.Client, owned, live, ds.Spec.RevisionHistoryLimit)
}
