package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/minicluster/mini/control/client"
)

func init() {
	describers[schema.GroupKind{Group: "apps", Kind: "Deployment"}] = describeDeployment
	describers[schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}] = describeReplicaSet
	describers[schema.GroupKind{Group: "apps", Kind: "StatefulSet"}] = describeStatefulSet
	describers[schema.GroupKind{Group: "apps", Kind: "DaemonSet"}] = describeDaemonSet
	describers[schema.GroupKind{Group: "batch", Kind: "Job"}] = describeJob
}

// selectorString prints a label selector ("<none>" when empty).
func selectorString(sel *metav1.LabelSelector) string {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return "<none>"
	}
	return s.String()
}

// ownedPods lists the pods the object with uid controls.
func ownedPods(ctx context.Context, s *session, ns string, sel *metav1.LabelSelector, uid types.UID) ([]corev1.Pod, error) {
	ls := selectorString(sel)
	if ls == "<none>" {
		ls = ""
	}
	var l corev1.PodList
	if err := s.c.List(ctx, ns, &l, client.ListOptions{LabelSelector: ls}); err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if isControlledBy(&p.ObjectMeta, uid) {
			out = append(out, p)
		}
	}
	return out, nil
}

func isControlledBy(m *metav1.ObjectMeta, uid types.UID) bool {
	for _, o := range m.OwnerReferences {
		if o.UID == uid && o.Controller != nil && *o.Controller {
			return true
		}
	}
	return false
}

// podsStatus counts pods by phase, as kubectl's "Pods Status" line.
func podsStatus(ctx context.Context, s *session, ns string, sel *metav1.LabelSelector, uid types.UID) string {
	pods, err := ownedPods(ctx, s, ns, sel, uid)
	if err != nil {
		return fmt.Sprintf("<unavailable: %v>", err)
	}
	n := map[corev1.PodPhase]int{}
	for _, p := range pods {
		n[p.Status.Phase]++
	}
	return fmt.Sprintf("%d Running / %d Waiting / %d Succeeded / %d Failed",
		n[corev1.PodRunning], n[corev1.PodPending], n[corev1.PodSucceeded], n[corev1.PodFailed])
}

