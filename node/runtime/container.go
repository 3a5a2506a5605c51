package runtime

import (
	"context"
	"fmt"
	"strconv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/strslice"
	corev1 "k8s.io/api/core/v1"
)

// Mount is one mount of a container.
type Mount struct {
	// Source is a path on the node (bind mount), or the name of a Docker
	// volume when Volume is set (a memory-backed emptyDir shared by the
	// containers of a pod).
	Source        string
	Volume        bool
	ContainerPath string
	ReadOnly      bool
	Propagation   mount.Propagation
}

// ContainerRequest is a spec container made concrete by the kubelet: its
// environment resolved, $(VAR) references expanded and volumes placed.
type ContainerRequest struct {
	Pod       *corev1.Pod
	Container *corev1.Container
	Kind      Kind // KindInit or KindRegular
	Attempt   int  // the restart count this container will report
	// BackOffBase is the restart count at which the current streak of
	// quick crashes began (see LabelBackOffBase).
	BackOffBase int
	SandboxID   string
	Env         []string
	Command     []string
	Args        []string
	Mounts      []Mount
	Hash        string
}

// Meta returns the labels' view of the container the request creates.
func (q *ContainerRequest) Meta(node string) Meta {
	return Meta{PodUID: q.Pod.UID, PodName: q.Pod.Name, PodNamespace: q.Pod.Namespace, Node: node,
		Name: q.Container.Name, Kind: q.Kind, Attempt: q.Attempt, SandboxID: q.SandboxID, Hash: q.Hash,
		BackOffBase: q.BackOffBase}
}

// CreateContainer creates (does not start) the container of a request.
func (r *Runtime) CreateContainer(ctx context.Context, q *ContainerRequest) (string, error) {
	m := q.Meta(r.cfg.Node)
	c := q.Container
	cfg := &container.Config{
		Image:      c.Image,
		WorkingDir: c.WorkingDir,
		Env:        q.Env,
		Labels:     m.Labels(r.cfg.ExtraLabels),
		Tty:        c.TTY,
		OpenStdin:  c.Stdin,
		StdinOnce:  c.StdinOnce,
		User:       user(q.Pod, c),
	}
	// Kubernetes's command replaces the image's ENTRYPOINT (and drops its
	// CMD); args replace CMD. Docker does the same when Entrypoint is set.
	if len(q.Command) > 0 {
		cfg.Entrypoint = strslice.StrSlice(q.Command)
	}
	if len(q.Args) > 0 {
		cfg.Cmd = strslice.StrSlice(q.Args)
	}
	sandbox := container.NetworkMode("container:" + q.SandboxID)
	hc := &container.HostConfig{
		NetworkMode: sandbox,
		IpcMode:     container.IpcMode(sandbox),
		Resources:   resources(c),
		LogConfig:   container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}},
		Mounts:      mounts(q.Mounts),
	}
	if q.Pod.Spec.ShareProcessNamespace != nil && *q.Pod.Spec.ShareProcessNamespace {
		hc.PidMode = container.PidMode(sandbox)
	}
	securityContext(q.Pod, c, hc)
	resp, err := r.dc.ContainerCreate(ctx, cfg, hc, nil, nil, m.ContainerName())
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", m.ContainerName(), err)
	}
	return resp.ID, nil
}

// StartContainer starts a created container.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if err := r.dc.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start container %s: %w", short(id), err)
	}
	return nil
}

func mounts(ms []Mount) []mount.Mount {
	out := make([]mount.Mount, 0, len(ms))
	for _, m := range ms {
		mm := mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.ContainerPath, ReadOnly: m.ReadOnly}
		if m.Volume {
			mm.Type = mount.TypeVolume
		} else if m.Propagation != "" {
			mm.BindOptions = &mount.BindOptions{Propagation: m.Propagation}
		}
		out = append(out, mm)
	}
	return out
}

// resources maps requests and limits to Docker as the kubelet maps them to
// cgroups: CPU shares from the request (2 when none), a CFS quota from the
// CPU limit, and the memory limit without swap.
func resources(c *corev1.Container) container.Resources {
	var res container.Resources
	milli := c.Resources.Requests.Cpu().MilliValue()
	lim := c.Resources.Limits.Cpu().MilliValue()
	if milli == 0 {
		milli = lim
	}
	res.CPUShares = max(milli*1024/1000, 2)
	if lim > 0 {
		res.CPUPeriod = 100000
		res.CPUQuota = max(lim*100000/1000, 1000)
	}
	if m := c.Resources.Limits.Memory().Value(); m > 0 {
		res.Memory, res.MemorySwap = m, m
	}
	return res
}

// user returns Docker's "uid[:gid]" from the container's or the pod's
// security context.
func user(pod *corev1.Pod, c *corev1.Container) string {
	var uid, gid *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		uid, gid = sc.RunAsUser, sc.RunAsGroup
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
	}
	switch {
	case uid == nil:
		return ""
	case gid == nil:
		return strconv.FormatInt(*uid, 10)
	}
	return strconv.FormatInt(*uid, 10) + ":" + strconv.FormatInt(*gid, 10)
}

func securityContext(pod *corev1.Pod, c *corev1.Container, hc *container.HostConfig) {
	if psc := pod.Spec.SecurityContext; psc != nil {
		for _, g := range psc.SupplementalGroups {
			hc.GroupAdd = append(hc.GroupAdd, strconv.FormatInt(g, 10))
		}
	}
	sc := c.SecurityContext
	if sc == nil {
		return
	}
	if sc.Privileged != nil && *sc.Privileged {
		hc.Privileged = true
	}
	if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		hc.ReadonlyRootfs = true
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges")
	}
	if caps := sc.Capabilities; caps != nil {
		for _, c := range caps.Add {
			hc.CapAdd = append(hc.CapAdd, string(c))
		}
		for _, c := range caps.Drop {
			hc.CapDrop = append(hc.CapDrop, string(c))
		}
	}
}
