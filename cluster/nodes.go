package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/pki"
)

// state is what changing a running cluster needs, read from Docker.
type state struct {
	name      string
	ctrl      container.Summary
	subnet    netip.Prefix
	nodes     []container.Summary // by index
	nodeImage string
	miniImage string
	settings  NodeSettings // of every node (labelNodeSettings)
	tokens    pki.Tokens
	ca        []byte
}

func loadState(ctx context.Context, d *Docker, name string) (*state, error) {
	by, err := containersOf(ctx, d, name)
	if err != nil {
		return nil, err
	}
	s := &state{name: name, ctrl: by[RoleControl][0], nodes: by[RoleNode]}
	sort.Slice(s.nodes, func(i, j int) bool {
		a, _ := nodeIndex(s.nodes[i].Labels)
		b, _ := nodeIndex(s.nodes[j].Labels)
		return a < b
	})
	s.nodeImage, s.miniImage = s.ctrl.Labels[labelNodeImage], s.ctrl.Image
	if js := s.ctrl.Labels[labelNodeSettings]; js != "" {
		if err := json.Unmarshal([]byte(js), &s.settings); err != nil {
			return nil, fmt.Errorf("label %s of %s: %w", labelNodeSettings, ControlName(name), err)
		}
	}
	nw, err := d.NetworkInspect(ctx, NetworkName(name), network.InspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("inspect network %s: %w", NetworkName(name), err)
	}
	if len(nw.IPAM.Config) == 0 {
		return nil, fmt.Errorf("network %s has no subnet", NetworkName(name))
	}
	if s.subnet, err = netip.ParsePrefix(nw.IPAM.Config[0].Subnet); err != nil {
		return nil, fmt.Errorf("network %s: %w", NetworkName(name), err)
	}
	if s.tokens, err = clusterTokens(ctx, d, s.ctrl.ID); err != nil {
		return nil, fmt.Errorf("read the tokens of cluster %s: %w", name, err)
	}
	if s.ca, err = readContainerFile(ctx, d, s.ctrl.ID, "/data/"+pki.CACertFile); err != nil {
		return nil, fmt.Errorf("read the CA of cluster %s: %w", name, err)
	}
	return s, nil
}

// freeIndices returns the n smallest node indices no node container uses.
func freeIndices(used []int, n int) []int {
	taken := map[int]bool{}
	for _, i := range used {
		taken[i] = true
	}
	var out []int
	for i := 0; len(out) < n; i++ {
		if !taken[i] {
			out = append(out, i)
		}
	}
	return out
}

// AddNodesOptions describe nodes to add to a cluster.
type AddNodesOptions struct {
	Cluster string
	Count   int
	Wait    bool
	Out     io.Writer
	Fancy   bool
}

// AddNodes adds nodes with the next free indices (and so addresses), the
// same image and container flags as the cluster's nodes, waits until they
// are Ready and loads the cluster's remembered images into them. On
// failure it removes what it made. It returns the new nodes' names.
func AddNodes(ctx context.Context, d *Docker, o AddNodesOptions) ([]string, error) {
	if o.Count < 1 {
		return nil, fmt.Errorf("--count %d: add at least one node", o.Count)
	}
	s, err := loadState(ctx, d, o.Cluster)
	if err != nil {
		return nil, err
	}
	var used []int
	mode := ""
	for _, n := range s.nodes {
		i, _ := nodeIndex(n.Labels)
		used = append(used, i)
		mode = n.Labels[LabelNodeMode]
	}
	idx := freeIndices(used, o.Count)
	if idx[len(idx)-1] >= MaxNodes {
		return nil, fmt.Errorf("cluster %s cannot have more than %d nodes", o.Cluster, MaxNodes)
	}
	info, err := d.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("docker info: %w", err)
	}
	cgroupV2 := info.CgroupVersion == "2"
	op := newOpID()
	r := &Runner{Out: o.Out, Fancy: o.Fancy}
	names := make([]string, len(idx))
	for k, i := range idx {
		names[k] = NodeName(o.Cluster, i)
	}
	env := nodeEnv{server: fmt.Sprintf("https://%s:%d", hostAddr(s.subnet, controlHost), APIContainerPort), token: s.tokens.Node, ca: s.ca, node: s.settings}
	steps := []Step{{
		Name: fmt.Sprintf("Starting %d node%s in %s", len(idx), plural(len(idx)), o.Cluster),
		Do: func(ctx context.Context) error {
			if mode == "" { // no node left to copy: ask the engine again
				var pr probeResult
				probePrivileged(ctx, d, o.Cluster, op, s.miniImage, cgroupV2, func(r probeResult) { pr = r })
				mode = pr.mode
				r.Printf("  nodes run %s: %s", pr.mode, pr.why)
			}
			return startNodes(ctx, d, o.Cluster, op, s.nodeImage, mode, cgroupV2, s.subnet, idx, env)
		},
		Undo: func(ctx context.Context) error {
			_, err := removeMatching(ctx, d, clusterFilter(o.Cluster, LabelOp, op))
			return err
		},
	}}
	if o.Wait {
		steps = append(steps, Step{Name: fmt.Sprintf("Waiting for %d node%s to be Ready", len(idx), plural(len(idx))),
			Do: func(ctx context.Context) error {
				kc, err := Kubeconfig(ctx, d, o.Cluster)
				if err != nil {
					return err
				}
				return WaitReady(ctx, d, o.Cluster, kc, names)
			}})
		steps = append(steps, Step{Name: "Loading the cluster's images into the new nodes",
			Do: func(ctx context.Context) error { return loadRemembered(ctx, d, s, names) }})
	}
	if err := r.Run(ctx, steps); err != nil {
		return nil, err
	}
	return names, nil
}

