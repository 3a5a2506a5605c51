package controllers

import (
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Pure decisions of the node lifecycle controller: when a node counts as
// lost, which conditions and taints it then gets, and when the pods on a
// tainted node are evicted.

// nlHealth is what the controller last saw of a node's heartbeats. probe is
// the controller's own time of the last change, so that node clocks never
// matter (as Kubernetes's nodeHealthData).
type nlHealth struct {
	renew, beat time.Time
	probe       time.Time
	ready       corev1.ConditionStatus
	lost        bool // went from Ready to not Ready; its pods are not marked yet
}

// nlReady returns a node's Ready condition, or nil.
func nlReady(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func nlReadyStatus(n *corev1.Node) corev1.ConditionStatus {
	if c := nlReady(n); c != nil {
		return c.Status
	}
	return ""
}

// nlObserve records the node's current lease renewal and heartbeat and
// returns the time they last changed as seen by the controller.
func nlObserve(h *nlHealth, lease *coordinationv1.Lease, node *corev1.Node, now time.Time) time.Time {
	var renew, beat time.Time
	if lease != nil && lease.Spec.RenewTime != nil {
		renew = lease.Spec.RenewTime.Time
	}
	if c := nlReady(node); c != nil {
		beat = c.LastHeartbeatTime.Time
	}
	if h.probe.IsZero() || !renew.Equal(h.renew) || !beat.Equal(h.beat) {
		h.renew, h.beat, h.probe = renew, beat, now
	}
	return h.probe
}

// nlMarkUnknown returns the node's conditions with Ready (and the pressure
// conditions) set to Unknown, as the node lifecycle controller does when
// the kubelet stops posting; ok is false when they already are.
func nlMarkUnknown(node *corev1.Node, now time.Time) ([]corev1.NodeCondition, bool) {
	conds := append([]corev1.NodeCondition{}, node.Status.Conditions...)
	ts := metav1.NewTime(now)
	changed := false
	if nlReady(node) == nil {
		conds = append(conds, corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
			Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.",
			LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: ts})
		changed = true
	}
	for i := range conds {
		c := &conds[i]
		if c.Type == corev1.NodeNetworkUnavailable || c.Status == corev1.ConditionUnknown {
			continue
		}
		c.Status, c.Reason, c.Message, c.LastTransitionTime = corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status.", ts
		changed = true
	}
	return conds, changed
}

// nlConditionTaints are the taints the node lifecycle controller manages.
var nlConditionTaints = []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable}

// nlWantTaints returns the node's taints with the not-ready / unreachable
// NoSchedule and NoExecute taints its Ready condition calls for (False:
// not-ready, Unknown: unreachable, True: none), keeping every other taint
// and the time an existing taint was added. ok reports a change.
func nlWantTaints(node *corev1.Node, now time.Time) ([]corev1.Taint, bool) {
	var key string
	switch nlReadyStatus(node) {
	case corev1.ConditionFalse:
		key = corev1.TaintNodeNotReady
	case corev1.ConditionUnknown:
		key = corev1.TaintNodeUnreachable
	case corev1.ConditionTrue:
	default:
		return node.Spec.Taints, false // never reported: leave as registered
	}
	var out []corev1.Taint
	have := map[corev1.TaintEffect]bool{}
	changed := false
	for _, t := range node.Spec.Taints {
		ours := t.Key == nlConditionTaints[0] || t.Key == nlConditionTaints[1]
		switch {
		case !ours:
			out = append(out, t)
		case t.Key == key && (t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute) && !have[t.Effect]:
			have[t.Effect] = true
			out = append(out, t)
		default:
			changed = true
		}
	}
	if key != "" {
		if !have[corev1.TaintEffectNoSchedule] {
			out = append(out, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
			changed = true
		}
		if !have[corev1.TaintEffectNoExecute] {
			ts := metav1.NewTime(now)
			out = append(out, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoExecute, TimeAdded: &ts})
			changed = true
		}
	}
	return out, changed
}

// nlEvictAt returns when a pod on a node with these taints is to be
// evicted: at once for a NoExecute taint it does not tolerate, after the
// shortest tolerationSeconds of the tolerations it has, never when it
// tolerates them all without limit. Pods without a toleration for the
// not-ready and unreachable taints get defaultWait, as if the
// DefaultTolerationSeconds admission plugin had added one. Times count from
// when the taint was added.
func nlEvictAt(pod *corev1.Pod, taints []corev1.Taint, defaultWait time.Duration, now time.Time) (time.Time, bool) {
	var at time.Time
	found := false
	for _, taint := range taints {
		if taint.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		var wait time.Duration
		tol, ok := tolerationOf(pod.Spec.Tolerations, taint)
		switch {
		case ok && tol.TolerationSeconds == nil:
			continue
		case ok:
			wait = time.Duration(max(0, *tol.TolerationSeconds)) * time.Second
		case taint.Key == corev1.TaintNodeNotReady || taint.Key == corev1.TaintNodeUnreachable:
			wait = defaultWait
		}
		added := now
		if taint.TimeAdded != nil {
			added = taint.TimeAdded.Time
		}
		if t := added.Add(wait); !found || t.Before(at) {
			at, found = t, true
		}
	}
	return at, found
}

// nlDisruptionCondition is the pod condition a taint eviction sets.
func nlDisruptionCondition(now time.Time) corev1.PodCondition {
	return corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByTaintManager",
		Message: "Taint manager: deleting due to NoExecute taint", LastTransitionTime: metav1.NewTime(now)}
}

// nlSetPodCondition sets a pod condition, reporting a change.
func nlSetPodCondition(p *corev1.Pod, c corev1.PodCondition) bool {
	for i := range p.Status.Conditions {
		x := &p.Status.Conditions[i]
		if x.Type != c.Type {
			continue
		}
		if x.Status == c.Status && x.Reason == c.Reason {
			return false
		}
		*x = c
		return true
	}
	p.Status.Conditions = append(p.Status.Conditions, c)
	return true
}
