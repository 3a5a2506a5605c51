package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/go-connections/nat"
)

// Node container modes.
const (
	ModePrivileged   = "privileged"
	ModeUnprivileged = "unprivileged"
)

// APIContainerPort is where the API server (control plane) and the load
// balancer's API listener serve inside their containers.
const APIContainerPort = 6443

// spec is everything needed to create one container.
type spec struct {
	name string
	cfg  *container.Config
	host *container.HostConfig
	net  *network.NetworkingConfig
}

func attach(cluster string, ip netip.Addr) *network.NetworkingConfig {
	return &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		NetworkName(cluster): {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ip.String()}},
	}}
}

var keepRunning = container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}

// controlSpec is the control plane container. It records the node image
// and the settings of every node (JSON) for nodes added later.
func controlSpec(cluster, op, img string, subnet netip.Prefix, api, nodeImage, nodeSettings string) spec {
	ip := hostAddr(subnet, controlHost)
	return spec{
		name: ControlName(cluster),
		cfg: &container.Config{
			Image:    img,
			Hostname: ControlName(cluster),
			Cmd: []string{"control-plane", "--data-dir", "/data", "--listen", fmt.Sprintf("0.0.0.0:%d", APIContainerPort),
				"--server-url", "https://" + api, "--tls-san", ControlName(cluster), "--tls-san", ip.String(),
				// Cluster DNS for pods: the kube-dns Service sends them here.
				"--dns-listen", ":53", "--dns-advertise", ip.String(),
				// Pods reach the API through the kubernetes Service (10.96.0.1).
				"--advertise-address", ip.String()},
			Labels: labels(cluster, RoleControl, op, LabelAPI, api, labelNodeImage, nodeImage, labelNodeSettings, nodeSettings),
		},
		host: &container.HostConfig{
			Mounts:        []mount.Mount{{Type: mount.TypeVolume, Source: DataVolume(cluster), Target: "/data"}},
			RestartPolicy: keepRunning,
		},
		net: attach(cluster, ip),
	}
}

// labelNodeImage on the control plane names the node image, so nodes
// added later match the first ones even when none is left.
const labelNodeImage = "mini.node.image"

// nodeEnv is what a node agent needs to join.
type nodeEnv struct {
	server  string // https://<control IP>:6443
	token   string
	ca      []byte
	node    NodeSettings         // every node's labels and taints
	perNode map[int]NodeSettings // more for some nodes, by index
}

// nodeHostConfig is the host configuration of a node container in mode,
// without its /var/lib/docker volume.
func nodeHostConfig(mode string, cgroupV2 bool) *container.HostConfig {
	host := &container.HostConfig{
		Tmpfs: map[string]string{"/run": "", "/tmp": ""},
		// The node's cgroups: v2 gets a private namespace (the agent nests
		// inside it); v1 sees the host's hierarchy at the real paths so the
		// agent can nest the inner containers under its own group.
		CgroupnsMode:  container.CgroupnsModePrivate,
		RestartPolicy: keepRunning,
	}
	if !cgroupV2 {
		host.CgroupnsMode = container.CgroupnsModeHost
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: "/sys/fs/cgroup", Target: "/sys/fs/cgroup"})
	}
	if mode == ModePrivileged {
		host.Privileged = true
		return host
	}
	// What works where --privileged is refused (the bounding set lacks
	// CAP_SYS_RESOURCE): every other capability, no seccomp/AppArmor
	// confinement, unmasked /proc and /sys.
	host.CapAdd = []string{"ALL"}
	host.CapDrop = []string{"SYS_RESOURCE"}
	host.SecurityOpt = []string{"seccomp=unconfined", "apparmor=unconfined"}
	host.MaskedPaths = []string{}
	host.ReadonlyPaths = []string{}
	return host
}