func describeDeployment(ctx context.Context, s *session, obj runtime.Object, w *descWriter) {
	d := obj.(*appsv1.Deployment)
	w.line(0, "Name:\t%s", d.Name)
	w.line(0, "Namespace:\t%s", d.Namespace)
	w.line(0, "CreationTimestamp:\t%s", when(d.CreationTimestamp))
	w.keyValues(0, "Labels", d.Labels, "=")
	w.keyValues(0, "Annotations", d.Annotations, ": ")
	w.line(0, "Selector:\t%s", selectorString(d.Spec.Selector))
	w.line(0, "Replicas:\t%d desired | %d updated | %d total | %d available | %d unavailable",
		replicas(d.Spec.Replicas), d.Status.UpdatedReplicas, d.Status.Replicas, d.Status.AvailableReplicas, d.Status.UnavailableReplicas)
	w.line(0, "StrategyType:\t%s", d.Spec.Strategy.Type)
	w.line(0, "MinReadySeconds:\t%d", d.Spec.MinReadySeconds)
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil && ru.MaxSurge != nil {
		w.line(0, "RollingUpdateStrategy:\t%s max unavailable, %s max surge", ru.MaxUnavailable.String(), ru.MaxSurge.String())
	}
	describePodTemplate(w, &d.Spec.Template)
	if len(d.Status.Conditions) > 0 {
		w.line(0, "Conditions:")
		w.line(1, "Type\tStatus\tReason")
		w.line(1, "----\t------\t------")
		for _, c := range d.Status.Conditions {
			w.line(1, "%s \t%s\t%s", c.Type, c.Status, c.Reason)
		}
	}
	newRS, oldRS, err := deploymentReplicaSets(ctx, s, d)
	if err != nil {
		w.line(0, "NewReplicaSet:\t<unavailable: %v>", err)
		return
	}
	w.line(0, "OldReplicaSets:\t%s", rsSummary(oldRS))
	w.line(0, "NewReplicaSet:\t%s", rsSummary(newRS))
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// deploymentReplicaSets returns the Deployment's ReplicaSet of its current
// revision and its older ones that still have pods.
func deploymentReplicaSets(ctx context.Context, s *session, d *appsv1.Deployment) (newRS, oldRS []appsv1.ReplicaSet, err error) {
	all, err := ownedReplicaSets(ctx, s, d)
	if err != nil {
		return nil, nil, err
	}
	rev := d.Annotations[revisionAnnotation]
	for _, rs := range all {
		switch {
		case rs.Annotations[revisionAnnotation] == rev:
			newRS = append(newRS, rs)
		case rs.Status.Replicas > 0 || replicas(rs.Spec.Replicas) > 0:
			oldRS = append(oldRS, rs)
		}
	}
	return newRS, oldRS, nil
}

// ownedReplicaSets lists the ReplicaSets a Deployment controls, by revision.
func ownedReplicaSets(ctx context.Context, s *session, d *appsv1.Deployment) ([]appsv1.ReplicaSet, error) {
	var l appsv1.ReplicaSetList
	if err := s.c.List(ctx, d.Namespace, &l, client.ListOptions{}); err != nil {
		return nil, err
	}
	var out []appsv1.ReplicaSet
	for _, rs := range l.Items {
		if isControlledBy(&rs.ObjectMeta, d.UID) {
			out = append(out, rs)
		}
	}
	sort.Slice(out, func(i, j int) bool { return revisionOf(out[i].Annotations) < revisionOf(out[j].Annotations) })
	return out, nil
}

func rsSummary(rss []appsv1.ReplicaSet) string {
	if len(rss) == 0 {
		return "<none>"
	}
	var parts []string
	for _, rs := range rss {
		parts = append(parts, fmt.Sprintf("%s (%d/%d replicas created)", rs.Name, rs.Status.Replicas, replicas(rs.Spec.Replicas)))
	}
	return strings.Join(parts, ", ")
}

func describeReplicaSet(ctx context.Context, s *session, obj runtime.Object, w *descWriter) {
	rs := obj.(*appsv1.ReplicaSet)
	w.line(0, "Name:\t%s", rs.Name)
	w.line(0, "Namespace:\t%s", rs.Namespace)
	w.line(0, "Selector:\t%s", selectorString(rs.Spec.Selector))
	w.keyValues(0, "Labels", rs.Labels, "=")
	w.keyValues(0, "Annotations", rs.Annotations, ": ")
	if c := controlledBy(&rs.ObjectMeta); c != "" {
		w.line(0, "Controlled By:\t%s", c)
	}
	w.line(0, "Replicas:\t%d current / %d desired", rs.Status.Replicas, replicas(rs.Spec.Replicas))
	w.line(0, "Pods Status:\t%s", podsStatus(ctx, s, rs.Namespace, rs.Spec.Selector, rs.UID))
	describePodTemplate(w, &rs.Spec.Template)
}

func describeStatefulSet(ctx context.Context, s *session, obj runtime.Object, w *descWriter) {
	ss := obj.(*appsv1.StatefulSet)
	w.line(0, "Name:\t%s", ss.Name)
	w.line(0, "Namespace:\t%s", ss.Namespace)
	w.line(0, "CreationTimestamp:\t%s", when(ss.CreationTimestamp))
	w.line(0, "Selector:\t%s", selectorString(ss.Spec.Selector))
	w.keyValues(0, "Labels", ss.Labels, "=")
	w.keyValues(0, "Annotations", ss.Annotations, ": ")
	w.line(0, "Replicas:\t%d desired | %d total", replicas(ss.Spec.Replicas), ss.Status.Replicas)
	w.line(0, "Update Strategy:\t%s", ss.Spec.UpdateStrategy.Type)
	if ru := ss.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		w.line(1, "Partition:\t%d", *ru.Partition)
	}
	w.line(0, "Pods Status:\t%s", podsStatus(ctx, s, ss.Namespace, ss.Spec.Selector, ss.UID))
	describePodTemplate(w, &ss.Spec.Template)
	if len(ss.Spec.VolumeClaimTemplates) == 0 {
		w.line(0, "Volume Claims:\t<none>")
	} else {
		w.line(0, "Volume Claims:")
		for _, pvc := range ss.Spec.VolumeClaimTemplates {
			w.line(1, "Name:\t%s", pvc.Name)
		}
	}
}

