package loadbalancer

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// excludeLabel takes a node out of load balancer pools, as in Kubernetes.
const excludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// watchNodes keeps every NodePort pool equal to {InternalIP:NodePort of
// each Ready node} until ctx ends.
func (l *LB) watchNodes(ctx context.Context) error {
	inf := l.cfg.Client.NewInformer(&corev1.Node{}, &corev1.NodeList{}, "", 0, nil)
	kick := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, UpdateFunc: func(_, n any) { poke(n) }, DeleteFunc: poke,
	}); err != nil {
		return fmt.Errorf("watch nodes: %w", err)
	}
	stopped := make(chan struct{})
	go func() { inf.Run(ctx.Done()); close(stopped) }()
	defer func() { <-stopped }()
	l.cfg.Logger.Printf("watching Nodes for the backends of %d published ports", len(l.byPort))
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		}
		ips := readyNodeIPs(inf.GetStore().List())
		for m, p := range l.byPort {
			addrs := make([]string, len(ips))
			for i, ip := range ips {
				addrs[i] = net.JoinHostPort(ip, strconv.Itoa(m.NodePort))
			}
			p.SetBackends(addrs)
		}
	}
}

// readyNodeIPs returns the InternalIP of every Ready node that is not being
// deleted or excluded, sorted.
func readyNodeIPs(objs []any) []string {
	var ips []string
	for _, o := range objs {
		n, ok := o.(*corev1.Node)
		if !ok || n.DeletionTimestamp != nil || !isReady(n) {
			continue
		}
		if _, ok := n.Labels[excludeLabel]; ok {
			continue
		}
		if ip := internalIP(n); ip != "" {
			ips = append(ips, ip)
		}
	}
	slices.Sort(ips)
	return ips
}

func isReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func internalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}