// nodeSpec is node container i.
func nodeSpec(cluster, op, img, mode string, cgroupV2 bool, subnet netip.Prefix, i int, env nodeEnv) spec {
	name := NodeName(cluster, i)
	host := nodeHostConfig(mode, cgroupV2)
	host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeVolume, Source: NodeVolume(cluster, i), Target: "/var/lib/docker"})
	return spec{
		name: name,
		cfg: &container.Config{
			Image:    img,
			Hostname: name,
			Env: append([]string{"MINI_SERVER=" + env.server, "MINI_TOKEN=" + env.token, "MINI_CA=" + string(env.ca),
				"MINI_NODE_NAME=" + name, "MINI_CLUSTER=" + cluster}, env.node.merge(env.perNode[i]).env()...),
			Labels:      labels(cluster, RoleNode, op, LabelNodeIndex, strconv.Itoa(i), LabelNodeMode, mode),
			StopTimeout: ptr(10),
		},
		host: host,
		net:  attach(cluster, NodeIP(subnet, i)),
	}
}

// lbSpec is the load balancer container.
func lbSpec(cluster, op, img string, subnet netip.Prefix, apiIP string, apiPort int, ports []PortMapping, token string, ca []byte) spec {
	ctrl := hostAddr(subnet, controlHost).String()
	api := fmt.Sprintf("%s:%d", hostForm(apiIP), apiPort)
	cmd := []string{"lb", "--api-backend", fmt.Sprintf("%s:%d", ctrl, APIContainerPort), "--api-listen", fmt.Sprintf(":%d", APIContainerPort)}
	exposed := nat.PortSet{}
	bindings := nat.PortMap{}
	apiPortKey := nat.Port(fmt.Sprintf("%d/tcp", APIContainerPort))
	exposed[apiPortKey] = struct{}{}
	bindings[apiPortKey] = []nat.PortBinding{{HostIP: apiIP, HostPort: strconv.Itoa(apiPort)}}
	listening := map[nat.Port]bool{}
	for _, p := range ports {
		k := nat.Port(fmt.Sprintf("%d/%s", p.NodePort, p.Proto))
		if !listening[k] {
			listening[k] = true
			cmd = append(cmd, "--port", fmt.Sprintf("%d:%d/%s", p.NodePort, p.NodePort, p.Proto))
		}
		exposed[k] = struct{}{}
		bindings[k] = append(bindings[k], nat.PortBinding{HostIP: p.HostIP, HostPort: strconv.Itoa(p.HostPort)})
	}
	return spec{
		name: LBName(cluster),
		cfg: &container.Config{
			Image: img, Hostname: LBName(cluster), Cmd: cmd, ExposedPorts: exposed,
			Env:    []string{fmt.Sprintf("MINI_SERVER=https://%s:%d", ctrl, APIContainerPort), "MINI_TOKEN=" + token, "MINI_CA=" + string(ca)},
			Labels: labels(cluster, RoleLB, op, LabelAPI, api, LabelPorts, EncodePorts(ports)),
		},
		host: &container.HostConfig{PortBindings: bindings, RestartPolicy: keepRunning},
		net:  attach(cluster, hostAddr(subnet, lbHost)),
	}
}

func ptr[T any](v T) *T { return &v }

// createContainer creates s (with its volumes labelled for the cluster)
// and returns its ID; it completes even if ctx is cancelled meanwhile.
func createContainer(ctx context.Context, d *Docker, cluster, op, role string, s spec, extraLabels ...string) (string, error) {
	for _, m := range s.host.Mounts {
		if m.Type != mount.TypeVolume {
			continue
		}
		vl := labels(cluster, role, op, extraLabels...)
		if err := mutate(ctx, 30*time.Second, func(ctx context.Context) error {
			_, err := d.VolumeCreate(ctx, volume.CreateOptions{Name: m.Source, Labels: vl})
			return err
		}); err != nil {
			return "", fmt.Errorf("create volume %s: %w", m.Source, err)
		}
	}
	var id string
	err := mutate(ctx, 30*time.Second, func(ctx context.Context) error {
		resp, err := d.ContainerCreate(ctx, s.cfg, s.host, s.net, nil, s.name)
		id = resp.ID
		return err
	})
	if err != nil {
		if strings.Contains(err.Error(), "already in use") {
			return "", fmt.Errorf("create container %s: the name is taken by another container: %w", s.name, err)
		}
		return "", fmt.Errorf("create container %s: %w", s.name, err)
	}
	return id, nil
}

// startContainer starts a created container.
func startContainer(ctx context.Context, d *Docker, name string) error {
	return mutate(ctx, 60*time.Second, func(ctx context.Context) error {
		if err := d.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
			return fmt.Errorf("start container %s: %w", name, err)
		}
		return nil
	})
}