func describeDaemonSet(ctx context.Context, s *session, obj runtime.Object, w *descWriter) {
	ds := obj.(*appsv1.DaemonSet)
	w.line(0, "Name:\t%s", ds.Name)
	w.line(0, "Namespace:\t%s", ds.Namespace)
	w.line(0, "Selector:\t%s", selectorString(ds.Spec.Selector))
	w.keyValues(0, "Node-Selector", ds.Spec.Template.Spec.NodeSelector, "=")
	w.keyValues(0, "Labels", ds.Labels, "=")
	w.keyValues(0, "Annotations", ds.Annotations, ": ")
	st := ds.Status
	w.line(0, "Desired Number of Nodes Scheduled:\t%d", st.DesiredNumberScheduled)
	w.line(0, "Current Number of Nodes Scheduled:\t%d", st.CurrentNumberScheduled)
	w.line(0, "Number of Nodes Scheduled with Up-to-date Pods:\t%d", st.UpdatedNumberScheduled)
	w.line(0, "Number of Nodes Scheduled with Available Pods:\t%d", st.NumberAvailable)
	w.line(0, "Number of Nodes Misscheduled:\t%d", st.NumberMisscheduled)
	w.line(0, "Pods Status:\t%s", podsStatus(ctx, s, ds.Namespace, ds.Spec.Selector, ds.UID))
	describePodTemplate(w, &ds.Spec.Template)
}

func describeJob(ctx context.Context, s *session, obj runtime.Object, w *descWriter) {
	j := obj.(*batchv1.Job)
	w.line(0, "Name:\t%s", j.Name)
	w.line(0, "Namespace:\t%s", j.Namespace)
	w.line(0, "Selector:\t%s", selectorString(j.Spec.Selector))
	w.keyValues(0, "Labels", j.Labels, "=")
	w.keyValues(0, "Annotations", j.Annotations, ": ")
	if c := controlledBy(&j.ObjectMeta); c != "" {
		w.line(0, "Controlled By:\t%s", c)
	}
	w.line(0, "Parallelism:\t%d", replicas(j.Spec.Parallelism))
	if j.Spec.Completions != nil {
		w.line(0, "Completions:\t%d", *j.Spec.Completions)
	} else {
		w.line(0, "Completions:\t<unset>")
	}
	if j.Spec.BackoffLimit != nil {
		w.line(0, "Backoff Limit:\t%d", *j.Spec.BackoffLimit)
	}
	if j.Status.StartTime != nil {
		w.line(0, "Start Time:\t%s", when(*j.Status.StartTime))
		if j.Status.CompletionTime != nil {
			w.line(0, "Completed At:\t%s", when(*j.Status.CompletionTime))
			w.line(0, "Duration:\t%s", duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time)))
		}
	}
	ready := int32(0)
	if j.Status.Ready != nil {
		ready = *j.Status.Ready
	}
	w.line(0, "Pods Statuses:\t%d Active (%d Ready) / %d Succeeded / %d Failed", j.Status.Active, ready, j.Status.Succeeded, j.Status.Failed)
	describePodTemplate(w, &j.Spec.Template)
}

// revisionAnnotation numbers a Deployment's rollouts and its ReplicaSets.
const revisionAnnotation = "deployment.kubernetes.io/revision"

func revisionOf(ann map[string]string) int64 {
	n, _ := strconv.ParseInt(ann[revisionAnnotation], 10, 64)
	return n
}
