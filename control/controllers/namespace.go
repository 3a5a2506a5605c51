package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/minicluster/mini/control/client"
)

func init() { register("namespace", setupNamespace) }

// nsController drains namespaces being deleted: it deletes every
// namespaced object of every kind in them, waits until all are gone
// (terminating pods, finalizers), then removes the "kubernetes" finalizer
// through the finalize subresource so the API server removes the
// namespace.
type nsController struct {
	m     *Manager
	nsInf cache.SharedIndexInformer
	kinds []client.Info
	q     *Queue
}

func setupNamespace(m *Manager) func(ctx context.Context) {
	nc := &nsController{m: m, nsInf: m.Informers.For(&corev1.Namespace{})}
	nc.q = NewQueue("namespace", m.Clock, m.Log, nc.sync)
	enqueue := func(o any) {
		if ns, ok := tombstoned(o).(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			nc.q.Add(ns.Name)
		}
	}
	nc.nsInf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }})
	for _, info := range client.Kinds() {
		proto, _, ok := client.NewObject(info.GVK())
		if !ok || !info.Namespaced {
			continue
		}
		nc.kinds = append(nc.kinds, info)
		// Content leaving a terminating namespace: look again at once.
		m.Informers.For(proto).AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(o any) {
			if obj, ok := tombstoned(o).(metav1.Object); ok {
				if ns, ok := fromCache[*corev1.Namespace](nc.nsInf, "", obj.GetNamespace()); ok && ns.DeletionTimestamp != nil {
					nc.q.Add(ns.Name)
				}
			}
		}})
	}
	sort.Slice(nc.kinds, func(i, j int) bool { return nc.kinds[i].Resource < nc.kinds[j].Resource })
	return func(ctx context.Context) { nc.q.Run(ctx, m.Opts.Workers) }
}

// drainResult is what is left in a namespace after one round of deletes.
type drainResult struct {
	remaining  map[string]int // "resource.group" -> objects left
	finalizers map[string]int // finalizer -> objects holding it
	errs       []error
	wait       time.Duration // longest grace period left on a pod
}

func (nc *nsController) sync(ctx context.Context, name string) error {
	ns, ok := fromCache[*corev1.Namespace](nc.nsInf, "", name)
	if !ok || ns.DeletionTimestamp == nil || !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return nil
	}
	res := nc.drain(ctx, name)
	nc.writeConditions(ctx, ns, res)
	if len(res.errs) > 0 {
		return fmt.Errorf("deleting the content of namespace %s: %w", name, joinErrors(res.errs))
	}
	if len(res.remaining) > 0 {
		// Deletions of content wake this namespace; this is the fallback.
		return RequeueAfter(min(max(res.wait, time.Second), 30*time.Second))
	}
	return nc.finalize(ctx, ns)
}

// drain deletes what is left of every kind in the namespace and counts
// what remains.
func (nc *nsController) drain(ctx context.Context, ns string) drainResult {
	res := drainResult{remaining: map[string]int{}, finalizers: map[string]int{}}
	now := nc.m.Clock.Now()
	for _, info := range nc.kinds {
		items, err := nc.list(ctx, info, ns)
		if err != nil {
			res.errs = append(res.errs, err)
			continue
		}
		if len(items) == 0 {
			continue
		}
		if err := nc.deleteAll(ctx, info, ns); err != nil {
			res.errs = append(res.errs, err)
			continue
		}
		if items, err = nc.list(ctx, info, ns); err != nil {
			res.errs = append(res.errs, err)
			continue
		}
		for _, it := range items {
			m, _ := meta.Accessor(it)
			res.remaining[info.Resource+"."+info.Group]++
			for _, f := range m.GetFinalizers() {
				res.finalizers[f]++
			}
			if ts := m.GetDeletionTimestamp(); ts != nil && ts.After(now) {
				res.wait = max(res.wait, ts.Sub(now))
			}
		}
	}
	return res
}

func (nc *nsController) list(ctx context.Context, info client.Info, ns string) ([]runtime.Object, error) {
	list, _ := client.NewList(info.GVK())
	if err := nc.m.Client.List(ctx, ns, list, client.ListOptions{}); err != nil {
		return nil, fmt.Errorf("listing %s: %w", info.Resource, err)
	}
	return meta.ExtractList(list)
}

