package client

import (
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Info locates a resource in the API.
type Info struct {
	Group, Version, Resource, Kind string
	Namespaced                     bool
}

// GVK returns the resource's group version kind.
func (i Info) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: i.Group, Version: i.Version, Kind: i.Kind}
}

// GVR returns the resource's group version resource.
func (i Info) GVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: i.Group, Version: i.Version, Resource: i.Resource}
}

// Path builds the URL path of a collection (name "") or an object, with an
// optional subresource. ns "" on a namespaced resource means all namespaces.
func (i Info) Path(ns, name, sub string) string {
	p := "/api/" + i.Version
	if i.Group != "" {
		p = "/apis/" + i.Group + "/" + i.Version
	}
	if i.Namespaced && ns != "" {
		p += "/namespaces/" + ns
	}
	p += "/" + i.Resource
	if name != "" {
		p += "/" + name
		if sub != "" {
			p += "/" + sub
		}
	}
	return p
}

type pair struct {
	obj, list runtime.Object
	info      Info
}

var known = []pair{
	{&corev1.Namespace{}, &corev1.NamespaceList{}, Info{"", "v1", "namespaces", "Namespace", false}},
	{&corev1.Pod{}, &corev1.PodList{}, Info{"", "v1", "pods", "Pod", true}},
	{&corev1.Service{}, &corev1.ServiceList{}, Info{"", "v1", "services", "Service", true}},
	{&corev1.Endpoints{}, &corev1.EndpointsList{}, Info{"", "v1", "endpoints", "Endpoints", true}},
	{&corev1.ConfigMap{}, &corev1.ConfigMapList{}, Info{"", "v1", "configmaps", "ConfigMap", true}},
	{&corev1.Secret{}, &corev1.SecretList{}, Info{"", "v1", "secrets", "Secret", true}},
	{&corev1.Node{}, &corev1.NodeList{}, Info{"", "v1", "nodes", "Node", false}},
	{&corev1.Event{}, &corev1.EventList{}, Info{"", "v1", "events", "Event", true}},
	{&corev1.ServiceAccount{}, &corev1.ServiceAccountList{}, Info{"", "v1", "serviceaccounts", "ServiceAccount", true}},
	{&appsv1.Deployment{}, &appsv1.DeploymentList{}, Info{"apps", "v1", "deployments", "Deployment", true}},
	{&appsv1.ReplicaSet{}, &appsv1.ReplicaSetList{}, Info{"apps", "v1", "replicasets", "ReplicaSet", true}},
	{&appsv1.StatefulSet{}, &appsv1.StatefulSetList{}, Info{"apps", "v1", "statefulsets", "StatefulSet", true}},
	{&appsv1.DaemonSet{}, &appsv1.DaemonSetList{}, Info{"apps", "v1", "daemonsets", "DaemonSet", true}},
	{&appsv1.ControllerRevision{}, &appsv1.ControllerRevisionList{}, Info{"apps", "v1", "controllerrevisions", "ControllerRevision", true}},
	{&batchv1.Job{}, &batchv1.JobList{}, Info{"batch", "v1", "jobs", "Job", true}},
	{&coordinationv1.Lease{}, &coordinationv1.LeaseList{}, Info{"coordination.k8s.io", "v1", "leases", "Lease", true}},
	{&discoveryv1.EndpointSlice{}, &discoveryv1.EndpointSliceList{}, Info{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true}},
	{&networkingv1.Ingress{}, &networkingv1.IngressList{}, Info{"networking.k8s.io", "v1", "ingresses", "Ingress", true}},
	{&autoscalingv1.Scale{}, nil, Info{"autoscaling", "v1", "scale", "Scale", true}},
}

var (
	byType = map[reflect.Type]Info{}
	byKind = map[schema.GroupVersionKind]pair{}
)

func init() {
	for _, p := range known {
		byType[reflect.TypeOf(p.obj)] = p.info
		if p.list != nil {
			byType[reflect.TypeOf(p.list)] = p.info
		}
		byKind[p.info.GVK()] = p
	}
}

// InfoFor returns where objects (or lists) of obj's type live.
func InfoFor(obj runtime.Object) (Info, error) {
	i, ok := byType[reflect.TypeOf(obj)]
	if !ok {
		return Info{}, fmt.Errorf("mini's client does not know the type %T", obj)
	}
	return i, nil
}

// NewObject returns an empty typed object for a group version kind.
func NewObject(gvk schema.GroupVersionKind) (runtime.Object, Info, bool) {
	p, ok := byKind[gvk]
	if !ok {
		return nil, Info{}, false
	}
	return p.obj.DeepCopyObject(), p.info, true
}

// NewList returns an empty list for a group version kind.
func NewList(gvk schema.GroupVersionKind) (runtime.Object, bool) {
	p, ok := byKind[gvk]
	if !ok || p.list == nil {
		return nil, false
	}
	return p.list.DeepCopyObject(), true
}

// Kinds returns every kind the client knows.
func Kinds() []Info {
	out := make([]Info, 0, len(known))
	for _, p := range known {
		if p.list != nil {
			out = append(out, p.info)
		}
	}
	return out
}
