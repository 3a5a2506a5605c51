package api

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one served resource type and the rules the server
// applies to it. Hooks are optional.
type Resource struct {
	Group, Version, Name string // Name is the plural resource name ("pods")
	Kind, ListKind       string
	Singular             string
	ShortNames           []string
	Categories           []string
	Namespaced           bool
	// Subresources served besides the object itself ("status", "scale", ...).
	Subresources []string

	New     func() runtime.Object
	NewList func() runtime.Object

	// Default fills Kubernetes's defaults on create and update.
	Default func(obj runtime.Object)
	// PrepareCreate resets what a client may not set on create (status).
	PrepareCreate func(obj runtime.Object)
	// Validate checks an object about to be stored.
	Validate func(obj runtime.Object) field.ErrorList
	// ValidateUpdate checks transitions (immutable fields).
	ValidateUpdate func(obj, old runtime.Object) field.ErrorList
	// Fields returns the resource's selectable fields beyond metadata.name
	// and metadata.namespace.
	Fields func(obj runtime.Object) map[string]string
	// Table renders objects for kubectl's server-side printing.
	Table *TableDef
	// NoGeneration disables metadata.generation tracking (objects without a
	// spec, such as ConfigMaps, do not get one).
	NoGeneration bool
	// StatusHasSpecLikeData marks types whose whole body (not only .status)
	// is written through the status subresource; none today.
}

// GroupVersion returns the resource's API group version.
func (r *Resource) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: r.Group, Version: r.Version}
}

// APIVersion returns the apiVersion string of the resource's objects.
func (r *Resource) APIVersion() string { return r.GroupVersion().String() }

// GroupResource returns the group and plural name.
func (r *Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.Group, Resource: r.Name}
}

// HasSubresource reports whether sub is served.
func (r *Resource) HasSubresource(sub string) bool {
	for _, s := range r.Subresources {
		if s == sub {
			return true
		}
	}
	return false
}

// keyPrefix is the store prefix of all objects of the resource.
func (r *Resource) keyPrefix() string {
	g := r.Group
	if g == "" {
		g = "core"
	}
	return g + "/" + r.Name + "/"
}

// key is the store key of one object.
func (r *Resource) key(ns, name string) string {
	if r.Namespaced {
		return r.keyPrefix() + ns + "/" + name
	}
	return r.keyPrefix() + name
}

// listPrefix is the store prefix for a list in ns ("" = all namespaces).
func (r *Resource) listPrefix(ns string) string {
	if r.Namespaced && ns != "" {
		return r.keyPrefix() + ns + "/"
	}
	return r.keyPrefix()
}

// Registry holds the served resources.
type Registry struct {
	list    []*Resource
	byGVR   map[schema.GroupVersionResource]*Resource
	byGVK   map[schema.GroupVersionKind]*Resource
	byKey   map[string]*Resource // key prefix -> resource
	byGroup map[string][]*Resource
}

// NewRegistry indexes resources.
func NewRegistry(resources ...*Resource) (*Registry, error) {
	reg := &Registry{
		byGVR:   map[schema.GroupVersionResource]*Resource{},
		byGVK:   map[schema.GroupVersionKind]*Resource{},
		byKey:   map[string]*Resource{},
		byGroup: map[string][]*Resource{},
	}
	for _, r := range resources {
		gvr := r.GroupVersion().WithResource(r.Name)
		if _, dup := reg.byGVR[gvr]; dup {
			return nil, fmt.Errorf("resource %s registered twice", gvr)
		}
		if r.ListKind == "" {
			r.ListKind = r.Kind + "List"
		}
		if r.Singular == "" {
			r.Singular = strings.ToLower(r.Kind)
		}
		reg.list = append(reg.list, r)
		reg.byGVR[gvr] = r
		reg.byGVK[r.GroupVersion().WithKind(r.Kind)] = r
		reg.byKey[r.keyPrefix()] = r
		reg.byGroup[r.Group] = append(reg.byGroup[r.Group], r)
	}
	for _, rs := range reg.byGroup {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Name < rs[j].Name })
	}
	return reg, nil
}

