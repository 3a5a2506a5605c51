package controllers

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"
)

func init() { register("nodeipam", setupNodeIPAM) }

// ipamAllocator hands out the per-node subnets of the cluster CIDR. It
// remembers which node holds which subnet, so that asking again for the
// same node returns the same subnet.
type ipamAllocator struct {
	mu      sync.Mutex
	base    uint32
	shift   uint // bits per subnet (32 - mask size)
	count   int  // number of subnets
	mask    int
	owner   map[int]string // subnet index -> node
	byOwner map[string]int
}

func newIPAMAllocator(cidr string, maskSize int) (*ipamAllocator, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil || n.IP.To4() == nil {
		return nil, fmt.Errorf("cluster CIDR %q is not an IPv4 CIDR", cidr)
	}
	ones, _ := n.Mask.Size()
	if maskSize < ones || maskSize > 30 {
		return nil, fmt.Errorf("node CIDR mask size /%d must be between the cluster CIDR's /%d and /30", maskSize, ones)
	}
	if maskSize-ones > 20 {
		return nil, fmt.Errorf("node CIDR mask size /%d splits %s into more than 2^20 subnets", maskSize, cidr)
	}
	return &ipamAllocator{
		base: binary.BigEndian.Uint32(n.IP.To4()), shift: uint(32 - maskSize), count: 1 << (maskSize - ones), mask: maskSize,
		owner: map[int]string{}, byOwner: map[string]int{},
	}, nil
}

func (a *ipamAllocator) cidrAt(i int) string {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, a.base+uint32(i)<<a.shift)
	return fmt.Sprintf("%s/%d", net.IP(b), a.mask)
}

// index returns the subnet index of a CIDR that is exactly one subnet.
func (a *ipamAllocator) index(cidr string) (int, error) {
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil || ip.To4() == nil {
		return 0, fmt.Errorf("pod CIDR %q is not an IPv4 CIDR", cidr)
	}
	if ones, _ := n.Mask.Size(); ones != a.mask {
		return 0, fmt.Errorf("pod CIDR %s is not a /%d", cidr, a.mask)
	}
	v := binary.BigEndian.Uint32(n.IP.To4())
	if v < a.base || int((v-a.base)>>a.shift) >= a.count {
		return 0, fmt.Errorf("pod CIDR %s is outside the cluster CIDR", cidr)
	}
	return int((v - a.base) >> a.shift), nil
}

// Occupy records a node's existing subnet.
func (a *ipamAllocator) Occupy(node, cidr string) error {
	i, err := a.index(cidr)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if o, taken := a.owner[i]; taken && o != node {
		return fmt.Errorf("pod CIDR %s of node %s is already held by node %s", cidr, node, o)
	}
	if old, ok := a.byOwner[node]; ok && old != i {
		delete(a.owner, old)
	}
	a.owner[i], a.byOwner[node] = node, i
	return nil
}

// Allocate returns the node's subnet, taking the lowest free one if it has
// none.
func (a *ipamAllocator) Allocate(node string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i, ok := a.byOwner[node]; ok {
		return a.cidrAt(i), nil
	}
	for i := 0; i < a.count; i++ {
		if _, taken := a.owner[i]; !taken {
			a.owner[i], a.byOwner[node] = node, i
			return a.cidrAt(i), nil
		}
	}
	return "", fmt.Errorf("no free /%d left in the cluster CIDR for node %s (%d subnets, all assigned)", a.mask, node, a.count)
}

// Release frees the node's subnet.
func (a *ipamAllocator) Release(node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i, ok := a.byOwner[node]; ok {
		delete(a.owner, i)
		delete(a.byOwner, node)
	}
}

// ipamController assigns every Node a pod CIDR from Options.ClusterCIDR.
type ipamController struct {
	m     *Manager
	nodes cache.SharedIndexInformer
	alloc *ipamAllocator
	rec   *Recorder
}

func setupNodeIPAM(m *Manager) func(ctx context.Context) {
	alloc, err := newIPAMAllocator(m.Opts.ClusterCIDR, m.Opts.NodeCIDRMaskSize)
	if err != nil {
		m.Log.Printf("nodeipam: disabled: %v", err)
		return func(ctx context.Context) {}
	}
	c := &ipamController{m: m, nodes: m.Informers.For(&corev1.Node{}), alloc: alloc, rec: m.Recorder("node-ipam-controller")}
	q := NewQueue("nodeipam", m.Clock, m.Log, c.sync)
	c.nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    q.Enqueue,
		UpdateFunc: func(_, cur any) { q.Enqueue(cur) },
		DeleteFunc: func(obj any) {
			if n, ok := tombstoned(obj).(*corev1.Node); ok {
				c.alloc.Release(n.Name)
			}
		},
	})
	return func(ctx context.Context) {
		// Rebuild the allocation from the nodes before assigning anything.
		for _, o := range c.nodes.GetStore().List() {
			n := o.(*corev1.Node)
			if n.Spec.PodCIDR != "" {
				if err := c.alloc.Occupy(n.Name, n.Spec.PodCIDR); err != nil {
					m.Log.Printf("nodeipam: %v", err)
				}
			}
		}
		q.Run(ctx, m.Opts.Workers)
	}
}

func (c *ipamController) sync(ctx context.Context, key string) error {
	cached, ok := fromCacheKey[*corev1.Node](c.nodes, key)
	if !ok {
		return nil
	}
	if cached.Spec.PodCIDR != "" {
		if err := c.alloc.Occupy(cached.Name, cached.Spec.PodCIDR); err != nil {
			c.m.Log.Printf("nodeipam: %v", err)
		}
		return nil
	}
	for attempt := 0; attempt < 5; attempt++ {
		n := &corev1.Node{}
		if err := c.m.Client.Get(ctx, "", key, n); apierrors.IsNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		if n.Spec.PodCIDR != "" {
			return c.alloc.Occupy(n.Name, n.Spec.PodCIDR)
		}
		cidr, err := c.alloc.Allocate(n.Name)
		if err != nil {
			c.rec.Eventf(n, corev1.EventTypeNormal, "CIDRNotAvailable", "Node %s status is now: CIDRNotAvailable", n.Name)
			return err
		}
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
		err = c.m.Client.Update(ctx, n)
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("assign pod CIDR %s to node %s: %w", cidr, n.Name, err)
		}
		return nil
	}
	return fmt.Errorf("assign a pod CIDR to node %s: too many conflicting writes", key)
}
