package controllers

import (
	"context"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

func init() {
	register("endpoints", setupEndpoints)
	register("endpointslice", setupEndpointSlices)
}

// epWatch wires the informers both endpoints controllers use: a service's
// key is queued when it changes, when a pod it selects (before or after the
// change) changes in a way that matters to endpoints, and when one of its
// endpoint objects is changed or deleted by someone else.
type epWatch struct {
	svcs, pods cache.SharedIndexInformer
}

// newEPWatch wires the queue (named name, reconciling service keys) of an
// endpoints controller whose own objects are in the informer own, where
// serviceOf gives an object's service key ("" for objects of others). It
// returns the watch and the function that runs the queue.
func newEPWatch(m *Manager, name string, reconcile func(ctx context.Context, key string) error, own cache.SharedIndexInformer,
	serviceOf func(obj any) string) (epWatch, func(ctx context.Context)) {
	q := NewQueue(name, m.Clock, m.Log, reconcile)
	w := epWatch{svcs: m.Informers.For(&corev1.Service{}), pods: m.Informers.For(&corev1.Pod{})}
	w.svcs.AddEventHandler(q.Handler())
	w.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { w.enqueueFor(q, obj.(*corev1.Pod)) },
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
			if !epPodChanged(o, n) {
				return
			}
			w.enqueueFor(q, n)
			if !reflect.DeepEqual(o.Labels, n.Labels) {
				w.enqueueFor(q, o)
			}
		},
		DeleteFunc: func(obj any) {
			if p, ok := tombstoned(obj).(*corev1.Pod); ok {
				w.enqueueFor(q, p)
			}
		},
	})
	requeue := func(obj any) {
		if key := serviceOf(tombstoned(obj)); key != "" {
			q.Add(key)
		}
	}
	own.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, cur any) { requeue(cur) },
		DeleteFunc: requeue,
	})
	return w, func(ctx context.Context) { q.Run(ctx, m.Opts.Workers) }
}

// epPodChanged reports whether a pod update can change any endpoint.
func epPodChanged(o, n *corev1.Pod) bool {
	return o.Status.PodIP != n.Status.PodIP || o.Status.Phase != n.Status.Phase || IsPodReady(o) != IsPodReady(n) ||
		(o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) || o.Spec.NodeName != n.Spec.NodeName ||
		o.Spec.Hostname != n.Spec.Hostname || o.Spec.Subdomain != n.Spec.Subdomain || !reflect.DeepEqual(o.Labels, n.Labels)
}

// enqueueFor enqueues the services that select pod p.
func (w epWatch) enqueueFor(q *Queue, p *corev1.Pod) {
	for _, svc := range byIndex[*corev1.Service](w.svcs, cache.NamespaceIndex, p.Namespace) {
		if svc.Spec.Selector != nil && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(p.Labels)) {
			q.Add(keyOf(svc))
		}
	}
}

// service returns the cached service of key. (Services without a selector
// have their endpoints managed by someone else: the callers skip them.)
func (w epWatch) service(key string) (*corev1.Service, bool) {
	return fromCacheKey[*corev1.Service](w.svcs, key)
}