// deleteAll deletes the collection of a kind in the namespace, dependents
// in the background.
func (nc *nsController) deleteAll(ctx context.Context, info client.Info, ns string) error {
	bg := metav1.DeletePropagationBackground
	body, _ := json.Marshal(&metav1.DeleteOptions{TypeMeta: metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "v1"}, PropagationPolicy: &bg})
	_, err := nc.m.Client.Do(ctx, client.Request{Method: http.MethodDelete, Path: info.Path(ns, "", ""), Body: body})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s: %w", info.Resource, err)
	}
	return nil
}

// finalize removes the "kubernetes" finalizer; the API server then deletes
// the namespace.
func (nc *nsController) finalize(ctx context.Context, ns *corev1.Namespace) error {
	out := ns.DeepCopy()
	var keep []corev1.FinalizerName
	for _, f := range out.Spec.Finalizers {
		if f != corev1.FinalizerKubernetes {
			keep = append(keep, f)
		}
	}
	out.Spec.Finalizers = keep
	out.TypeMeta = metav1.TypeMeta{Kind: "Namespace", APIVersion: "v1"}
	body, _ := json.Marshal(out)
	_, err := nc.m.Client.Do(ctx, client.Request{Method: http.MethodPut, Path: "/api/v1/namespaces/" + ns.Name + "/finalize", Body: body})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("finalizing namespace %s: %w", ns.Name, err)
	}
	return nil
}

// writeConditions records the deletion's progress on the namespace, best
// effort (a later round writes again).
func (nc *nsController) writeConditions(ctx context.Context, ns *corev1.Namespace, res drainResult) {
	conds := namespaceConditions(ns.Status.Conditions, res, nc.m.Clock.Now())
	if equality.Semantic.DeepEqual(conds, ns.Status.Conditions) {
		return
	}
	out := ns.DeepCopy()
	out.Status.Conditions = conds
	_ = nc.m.Client.UpdateStatus(ctx, out)
}

// namespaceConditions computes a terminating namespace's conditions as
// Kubernetes's namespace controller words them.
func namespaceConditions(old []corev1.NamespaceCondition, res drainResult, now time.Time) []corev1.NamespaceCondition {
	type c = corev1.NamespaceCondition
	want := []c{
		{Type: corev1.NamespaceDeletionDiscoveryFailure, Status: corev1.ConditionFalse, Reason: "ResourcesDiscovered", Message: "All resources successfully discovered"},
		{Type: corev1.NamespaceDeletionGVParsingFailure, Status: corev1.ConditionFalse, Reason: "ParsedGroupVersions", Message: "All legacy kube types successfully parsed"},
		{Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionFalse, Reason: "ContentDeleted", Message: "All content successfully deleted, may be waiting on finalization"},
		{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionFalse, Reason: "ContentRemoved", Message: "All content successfully removed"},
		{Type: corev1.NamespaceFinalizersRemaining, Status: corev1.ConditionFalse, Reason: "ContentHasNoFinalizers", Message: "All content-preserving finalizers finished"},
	}
	if len(res.errs) > 0 {
		msgs := make([]string, len(res.errs))
		for i, e := range res.errs {
			msgs[i] = e.Error()
		}
		want[2] = c{Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionTrue, Reason: "ContentDeletionFailed",
			Message: fmt.Sprintf("Failed to delete all resource types, %d remaining: %s", len(res.errs), strings.Join(msgs, ", "))}
	}
	if len(res.remaining) > 0 {
		want[3] = c{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, Reason: "SomeResourcesRemain",
			Message: "Some resources are remaining: " + countList(res.remaining, "%s has %d resource instances")}
	}
	if len(res.finalizers) > 0 {
		want[4] = c{Type: corev1.NamespaceFinalizersRemaining, Status: corev1.ConditionTrue, Reason: "SomeFinalizersRemain",
			Message: "Some content in the namespace has finalizers remaining: " + countList(res.finalizers, "%s in %d resource instances")}
	}
	ts := metav1.NewTime(now)
	for i := range want {
		want[i].LastTransitionTime = ts
		for _, o := range old {
			if o.Type == want[i].Type && o.Status == want[i].Status {
				want[i].LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	return want
}

// countList formats counts as a sorted, comma-separated list.
func countList(counts map[string]int, format string) string {
	parts := make([]string, 0, len(counts))
	for k, n := range counts {
		parts = append(parts, fmt.Sprintf(format, k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
