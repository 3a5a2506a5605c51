package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func init() { register("nodelifecycle", setupNodeLifecycle) }

// nlController watches node heartbeats (Leases in kube-node-lease and the
// Ready condition): a node silent for its grace period (graceOf) is marked Ready
// Unknown; the pods of a node that stops being Ready (False, as a stopping
// agent reports, or Unknown) are marked not ready; Ready=False and Unknown
// nodes get the not-ready / unreachable taints; pods that do not tolerate a
// NoExecute taint are evicted after PodEvictionTimeout (or their
// tolerationSeconds); pods of deleted nodes are removed.
type nlController struct {
	m      *Manager
	nodes  cache.SharedIndexInformer
	leases cache.SharedIndexInformer
	pods   cache.SharedIndexInformer
	rec    *Recorder
	mu     sync.Mutex
	health map[string]*nlHealth
}

func setupNodeLifecycle(m *Manager) func(ctx context.Context) {
	c := &nlController{
		m: m, rec: m.Recorder("node-controller"), health: map[string]*nlHealth{},
		nodes:  m.Informers.For(&corev1.Node{}),
		leases: m.Informers.For(&coordinationv1.Lease{}),
		pods:   m.Informers.For(&corev1.Pod{}),
	}
	ensureIndexers(c.pods, IndexNodeName)
	q := NewQueue("nodelifecycle", m.Clock, m.Log, c.sync)
	c.nodes.AddEventHandler(q.Handler())
	c.leases.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueueLease(q, obj) },
		UpdateFunc: func(_, cur any) { c.enqueueLease(q, cur) },
	})
	onPod := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" && c.podNeedsLook(p) {
			q.Add(p.Spec.NodeName)
		}
	}
	c.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: onPod, UpdateFunc: func(_, cur any) { onPod(cur) }})
	return func(ctx context.Context) { q.Run(ctx, m.Opts.Workers) }
}

func (c *nlController) enqueueLease(q *Queue, obj any) {
	if l, ok := obj.(*coordinationv1.Lease); ok && l.Namespace == corev1.NamespaceNodeLease {
		q.Add(l.Name)
	}
}

// podNeedsLook reports whether a pod event on its node needs the node's
// reconcile: the node is gone, not ready, or has a NoExecute taint.
func (c *nlController) podNeedsLook(p *corev1.Pod) bool {
	n, ok := fromCacheKey[*corev1.Node](c.nodes, p.Spec.NodeName)
	if !ok {
		return true
	}
	if nlReadyStatus(n) == corev1.ConditionUnknown {
		return true
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			return true
		}
	}
	return false
}

func (c *nlController) podsOn(node string) []*corev1.Pod {
	return byIndex[*corev1.Pod](c.pods, IndexNodeName, node)
}

// graceOf is how long a node may stay silent before it is lost: the
// NodeGracePeriod option when set, else the duration the node declares in
// its Lease (as each kubelet declares its own), else DefaultNodeGracePeriod.
func (c *nlController) graceOf(lease *coordinationv1.Lease) time.Duration {
	if g := c.m.Opts.NodeGracePeriod; g > 0 {
		return g
	}
	if lease != nil && lease.Spec.LeaseDurationSeconds != nil && *lease.Spec.LeaseDurationSeconds > 0 {
		return time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
	}
	return DefaultNodeGracePeriod
}

func (c *nlController) sync(ctx context.Context, name string) error {
	node, ok := fromCacheKey[*corev1.Node](c.nodes, name)
	if !ok {
		c.mu.Lock()
		delete(c.health, name)
		c.mu.Unlock()
		return c.removeOrphans(ctx, name)
	}
	lease, _ := fromCache[*coordinationv1.Lease](c.leases, corev1.NamespaceNodeLease, name)
	now := c.m.Clock.Now()
	grace := c.graceOf(lease)
	c.mu.Lock()
	h, ok := c.health[name]
	if !ok {
		h = &nlHealth{ready: nlReadyStatus(node)}
		c.health[name] = h
	}
	probe := nlObserve(h, lease, node, now)
	c.mu.Unlock()

	var next time.Duration
	if left := probe.Add(grace).Sub(now); left >= 0 {
		next = left + time.Millisecond
	} else if conds, changed := nlMarkUnknown(node, now); changed {
		up := node.DeepCopy()
		up.Status.Conditions = conds
		if err := c.m.Client.UpdateStatus(ctx, up); err != nil {
			return fmt.Errorf("mark node %s unknown: %w", name, err)
		}
		node = up
	}
	lost := c.recordReadyChange(h, node)
	if taints, changed := nlWantTaints(node, now); changed {
		up := node.DeepCopy()
		up.Spec.Taints = taints
		if err := c.m.Client.Update(ctx, up); err != nil {
			return fmt.Errorf("taint node %s: %w", name, err)
		}
		node = up
	}
	if lost || nlReadyStatus(node) == corev1.ConditionUnknown {
		if err := c.markPodsNotReady(ctx, node, now); err != nil {
			return err
		}
		c.mu.Lock()
		h.lost = false
		c.mu.Unlock()
	}
	wait, err := c.evict(ctx, node, now)
	if err != nil {
		return err
	}
	if wait > 0 && (next == 0 || wait < next) {
		next = wait
	}
	if next > 0 {
		return RequeueAfter(next)
	}
	return nil
}

