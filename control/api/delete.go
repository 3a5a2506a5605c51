package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/minicluster/mini/control/store"
)

// Finalizers used by garbage collection, as in Kubernetes.
const (
	FinalizerOrphan     = metav1.FinalizerOrphanDependents
	FinalizerForeground = metav1.FinalizerDeleteDependents
)

// deleteOptionsOf reads DeleteOptions from the body and the query.
func deleteOptionsOf(r *http.Request) (metav1.DeleteOptions, writeOpts, error) {
	var opts metav1.DeleteOptions
	o, err := writeOptsOf(r)
	if err != nil {
		return opts, o, err
	}
	if r.Body != nil && r.ContentLength != 0 {
		data, err := readBody(r, func() runtime.Object { return &metav1.DeleteOptions{} })
		if err != nil {
			return opts, o, err
		}
		if len(data) > 0 {
			if err := json.Unmarshal(data, &opts); err != nil {
				return opts, o, apierrors.NewBadRequest("invalid DeleteOptions: " + err.Error())
			}
		}
	}
	q := r.URL.Query()
	if v := q.Get("gracePeriodSeconds"); v != "" {
		g, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return opts, o, apierrors.NewBadRequest("gracePeriodSeconds must be an integer, not " + strconv.Quote(v))
		}
		opts.GracePeriodSeconds = &g
	}
	if v := q.Get("propagationPolicy"); v != "" {
		p := metav1.DeletionPropagation(v)
		opts.PropagationPolicy = &p
	}
	if v := q.Get("orphanDependents"); v != "" {
		b := v == "true"
		opts.OrphanDependents = &b
	}
	for _, d := range opts.DryRun {
		if d != "All" {
			return opts, o, apierrors.NewBadRequest(fmt.Sprintf("dryRun must be All, not %q", d))
		}
		o.dryRun = true
	}
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return opts, o, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy must be Background, Foreground or Orphan, not %q", *opts.PropagationPolicy))
		}
		if opts.OrphanDependents != nil {
			return opts, o, apierrors.NewBadRequest("orphanDependents and propagationPolicy cannot both be set")
		}
	}
	return opts, o, nil
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	opts, o, err := deleteOptionsOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, deleted, err := s.deleteObject(r.Context(), ri.res, ri.namespace, ri.name, opts, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if deleted && ri.res.Kind != "Pod" {
		m := objectMeta(obj)
		s.writeObject(w, r, http.StatusOK, &metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusSuccess,
			Details:  &metav1.StatusDetails{Name: m.Name, Group: ri.res.Group, Kind: ri.res.Name, UID: m.UID},
		})
		return
	}
	s.writeObject(w, r, http.StatusOK, obj)
}

// propagation returns the effective propagation policy of a delete.
func propagation(res *Resource, opts metav1.DeleteOptions) metav1.DeletionPropagation {
	if opts.PropagationPolicy != nil {
		return *opts.PropagationPolicy
	}
	if opts.OrphanDependents != nil {
		if *opts.OrphanDependents {
			return metav1.DeletePropagationOrphan
		}
		return metav1.DeletePropagationBackground
	}
	if res.Kind == "Job" {
		return metav1.DeletePropagationOrphan // batch/v1's default, as Kubernetes
	}
	return metav1.DeletePropagationBackground
}

func setFinalizer(m *metav1.ObjectMeta, name string, on bool) {
	out := m.Finalizers[:0:0]
	for _, f := range m.Finalizers {
		if f != name {
			out = append(out, f)
		}
	}
	if on {
		out = append(out, name)
	}
	if len(out) == 0 {
		out = nil
	}
	m.Finalizers = out
}

// gracePeriod returns the grace period a delete gets: pods that may be
// running wait for their kubelet; everything else is removed at once.
func gracePeriod(obj runtime.Object, opts metav1.DeleteOptions) int64 {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return 0
	}
	g := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		g = *pod.Spec.TerminationGracePeriodSeconds
	}
	if opts.GracePeriodSeconds != nil {
		g = *opts.GracePeriodSeconds
	}
	if g < 0 {
		g = 1
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		g = 0
	}
	return g
}

