package dns

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/minicluster/mini/control/client"
)

// The kube-dns Service, as in Kubernetes.
const (
	kubeDNSNamespace = "kube-system"
	kubeDNSName      = "kube-dns"
	// KubeDNSClusterIP is the cluster DNS Service's fixed ClusterIP.
	KubeDNSClusterIP = "10.96.0.10"
	// ManagedBy marks the EndpointSlice this server keeps (the endpointslice
	// controller leaves slices managed by others alone).
	ManagedBy   = "mini-dns"
	kubeDNSPort = 53
)

// resync is how often the kube-dns objects are checked without an event
// (the Endpoints have no informer here).
const resync = 30 * time.Second

// keepKubeDNS makes the kube-dns Service, Endpoints and EndpointSlice right
// at start, whenever kick fires (a change to them) and every resync,
// retrying failures with back-off, until ctx ends.
func (s *Server) keepKubeDNS(ctx context.Context, c *client.Client, kick <-chan struct{}) {
	_, p, _ := net.SplitHostPort(s.addr)
	port, _ := strconv.Atoi(p)
	backoff := time.Duration(0)
	for {
		err := s.ensureKubeDNS(ctx, c, int32(port))
		wait := resync
		if err != nil && ctx.Err() == nil {
			backoff = min(max(2*backoff, 100*time.Millisecond), resync)
			s.log.Printf("dns: keeping kube-system/kube-dns (retry in %s): %v", backoff, err)
			wait = backoff
		} else {
			backoff = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-kick:
		case <-t.C:
		}
		t.Stop()
	}
}

func (s *Server) ensureKubeDNS(ctx context.Context, c *client.Client, port int32) error {
	svc, err := s.ensureService(ctx, c, port)
	if err != nil {
		return err
	}
	if err := s.ensureEndpoints(ctx, c, port); err != nil {
		return err
	}
	return s.ensureSlice(ctx, c, svc, port)
}

func dnsPorts(port int32) []corev1.ServicePort {
	return []corev1.ServicePort{
		{Name: "dns", Protocol: corev1.ProtocolUDP, Port: kubeDNSPort, TargetPort: intstr.FromInt32(port)},
		{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: kubeDNSPort, TargetPort: intstr.FromInt32(port)},
	}
}

func kubeDNSLabels() map[string]string {
	return map[string]string{"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "mini-dns"}
}

// ensureService creates the Service or repairs it: a wrong ClusterIP means
// delete and recreate (it is immutable); other drift is updated.
func (s *Server) ensureService(ctx context.Context, c *client.Client, port int32) (*corev1.Service, error) {
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: kubeDNSName, Namespace: kubeDNSNamespace, Labels: kubeDNSLabels()},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: KubeDNSClusterIP,
			ClusterIPs: []string{KubeDNSClusterIP}, Ports: dnsPorts(port)},
	}
	cur := &corev1.Service{}
	err := c.Get(ctx, kubeDNSNamespace, kubeDNSName, cur)
	if apierrors.IsNotFound(err) {
		return want, c.Create(ctx, want)
	}
	if err != nil {
		return nil, fmt.Errorf("get service: %w", err)
	}
	if cur.Spec.ClusterIP != KubeDNSClusterIP {
		s.log.Printf("dns: kube-system/kube-dns has ClusterIP %s, want %s: recreating it", cur.Spec.ClusterIP, KubeDNSClusterIP)
		if err := c.Delete(ctx, &corev1.Service{}, kubeDNSNamespace, kubeDNSName, nil); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("delete service: %w", err)
		}
		return want, c.Create(ctx, want)
	}
	if hasLabels(cur.Labels, want.Labels) && cur.Spec.Selector == nil && cur.Spec.Type == corev1.ServiceTypeClusterIP &&
		apiequality.Semantic.DeepEqual(cur.Spec.Ports, want.Spec.Ports) {
		return cur, nil
	}
	next := cur
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	for k, v := range want.Labels {
		next.Labels[k] = v
	}
	next.Spec.Selector, next.Spec.Type, next.Spec.Ports = nil, corev1.ServiceTypeClusterIP, want.Spec.Ports
	return next, c.Update(ctx, next)
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func (s *Server) ensureEndpoints(ctx context.Context, c *client.Client, port int32) error {
	want := []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: s.opts.Advertise}},
		Ports: []corev1.EndpointPort{
			{Name: "dns", Port: port, Protocol: corev1.ProtocolUDP},
			{Name: "dns-tcp", Port: port, Protocol: corev1.ProtocolTCP},
		},
	}}
	cur := &corev1.Endpoints{}
	err := c.Get(ctx, kubeDNSNamespace, kubeDNSName, cur)
	if apierrors.IsNotFound(err) {
		return c.Create(ctx, &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Name: kubeDNSName, Namespace: kubeDNSNamespace, Labels: kubeDNSLabels()},
			Subsets:    want,
		})
	}
	if err != nil {
		return fmt.Errorf("get endpoints: %w", err)
	}
	if apiequality.Semantic.DeepEqual(cur.Subsets, want) {
		return nil
	}
	cur.Subsets = want
	return c.Update(ctx, cur)
}

// sliceName is the EndpointSlice this server keeps for kube-dns.
const sliceName = kubeDNSName + "-" + ManagedBy

func (s *Server) ensureSlice(ctx context.Context, c *client.Client, svc *corev1.Service, port int32) error {
	ready, proto := true, corev1.ProtocolUDP
	tcp := corev1.ProtocolTCP
	udpName, tcpName := "dns", "dns-tcp"
	addrType := discoveryv1.AddressTypeIPv4
	if net.ParseIP(s.opts.Advertise).To4() == nil {
		addrType = discoveryv1.AddressTypeIPv6
	}
	want := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: sliceName, Namespace: kubeDNSNamespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: kubeDNSName, discoveryv1.LabelManagedBy: ManagedBy, "k8s-app": "kube-dns"}},
		AddressType: addrType,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{s.opts.Advertise},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &ready}}},
		Ports: []discoveryv1.EndpointPort{
			{Name: &udpName, Protocol: &proto, Port: &port},
			{Name: &tcpName, Protocol: &tcp, Port: &port},
		},
	}
	if svc != nil && svc.UID != "" {
		yes := true
		want.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: kubeDNSName,
			UID: svc.UID, Controller: &yes, BlockOwnerDeletion: &yes}}
	}
	cur := &discoveryv1.EndpointSlice{}
	err := c.Get(ctx, kubeDNSNamespace, sliceName, cur)
	if apierrors.IsNotFound(err) {
		return c.Create(ctx, want)
	}
	if err != nil {
		return fmt.Errorf("get endpointslice: %w", err)
	}
	if hasLabels(cur.Labels, want.Labels) && cur.AddressType == want.AddressType &&
		apiequality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints) && apiequality.Semantic.DeepEqual(cur.Ports, want.Ports) &&
		apiequality.Semantic.DeepEqual(cur.OwnerReferences, want.OwnerReferences) {
		return nil
	}
	next := cur
	next.Labels, next.Endpoints, next.Ports, next.OwnerReferences = want.Labels, want.Endpoints, want.Ports, want.OwnerReferences
	if next.AddressType != want.AddressType { // immutable
		if err := c.Delete(ctx, &discoveryv1.EndpointSlice{}, kubeDNSNamespace, sliceName, nil); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return c.Create(ctx, want)
	}
	return c.Update(ctx, next)
}
