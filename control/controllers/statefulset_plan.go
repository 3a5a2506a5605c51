package controllers

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// stsRevs are a StatefulSet's current and update revisions: their names
// (the value of the pods' controller-revision-hash label) and templates.
type stsRevs struct {
	currentName, updateName string
	current, update         *corev1.PodTemplateSpec
}

// stsPlan is what one pass of the StatefulSet controller does.
type stsPlan struct {
	create []*corev1.Pod
	delete []*corev1.Pod
	status appsv1.StatefulSetStatus
	// recheck, when set, is when a pod becomes available (minReadySeconds).
	recheck time.Duration
}

var stsGVK = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// stsOrdinal parses <set>-<ordinal> pod names.
func stsOrdinal(set, pod string) (int, bool) {
	if !strings.HasPrefix(pod, set+"-") {
		return 0, false
	}
	s := pod[len(set)+1:]
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}

func stsStart(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

func stsReplicas(set *appsv1.StatefulSet) int { return int(replicasOf(set.Spec.Replicas)) }

func stsPartition(set *appsv1.StatefulSet) int {
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.Partition == nil {
		return 0
	}
	return int(*ru.Partition)
}

// stsHealthy is Kubernetes's isHealthy: running, ready, not terminating.
func stsHealthy(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && IsPodReady(p) && p.DeletionTimestamp == nil
}

func stsRevisionOf(p *corev1.Pod) string { return p.Labels[appsv1.ControllerRevisionHashLabelKey] }

// stsNewPod builds the pod of an ordinal from a template.
func stsNewPod(set *appsv1.StatefulSet, tmpl *corev1.PodTemplateSpec, rev string, ord int) *corev1.Pod {
	name := fmt.Sprintf("%s-%d", set.Name, ord)
	p := podFromTemplate(tmpl, set, newControllerRef(set, stsGVK))
	p.GenerateName, p.Name = "", name
	p.Labels[appsv1.StatefulSetPodNameLabel] = name
	p.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ord)
	p.Labels[appsv1.ControllerRevisionHashLabelKey] = rev
	p.Spec.Hostname = name
	p.Spec.Subdomain = set.Spec.ServiceName
	for _, vct := range set.Spec.VolumeClaimTemplates {
		src := corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: vct.Name + "-" + name}}
		found := false
		for i := range p.Spec.Volumes {
			if p.Spec.Volumes[i].Name == vct.Name {
				p.Spec.Volumes[i].VolumeSource, found = src, true
			}
		}
		if !found {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: vct.Name, VolumeSource: src})
		}
	}
	return p
}

// stsTemplateOf decodes the template a revision restores.
func stsTemplateOf(r *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var d struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(r.Data.Raw, &d); err != nil {
		return nil, fmt.Errorf("revision %s: %w", r.Name, err)
	}
	return &d.Spec.Template, nil
}

// stsSlots puts the pods with ordinals below replicas in their slots and
// returns the others (condemned), highest ordinal first.
func stsSlots(set *appsv1.StatefulSet, pods []*corev1.Pod) (slots, condemned []*corev1.Pod) {
	replicas, start := stsReplicas(set), stsStart(set)
	slots = make([]*corev1.Pod, replicas)
	ord := map[*corev1.Pod]int{}
	for _, p := range pods {
		o, ok := stsOrdinal(set.Name, p.Name)
		if !ok {
			continue
		}
		ord[p] = o
		if i := o - start; i >= 0 && i < replicas {
			slots[i] = p
		} else {
			condemned = append(condemned, p)
		}
	}
	sort.Slice(condemned, func(i, j int) bool { return ord[condemned[i]] > ord[condemned[j]] })
	return slots, condemned
}

// stsRecheck returns when the next ready pod becomes available
// (minReadySeconds), or 0.
func stsRecheck(set *appsv1.StatefulSet, slots, condemned []*corev1.Pod, now time.Time) time.Duration {
	var pods []*corev1.Pod
	for _, p := range append(append([]*corev1.Pod{}, slots...), condemned...) {
		if p != nil {
			pods = append(pods, p)
		}
	}
	return nextAvailableIn(pods, set.Spec.MinReadySeconds, now)
}

// stsPlanFor decides one pass over a StatefulSet's pods: Kubernetes's
// updateStatefulSet with the OrderedReady (monotonic) and Parallel policies,
// scale down from the highest ordinal, and RollingUpdate in reverse ordinal
// order down to the partition.
func stsPlanFor(set *appsv1.StatefulSet, pods []*corev1.Pod, revs stsRevs, now time.Time) stsPlan {
	replicas, start := stsReplicas(set), stsStart(set)
	slots, condemned := stsSlots(set, pods)
	plan := stsPlan{status: stsStatus(set, pods, revs, now), recheck: stsRecheck(set, slots, condemned, now)}
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	for i, p := range slots {
		tmpl, rev := revs.update, revs.updateName
		if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType && i+start < stsPartition(set) {
			tmpl, rev = revs.current, revs.currentName
		}
		switch {
		case p == nil:
			plan.create = append(plan.create, stsNewPod(set, tmpl, rev, i+start))
		case IsPodTerminal(p) && p.DeletionTimestamp == nil:
			plan.delete = append(plan.delete, p) // recreated once it is gone
		case stsHealthy(p):
			continue
		}
		if monotonic {
			return plan
		}
	}
	for _, p := range condemned {
		if p.DeletionTimestamp == nil {
			plan.delete = append(plan.delete, p)
		}
		if monotonic {
			return plan
		}
	}
	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return plan
	}
	for i := replicas - 1; i >= 0 && i+start >= stsPartition(set); i-- {
		p := slots[i]
		if p == nil {
			return plan
		}
		if stsRevisionOf(p) != revs.updateName && p.DeletionTimestamp == nil {
			plan.delete = append(plan.delete, p)
			return plan
		}
		if !stsHealthy(p) {
			return plan
		}
	}
	return plan
}

// stsStatus counts a StatefulSet's pods.
func stsStatus(set *appsv1.StatefulSet, pods []*corev1.Pod, revs stsRevs, now time.Time) appsv1.StatefulSetStatus {
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation, CollisionCount: set.Status.CollisionCount,
		CurrentRevision: revs.currentName, UpdateRevision: revs.updateName,
		Conditions: set.Status.Conditions,
	}
	for _, p := range pods {
		if _, ok := stsOrdinal(set.Name, p.Name); !ok {
			continue
		}
		st.Replicas++
		if p.Status.Phase == corev1.PodRunning && IsPodReady(p) {
			st.ReadyReplicas++
			if IsPodAvailable(p, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		if p.DeletionTimestamp != nil {
			continue
		}
		switch rev := stsRevisionOf(p); {
		case rev == revs.updateName && rev == revs.currentName:
			st.CurrentReplicas++
			st.UpdatedReplicas++
		case rev == revs.currentName:
			st.CurrentReplicas++
		case rev == revs.updateName:
			st.UpdatedReplicas++
		}
	}
	// completeRollingUpdate: once every pod runs the update revision and is
	// ready, it becomes the current one.
	if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType &&
		st.UpdatedReplicas == st.Replicas && st.ReadyReplicas == st.Replicas && int(st.Replicas) == stsReplicas(set) {
		st.CurrentReplicas = st.UpdatedReplicas
		st.CurrentRevision = st.UpdateRevision
	}
	return st
}
