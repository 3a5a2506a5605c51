package api

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// allocator hands out Service ClusterIPs and NodePorts. Allocations are made
// before the Service is written and released if the write fails, as the
// Kubernetes API server does; on start they are rebuilt from the stored
// Services.
type allocator struct {
	mu      sync.Mutex
	base    uint32 // network address of the service CIDR
	size    uint32
	ips     map[uint32]string // offset -> owner ("ns/name")
	nextIP  uint32
	lo, hi  int
	ports   map[int]string
	nextPrt int
}

// Offsets below this are reserved for Services that ask for a fixed IP
// (kubernetes at .1, cluster DNS at .10); automatic allocation starts here.
const firstDynamicIP = 16

func newAllocator(cidr string, ports [2]int) (*allocator, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil || n.IP.To4() == nil {
		return nil, fmt.Errorf("service CIDR %q is not an IPv4 CIDR", cidr)
	}
	ones, bits := n.Mask.Size()
	if ports[0] <= 0 || ports[1] < ports[0] || ports[1] > 65535 {
		return nil, fmt.Errorf("node port range %d-%d is invalid", ports[0], ports[1])
	}
	return &allocator{
		base: binary.BigEndian.Uint32(n.IP.To4()), size: 1 << (bits - ones),
		ips: map[uint32]string{}, nextIP: firstDynamicIP,
		lo: ports[0], hi: ports[1], ports: map[int]string{}, nextPrt: ports[0],
	}, nil
}

func (a *allocator) offset(ip string) (uint32, bool) {
	p := net.ParseIP(ip).To4()
	if p == nil {
		return 0, false
	}
	v := binary.BigEndian.Uint32(p)
	if v <= a.base || v >= a.base+a.size-1 {
		return 0, false
	}
	return v - a.base, true
}

func (a *allocator) ipAt(off uint32) string {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, a.base+off)
	return net.IP(b).String()
}

// claim records allocations without checks (startup).
func (a *allocator) claim(owner string, svc *corev1.Service) {
	if off, ok := a.offset(svc.Spec.ClusterIP); ok {
		a.ips[off] = owner
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			a.ports[int(p.NodePort)] = owner
		}
	}
}

func (s *Server) loadAllocations() error {
	res := s.reg.Lookup("", "v1", "services")
	ents, _ := s.store.List(res.listPrefix(""))
	for _, e := range ents {
		obj, err := decode(res, e)
		if err != nil {
			return err
		}
		svc := obj.(*corev1.Service)
		s.alloc.claim(svc.Namespace+"/"+svc.Name, svc)
	}
	return nil
}

func needsNodePorts(t corev1.ServiceType) bool {
	return t == corev1.ServiceTypeNodePort || t == corev1.ServiceTypeLoadBalancer
}