// selected returns the pods a service selects.
func (w epWatch) selected(svc *corev1.Service) []*corev1.Pod {
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var out []*corev1.Pod
	for _, p := range byIndex[*corev1.Pod](w.pods, cache.NamespaceIndex, svc.Namespace) {
		if sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// epController writes the core/v1 Endpoints of every service with a selector.
type epController struct {
	m   *Manager
	w   epWatch
	eps cache.SharedIndexInformer
}

func setupEndpoints(m *Manager) func(ctx context.Context) {
	c := &epController{m: m, eps: m.Informers.For(&corev1.Endpoints{})}
	var run func(ctx context.Context)
	c.w, run = newEPWatch(m, "endpoints", c.sync, c.eps, endpointsService)
	return run
}

// endpointsService returns the service key of an Endpoints object: its own.
func endpointsService(obj any) string {
	if e, ok := obj.(*corev1.Endpoints); ok {
		return keyOf(e)
	}
	return ""
}

func (c *epController) sync(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	svc, ok := c.w.service(key)
	if !ok {
		if _, exists := fromCacheKey[*corev1.Endpoints](c.eps, key); exists {
			err := c.m.Client.Delete(ctx, &corev1.Endpoints{}, ns, name, nil)
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete endpoints: %w", err)
			}
		}
		return nil
	}
	if svc.Spec.Selector == nil || svc.DeletionTimestamp != nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	want := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: epLabels(svc)},
		Subsets:    epBuildSubsets(svc, c.w.selected(svc)),
	}
	cur, exists := fromCacheKey[*corev1.Endpoints](c.eps, key)
	if !exists {
		err := c.m.Client.Create(ctx, want)
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create endpoints: our cache is behind: %w", err)
		}
		if err != nil {
			return fmt.Errorf("create endpoints: %w", err)
		}
		return nil
	}
	if equality.Semantic.DeepEqual(cur.Subsets, want.Subsets) && equality.Semantic.DeepEqual(cur.Labels, want.Labels) {
		return nil
	}
	up := cur.DeepCopy()
	up.Subsets, up.Labels = want.Subsets, want.Labels
	if err := c.m.Client.Update(ctx, up); err != nil {
		return fmt.Errorf("update endpoints: %w", err)
	}
	return nil
}

// epSliceController writes the discovery.k8s.io/v1 EndpointSlices of every
// service with a selector; the service proxies read these.
type epSliceController struct {
	m      *Manager
	w      epWatch
	slices cache.SharedIndexInformer
}

func setupEndpointSlices(m *Manager) func(ctx context.Context) {
	c := &epSliceController{m: m, slices: m.Informers.For(&discoveryv1.EndpointSlice{})}
	var run func(ctx context.Context)
	c.w, run = newEPWatch(m, "endpointslice", c.sync, c.slices, sliceService)
	return run
}

// sliceService returns the service key of an EndpointSlice this controller
// manages, "" for others.
func sliceService(obj any) string {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelManagedBy] != epManagedBy || s.Labels[discoveryv1.LabelServiceName] == "" {
		return ""
	}
	return s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]
}

// owned returns the slices this controller manages for a service.
func (c *epSliceController) owned(ns, name string) map[string]*discoveryv1.EndpointSlice {
	out := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range byIndex[*discoveryv1.EndpointSlice](c.slices, cache.NamespaceIndex, ns) {
		if s.Labels[discoveryv1.LabelServiceName] == name && s.Labels[discoveryv1.LabelManagedBy] == epManagedBy {
			out[s.Name] = s
		}
	}
	return out
}

func (c *epSliceController) sync(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	existing := c.owned(ns, name)
	var want []*discoveryv1.EndpointSlice
	if svc, ok := c.w.service(key); ok {
		if svc.Spec.Selector == nil {
			return nil
		}
		if svc.DeletionTimestamp == nil && svc.Spec.Type != corev1.ServiceTypeExternalName {
			for _, s := range epBuildSlices(svc, c.w.selected(svc)) {
				want = append(want, epSliceObject(svc, s))
			}
		}
	}
	for _, s := range want {
		cur, ok := existing[s.Name]
		delete(existing, s.Name)
		if !ok {
			if err := c.m.Client.Create(ctx, s); err != nil {
				return fmt.Errorf("create endpoint slice %s: %w", s.Name, err)
			}
			continue
		}
		if equality.Semantic.DeepEqual(cur.Endpoints, s.Endpoints) && equality.Semantic.DeepEqual(cur.Ports, s.Ports) &&
			equality.Semantic.DeepEqual(cur.Labels, s.Labels) && equality.Semantic.DeepEqual(cur.OwnerReferences, s.OwnerReferences) {
			continue
		}
		up := cur.DeepCopy()
		up.Endpoints, up.Ports, up.Labels, up.OwnerReferences, up.AddressType = s.Endpoints, s.Ports, s.Labels, s.OwnerReferences, s.AddressType
		if err := c.m.Client.Update(ctx, up); err != nil {
			return fmt.Errorf("update endpoint slice %s: %w", s.Name, err)
		}
	}
	for _, s := range existing {
		err := c.m.Client.Delete(ctx, &discoveryv1.EndpointSlice{}, s.Namespace, s.Name, nil)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpoint slice %s: %w", s.Name, err)
		}
	}
	return nil
}
