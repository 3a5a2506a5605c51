package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	corev1 "k8s.io/api/core/v1"

	"github.com/minicluster/mini/control/client"
)

// probeResult is the node mode a create chose, and why.
type probeResult struct {
	mode string
	why  string
}

// probePrivileged starts a throw-away --privileged container with the node
// flags (from the small scratch image) to learn whether this engine allows
// it; where it does not (a bounding set without CAP_SYS_RESOURCE, rootless
// engines), nodes run with the unprivileged recipe. It reports the answer
// as soon as it has it, then removes the probe container.
func probePrivileged(ctx context.Context, d *Docker, cluster, op, img string, cgroupV2 bool, report func(probeResult)) {
	host := nodeHostConfig(ModePrivileged, cgroupV2)
	host.RestartPolicy = container.RestartPolicy{}
	cfg := &container.Config{Image: img, Cmd: []string{"--version"}, Labels: labels(cluster, RoleProbe, op)}
	var id string
	err := mutate(ctx, 30*time.Second, func(ctx context.Context) error {
		resp, err := d.ContainerCreate(ctx, cfg, host, nil, nil, "")
		id = resp.ID
		if err == nil {
			err = d.ContainerStart(ctx, id, container.StartOptions{})
		}
		return err
	})
	if err == nil {
		report(probeResult{mode: ModePrivileged, why: "--privileged is allowed"})
	} else {
		report(probeResult{mode: ModeUnprivileged, why: "--privileged is refused here (" + probeReason(err) + "): all capabilities but SYS_RESOURCE, seccomp/AppArmor unconfined"})
	}
	if id != "" {
		mutate(context.WithoutCancel(ctx), 30*time.Second, func(ctx context.Context) error {
			return d.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
		})
	}
}

// probeReason shortens runc's error to its cause, e.g. "unable to apply
// caps: operation not permitted".
func probeReason(err error) string {
	msg := strings.TrimSuffix(err.Error(), ": unknown")
	if i := strings.LastIndex(msg, "container process: "); i >= 0 {
		return msg[i+len("container process: "):]
	}
	if len(msg) > 120 {
		msg = "…" + msg[len(msg)-120:]
	}
	return msg
}

// nodes waits for the probe, then creates and starts every node in parallel.
func (c *creation) nodes(ctx context.Context) error {
	var pr probeResult
	select {
	case pr = <-c.probe:
		c.probe <- pr // keep it for Result
	case <-ctx.Done():
		return ctx.Err()
	}
	c.r.Printf("  nodes run %s: %s", pr.mode, pr.why)
	env := nodeEnv{server: fmt.Sprintf("https://%s:%d", hostAddr(c.subnet, controlHost), APIContainerPort), token: c.creds.Tokens.Node, ca: c.creds.CACertPEM,
		node: c.o.Node, perNode: c.o.PerNode}
	idx := make([]int, c.o.Nodes)
	for i := range idx {
		idx[i] = i
	}
	return startNodes(ctx, c.d, c.o.Name, c.op, c.nodeImage, pr.mode, c.cgroupV2, c.subnet, idx, env)
}

// startNodes creates and starts node containers with the given indices,
// in parallel.
func startNodes(ctx context.Context, d *Docker, cluster, op, img, mode string, cgroupV2 bool, subnet netip.Prefix, idx []int, env nodeEnv) error {
	errs := make([]error, len(idx))
	var wg sync.WaitGroup
	for k, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := nodeSpec(cluster, op, img, mode, cgroupV2, subnet, i, env)
			id, err := createContainer(ctx, d, cluster, op, RoleNode, s, LabelNodeIndex, fmt.Sprint(i))
			if err == nil {
				err = startContainer(ctx, d, id)
			}
			errs[k] = err
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *creation) lb(ctx context.Context) error {
	s := lbSpec(c.o.Name, c.op, c.miniImage, c.subnet, c.o.APIHost, c.o.APIPort, c.o.Ports, c.creds.Tokens.LB, c.creds.CACertPEM)
	id, err := createContainer(ctx, c.d, c.o.Name, c.op, RoleLB, s)
	if err != nil {
		return err
	}
	if err := startContainer(ctx, c.d, id); err != nil {
		if strings.Contains(err.Error(), "already allocated") || strings.Contains(err.Error(), "address already in use") {
			return &PortInUseError{Addr: "(one of the published ports)", Err: err}
		}
		return err
	}
	return nil
}