// allocateFor assigns a Service's ClusterIP and NodePorts (keeping what the
// old version had) and returns a function that undoes this call's new
// allocations. Other kinds need nothing.
func (s *Server) allocateFor(res *Resource, obj, old runtime.Object, dryRun bool) (func(), error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return func() {}, nil
	}
	var oldSvc *corev1.Service
	if old != nil {
		oldSvc = old.(*corev1.Service)
	}
	a := s.alloc
	owner := svc.Namespace + "/" + svc.Name
	a.mu.Lock()
	defer a.mu.Unlock()
	var newIPs []uint32
	var newPorts []int
	undo := func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, o := range newIPs {
			delete(a.ips, o)
		}
		for _, p := range newPorts {
			delete(a.ports, p)
		}
	}
	fail := func(errs field.ErrorList) (func(), error) {
		for _, o := range newIPs {
			delete(a.ips, o)
		}
		for _, p := range newPorts {
			delete(a.ports, p)
		}
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, errs)
	}

	// Keep what the previous version had when the client left it out.
	if oldSvc != nil && svc.Spec.ClusterIP == "" && svc.Spec.Type != corev1.ServiceTypeExternalName {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = oldSvc.Spec.ClusterIP, oldSvc.Spec.ClusterIPs
	}
	if oldSvc != nil && needsNodePorts(svc.Spec.Type) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			for _, op := range oldSvc.Spec.Ports {
				if op.NodePort != 0 && op.Port == p.Port && op.Protocol == p.Protocol {
					p.NodePort = op.NodePort
				}
			}
		}
	}
	if !needsNodePorts(svc.Spec.Type) {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}

	ipPath := field.NewPath("spec", "clusterIPs").Index(0)
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
		svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
	case svc.Spec.ClusterIP == "":
		off, ok := a.freeIP()
		if !ok {
			return fail(field.ErrorList{field.InternalError(ipPath, fmt.Errorf("the service IP range is full"))})
		}
		a.ips[off] = owner
		newIPs = append(newIPs, off)
		svc.Spec.ClusterIP = a.ipAt(off)
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
	default:
		off, ok := a.offset(svc.Spec.ClusterIP)
		if !ok {
			return fail(field.ErrorList{field.Invalid(ipPath, svc.Spec.ClusterIP, "the provided IP is not in the valid range; the service IP range is "+s.cfg.ServiceCIDR)})
		}
		if cur, taken := a.ips[off]; taken && cur != owner {
			return fail(field.ErrorList{field.Invalid(ipPath, svc.Spec.ClusterIP, "provided IP is already allocated")})
		} else if !taken {
			a.ips[off] = owner
			newIPs = append(newIPs, off)
		}
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
	}

	if needsNodePorts(svc.Spec.Type) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			path := field.NewPath("spec", "ports").Index(i).Child("nodePort")
			if p.NodePort == 0 {
				port, ok := a.freePort()
				if !ok {
					return fail(field.ErrorList{field.InternalError(path, fmt.Errorf("no free node ports in %d-%d", a.lo, a.hi))})
				}
				a.ports[port] = owner
				newPorts = append(newPorts, port)
				p.NodePort = int32(port)
				continue
			}
			n := int(p.NodePort)
			if n < a.lo || n > a.hi {
				return fail(field.ErrorList{field.Invalid(path, p.NodePort, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", a.lo, a.hi))})
			}
			if cur, taken := a.ports[n]; taken && cur != owner {
				return fail(field.ErrorList{field.Invalid(path, p.NodePort, "provided port is already allocated")})
			} else if !taken {
				a.ports[n] = owner
				newPorts = append(newPorts, n)
			}
		}
	}
	if dryRun {
		for _, o := range newIPs {
			delete(a.ips, o)
		}
		for _, p := range newPorts {
			delete(a.ports, p)
		}
		return func() {}, nil
	}
	return undo, nil
}

func (a *allocator) freeIP() (uint32, bool) {
	n := a.size - 2 - firstDynamicIP
	for i := uint32(0); i < n; i++ {
		off := firstDynamicIP + (a.nextIP-firstDynamicIP+i)%n
		if _, taken := a.ips[off]; !taken {
			a.nextIP = off + 1
			return off, true
		}
	}
	return 0, false
}

func (a *allocator) freePort() (int, bool) {
	n := a.hi - a.lo + 1
	for i := 0; i < n; i++ {
		p := a.lo + (a.nextPrt-a.lo+i)%n
		if _, taken := a.ports[p]; !taken {
			a.nextPrt = p + 1
			return p, true
		}
	}
	return 0, false
}

// releaseFor frees everything a deleted Service held.
func (s *Server) releaseFor(res *Resource, obj runtime.Object) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	s.releaseDiff(svc, nil)
}

// releaseReplaced frees what the old version of a Service held and the new
// one no longer does.
func (s *Server) releaseReplaced(res *Resource, obj, old runtime.Object) {
	svc, ok := obj.(*corev1.Service)
	if !ok || old == nil {
		return
	}
	s.releaseDiff(old.(*corev1.Service), svc)
}

func (s *Server) releaseDiff(old, keep *corev1.Service) {
	a := s.alloc
	owner := old.Namespace + "/" + old.Name
	a.mu.Lock()
	defer a.mu.Unlock()
	if off, ok := a.offset(old.Spec.ClusterIP); ok && a.ips[off] == owner && (keep == nil || keep.Spec.ClusterIP != old.Spec.ClusterIP) {
		delete(a.ips, off)
	}
	kept := map[int32]bool{}
	if keep != nil {
		for _, p := range keep.Spec.Ports {
			kept[p.NodePort] = true
		}
	}
	for _, p := range old.Spec.Ports {
		if p.NodePort != 0 && !kept[p.NodePort] && a.ports[int(p.NodePort)] == owner {
			delete(a.ports, int(p.NodePort))
		}
	}
}
