package controllers

import (
	"math"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// This file is the deterministic core of the Deployment controller: pure
// functions from a Deployment and its ReplicaSets to the resizes one sync
// makes. They follow Kubernetes's deployment controller (rolling.go,
// recreate.go, sync.go, deployment_util.go) with one deliberate
// difference, documented on podsBound and availableBound: the rolling
// update bounds pods, not only ReplicaSet specs, so that informer lag can
// never let more than replicas+maxSurge pods exist or fewer than
// replicas-maxUnavailable be available.

// Annotations on Deployments and their ReplicaSets, as Kubernetes.
const (
	RevisionAnnotation        = "deployment.kubernetes.io/revision"
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	deprecatedRollbackTo      = "deprecated.deployment.rollback.to"
	// maxRevHistoryLength bounds the revision-history annotation.
	maxRevHistoryLength = 2000
)

// resize sets one ReplicaSet's replicas (and its desired/max annotations).
type resize struct {
	RS *appsv1.ReplicaSet
	To int32
}

func isRolling(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType
}

// fenceposts resolves maxSurge (rounded up) and maxUnavailable (rounded
// down) against the desired replicas; both zero becomes unavailable 1.
func fenceposts(d *appsv1.Deployment) (surge, unavailable int32) {
	ru := d.Spec.Strategy.RollingUpdate
	zero := intstr.FromInt32(0)
	var ms, mu *intstr.IntOrString = &zero, &zero
	if ru != nil {
		ms, mu = intstr.ValueOrDefault(ru.MaxSurge, zero), intstr.ValueOrDefault(ru.MaxUnavailable, zero)
	}
	desired := int(replicasOf(d.Spec.Replicas))
	s, _ := intstr.GetScaledValueFromIntOrPercent(ms, desired, true)
	u, _ := intstr.GetScaledValueFromIntOrPercent(mu, desired, false)
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(u)
}

// maxSurge is the surge a rolling update allows (0 for Recreate).
func maxSurge(d *appsv1.Deployment) int32 {
	if !isRolling(d) {
		return 0
	}
	s, _ := fenceposts(d)
	return s
}

// maxUnavailable is the unavailability a rolling update allows, at most
// the desired replicas (0 for Recreate).
func maxUnavailable(d *appsv1.Deployment) int32 {
	n := replicasOf(d.Spec.Replicas)
	if !isRolling(d) || n == 0 {
		return 0
	}
	_, u := fenceposts(d)
	return min(u, n)
}

func specOf(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return replicasOf(rs.Spec.Replicas)
}

// podsBound is an upper bound of the active pods of rs: its spec, or more
// while a scale-down has not yet been carried out by the ReplicaSet
// controller (status.replicas still counts the pods). Kubernetes counts
// the spec only.
func podsBound(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return max(specOf(rs), rs.Status.Replicas)
}

// availableBound is a lower bound of the available pods of rs: its status,
// but no more than its spec, since a scale-down not yet reflected in the
// status removes pods (unavailable ones first). Kubernetes uses the status.
func availableBound(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return min(rs.Status.AvailableReplicas, specOf(rs))
}

func sumSpec(rss []*appsv1.ReplicaSet) (n int32) {
	for _, rs := range rss {
		n += specOf(rs)
	}
	return n
}

func sumStatus(rss []*appsv1.ReplicaSet, f func(*appsv1.ReplicaSetStatus) int32) (n int32) {
	for _, rs := range rss {
		if rs != nil {
			n += f(&rs.Status)
		}
	}
	return n
}

// byCreation orders ReplicaSets oldest first, then by name.
func byCreation(rss []*appsv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool { return olderRS(rss[i], rss[j]) })
}

func olderRS(a, b *appsv1.ReplicaSet) bool {
	if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.Name < b.Name
	}
	return a.CreationTimestamp.Before(&b.CreationTimestamp)
}

// equalIgnoreHash compares pod templates ignoring the pod-template-hash
// label, as Kubernetes (and kubectl rollout undo) do.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(b.Labels) == 0 {
		b.Labels = nil
	}
	return equality.Semantic.DeepEqual(a, b)
}

// splitRSs returns the Deployment's new ReplicaSet (the oldest whose
// template matches, or nil) and all the others.
func splitRSs(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet) {
	sorted := append([]*appsv1.ReplicaSet(nil), rss...)
	byCreation(sorted)
	var newRS *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	for _, rs := range sorted {
		if newRS == nil && equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			newRS = rs
			continue
		}
		old = append(old, rs)
	}
	return newRS, old
}

