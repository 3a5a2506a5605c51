package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func init() { register("kubernetes-service", setupKubernetesService) }

// The default/kubernetes Service through which pods reach the API server.
const (
	ksName      = "kubernetes"
	ksNamespace = metav1.NamespaceDefault
	ksClusterIP = "10.96.0.1"
	ksKey       = ksNamespace + "/" + ksName
)

// ksService is the kubernetes Service as the API server's bootstrap
// controller makes it.
func ksService(port int) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ksName, Namespace: ksNamespace,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: ksClusterIP, SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(port))}},
		},
	}
}

func ksEndpoints(addr string, port int) *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: ksName, Namespace: ksNamespace, Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: addr}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}},
		}},
	}
}

func ksSlice(addr string, port int) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: ksName, Namespace: ksNamespace, Labels: map[string]string{discoveryv1.LabelServiceName: ksName}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
}

// ksController keeps default/kubernetes, its Endpoints and its
// EndpointSlice pointing at Options.APIServerAddress:APIServerPort.
type ksController struct {
	m                 *Manager
	svcs, eps, slices cache.SharedIndexInformer
}

func setupKubernetesService(m *Manager) func(ctx context.Context) {
	if m.Opts.APIServerAddress == "" {
		return func(ctx context.Context) {}
	}
	c := &ksController{m: m, svcs: m.Informers.For(&corev1.Service{}), eps: m.Informers.For(&corev1.Endpoints{}),
		slices: m.Informers.For(&discoveryv1.EndpointSlice{})}
	q := NewQueue("kubernetes-service", m.Clock, m.Log, c.sync)
	mine := func(obj any) {
		if o, ok := tombstoned(obj).(metav1.Object); ok && o.GetNamespace() == ksNamespace && o.GetName() == ksName {
			q.Add(ksKey)
		}
	}
	h := cache.ResourceEventHandlerFuncs{AddFunc: mine, UpdateFunc: func(_, cur any) { mine(cur) }, DeleteFunc: mine}
	for _, inf := range []cache.SharedIndexInformer{c.svcs, c.eps, c.slices} {
		inf.AddEventHandler(h)
	}
	return func(ctx context.Context) {
		q.Add(ksKey)
		q.Run(ctx, 1)
	}
}

func (c *ksController) sync(ctx context.Context, _ string) error {
	addr, port := c.m.Opts.APIServerAddress, c.m.Opts.APIServerPort
	want := ksService(port)
	if cur, ok := fromCacheKey[*corev1.Service](c.svcs, ksKey); !ok {
		if err := c.create(ctx, want); err != nil {
			return err
		}
	} else if !equality.Semantic.DeepEqual(cur.Spec.Ports, want.Spec.Ports) || cur.Spec.Selector != nil {
		up := cur.DeepCopy()
		up.Spec.Ports, up.Spec.Selector = want.Spec.Ports, nil
		if err := c.m.Client.Update(ctx, up); err != nil {
			return fmt.Errorf("update service %s: %w", ksKey, err)
		}
	}
	wantEP := ksEndpoints(addr, port)
	if cur, ok := fromCacheKey[*corev1.Endpoints](c.eps, ksKey); !ok {
		if err := c.create(ctx, wantEP); err != nil {
			return err
		}
	} else if !equality.Semantic.DeepEqual(cur.Subsets, wantEP.Subsets) {
		up := cur.DeepCopy()
		up.Subsets = wantEP.Subsets
		if err := c.m.Client.Update(ctx, up); err != nil {
			return fmt.Errorf("update endpoints %s: %w", ksKey, err)
		}
	}
	wantSlice := ksSlice(addr, port)
	if cur, ok := fromCacheKey[*discoveryv1.EndpointSlice](c.slices, ksKey); !ok {
		return c.create(ctx, wantSlice)
	} else if !equality.Semantic.DeepEqual(cur.Endpoints, wantSlice.Endpoints) ||
		!equality.Semantic.DeepEqual(cur.Ports, wantSlice.Ports) || cur.Labels[discoveryv1.LabelServiceName] != ksName {
		up := cur.DeepCopy()
		up.Endpoints, up.Ports, up.AddressType = wantSlice.Endpoints, wantSlice.Ports, wantSlice.AddressType
		if up.Labels == nil {
			up.Labels = map[string]string{}
		}
		up.Labels[discoveryv1.LabelServiceName] = ksName
		if err := c.m.Client.Update(ctx, up); err != nil {
			return fmt.Errorf("update endpoint slice %s: %w", ksKey, err)
		}
	}
	return nil
}

func (c *ksController) create(ctx context.Context, obj runtime.Object) error {
	err := c.m.Client.Create(ctx, obj)
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create %T %s: %w", obj, ksKey, err)
	}
	return nil
}
