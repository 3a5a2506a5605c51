package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
)

// Delete removes every container, volume and network of the cluster and
// its kubeconfig entries in the file at kubeconfigPath ("" : the default
// file). It is idempotent: it reports whether anything existed.
func Delete(ctx context.Context, d *Docker, name, kubeconfigPath string) (existed bool, err error) {
	if err := ValidateName(name); err != nil {
		return false, err
	}
	n, err := removeMatching(ctx, d, clusterFilter(name))
	kerr := RemoveKubeconfig(KubeconfigPath(kubeconfigPath), ContextName(name))
	return n > 0, errors.Join(err, kerr)
}

// containersOf lists the cluster's containers by role.
func containersOf(ctx context.Context, d *Docker, name string) (map[string][]container.Summary, error) {
	cs, err := d.ContainerList(ctx, container.ListOptions{All: true, Filters: clusterFilter(name)})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	by := map[string][]container.Summary{}
	for _, c := range cs {
		by[c.Labels[LabelRole]] = append(by[c.Labels[LabelRole]], c)
	}
	if len(by[RoleControl]) == 0 {
		return nil, &NotFoundError{What: fmt.Sprintf("cluster %q", name)}
	}
	return by, nil
}

// parallel runs f on every container at once and joins the errors.
func parallel(cs []container.Summary, f func(c container.Summary) error) error {
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f(c) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Stop stops the cluster's containers, keeping every volume: the nodes and
// the load balancer first (node agents stop their dockerd and say they are
// NotReady), then the control plane.
func Stop(ctx context.Context, d *Docker, name string) error {
	by, err := containersOf(ctx, d, name)
	if err != nil {
		return err
	}
	timeout := 10
	stop := func(c container.Summary) error {
		if err := d.ContainerStop(ctx, c.ID, container.StopOptions{Timeout: &timeout}); err != nil {
			return fmt.Errorf("stop %s: %w", containerName(c), err)
		}
		return nil
	}
	if err := parallel(append(by[RoleNode], by[RoleLB]...), stop); err != nil {
		return err
	}
	return parallel(by[RoleControl], stop)
}

// Start starts a stopped cluster: the control plane, then the nodes and the
// load balancer in parallel. With wait, it returns once every node is Ready
// again (Ready reported after the start, not before the stop).
func Start(ctx context.Context, d *Docker, name string, wait bool) error {
	by, err := containersOf(ctx, d, name)
	if err != nil {
		return err
	}
	since := time.Now()
	start := func(c container.Summary) error {
		if c.State == "running" {
			return nil
		}
		if err := d.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			return fmt.Errorf("start %s: %w", containerName(c), err)
		}
		return nil
	}
	if err := parallel(by[RoleControl], start); err != nil {
		return err
	}
	if err := parallel(append(by[RoleNode], by[RoleLB]...), start); err != nil {
		return err
	}
	if !wait {
		return nil
	}
	kc, err := Kubeconfig(ctx, d, name)
	if err != nil {
		return err
	}
	var names []string // the nodes that were down: those still up report no new Ready
	for _, n := range by[RoleNode] {
		if n.State != "running" {
			names = append(names, containerName(n))
		}
	}
	return waitReadySince(ctx, d, name, kc, names, since)
}
