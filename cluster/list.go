package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

// NotFoundError says a cluster (or a node of it) does not exist.
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string { return e.What + " does not exist" }

// Info is a cluster as Docker shows it.
type Info struct {
	Name    string
	API     string // host address of the API (IP:PORT)
	Ports   []PortMapping
	Nodes   []NodeInfo // by index
	Running int        // running containers
	Total   int        // all containers (control plane, nodes, load balancer)
	Status  string     // "running", "stopped", or "degraded (…)"
}

// NodeInfo is one node container.
type NodeInfo struct {
	Name    string
	Index   int
	IP      string
	State   string // Docker's: running, exited, …
	Running bool
	Mode    string // ModePrivileged or ModeUnprivileged
}

// List returns every cluster, by name.
func List(ctx context.Context, d *Docker) ([]Info, error) {
	ctrs, err := d.ContainerList(ctx, container.ListOptions{All: true, Filters: clusterFilter("")})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	by := map[string][]container.Summary{}
	for _, c := range ctrs {
		if c.Labels[LabelRole] == RoleProbe {
			continue
		}
		by[c.Labels[LabelCluster]] = append(by[c.Labels[LabelCluster]], c)
	}
	// A cluster whose containers are gone still has its network until deleted.
	nets, err := d.NetworkList(ctx, network.ListOptions{Filters: clusterFilter("")})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets {
		if _, ok := by[n.Labels[LabelCluster]]; !ok {
			by[n.Labels[LabelCluster]] = nil
		}
	}
	out := make([]Info, 0, len(by))
	for name, cs := range by {
		out = append(out, summarize(name, cs))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Get returns one cluster, or a *NotFoundError.
func Get(ctx context.Context, d *Docker, name string) (Info, error) {
	all, err := List(ctx, d)
	if err != nil {
		return Info{}, err
	}
	for _, i := range all {
		if i.Name == name {
			return i, nil
		}
	}
	return Info{}, &NotFoundError{What: fmt.Sprintf("cluster %q", name)}
}

func summarize(name string, cs []container.Summary) Info {
	info := Info{Name: name, Total: len(cs)}
	for _, c := range cs {
		running := c.State == "running"
		if running {
			info.Running++
		}
		switch c.Labels[LabelRole] {
		case RoleControl:
			if info.API == "" {
				info.API = c.Labels[LabelAPI]
			}
		case RoleLB:
			info.API = c.Labels[LabelAPI]
			info.Ports, _ = DecodePorts(c.Labels[LabelPorts])
		case RoleNode:
			i, _ := nodeIndex(c.Labels)
			n := NodeInfo{Name: containerName(c), Index: i, State: c.State, Running: running, Mode: c.Labels[LabelNodeMode]}
			if c.NetworkSettings != nil {
				if ep, ok := c.NetworkSettings.Networks[NetworkName(name)]; ok {
					n.IP = ep.IPAddress
					if n.IP == "" && ep.IPAMConfig != nil {
						n.IP = ep.IPAMConfig.IPv4Address
					}
				}
			}
			info.Nodes = append(info.Nodes, n)
		}
	}
	sort.Slice(info.Nodes, func(i, j int) bool { return info.Nodes[i].Index < info.Nodes[j].Index })
	switch {
	case info.Total == 0:
		info.Status = "broken (no containers; delete it)"
	case info.Running == info.Total:
		info.Status = "running"
	case info.Running == 0:
		info.Status = "stopped"
	default:
		var down []string
		for _, c := range cs {
			if c.State != "running" {
				down = append(down, containerName(c)+" "+c.State)
			}
		}
		sort.Strings(down)
		info.Status = "degraded (" + strings.Join(down, ", ") + ")"
	}
	return info
}

// findOne returns the cluster's single container with role.
func findOne(ctx context.Context, d *Docker, cluster, role string) (container.Summary, error) {
	cs, err := d.ContainerList(ctx, container.ListOptions{All: true, Filters: clusterFilter(cluster, LabelRole, role)})
	if err != nil {
		return container.Summary{}, fmt.Errorf("list containers: %w", err)
	}
	if len(cs) == 0 {
		if role == RoleControl {
			return container.Summary{}, &NotFoundError{What: fmt.Sprintf("cluster %q", cluster)}
		}
		return container.Summary{}, &NotFoundError{What: fmt.Sprintf("the %s container of cluster %q", role, cluster)}
	}
	return cs[0], nil
}
