package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
)

// removeMatching removes every container, then volume, then network whose
// labels match f: containers in parallel and by force. It is idempotent and
// completes even when ctx is cancelled (within a minute). It returns how
// many objects it removed.
func removeMatching(ctx context.Context, d *Docker, f filters.Args) (int, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	ctrs, err := d.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("list containers: %w", err)
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for _, c := range ctrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := d.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !isNotFound(err) && !isRemovalInProgress(err) {
				fail(fmt.Errorf("remove container %s: %w", containerName(c), err))
			}
		}()
	}
	wg.Wait()
	// Then volumes and networks, at once: neither depends on the other.
	var vols volume.ListResponse
	var nets []network.Summary
	var verr, nerr error
	wg.Add(2)
	go func() { defer wg.Done(); vols, verr = d.VolumeList(ctx, volume.ListOptions{Filters: f}) }()
	go func() { defer wg.Done(); nets, nerr = d.NetworkList(ctx, network.ListOptions{Filters: f}) }()
	wg.Wait()
	if verr != nil {
		fail(fmt.Errorf("list volumes: %w", verr))
	}
	if nerr != nil {
		fail(fmt.Errorf("list networks: %w", nerr))
	}
	for _, v := range vols.Volumes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.VolumeRemove(ctx, v.Name, true); err != nil && !isNotFound(err) {
				fail(fmt.Errorf("remove volume %s: %w", v.Name, err))
			}
		}()
	}
	for _, nw := range nets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := removeNetwork(ctx, d, nw.ID, nw.Name); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	return len(ctrs) + len(vols.Volumes) + len(nets), errors.Join(errs...)
}

// removeNetwork removes a network, first disconnecting containers that are
// not the cluster's (a user may have attached one).
func removeNetwork(ctx context.Context, d *Docker, id, name string) error {
	err := d.NetworkRemove(ctx, id)
	if err == nil || isNotFound(err) {
		return nil
	}
	insp, ierr := d.NetworkInspect(ctx, id, network.InspectOptions{})
	if ierr != nil {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	for cid := range insp.Containers {
		d.NetworkDisconnect(ctx, id, cid, true)
	}
	if err := d.NetworkRemove(ctx, id); err != nil && !isNotFound(err) {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	return nil
}

func isRemovalInProgress(err error) bool {
	return err != nil && (contains(err, "removal of container") && contains(err, "already in progress"))
}

func containerName(c container.Summary) string {
	if len(c.Names) > 0 {
		return c.Names[0][1:]
	}
	return c.ID[:12]
}
