package runtime

import (
	"context"
	"fmt"
	"strconv"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	"k8s.io/apimachinery/pkg/types"
)

// TmpfsVolume makes sure the memory-backed Docker volume of a pod's
// emptyDir exists (shared by the pod's containers, unlike a per-container
// tmpfs mount) and returns its name. size 0 means the tmpfs default.
func (r *Runtime) TmpfsVolume(ctx context.Context, uid types.UID, name string, size int64) (string, error) {
	vname := "k8s_" + string(uid) + "_" + name
	opts := map[string]string{"type": "tmpfs", "device": "tmpfs"}
	if size > 0 {
		opts["o"] = "size=" + strconv.FormatInt(size, 10)
	}
	labels := map[string]string{}
	for k, v := range r.cfg.ExtraLabels {
		labels[k] = v
	}
	labels[LabelPodUID], labels[LabelNode] = string(uid), r.cfg.Node
	_, err := r.dc.VolumeCreate(ctx, volume.CreateOptions{Name: vname, Driver: "local", DriverOpts: opts, Labels: labels})
	if err != nil {
		return "", fmt.Errorf("create memory volume %s: %w", vname, err)
	}
	return vname, nil
}

// RemoveVolumes removes the Docker volumes of a pod.
func (r *Runtime) RemoveVolumes(ctx context.Context, uid types.UID) error {
	resp, err := r.dc.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", LabelNode+"="+r.cfg.Node), filters.Arg("label", LabelPodUID+"="+string(uid)))})
	if err != nil {
		return fmt.Errorf("list volumes of pod %s: %w", uid, err)
	}
	for _, v := range resp.Volumes {
		if err := r.dc.VolumeRemove(ctx, v.Name, true); err != nil {
			return fmt.Errorf("remove volume %s: %w", v.Name, err)
		}
	}
	return nil
}

// PauseImage returns the sandbox image.
func (r *Runtime) PauseImage() string { return r.cfg.PauseImage }