// activeRSs keeps the ReplicaSets with replicas > 0.
func activeRSs(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if specOf(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func withNew(old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	all := append([]*appsv1.ReplicaSet(nil), old...)
	if newRS != nil {
		all = append(all, newRS)
	}
	return all
}

// newRSReplicas is the size the new ReplicaSet may have now: for a
// rolling update, as many as the surge allows up to the desired count;
// for Recreate, the desired count.
func newRSReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	want := replicasOf(d.Spec.Replicas)
	if !isRolling(d) {
		return want
	}
	var current int32
	for _, rs := range all {
		current += podsBound(rs)
	}
	limit := want + maxSurge(d)
	if current >= limit {
		return specOf(newRS)
	}
	return specOf(newRS) + min(limit-current, want-specOf(newRS))
}

// planRolling returns the resizes of one rolling-update sync: first the new
// ReplicaSet is scaled towards the desired count within maxSurge; only
// when it cannot grow, old ReplicaSets are scaled down within
// maxUnavailable, unhealthy replicas first.
func planRolling(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) []resize {
	want := replicasOf(d.Spec.Replicas)
	all := withNew(old, newRS)
	if newRS != nil && specOf(newRS) != want {
		to := want
		if specOf(newRS) < want {
			to = newRSReplicas(d, all, newRS)
		}
		if to != specOf(newRS) {
			return []resize{{newRS, to}}
		}
	}
	return planScaleDownOld(d, newRS, old)
}

// planScaleDownOld is reconcileOldReplicaSets: clean up unavailable old
// replicas, then scale old ReplicaSets down while availability stays at
// or above replicas-maxUnavailable.
func planScaleDownOld(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) []resize {
	old = activeRSs(old)
	if len(old) == 0 {
		return nil
	}
	byCreation(old)
	minAvailable := replicasOf(d.Spec.Replicas) - maxUnavailable(d)
	maxDown := sumSpec(withNew(old, newRS)) - minAvailable - (specOf(newRS) - availableBound(newRS))
	if maxDown <= 0 {
		return nil
	}
	to := make([]int32, len(old))
	var down int32
	for i, rs := range old {
		to[i] = specOf(rs)
		if down >= maxDown || to[i] <= availableBound(rs) {
			continue
		}
		n := min(maxDown-down, to[i]-availableBound(rs))
		to[i] -= n
		down += n
	}
	available := availableBound(newRS)
	for _, rs := range old {
		available += availableBound(rs)
	}
	if excess := available - minAvailable; excess > 0 {
		var done int32
		for i := range old {
			if done >= excess {
				break
			}
			n := min(to[i], excess-done)
			to[i] -= n
			done += n
		}
	}
	var out []resize
	for i, rs := range old {
		if to[i] != specOf(rs) {
			out = append(out, resize{rs, to[i]})
		}
	}
	return out
}

// planRecreate returns the resizes of one Recreate sync: every old
// ReplicaSet to zero; once no old pod runs, the new one to the desired
// count. create reports that the new ReplicaSet must be created first.
func planRecreate(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet, oldPodsRunning bool) (plan []resize, create bool) {
	for _, rs := range activeRSs(old) {
		plan = append(plan, resize{rs, 0})
	}
	if len(plan) > 0 || oldPodsRunning {
		return plan, false
	}
	if newRS == nil {
		return nil, true
	}
	if want := replicasOf(d.Spec.Replicas); specOf(newRS) != want {
		return []resize{{newRS, want}}, false
	}
	return nil, false
}

// desiredAnnotation reads an int32 annotation of a ReplicaSet.
func intAnnotation(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.Annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// isScalingEvent reports whether the desired replicas changed since the
// active ReplicaSets were last sized (their desired-replicas annotation).
func isScalingEvent(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) bool {
	for _, rs := range activeRSs(withNew(old, newRS)) {
		if n, ok := intAnnotation(rs, DesiredReplicasAnnotation); ok && n != replicasOf(d.Spec.Replicas) {
			return true
		}
	}
	return false
}

// planScale sizes the ReplicaSets after a change of spec.replicas (or
// while paused), as Kubernetes's scale(): a single active ReplicaSet (or
// the newest when none is active) takes everything; a saturated new
// ReplicaSet scales old ones to zero; otherwise a rolling Deployment
// spreads the difference proportionally to the ReplicaSets' sizes
// (relative to the max-replicas annotation), leftovers to the largest.
// Every returned ReplicaSet also gets its annotations refreshed.
func planScale(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) []resize {
	want := replicasOf(d.Spec.Replicas)
	if rs := activeOrLatest(newRS, old); rs != nil {
		return []resize{{rs, want}}
	}
	if isSaturated(d, newRS) {
		var out []resize
		for _, rs := range activeRSs(old) {
			out = append(out, resize{rs, 0})
		}
		return out
	}
	if !isRolling(d) {
		return nil
	}
	all := activeRSs(withNew(old, newRS))
	var allowed int32
	if want > 0 {
		allowed = want + maxSurge(d)
	}
	toAdd := allowed - sumSpec(all)
	switch {
	case toAdd > 0:
		sort.SliceStable(all, func(i, j int) bool { return biggerRS(all[i], all[j], true) })
	case toAdd < 0:
		sort.SliceStable(all, func(i, j int) bool { return biggerRS(all[i], all[j], false) })
	}
	out := make([]resize, len(all))
	var added int32
	for i, rs := range all {
		p := proportion(rs, d, toAdd, added)
		out[i] = resize{rs, specOf(rs) + p}
		added += p
	}
	if len(out) > 0 && toAdd != 0 {
		out[0].To = max(0, out[0].To+toAdd-added)
	}
	return out
}

// biggerRS orders by size, larger first; ties newer first (newerFirst) or
// older first.
func biggerRS(a, b *appsv1.ReplicaSet, newerFirst bool) bool {
	if specOf(a) != specOf(b) {
		return specOf(a) > specOf(b)
	}
	if newerFirst {
		return olderRS(b, a)
	}
	return olderRS(a, b)
}

func activeOrLatest(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	active := activeRSs(withNew(old, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		sorted := append([]*appsv1.ReplicaSet(nil), old...)
		byCreation(sorted)
		return sorted[len(sorted)-1]
	case 1:
		return active[0]
	}
	return nil
}

func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	want := replicasOf(d.Spec.Replicas)
	n, ok := intAnnotation(rs, DesiredReplicasAnnotation)
	return ok && n == want && specOf(rs) == want && rs.Status.AvailableReplicas == want
}

// proportion is the share of toAdd (minus what was already added) that rs
// gets, from its size relative to the Deployment size it was last scaled
// for.
func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if specOf(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	var fraction int32
	if replicasOf(d.Spec.Replicas) == 0 {
		fraction = -specOf(rs)
	} else {
		before, ok := intAnnotation(rs, MaxReplicasAnnotation)
		if !ok || before == 0 {
			before = d.Status.Replicas
		}
		if before != 0 {
			size := float64(specOf(rs)) * float64(replicasOf(d.Spec.Replicas)+maxSurge(d)) / float64(before)
			fraction = int32(math.Round(size)) - specOf(rs)
		}
	}
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

// revisionOf reads a revision annotation (0 when absent or bad).
func revisionOf(annotations map[string]string) int64 {
	n, err := strconv.ParseInt(annotations[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func maxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, revisionOf(rs.Annotations))
	}
	return m
}

// skipCopyAnnotation lists the Deployment annotations not copied to its
// ReplicaSets.
func skipCopyAnnotation(k string) bool {
	switch k {
	case corev1.LastAppliedConfigAnnotation, RevisionAnnotation, RevisionHistoryAnnotation,
		DesiredReplicasAnnotation, MaxReplicasAnnotation, deprecatedRollbackTo:
		return true
	}
	return false
}

// setNewRSAnnotations copies the Deployment's annotations to the new
// ReplicaSet, raises its revision to newRevision (keeping the revisions it
// had in revision-history, which is how a rollback shows), and on
// creation sets the replicas annotations. It reports a change.
func setNewRSAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision int64, exists bool) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if !skipCopyAnnotation(k) && rs.Annotations[k] != v {
			rs.Annotations[k] = v
			changed = true
		}
	}
	oldStr, had := rs.Annotations[RevisionAnnotation]
	oldRev, err := strconv.ParseInt(oldStr, 10, 64)
	if err != nil && oldStr != "" {
		return changed
	}
	if oldRev < newRevision {
		rs.Annotations[RevisionAnnotation] = strconv.FormatInt(newRevision, 10)
		changed = true
		if had {
			rs.Annotations[RevisionHistoryAnnotation] = appendHistory(rs.Annotations[RevisionHistoryAnnotation], oldStr)
		}
	}
	if !exists && setReplicasAnnotations(rs, replicasOf(d.Spec.Replicas), replicasOf(d.Spec.Replicas)+maxSurge(d)) {
		changed = true
	}
	return changed
}

