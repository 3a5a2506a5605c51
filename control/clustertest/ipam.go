package clustertest

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minicluster/mini/control/client"
)

// testIPAM assigns pod CIDRs (10.244.N.0/24) to nodes that have none. It
// stands in for the controller manager's node IPAM until that is merged.
type testIPAM struct{}

func (testIPAM) Name() string { return "test-ipam" }

func (testIPAM) Run(ctx context.Context, c *client.Client) error {
	used := map[string]bool{}
	next := 0
	for ctx.Err() == nil {
		var l corev1.NodeList
		if err := c.List(ctx, "", &l, client.ListOptions{}); err == nil {
			for _, n := range l.Items {
				if n.Spec.PodCIDR != "" {
					used[n.Spec.PodCIDR] = true
				}
			}
			for _, n := range l.Items {
				if n.Spec.PodCIDR != "" {
					continue
				}
				for used[fmt.Sprintf("10.244.%d.0/24", next)] {
					next++
				}
				cidr := fmt.Sprintf("10.244.%d.0/24", next)
				used[cidr] = true
				patch := fmt.Appendf(nil, `{"spec":{"podCIDR":%q,"podCIDRs":[%q]}}`, cidr, cidr)
				_ = c.Patch(ctx, &corev1.Node{}, "", n.Name, types.MergePatchType, patch, "")
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
