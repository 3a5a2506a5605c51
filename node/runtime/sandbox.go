package runtime

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/go-connections/nat"
	corev1 "k8s.io/api/core/v1"
)

// PauseImageTag returns the tag of the pause image built from the mini
// binary at path: mini-pause:<first 12 hex digits of its SHA-256>.
func PauseImageTag(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("pause image: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("pause image: hashing %s: %w", path, err)
	}
	return "mini-pause:" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// EnsurePauseImage makes sure the daemon has the pause image of the mini
// binary at path (FROM scratch, /mini, command `mini pause`) and returns its
// tag. The image is imported from a one-file root filesystem tar (no build
// step), once: later calls find the tag.
func EnsurePauseImage(ctx context.Context, dc *client.Client, path string) (string, error) {
	tag, err := PauseImageTag(path)
	if err != nil {
		return "", err
	}
	if _, err := dc.ImageInspect(ctx, tag); err == nil {
		return tag, nil
	} else if !errdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect %s: %w", tag, err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeRootfs(pw, path)) }()
	defer pr.Close()
	rc, err := dc.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, tag, image.ImportOptions{
		Changes: []string{`CMD ["/mini","pause"]`, `LABEL mini.image=pause`},
	})
	if err != nil {
		return "", fmt.Errorf("import %s: %w", tag, err)
	}
	defer rc.Close()
	if err := readJSONMessages(rc); err != nil {
		return "", fmt.Errorf("import %s: %w", tag, err)
	}
	return tag, nil
}

func writeRootfs(w io.Writer, binary string) error {
	f, err := os.Open(binary)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "mini", Mode: 0o755, Size: fi.Size(), ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return err
	}
	return tw.Close()
}

// EnsureNetwork creates the Docker bridge network for pods with the given
// subnet (the node's pod CIDR) unless it exists; an existing network must
// have that subnet.
func EnsureNetwork(ctx context.Context, dc *client.Client, name, subnet string, labels, options map[string]string) error {
	_, ipnet, err := net.ParseCIDR(subnet)
	if err != nil {
		return fmt.Errorf("pod network %s: invalid subnet %q: %w", name, subnet, err)
	}
	if n, err := dc.NetworkInspect(ctx, name, network.InspectOptions{}); err == nil {
		for _, c := range n.IPAM.Config {
			if c.Subnet == ipnet.String() {
				return nil
			}
		}
		return fmt.Errorf("pod network %s exists with subnets %v, not %s", name, n.IPAM.Config, ipnet)
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("inspect network %s: %w", name, err)
	}
	gw := make(net.IP, len(ipnet.IP.To4()))
	copy(gw, ipnet.IP.To4())
	gw[len(gw)-1]++
	_, err = dc.NetworkCreate(ctx, name, network.CreateOptions{
		Driver: "bridge", Labels: labels, Options: options,
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: ipnet.String(), Gateway: gw.String()}}},
	})
	if err != nil && !errdefs.IsConflict(err) {
		return fmt.Errorf("create pod network %s (%s): %w", name, ipnet, err)
	}
	return nil
}

// Hostname returns the hostname of a pod's containers (spec.hostname or
// the pod name, cut to 63 characters) and its domain (from
// spec.subdomain: <subdomain>.<namespace>.svc.<clusterDomain>).
func Hostname(pod *corev1.Pod, clusterDomain string) (host, domain string) {
	host = pod.Spec.Hostname
	if host == "" {
		host = pod.Name
	}
	if len(host) > 63 {
		host = strings.TrimRight(host[:63], "-.")
	}
	if pod.Spec.Subdomain != "" {
		domain = pod.Spec.Subdomain + "." + pod.Namespace + ".svc." + clusterDomain
	}
	return host, domain
}

// CreateSandbox creates and starts the sandbox of attempt `attempt` of a
// pod, and returns it inspected (with its IP).
func (r *Runtime) CreateSandbox(ctx context.Context, pod *corev1.Pod, attempt int, clusterDomain string) (*Container, error) {
	m := Meta{PodUID: pod.UID, PodName: pod.Name, PodNamespace: pod.Namespace, Node: r.cfg.Node, Kind: KindSandbox, Attempt: attempt}
	host, domain := Hostname(pod, clusterDomain)
	exposed, bindings, err := r.hostPorts(pod)
	if err != nil {
		return nil, err
	}
	cfg := &container.Config{Image: r.cfg.PauseImage, Labels: m.Labels(r.cfg.ExtraLabels), ExposedPorts: exposed}
	hc := &container.HostConfig{
		IpcMode:      container.IPCModeShareable,
		PortBindings: bindings,
		LogConfig:    container.LogConfig{Type: "none"},
	}
	nc := &network.NetworkingConfig{}
	if pod.Spec.HostNetwork {
		hc.NetworkMode = network.NetworkHost
	} else {
		cfg.Hostname, cfg.Domainname = host, domain
		hc.NetworkMode = container.NetworkMode(r.cfg.Network)
		nc.EndpointsConfig = map[string]*network.EndpointSettings{r.cfg.Network: {}}
	}
	if sc := pod.Spec.SecurityContext; sc != nil && len(sc.Sysctls) > 0 {
		hc.Sysctls = map[string]string{}
		for _, s := range sc.Sysctls {
			hc.Sysctls[s.Name] = s.Value
		}
	}
	resp, err := r.dc.ContainerCreate(ctx, cfg, hc, nc, nil, m.ContainerName())
	if err != nil {
		return nil, fmt.Errorf("create sandbox %s: %w", m.ContainerName(), err)
	}
	if err := r.dc.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		r.Remove(context.WithoutCancel(ctx), resp.ID) // the next attempt makes a new one
		return nil, fmt.Errorf("start sandbox %s: %w", m.ContainerName(), err)
	}
	in, err := r.inspect(ctx, resp.ID)
	if err != nil {
		return nil, err
	}
	return &Container{Meta: m, ID: resp.ID, Inspect: in}, nil
}

// hostPorts returns the ports a sandbox publishes on the node's IP: every
// container port with a hostPort.
func (r *Runtime) hostPorts(pod *corev1.Pod) (nat.PortSet, nat.PortMap, error) {
	exposed, bindings := nat.PortSet{}, nat.PortMap{}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 || pod.Spec.HostNetwork {
				continue
			}
			proto := strings.ToLower(string(p.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			port, err := nat.NewPort(proto, strconv.Itoa(int(p.ContainerPort)))
			if err != nil {
				return nil, nil, fmt.Errorf("container %s port %d: %w", c.Name, p.ContainerPort, err)
			}
			hostIP := p.HostIP
			if hostIP == "" {
				hostIP = r.cfg.NodeIP
			}
			exposed[port] = struct{}{}
			bindings[port] = append(bindings[port], nat.PortBinding{HostIP: hostIP, HostPort: strconv.Itoa(int(p.HostPort))})
		}
	}
	return exposed, bindings, nil
}

// IP returns the sandbox's address on the pod network ("" if none).
func (r *Runtime) IP(sandbox *Container) string {
	ns := sandbox.Inspect.NetworkSettings
	if ns == nil {
		return ""
	}
	if ep, ok := ns.Networks[r.cfg.Network]; ok && ep != nil && ep.IPAddress != "" {
		return ep.IPAddress
	}
	return ns.IPAddress
}