// DeleteNode drains a node through the API (cordon, evict its pods, wait
// for them to go), then removes its container and volume and its Node.
func DeleteNode(ctx context.Context, d *Docker, nodeName string, out io.Writer) error {
	cs, err := d.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("name", "^/"+nodeName+"$"), filters.Arg("label", LabelRole+"="+RoleNode))})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	if len(cs) == 0 {
		return &NotFoundError{What: fmt.Sprintf("node %q", nodeName)}
	}
	cluster := cs[0].Labels[LabelCluster]
	idx, ok := nodeIndex(cs[0].Labels)
	if !ok {
		return fmt.Errorf("container %s has no valid %s label", nodeName, LabelNodeIndex)
	}
	kc, err := Kubeconfig(ctx, d, cluster)
	if err != nil {
		return err
	}
	c, err := client.New(client.Config{Server: kc.Server, CAData: kc.CAData, Token: kc.Token, UserAgent: "mini-cli", Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	if err := drain(ctx, c, nodeName, out); err != nil {
		return fmt.Errorf("drain node %s (is cluster %s running?): %w", nodeName, cluster, err)
	}
	if _, err := removeMatching(ctx, d, clusterFilter(cluster, LabelRole, RoleNode, LabelNodeIndex, strconv.Itoa(idx))); err != nil {
		return err
	}
	if err := c.Delete(ctx, &corev1.Node{}, "", nodeName, nil); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Node %s: %w", nodeName, err)
	}
	return nil
}

// drainTimeout bounds how long evicted pods may take to terminate before
// they are deleted without grace (their node is going away).
const drainTimeout = 30 * time.Second

// drain cordons the node and evicts its pods (except DaemonSet ones, which
// go with the Node), waiting for them to be gone.
func drain(ctx context.Context, c *client.Client, node string, out io.Writer) error {
	patch := []byte(`{"spec":{"unschedulable":true}}`)
	if err := c.Patch(ctx, &corev1.Node{}, "", node, types.MergePatchType, patch, ""); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // never registered: nothing runs there
		}
		return fmt.Errorf("cordon: %w", err)
	}
	pods, err := podsOn(ctx, c, node)
	if err != nil {
		return err
	}
	for _, p := range pods {
		err := c.Evict(ctx, p.Namespace, p.Name, nil)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("evict pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		fmt.Fprintf(out, "  evicted pod %s/%s\n", p.Namespace, p.Name)
	}
	deadline := time.Now().Add(drainTimeout)
	for len(pods) > 0 {
		if time.Now().After(deadline) {
			zero := int64(0)
			var errs []error
			for _, p := range pods {
				err := c.Delete(ctx, &corev1.Pod{}, p.Namespace, p.Name, &metav1.DeleteOptions{GracePeriodSeconds: &zero})
				if err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, err)
				}
			}
			fmt.Fprintf(out, "  %d pod(s) still terminating after %s: deleted without grace\n", len(pods), drainTimeout)
			return errors.Join(errs...)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d evicted pod(s) to terminate: %w", len(pods), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		if pods, err = podsOn(ctx, c, node); err != nil {
			return err
		}
	}
	return nil
}

// podsOn lists the pods bound to node that a drain evicts.
func podsOn(ctx context.Context, c *client.Client, node string) ([]corev1.Pod, error) {
	var pl corev1.PodList
	if err := c.List(ctx, "", &pl, client.ListOptions{FieldSelector: "spec.nodeName=" + node}); err != nil {
		return nil, fmt.Errorf("list pods on %s: %w", node, err)
	}
	var out []corev1.Pod
	for _, p := range pl.Items {
		if p.Spec.NodeName != node {
			continue // a server that ignores the field selector
		}
		ds := false
		for _, o := range p.OwnerReferences {
			ds = ds || o.Kind == "DaemonSet"
		}
		if !ds {
			out = append(out, p)
		}
	}
	return out, nil
}
