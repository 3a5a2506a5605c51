package clustertest

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/minicluster/mini/control/client"
)

// testIPAM assigns /24 pod CIDRs out of clusterCIDR (10.244.0.0/16) to
// nodes that have none. It stands in for the controller manager's node IPAM
// until that is merged.
type testIPAM struct{ clusterCIDR string }

func (testIPAM) Name() string { return "test-ipam" }

func (t testIPAM) Run(ctx context.Context, c *client.Client) error {
	if t.clusterCIDR == "" {
		t.clusterCIDR = "10.244.0.0/16"
	}
	base, err := netip.ParsePrefix(t.clusterCIDR)
	if err != nil {
		return err
	}
	nth := func(i int) string {
		a := base.Masked().Addr().As4()
		v := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8) + uint32(i)<<8
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}), 24).String()
	}
	inf := c.NewInformer(&corev1.Node{}, &corev1.NodeList{}, "", 0, nil)
	todo := make(chan string, 4096)
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		if n := obj.(*corev1.Node); n.Spec.PodCIDR == "" {
			todo <- n.Name
		}
	}})
	go inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil
	}
	used := map[string]bool{}
	for _, o := range inf.GetStore().List() {
		used[o.(*corev1.Node).Spec.PodCIDR] = true
	}
	next := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case name := <-todo:
			for used[nth(next)] {
				next++
			}
			cidr := nth(next)
			used[cidr] = true
			patch := fmt.Appendf(nil, `{"spec":{"podCIDR":%q,"podCIDRs":[%q]}}`, cidr, cidr)
			_ = c.Patch(ctx, &corev1.Node{}, "", name, types.MergePatchType, patch, "")
		}
	}
}
