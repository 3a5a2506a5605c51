// Package runtime owns the Docker side of a mini node: each pod is a
// sandbox container (from the pause image, built in the daemon from the
// mini binary) that owns the pod's network namespace on the node's pod
// network, plus one container per spec container joined to it
// (NetworkMode container:<sandbox>), so the containers of a pod share
// localhost. Every container carries labels naming its pod, container and
// attempt (see labels.go), so the state of every pod can be read back from
// Docker after an agent restart.
//
// Pod IPs come from Docker's IPAM on the pod network, whose subnet is the
// node's pod CIDR: Docker already knows which addresses are in use, so the
// agent keeps no allocation state of its own.
//
// The package also turns Docker's inspect results into Kubernetes container
// states, pulls and checks images, and streams logs, exec and attach.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"k8s.io/apimachinery/pkg/types"
)

// Config configures a Runtime.
type Config struct {
	Docker *client.Client
	// Node is the node name, put on every container (LabelNode) and used to
	// find the node's containers.
	Node string
	// NodeIP is where hostPorts are published.
	NodeIP string
	// Network is the Docker network pods are attached to.
	Network string
	// PauseImage is the sandbox image (see EnsurePauseImage).
	PauseImage string
	// ExtraLabels go on every container (tests mark theirs with them).
	ExtraLabels map[string]string
	// Logf logs what the runtime does on its own (nil: discard).
	Logf func(format string, args ...any)
}

// Runtime runs pods on one Docker daemon. It is safe for concurrent use.
type Runtime struct {
	cfg Config
	dc  *client.Client

	mu     sync.Mutex
	exited map[string]*container.InspectResponse // inspects of exited containers never change
}

// New returns a runtime over cfg.Docker.
func New(cfg Config) (*Runtime, error) {
	if cfg.Docker == nil || cfg.Node == "" || cfg.Network == "" || cfg.PauseImage == "" {
		return nil, errors.New("runtime: Docker, Node, Network and PauseImage are required")
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Runtime{cfg: cfg, dc: cfg.Docker, exited: map[string]*container.InspectResponse{}}, nil
}

// Docker returns the Docker client.
func (r *Runtime) Docker() *client.Client { return r.dc }

// Container is one Docker container of a pod, as read back from Docker.
type Container struct {
	Meta
	ID      string
	Inspect *container.InspectResponse
}

// Running reports whether the container's process is running.
func (c *Container) Running() bool {
	return c.Inspect.State != nil && (c.Inspect.State.Running || c.Inspect.State.Paused || c.Inspect.State.Restarting)
}

// Finished reports whether the container ran and stopped, or failed to
// start.
func (c *Container) Finished() bool {
	return !c.Running() && State(c.Inspect).Terminated != nil
}

// Entry is a container in a listing: its labels and Docker state only.
type Entry struct {
	Meta
	ID    string
	State string // Docker's: created, running, exited, ...
}

// List returns every container of this node (all pods).
func (r *Runtime) List(ctx context.Context) ([]Entry, error) {
	return r.list(ctx, filters.NewArgs(filters.Arg("label", LabelNode+"="+r.cfg.Node)))
}

func (r *Runtime) list(ctx context.Context, f filters.Args) ([]Entry, error) {
	cs, err := r.dc.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]Entry, 0, len(cs))
	for _, c := range cs {
		m, err := ParseLabels(c.Labels)
		if err != nil {
			r.cfg.Logf("container %s: %v", c.ID[:12], err)
			continue
		}
		out = append(out, Entry{Meta: m, ID: c.ID, State: c.State})
	}
	return out, nil
}

// PodState is what Docker holds for one pod.
type PodState struct {
	// Sandboxes, newest attempt first.
	Sandboxes []*Container
	// Containers by spec name, newest attempt first.
	Containers map[string][]*Container
}

// Sandbox returns the newest sandbox, or nil.
func (s *PodState) Sandbox() *Container {
	if len(s.Sandboxes) == 0 {
		return nil
	}
	return s.Sandboxes[0]
}

// Latest returns the newest attempt of a spec container, or nil.
func (s *PodState) Latest(name string) *Container {
	if cs := s.Containers[name]; len(cs) > 0 {
		return cs[0]
	}
	return nil
}

// Previous returns the attempt before the newest one, or nil.
func (s *PodState) Previous(name string) *Container {
	if cs := s.Containers[name]; len(cs) > 1 {
		return cs[1]
	}
	return nil
}

// All returns every container of the pod.
func (s *PodState) All() []*Container {
	out := append([]*Container{}, s.Sandboxes...)
	for _, cs := range s.Containers {
		out = append(out, cs...)
	}
	return out
}

// Pod reads the state of one pod from Docker.
func (r *Runtime) Pod(ctx context.Context, uid types.UID) (*PodState, error) {
	entries, err := r.list(ctx, filters.NewArgs(
		filters.Arg("label", LabelNode+"="+r.cfg.Node),
		filters.Arg("label", LabelPodUID+"="+string(uid))))
	if err != nil {
		return nil, err
	}
	st := &PodState{Containers: map[string][]*Container{}}
	for _, e := range entries {
		in, err := r.inspect(ctx, e.ID)
		if errdefs.IsNotFound(err) {
			continue // removed meanwhile
		} else if err != nil {
			return nil, err
		}
		c := &Container{Meta: e.Meta, ID: e.ID, Inspect: in}
		if c.Kind == KindSandbox {
			st.Sandboxes = append(st.Sandboxes, c)
		} else {
			st.Containers[c.Name] = append(st.Containers[c.Name], c)
		}
	}
	newestFirst := func(cs []*Container) {
		sort.Slice(cs, func(i, j int) bool {
			if cs[i].Attempt != cs[j].Attempt {
				return cs[i].Attempt > cs[j].Attempt
			}
			return cs[i].Inspect.Created > cs[j].Inspect.Created
		})
	}
	newestFirst(st.Sandboxes)
	for _, cs := range st.Containers {
		newestFirst(cs)
	}
	return st, nil
}

// inspect reads a container, from the cache when it has exited before.
func (r *Runtime) inspect(ctx context.Context, id string) (*container.InspectResponse, error) {
	r.mu.Lock()
	in, ok := r.exited[id]
	r.mu.Unlock()
	if ok {
		return in, nil
	}
	resp, err := r.dc.ContainerInspect(ctx, id)
	if err != nil {
		return nil, err
	}
	if s := resp.State; s != nil && (s.Status == container.StateExited || s.Status == container.StateDead) {
		r.mu.Lock()
		r.exited[id] = &resp
		r.mu.Unlock()
	}
	return &resp, nil
}

// Stop stops a container: its stop signal (the image's STOPSIGNAL, else
// SIGTERM), then SIGKILL once grace has passed. It returns when the
// container has stopped.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	secs := int((grace + time.Second - 1) / time.Second)
	err := r.dc.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs})
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: %w", short(id), err)
	}
	return nil
}

// Remove removes a container (killing it if it still runs).
func (r *Runtime) Remove(ctx context.Context, id string) error {
	err := r.dc.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	r.mu.Lock()
	delete(r.exited, id)
	r.mu.Unlock()
	if err != nil && !errdefs.IsNotFound(err) && !strings.Contains(err.Error(), "is already in progress") {
		return fmt.Errorf("remove container %s: %w", short(id), err)
	}
	return nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