func (c *creation) waitReady(ctx context.Context) error {
	names := make([]string, c.o.Nodes)
	for i := range names {
		names[i] = NodeName(c.o.Name, i)
	}
	return WaitReady(ctx, c.d, c.o.Name, c.kc, names)
}

// WaitReady waits until every named Node is Ready, asking the API through
// kc every 100 ms, and fails early when one of the cluster's containers
// stops (with the end of its log). It waits as long as ctx allows.
func WaitReady(ctx context.Context, d *Docker, cluster string, kc client.Kubeconfig, names []string) error {
	return waitReadySince(ctx, d, cluster, kc, names, time.Time{})
}

// waitReadySince is WaitReady counting only Ready conditions written at or
// after since (a restarted node's old condition does not count).
func waitReadySince(ctx context.Context, d *Docker, cluster string, kc client.Kubeconfig, names []string, since time.Time) error {
	cl, err := client.New(client.Config{Server: kc.Server, CAData: kc.CAData, Token: kc.Token, Timeout: 2 * time.Second, UserAgent: "mini-cli"})
	if err != nil {
		return err
	}
	start := time.Now()
	var lastErr error
	pending := names
	lastCheck := time.Now()
	for {
		var nl corev1.NodeList
		if lastErr = cl.List(ctx, "", &nl, client.ListOptions{}); lastErr == nil {
			pending = notReady(names, nl.Items, since)
			if len(pending) == 0 {
				return nil
			}
		}
		if time.Since(lastCheck) > time.Second {
			lastCheck = time.Now()
			if err := containersAlive(ctx, d, cluster, names); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			what := fmt.Sprintf("waited %s for nodes to be Ready through %s; not Ready: %s", time.Since(start).Round(time.Millisecond), kc.Server, strings.Join(pending, ", "))
			if lastErr != nil {
				what += fmt.Sprintf("; last API error: %v", lastErr)
			}
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// notReady returns the names (with their state) that are not Ready nodes.
func notReady(names []string, nodes []corev1.Node, since time.Time) []string {
	since = since.Truncate(time.Second) // API times have second precision
	by := map[string]*corev1.Node{}
	for i := range nodes {
		by[nodes[i].Name] = &nodes[i]
	}
	var out []string
	for _, n := range names {
		node, ok := by[n]
		if !ok {
			out = append(out, n+" (not registered)")
			continue
		}
		ready := false
		msg := "no Ready condition"
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				ready = c.Status == corev1.ConditionTrue && !c.LastHeartbeatTime.Time.Before(since)
				msg = c.Message
				if c.Status == corev1.ConditionTrue && !ready {
					msg = "Ready since before the start"
				}
			}
		}
		if !ready {
			out = append(out, fmt.Sprintf("%s (%s)", n, msg))
		}
	}
	sort.Strings(out)
	return out
}

// containersAlive fails when a container of the cluster that the wait
// depends on is not running (the control plane, the load balancer, or one
// of the awaited nodes; another node may be stopped on purpose), quoting the
// end of its log.
func containersAlive(ctx context.Context, d *Docker, cluster string, nodes []string) error {
	cs, err := d.ContainerList(ctx, container.ListOptions{All: true, Filters: clusterFilter(cluster)})
	if err != nil {
		return nil // not this check's business
	}
	for _, c := range cs {
		role := c.Labels[LabelRole]
		if c.State == "running" || role == RoleProbe || (role == RoleNode && !slices.Contains(nodes, containerName(c))) {
			continue
		}
		return fmt.Errorf("container %s is %s (%s); its log ends with:\n%s", containerName(c), c.State, c.Status, logTail(ctx, d, c.ID, 20))
	}
	return nil
}

// logTail returns the last n lines of a container's log.
func logTail(ctx context.Context, d *Docker, id string, n int) string {
	rc, err := d.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(n)})
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer rc.Close()
	var b strings.Builder
	demuxTo(&b, rc)
	return strings.TrimRight(b.String(), "\n")
}
