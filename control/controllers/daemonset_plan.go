package controllers

import (
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var dsGVK = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// dsTemplateGenerationLabel is the (deprecated) label Kubernetes still puts
// on DaemonSet pods.
const dsTemplateGenerationLabel = "pod-template-generation"

// dsDefaultTolerations are the tolerations Kubernetes adds to every
// DaemonSet pod, so that daemons run on nodes that are not ready, cut off,
// under pressure or cordoned.
func dsDefaultTolerations(hostNetwork bool) []corev1.Toleration {
	ts := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if hostNetwork {
		ts = append(ts, corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return ts
}

// dsTolerations returns the template's tolerations plus the defaults it
// lacks.
func dsTolerations(spec *corev1.PodSpec) []corev1.Toleration {
	out := append([]corev1.Toleration{}, spec.Tolerations...)
	for _, d := range dsDefaultTolerations(spec.HostNetwork) {
		have := false
		for _, t := range spec.Tolerations {
			if t.Key == d.Key && t.Effect == d.Effect && t.Operator == d.Operator {
				have = true
			}
		}
		if !have {
			out = append(out, d)
		}
	}
	return out
}

var dsSelectorOps = map[corev1.NodeSelectorOperator]selection.Operator{
	corev1.NodeSelectorOpIn: selection.In, corev1.NodeSelectorOpNotIn: selection.NotIn,
	corev1.NodeSelectorOpExists: selection.Exists, corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
	corev1.NodeSelectorOpGt: selection.GreaterThan, corev1.NodeSelectorOpLt: selection.LessThan,
}

// dsMatchTerm reports whether a node matches a node selector term (an empty
// term matches nothing, as in Kubernetes).
func dsMatchTerm(term corev1.NodeSelectorTerm, node *corev1.Node) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false
	}
	for _, e := range term.MatchExpressions {
		op, ok := dsSelectorOps[e.Operator]
		if !ok {
			return false
		}
		r, err := labels.NewRequirement(e.Key, op, e.Values)
		if err != nil || !r.Matches(labels.Set(node.Labels)) {
			return false
		}
	}
	for _, f := range term.MatchFields {
		if f.Key != "metadata.name" {
			return false
		}
		in := false
		for _, v := range f.Values {
			in = in || v == node.Name
		}
		if (f.Operator == corev1.NodeSelectorOpIn) != in || (f.Operator != corev1.NodeSelectorOpIn && f.Operator != corev1.NodeSelectorOpNotIn) {
			return false
		}
	}
	return true
}

// dsFits reports whether a daemon pod with spec should run on node
// (shouldRun: nodeSelector, required node affinity and every NoSchedule and
// NoExecute taint tolerated) and whether an existing one may stay
// (shouldContinue: only NoExecute taints count).
func dsFits(spec *corev1.PodSpec, node *corev1.Node) (shouldRun, shouldContinue bool) {
	if !labels.SelectorFromSet(spec.NodeSelector).Matches(labels.Set(node.Labels)) {
		return false, false
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		match := false
		for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			match = match || dsMatchTerm(t, node)
		}
		if !match {
			return false, false
		}
	}
	tols := dsTolerations(spec)
	shouldRun, shouldContinue = true, true
	for _, taint := range node.Spec.Taints {
		if taint.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if _, ok := tolerationOf(tols, taint); ok {
			continue
		}
		shouldRun = false
		if taint.Effect == corev1.TaintEffectNoExecute {
			shouldContinue = false
		}
	}
	return shouldRun, shouldContinue
}