// Lookup finds a resource by group, version and plural name.
func (reg *Registry) Lookup(group, version, name string) *Resource {
	return reg.byGVR[schema.GroupVersionResource{Group: group, Version: version, Resource: name}]
}

// ByKind finds a resource by its group version kind.
func (reg *Registry) ByKind(gvk schema.GroupVersionKind) *Resource { return reg.byGVK[gvk] }

// forKey finds the resource a store key belongs to.
func (reg *Registry) forKey(key string) *Resource {
	i := strings.IndexByte(key, '/')
	if i < 0 {
		return nil
	}
	j := strings.IndexByte(key[i+1:], '/')
	if j < 0 {
		return nil
	}
	return reg.byKey[key[:i+1+j+1]]
}

// Resources returns every served resource.
func (reg *Registry) Resources() []*Resource { return reg.list }

// Groups returns the served API groups, "" (core) first, then sorted.
func (reg *Registry) Groups() []string {
	var gs []string
	for g := range reg.byGroup {
		gs = append(gs, g)
	}
	sort.Strings(gs)
	return gs
}

// InGroup returns the resources of one group.
func (reg *Registry) InGroup(group string) []*Resource { return reg.byGroup[group] }

// DefaultResources returns the resources mini serves with their rules.
func DefaultResources() []*Resource {
	rs := []*Resource{
		{Version: "v1", Name: "namespaces", Kind: "Namespace", ShortNames: []string{"ns"},
			Subresources: []string{"status", "finalize"},
			New:          func() runtime.Object { return &corev1.Namespace{} }, NewList: func() runtime.Object { return &corev1.NamespaceList{} }},
		{Version: "v1", Name: "pods", Kind: "Pod", ShortNames: []string{"po"}, Categories: []string{"all"}, Namespaced: true,
			Subresources: []string{"status", "binding", "log", "exec", "attach", "portforward", "eviction"},
			New:          func() runtime.Object { return &corev1.Pod{} }, NewList: func() runtime.Object { return &corev1.PodList{} }},
		{Version: "v1", Name: "services", Kind: "Service", ShortNames: []string{"svc"}, Categories: []string{"all"}, Namespaced: true,
			Subresources: []string{"status", "proxy"},
			New:          func() runtime.Object { return &corev1.Service{} }, NewList: func() runtime.Object { return &corev1.ServiceList{} }},
		{Version: "v1", Name: "endpoints", Kind: "Endpoints", Singular: "endpoints", ShortNames: []string{"ep"}, Namespaced: true, NoGeneration: true,
			New: func() runtime.Object { return &corev1.Endpoints{} }, NewList: func() runtime.Object { return &corev1.EndpointsList{} }},
		{Version: "v1", Name: "configmaps", Kind: "ConfigMap", ShortNames: []string{"cm"}, Namespaced: true, NoGeneration: true,
			New: func() runtime.Object { return &corev1.ConfigMap{} }, NewList: func() runtime.Object { return &corev1.ConfigMapList{} }},
		{Version: "v1", Name: "secrets", Kind: "Secret", Namespaced: true, NoGeneration: true,
			New: func() runtime.Object { return &corev1.Secret{} }, NewList: func() runtime.Object { return &corev1.SecretList{} }},
		{Version: "v1", Name: "nodes", Kind: "Node", ShortNames: []string{"no"}, Subresources: []string{"status", "proxy"},
			New: func() runtime.Object { return &corev1.Node{} }, NewList: func() runtime.Object { return &corev1.NodeList{} }},
		{Version: "v1", Name: "events", Kind: "Event", ShortNames: []string{"ev"}, Namespaced: true, NoGeneration: true,
			New: func() runtime.Object { return &corev1.Event{} }, NewList: func() runtime.Object { return &corev1.EventList{} }},
		{Version: "v1", Name: "serviceaccounts", Kind: "ServiceAccount", ShortNames: []string{"sa"}, Namespaced: true, NoGeneration: true,
			New: func() runtime.Object { return &corev1.ServiceAccount{} }, NewList: func() runtime.Object { return &corev1.ServiceAccountList{} }},

		{Group: "apps", Version: "v1", Name: "deployments", Kind: "Deployment", ShortNames: []string{"deploy"}, Categories: []string{"all"}, Namespaced: true,
			Subresources: []string{"status", "scale"},
			New:          func() runtime.Object { return &appsv1.Deployment{} }, NewList: func() runtime.Object { return &appsv1.DeploymentList{} }},
		{Group: "apps", Version: "v1", Name: "replicasets", Kind: "ReplicaSet", ShortNames: []string{"rs"}, Categories: []string{"all"}, Namespaced: true,
			Subresources: []string{"status", "scale"},
			New:          func() runtime.Object { return &appsv1.ReplicaSet{} }, NewList: func() runtime.Object { return &appsv1.ReplicaSetList{} }},
		{Group: "apps", Version: "v1", Name: "statefulsets", Kind: "StatefulSet", ShortNames: []string{"sts"}, Categories: []string{"all"}, Namespaced: true,
			Subresources: []string{"status", "scale"},
			New:          func() runtime.Object { return &appsv1.StatefulSet{} }, NewList: func() runtime.Object { return &appsv1.StatefulSetList{} }},
		{Group: "apps", Version: "v1", Name: "daemonsets", Kind: "DaemonSet", ShortNames: []string{"ds"}, Categories: []string{"all"}, Namespaced: true,
			Subresources: []string{"status"},
			New:          func() runtime.Object { return &appsv1.DaemonSet{} }, NewList: func() runtime.Object { return &appsv1.DaemonSetList{} }},
		{Group: "apps", Version: "v1", Name: "controllerrevisions", Kind: "ControllerRevision", Namespaced: true, NoGeneration: true,
			New: func() runtime.Object { return &appsv1.ControllerRevision{} }, NewList: func() runtime.Object { return &appsv1.ControllerRevisionList{} }},

		{Group: "batch", Version: "v1", Name: "jobs", Kind: "Job", Categories: []string{"all"}, Namespaced: true, Subresources: []string{"status"},
			New: func() runtime.Object { return &batchv1.Job{} }, NewList: func() runtime.Object { return &batchv1.JobList{} }},
		{Group: "coordination.k8s.io", Version: "v1", Name: "leases", Kind: "Lease", Namespaced: true, NoGeneration: true,
			New: func() runtime.Object { return &coordinationv1.Lease{} }, NewList: func() runtime.Object { return &coordinationv1.LeaseList{} }},
		{Group: "discovery.k8s.io", Version: "v1", Name: "endpointslices", Kind: "EndpointSlice", Namespaced: true, NoGeneration: true,
			New: func() runtime.Object { return &discoveryv1.EndpointSlice{} }, NewList: func() runtime.Object { return &discoveryv1.EndpointSliceList{} }},
		{Group: "networking.k8s.io", Version: "v1", Name: "ingresses", Kind: "Ingress", ShortNames: []string{"ing"}, Namespaced: true, Subresources: []string{"status"},
			New: func() runtime.Object { return &networkingv1.Ingress{} }, NewList: func() runtime.Object { return &networkingv1.IngressList{} }},
	}
	for _, r := range rs {
		applyRules(r)
	}
	return rs
}

// applyRules attaches the per-kind hooks kept in the tables of defaults.go,
// validation.go, fields.go and tables.go.
func applyRules(r *Resource) {
	r.Default = defaulters[r.Kind]
	r.PrepareCreate = createPreparers[r.Kind]
	r.Validate = validators[r.Kind]
	r.ValidateUpdate = updateValidators[r.Kind]
	r.Fields = fieldSets[r.Kind]
	r.Table = tableDefs[r.Kind]
}