// recordReadyChange records NodeNotReady / NodeReady events on transitions
// and reports whether the node's pods are still to be marked not ready
// after it went from Ready to not Ready (as Kubernetes does: once per
// transition, since a kubelet that still runs, e.g. one whose dockerd does
// not answer, may report its pods ready again; Unknown nodes, whose kubelet
// is silent, are marked on every sync).
func (c *nlController) recordReadyChange(h *nlHealth, node *corev1.Node) (lost bool) {
	c.mu.Lock()
	prev, cur := h.ready, nlReadyStatus(node)
	h.ready = cur
	if prev == corev1.ConditionTrue && cur != corev1.ConditionTrue {
		h.lost = true
	} else if cur == corev1.ConditionTrue {
		h.lost = false
	}
	lost = h.lost
	c.mu.Unlock()
	switch {
	case prev == corev1.ConditionTrue && cur != corev1.ConditionTrue:
		c.rec.Eventf(node, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", node.Name)
	case prev != corev1.ConditionTrue && cur == corev1.ConditionTrue:
		c.rec.Eventf(node, corev1.EventTypeNormal, "NodeReady", "Node %s status is now: NodeReady", node.Name)
	}
	return lost
}

// markPodsNotReady sets Ready=False on the pods of a node that is not
// Ready, so that endpoints drop them at once.
func (c *nlController) markPodsNotReady(ctx context.Context, node *corev1.Node, now time.Time) error {
	for _, p := range c.podsOn(node.Name) {
		if !IsPodReady(p) || IsPodTerminal(p) {
			continue
		}
		up := p.DeepCopy()
		nlSetPodCondition(up, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(now)})
		err := c.m.Client.UpdateStatus(ctx, up)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("mark pod %s/%s not ready: %w", p.Namespace, p.Name, err)
		}
		if err == nil {
			c.rec.Eventf(p, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
		}
	}
	return nil
}

// evict deletes the pods whose NoExecute eviction time has come and
// returns how long until the next one.
func (c *nlController) evict(ctx context.Context, node *corev1.Node, now time.Time) (time.Duration, error) {
	var next time.Duration
	noExecute := false
	for _, t := range node.Spec.Taints {
		noExecute = noExecute || t.Effect == corev1.TaintEffectNoExecute
	}
	if !noExecute {
		return 0, nil
	}
	for _, p := range c.podsOn(node.Name) {
		if IsPodTerminal(p) {
			continue
		}
		at, ok := nlEvictAt(p, node.Spec.Taints, c.m.Opts.PodEvictionTimeout, now)
		if !ok {
			continue
		}
		if wait := at.Sub(now); wait > 0 {
			if next == 0 || wait < next {
				next = wait
			}
			continue
		}
		if err := c.evictPod(ctx, p, now); err != nil {
			return 0, err
		}
	}
	return next, nil
}

// evictPod marks a pod with the DisruptionTarget condition and deletes it
// at once, so that its owner recreates it elsewhere.
func (c *nlController) evictPod(ctx context.Context, p *corev1.Pod, now time.Time) error {
	c.rec.Eventf(p, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", p.Namespace, p.Name)
	up := p.DeepCopy()
	if nlSetPodCondition(up, nlDisruptionCondition(now)) {
		if err := c.m.Client.UpdateStatus(ctx, up); apierrors.IsNotFound(err) {
			return nil
		}
	}
	uid, zero := p.UID, int64(0)
	err := c.m.Client.Delete(ctx, &corev1.Pod{}, p.Namespace, p.Name, &metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("evict pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

// removeOrphans deletes the pods bound to a node that no longer exists
// (Kubernetes's pod garbage collector), after checking with the API server
// that the node is really gone and not merely missing from our cache.
func (c *nlController) removeOrphans(ctx context.Context, name string) error {
	pods := c.podsOn(name)
	if len(pods) == 0 {
		return nil
	}
	if err := c.m.Client.Get(ctx, "", name, &corev1.Node{}); err == nil {
		return RequeueAfter(time.Second) // our cache is behind
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	zero := int64(0)
	for _, p := range pods {
		uid := p.UID
		err := c.m.Client.Delete(ctx, &corev1.Pod{}, p.Namespace, p.Name, &metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete pod %s/%s of deleted node %s: %w", p.Namespace, p.Name, name, err)
		}
	}
	return nil
}