// deleteObject deletes one object, or marks it for deletion when finalizers
// or a pod's grace period hold it. It reports whether the object is gone.
func (s *Server) deleteObject(ctx context.Context, res *Resource, ns, name string, opts metav1.DeleteOptions, o writeOpts) (runtime.Object, bool, error) {
	if res.Kind == "Namespace" && immortalNamespaces[name] {
		return nil, false, apierrors.NewForbidden(res.GroupResource(), name, errors.New("this namespace may not be deleted"))
	}
	for attempt := 0; ; attempt++ {
		cur, e, err := s.getObject(res, ns, name)
		if err != nil {
			return nil, false, err
		}
		cm := objectMeta(cur)
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != cm.UID {
				return nil, false, apierrors.NewConflict(res.GroupResource(), name,
					fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, cm.UID))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != cm.ResourceVersion {
				return nil, false, apierrors.NewConflict(res.GroupResource(), name,
					fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, cm.ResourceVersion))
			}
		}
		obj := cur.DeepCopyObject()
		m := objectMeta(obj)
		switch propagation(res, opts) {
		case metav1.DeletePropagationOrphan:
			setFinalizer(m, FinalizerForeground, false)
			setFinalizer(m, FinalizerOrphan, true)
		case metav1.DeletePropagationForeground:
			setFinalizer(m, FinalizerOrphan, false)
			setFinalizer(m, FinalizerForeground, true)
		}
		if m.DeletionTimestamp != nil && cm.DeletionTimestamp != nil {
			// Already being deleted: the finalizers a repeated delete asks
			// for are only added, never dropped.
			m.Finalizers = mergeFinalizers(cm.Finalizers, m.Finalizers)
		}
		g := gracePeriod(obj, opts)
		now := metav1.NewTime(s.now())
		if m.DeletionTimestamp == nil {
			ts := metav1.NewTime(now.Add(timeSeconds(g)))
			m.DeletionTimestamp, m.DeletionGracePeriodSeconds = &ts, &g
			if n, ok := obj.(*corev1.Namespace); ok {
				n.Status.Phase = corev1.NamespaceTerminating
			}
		} else if m.DeletionGracePeriodSeconds != nil && g < *m.DeletionGracePeriodSeconds {
			ts := metav1.NewTime(now.Add(timeSeconds(g)))
			m.DeletionTimestamp, m.DeletionGracePeriodSeconds = &ts, &g
		}
		gone := deletionComplete(obj)
		if o.dryRun {
			return obj, gone, nil
		}
		setTypeMeta(res, obj)
		enc, err := encodeObject(res, obj, cm.ResourceVersion)
		if err != nil {
			return nil, false, apierrors.NewInternalError(err)
		}
		if !gone && bytes.Equal(enc.data, e.Value) {
			return cur, false, nil
		}
		op := store.Op{Key: e.Key, Cond: store.CondModRev, ModRev: e.ModRev, Delete: gone, Build: enc.build}
		rev, _, err := s.store.Txn(ctx, op)
		switch {
		case err == nil:
			if gone {
				s.releaseFor(res, obj)
			}
			m.ResourceVersion = strconv.FormatInt(rev, 10)
			return obj, gone, nil
		case errors.Is(err, store.ErrNotFound):
			return nil, false, apierrors.NewNotFound(res.GroupResource(), name)
		case errors.Is(err, store.ErrConflict) && attempt < 16:
			continue
		default:
			return nil, false, apierrors.NewInternalError(err)
		}
	}
}

// immortalNamespaces may not be deleted, as Kubernetes's NamespaceLifecycle
// admission plugin refuses.
var immortalNamespaces = map[string]bool{
	metav1.NamespaceDefault: true, metav1.NamespaceSystem: true, metav1.NamespacePublic: true,
}

func mergeFinalizers(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range append(append([]string{}, a...), b...) {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

func (s *Server) serveDeleteCollection(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	opts, o, err := deleteOptionsOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sel, err := s.listSelector(r, ri)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ents, _ := s.listEntries(ri, sel)
	var items []json.RawMessage
	for _, e := range ents {
		obj, err := decode(ri.res, e)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		m := objectMeta(obj)
		out, _, err := s.deleteObject(r.Context(), ri.res, m.Namespace, m.Name, opts, o)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		data, _ := json.Marshal(out)
		items = append(items, data)
	}
	list := map[string]any{
		"kind": ri.res.ListKind, "apiVersion": ri.res.APIVersion(),
		"metadata": map[string]string{"resourceVersion": strconv.FormatInt(s.store.Rev(), 10)},
		"items":    items,
	}
	if items == nil {
		list["items"] = []any{}
	}
	s.writeObject(w, r, http.StatusOK, list)
}
