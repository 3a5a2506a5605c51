package controllers

import (
	"maps"
	"math"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PodDeletionCostAnnotation ranks pods for scale-down: lower cost goes first.
const PodDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// IsPodTerminal reports whether a pod has finished: Succeeded or Failed.
func IsPodTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// IsPodActive reports whether a pod counts towards its controller's
// replicas: not finished and not being deleted.
func IsPodActive(p *corev1.Pod) bool {
	return !IsPodTerminal(p) && p.DeletionTimestamp == nil
}

// podReadyCondition returns the pod's Ready condition, or nil.
func podReadyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// IsPodReady reports whether the pod's Ready condition is True.
func IsPodReady(p *corev1.Pod) bool {
	c := podReadyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// IsPodAvailable reports whether the pod has been ready for at least
// minReadySeconds at now: strictly longer, as Kubernetes's
// podutil.IsPodAvailable, so a pod is not yet available at the very
// instant its minReadySeconds run out.
func IsPodAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := podReadyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	return !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}

// availableIn returns how long until a ready pod becomes available under
// minReadySeconds: a millisecond past the instant its minReadySeconds run
// out (IsPodAvailable wants strictly more). It is 0 when waiting changes
// nothing: the pod is not ready, already available, or has no ready time.
func availableIn(p *corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	c := podReadyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue || c.LastTransitionTime.IsZero() || IsPodAvailable(p, minReadySeconds, now) {
		return 0
	}
	return c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).Sub(now) + time.Millisecond
}

// nextAvailableIn returns the shortest availableIn of pods (0 when no pod
// waits to become available): when a controller counting available pods
// should look again.
func nextAvailableIn(pods []*corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	var next time.Duration
	for _, p := range pods {
		if d := availableIn(p, minReadySeconds, now); d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	return next
}

// podKey is the "namespace/name" key of a pod.
func podKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

// podFromTemplate builds the pod a controller creates from its template,
// as Kubernetes's GetPodFromTemplate: generateName "<parent>-", the
// template's labels, annotations (both always non-nil maps, for the
// controller to add its own) and finalizers, and ref as the controller
// reference.
func podFromTemplate(t *corev1.PodTemplateSpec, parent metav1.Object, ref *metav1.OwnerReference) *corev1.Pod {
	prefix := parent.GetName() + "-"
	if len(validation.NameIsDNSSubdomain(prefix, true)) != 0 {
		prefix = parent.GetName()
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: prefix,
			Namespace:    parent.GetNamespace(),
			Labels:       copyMap(t.Labels),
			Annotations:  copyMap(t.Annotations),
			Finalizers:   append([]string(nil), t.Finalizers...),
		},
		Spec: *t.Spec.DeepCopy(),
	}
	if ref != nil {
		p.OwnerReferences = []metav1.OwnerReference{*ref.DeepCopy()} // no pointer shared between pods
	}
	return p
}

// copyMap returns a copy of m, an empty map when m is nil.
func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	maps.Copy(out, m)
	return out
}

// tolerates is Kubernetes's Toleration.ToleratesTaint (without the
// feature-gated Lt and Gt operators).
func tolerates(t corev1.Toleration, taint corev1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case corev1.TolerationOpExists:
		return true
	case "", corev1.TolerationOpEqual:
		return t.Value == taint.Value
	}
	return false
}

// tolerationOf returns the first toleration of ts that tolerates taint.
func tolerationOf(ts []corev1.Toleration, taint corev1.Taint) (corev1.Toleration, bool) {
	for _, t := range ts {
		if tolerates(t, taint) {
			return t, true
		}
	}
	return corev1.Toleration{}, false
}

// podsToDelete picks n pods of pods to remove on scale-down, in
// Kubernetes's order of preference (ActivePodsWithRanks with
// LogarithmicScaleDown): unscheduled before scheduled, Pending before
// Unknown before Running, not ready before ready, lower
// pod-deletion-cost first, pods sharing a node with more related pods
// first, ready for less time first, more container restarts first, newer
// first. related are the pods of the same workload (all its ReplicaSets)
// used to count pods per node.
func podsToDelete(pods, related []*corev1.Pod, n int, now time.Time) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	perNode := map[string]int{}
	for _, p := range related {
		if p.Spec.NodeName != "" && IsPodActive(p) {
			perNode[p.Spec.NodeName]++
		}
	}
	r := rankedPods{pods: append([]*corev1.Pod(nil), pods...), rank: make([]int, len(pods)), now: now}
	for i, p := range r.pods {
		r.rank[i] = perNode[p.Spec.NodeName]
	}
	sort.Stable(r)
	return r.pods[:n]
}

type rankedPods struct {
	pods []*corev1.Pod
	rank []int
	now  time.Time
}

func (r rankedPods) Len() int { return len(r.pods) }
func (r rankedPods) Swap(i, j int) {
	r.pods[i], r.pods[j] = r.pods[j], r.pods[i]
	r.rank[i], r.rank[j] = r.rank[j], r.rank[i]
}

var phaseOrdinal = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// Less says whether pod i should be deleted before pod j.
func (r rankedPods) Less(i, j int) bool {
	a, b := r.pods[i], r.pods[j]
	if a.Spec.NodeName != b.Spec.NodeName && (a.Spec.NodeName == "" || b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseOrdinal[a.Status.Phase], phaseOrdinal[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	ra, rb := IsPodReady(a), IsPodReady(b)
	if ra != rb {
		return !ra
	}
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	if r.rank[i] != r.rank[j] {
		return r.rank[i] > r.rank[j]
	}
	if ra && rb {
		ta, tb := podReadyCondition(a).LastTransitionTime, podReadyCondition(b).LastTransitionTime
		if !ta.Equal(&tb) {
			return r.newerFirst(a, b, ta.Time, tb.Time)
		}
	}
	if xa, xb := maxRestarts(a), maxRestarts(b); xa != xb {
		return xa > xb
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return r.newerFirst(a, b, a.CreationTimestamp.Time, b.CreationTimestamp.Time)
	}
	return false
}

// newerFirst orders by time on a logarithmic scale of age (zero first),
// breaking ties within a bucket by UID, as LogarithmicScaleDown does.
func (r rankedPods) newerFirst(a, b *corev1.Pod, ta, tb time.Time) bool {
	if r.now.IsZero() || ta.IsZero() || tb.IsZero() {
		if ta.IsZero() || tb.IsZero() {
			return ta.IsZero()
		}
		return ta.After(tb)
	}
	if d := logRank(r.now, ta) - logRank(r.now, tb); d != 0 {
		return d < 0
	}
	return a.UID < b.UID
}

func logRank(now, t time.Time) int64 {
	if d := now.Sub(t); d > 0 {
		return int64(math.Log2(float64(d)))
	}
	return -1
}

func deletionCost(p *corev1.Pod) int32 {
	v, ok := p.Annotations[PodDeletionCostAnnotation]
	if !ok {
		return 0
	}
	c, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return int32(c)
}

func maxRestarts(p *corev1.Pod) int32 {
	var m int32
	for _, s := range p.Status.ContainerStatuses {
		m = max(m, s.RestartCount)
	}
	return m
}