// dsNodeOf returns the node a daemon pod is for: its nodeName once bound,
// else the node its required affinity names.
func dsNodeOf(p *corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// dsNewPod builds the daemon pod for node: the template with the default
// tolerations and a required node affinity to exactly that node, which the
// scheduler honours when it binds the pod (as Kubernetes ≥ 1.12 does).
func dsNewPod(ds *appsv1.DaemonSet, node, hash string) *corev1.Pod {
	t := &ds.Spec.Template
	p := podFromTemplate(t, ds, newControllerRef(ds, dsGVK))
	p.Labels[appsv1.ControllerRevisionHashLabelKey] = hash
	p.Labels[dsTemplateGenerationLabel] = strconv.FormatInt(ds.Generation, 10)
	p.Spec.Tolerations = dsTolerations(&t.Spec)
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &corev1.Affinity{}
	}
	if p.Spec.Affinity.NodeAffinity == nil {
		p.Spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{
			{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}
	return p
}

// dsPlan is what one pass of the DaemonSet controller does.
type dsPlan struct {
	create  []string // nodes that need a pod
	delete  []*corev1.Pod
	status  appsv1.DaemonSetStatus
	recheck time.Duration
}

// dsPlanFor decides one pass over a DaemonSet: a pod on every eligible
// node, none elsewhere, failed pods replaced, and a RollingUpdate that keeps
// at most maxUnavailable nodes without an available daemon.
func dsPlanFor(ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string, now time.Time) dsPlan {
	byNode := map[string][]*corev1.Pod{}
	known := map[string]bool{}
	for _, n := range nodes {
		known[n.Name] = true
	}
	var plan dsPlan
	for _, p := range pods {
		n := dsNodeOf(p)
		if !known[n] {
			if p.DeletionTimestamp == nil {
				plan.delete = append(plan.delete, p) // its node is gone
			}
			continue
		}
		byNode[n] = append(byNode[n], p)
	}
	st := appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, CollisionCount: ds.Status.CollisionCount, Conditions: ds.Status.Conditions}
	run := map[string]bool{}
	for _, n := range nodes {
		shouldRun, shouldContinue := dsFits(&ds.Spec.Template.Spec, n)
		var live []*corev1.Pod
		for _, p := range byNode[n.Name] {
			if p.DeletionTimestamp == nil {
				live = append(live, p)
			}
		}
		sort.Slice(live, func(i, j int) bool { return live[i].CreationTimestamp.Before(&live[j].CreationTimestamp) })
		create, del := dsNodeActions(shouldRun, shouldContinue, len(byNode[n.Name]) > 0, live)
		if create {
			plan.create = append(plan.create, n.Name)
		}
		plan.delete = append(plan.delete, del...)
		if shouldRun {
			run[n.Name] = true
			if d := dsCount(&st, live, hash, ds.Spec.MinReadySeconds, now); d > 0 && (plan.recheck == 0 || d < plan.recheck) {
				plan.recheck = d
			}
		} else if len(live) > 0 {
			st.NumberMisscheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	plan.status = st
	if ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		plan.delete = append(plan.delete, dsRollingDeletes(ds, nodes, byNode, run, hash, now, plan.delete)...)
	}
	return plan
}

// dsNodeActions decides for one node whether to create a daemon pod and
// which of its live pods (oldest first) to delete: failed ones and
// duplicates where the daemon may stay, all where it may not.
func dsNodeActions(shouldRun, shouldContinue, any bool, live []*corev1.Pod) (bool, []*corev1.Pod) {
	switch {
	case shouldRun && !any:
		return true, nil
	case shouldContinue:
		var del, running []*corev1.Pod
		for _, p := range live {
			if p.Status.Phase == corev1.PodFailed {
				del = append(del, p)
			} else {
				running = append(running, p)
			}
		}
		if len(running) > 1 {
			del = append(del, running[1:]...)
		}
		return false, del
	}
	return false, live
}

// dsCount adds a node that should run the daemon to the status, counting
// its oldest live pod, and returns when that pod becomes available.
func dsCount(st *appsv1.DaemonSetStatus, live []*corev1.Pod, hash string, minReady int32, now time.Time) time.Duration {
	st.DesiredNumberScheduled++
	if len(live) == 0 {
		return 0
	}
	st.CurrentNumberScheduled++
	p := live[0]
	if p.Labels[appsv1.ControllerRevisionHashLabelKey] == hash {
		st.UpdatedNumberScheduled++
	}
	if !IsPodReady(p) {
		return 0
	}
	st.NumberReady++
	if IsPodAvailable(p, minReady, now) {
		st.NumberAvailable++
		return 0
	}
	return availableIn(p, minReady, now)
}

// dsRollingDeletes picks the old pods to replace now: every old pod that is
// not available anyway, then available ones while fewer than maxUnavailable
// nodes lack an available daemon.
func dsRollingDeletes(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, run map[string]bool, hash string, now time.Time, already []*corev1.Pod) []*corev1.Pod {
	gone := map[*corev1.Pod]bool{}
	for _, p := range already {
		gone[p] = true
	}
	maxUnavailable := 1
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, len(run), true)
		if err == nil {
			maxUnavailable = v
		}
	}
	if maxUnavailable < 1 {
		maxUnavailable = 1
	}
	unavailable := 0
	var candidates, out []*corev1.Pod
	for _, n := range nodes {
		if !run[n.Name] {
			continue
		}
		var newPod, oldPod *corev1.Pod
		available := false
		for _, p := range byNode[n.Name] {
			if p.DeletionTimestamp != nil || gone[p] {
				continue
			}
			if p.Labels[appsv1.ControllerRevisionHashLabelKey] == hash {
				newPod = p
			} else {
				oldPod = p
			}
			available = available || IsPodAvailable(p, ds.Spec.MinReadySeconds, now)
		}
		if !available {
			unavailable++
		}
		switch {
		case oldPod == nil || newPod != nil:
		case !IsPodAvailable(oldPod, ds.Spec.MinReadySeconds, now):
			out = append(out, oldPod)
		default:
			candidates = append(candidates, oldPod)
		}
	}
	for _, p := range candidates {
		if unavailable >= maxUnavailable {
			break
		}
		out = append(out, p)
		unavailable++
	}
	return out
}