// appendHistory appends a revision to a revision-history annotation,
// dropping the oldest entries beyond maxRevHistoryLength characters.
func appendHistory(history, rev string) string {
	if history == "" {
		return rev
	}
	parts := append(strings.Split(history, ","), rev)
	for len(parts) > 1 && len(strings.Join(parts, ",")) > maxRevHistoryLength {
		parts = parts[1:]
	}
	return strings.Join(parts, ",")
}

// setReplicasAnnotations sets desired-replicas and max-replicas; it
// reports a change.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	d, m := strconv.Itoa(int(desired)), strconv.Itoa(int(maxReplicas))
	if rs.Annotations[DesiredReplicasAnnotation] == d && rs.Annotations[MaxReplicasAnnotation] == m {
		return false
	}
	rs.Annotations[DesiredReplicasAnnotation], rs.Annotations[MaxReplicasAnnotation] = d, m
	return true
}

// rsToPrune returns the old ReplicaSets beyond revisionHistoryLimit that
// may be deleted: lowest revisions first, only those fully scaled down
// and observed so by the ReplicaSet controller.
func rsToPrune(d *appsv1.Deployment, old []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	if d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range old {
		if rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(alive, func(i, j int) bool {
		ri, rj := revisionOf(alive[i].Annotations), revisionOf(alive[j].Annotations)
		if ri != rj {
			return ri < rj
		}
		return olderRS(alive[i], alive[j])
	})
	var out []*appsv1.ReplicaSet
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas == 0 && specOf(rs) == 0 && rs.Generation <= rs.Status.ObservedGeneration {
			out = append(out, rs)
		}
	}
	return out
}
