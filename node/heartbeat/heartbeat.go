// Package heartbeat owns what every kind of mini node (the Docker node agent
// and the simulated nodes) does to be a member of the cluster: register its
// Node object, wait for the control plane to assign it a pod CIDR, keep its
// Lease in kube-node-lease renewed, and report its Ready condition.
package heartbeat

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/minicluster/mini/control/client"
)

// LeaseNamespace holds node leases, as in Kubernetes.
const LeaseNamespace = corev1.NamespaceNodeLease

// LeaseDuration is the lease duration nodes declare unless told otherwise:
// the node lifecycle controller treats a node whose Lease is older than its
// declared duration as lost (Ready Unknown), and evicts its pods after the
// eviction timeout. Kubernetes's kubelets declare 40 s and renew every 10 s;
// mini's nodes are containers on one machine, where losing one in seconds is
// what users want to see, so they declare 5 s and renew every second.
const LeaseDuration = 5 * time.Second

// Timing is how a node heartbeats: it renews its Lease every Interval and
// declares LeaseDuration in it.
type Timing struct {
	Interval, LeaseDuration time.Duration
}

// WithDefaults fills in LeaseDuration (default LeaseDuration) and Interval
// (default a fifth of the lease, so that four renewals in a row can be late
// or lost before the node is).
func (t Timing) WithDefaults() Timing {
	if t.LeaseDuration <= 0 {
		t.LeaseDuration = LeaseDuration
	}
	if t.Interval <= 0 {
		t.Interval = t.LeaseDuration / 5
	}
	return t
}

// Register creates the Node, or updates an existing one with n's labels,
// capacity and addresses (keeping its spec, such as the assigned pod CIDR,
// and taints set by others). It returns the stored Node.
func Register(ctx context.Context, c *client.Client, n *corev1.Node) (*corev1.Node, error) {
	want := n.DeepCopy()
	err := c.Create(ctx, want)
	if err == nil {
		return want, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("register node %s: %w", n.Name, err)
	}
	for attempt := 0; attempt < 10; attempt++ {
		cur := &corev1.Node{}
		if err := c.Get(ctx, "", n.Name, cur); err != nil {
			return nil, fmt.Errorf("register node %s: %w", n.Name, err)
		}
		next := cur.DeepCopy()
		if next.Labels == nil {
			next.Labels = map[string]string{}
		}
		for k, v := range n.Labels {
			next.Labels[k] = v
		}
		next.Spec.Unschedulable = n.Spec.Unschedulable
		if err := c.Update(ctx, next); apierrors.IsConflict(err) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("register node %s: %w", n.Name, err)
		}
		next.Status.Capacity, next.Status.Allocatable = n.Status.Capacity, n.Status.Allocatable
		next.Status.Addresses, next.Status.NodeInfo = n.Status.Addresses, n.Status.NodeInfo
		next.Status.DaemonEndpoints = n.Status.DaemonEndpoints
		if err := c.UpdateStatus(ctx, next); apierrors.IsConflict(err) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("register node %s: %w", n.Name, err)
		}
		return next, nil
	}
	return nil, fmt.Errorf("register node %s: too many conflicting writes", n.Name)
}

// WaitPodCIDR waits until the control plane assigned the node a pod CIDR.
func WaitPodCIDR(ctx context.Context, c *client.Client, name string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 20 * time.Millisecond
	for {
		n := &corev1.Node{}
		if err := c.Get(ctx, "", name, n); err == nil && n.Spec.PodCIDR != "" {
			return n.Spec.PodCIDR, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for node %s to be assigned a pod CIDR by the control plane: %w", name, ctx.Err())
		case <-time.After(delay):
		}
		if delay < 500*time.Millisecond {
			delay *= 2
		}
	}
}

// RenewLease creates or renews the node's Lease, declaring duration (whole
// seconds, at least 1).
func RenewLease(ctx context.Context, c *client.Client, name string, uid types.UID, duration time.Duration, now time.Time) error {
	mt := metav1.NewMicroTime(now)
	secs := max(int32(duration/time.Second), 1)
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"renewTime": mt, "holderIdentity": name, "leaseDurationSeconds": secs}})
	l := &coordinationv1.Lease{}
	err := c.Patch(ctx, l, LeaseNamespace, name, types.MergePatchType, patch, "")
	if !apierrors.IsNotFound(err) {
		return err
	}
	l = &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: LeaseNamespace},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: &secs, RenewTime: &mt},
	}
	if uid != "" {
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: name, UID: uid}}
	}
	err = c.Create(ctx, l)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// SetReady writes the node's Ready condition (and heartbeat time).
func SetReady(ctx context.Context, c *client.Client, name string, ready bool, reason, message string, now time.Time) error {
	status := corev1.ConditionTrue
	if !ready {
		status = corev1.ConditionFalse
	}
	for attempt := 0; attempt < 10; attempt++ {
		n := &corev1.Node{}
		if err := c.Get(ctx, "", name, n); err != nil {
			return err
		}
		t := metav1.NewTime(now)
		cond := corev1.NodeCondition{Type: corev1.NodeReady, Status: status, Reason: reason, Message: message,
			LastHeartbeatTime: t, LastTransitionTime: t}
		found := false
		for i, x := range n.Status.Conditions {
			if x.Type == corev1.NodeReady {
				if x.Status == status {
					cond.LastTransitionTime = x.LastTransitionTime
				}
				n.Status.Conditions[i] = cond
				found = true
			}
		}
		if !found {
			n.Status.Conditions = append(n.Status.Conditions, cond)
		}
		err := c.UpdateStatus(ctx, n)
		if apierrors.IsConflict(err) {
			continue
		}
		return err
	}
	return fmt.Errorf("set node %s ready: too many conflicting writes", name)
}

// Loop renews the lease as timing says and reports readiness from ready()
// whenever it changes (and on start), until ctx ends. Errors are passed to
// onErr (may be nil) and retried on the next tick.
func Loop(ctx context.Context, c *client.Client, name string, uid types.UID, timing Timing, clk clock.WithTicker,
	ready func() (bool, string), onErr func(error)) {
	timing = timing.WithDefaults()
	t := clk.NewTicker(timing.Interval)
	defer t.Stop()
	var lastReady *bool
	var lastRenew time.Time
	for {
		now := clk.Now()
		if err := RenewLease(ctx, c, name, uid, timing.LeaseDuration, now); err != nil {
			if onErr != nil && ctx.Err() == nil {
				onErr(err)
			}
		} else {
			// After an outage longer than the lease, the control plane has
			// marked the node Unknown: post the condition again.
			if !lastRenew.IsZero() && now.Sub(lastRenew) > timing.LeaseDuration {
				lastReady = nil
			}
			lastRenew = now
		}
		ok, msg := ready()
		if lastReady == nil || *lastReady != ok {
			reason := "KubeletReady"
			if !ok {
				reason = "KubeletNotReady"
			}
			if err := SetReady(ctx, c, name, ok, reason, msg, clk.Now()); err != nil {
				if onErr != nil && ctx.Err() == nil {
					onErr(err)
				}
			} else {
				lastReady = &ok
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}
