package cluster

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeHostConfig(t *testing.T) {
	tests := []struct {
		name       string
		mode       string
		v2         bool
		privileged bool
		cgroupns   container.CgroupnsMode
		cgroupBind bool
	}{
		{name: "privileged v2", mode: ModePrivileged, v2: true, privileged: true, cgroupns: container.CgroupnsModePrivate},
		{name: "privileged v1", mode: ModePrivileged, privileged: true, cgroupns: container.CgroupnsModeHost, cgroupBind: true},
		{name: "unprivileged v1", mode: ModeUnprivileged, cgroupns: container.CgroupnsModeHost, cgroupBind: true},
		{name: "unprivileged v2", mode: ModeUnprivileged, v2: true, cgroupns: container.CgroupnsModePrivate},
	}
	for _, tt := range tests {
		h := nodeHostConfig(tt.mode, tt.v2)
		if h.Privileged != tt.privileged || h.CgroupnsMode != tt.cgroupns {
			t.Errorf("%s: privileged=%v cgroupns=%s, want %v %s", tt.name, h.Privileged, h.CgroupnsMode, tt.privileged, tt.cgroupns)
		}
		bind := slices.ContainsFunc(h.Mounts, func(m mount.Mount) bool {
			return m.Type == mount.TypeBind && m.Source == "/sys/fs/cgroup" && m.Target == "/sys/fs/cgroup" && !m.ReadOnly
		})
		if bind != tt.cgroupBind {
			t.Errorf("%s: /sys/fs/cgroup bound rw = %v, want %v", tt.name, bind, tt.cgroupBind)
		}
		if _, ok := h.Tmpfs["/run"]; !ok {
			t.Errorf("%s: no tmpfs at /run", tt.name)
		}
		if tt.mode == ModeUnprivileged {
			if !reflect.DeepEqual([]string(h.CapAdd), []string{"ALL"}) || !reflect.DeepEqual([]string(h.CapDrop), []string{"SYS_RESOURCE"}) {
				t.Errorf("%s: caps add %v drop %v, want ALL but SYS_RESOURCE", tt.name, h.CapAdd, h.CapDrop)
			}
			if !slices.Contains(h.SecurityOpt, "seccomp=unconfined") || !slices.Contains(h.SecurityOpt, "apparmor=unconfined") {
				t.Errorf("%s: security options %v", tt.name, h.SecurityOpt)
			}
			// systempaths=unconfined is empty, non-nil lists (nil means the defaults).
			if h.MaskedPaths == nil || len(h.MaskedPaths) != 0 || h.ReadonlyPaths == nil || len(h.ReadonlyPaths) != 0 {
				t.Errorf("%s: masked %v readonly %v, want empty non-nil lists", tt.name, h.MaskedPaths, h.ReadonlyPaths)
			}
		}
	}
}

func TestNodeSpec(t *testing.T) {
	subnet := netip.MustParsePrefix("172.30.4.0/24")
	env := nodeEnv{server: "https://172.30.4.2:6443", token: "tok", ca: []byte("PEM"),
		node: NodeSettings{Labels: map[string]string{"tier": "web"}}, perNode: map[int]NodeSettings{2: {Labels: map[string]string{"gpu": "yes"}}}}
	s := nodeSpec("demo", "op9", "mini-node:x", ModeUnprivileged, false, subnet, 2, env)
	if s.name != "mini-demo-node-2" || s.cfg.Hostname != s.name {
		t.Errorf("name %q hostname %q", s.name, s.cfg.Hostname)
	}
	if ip := s.net.EndpointsConfig["mini-demo"].IPAMConfig.IPv4Address; ip != "172.30.4.12" {
		t.Errorf("fixed IP %s, want 172.30.4.12", ip)
	}
	for _, want := range []string{"MINI_SERVER=https://172.30.4.2:6443", "MINI_TOKEN=tok", "MINI_CA=PEM", "MINI_NODE_NAME=mini-demo-node-2",
		`MINI_NODE_LABELS={"gpu":"yes","tier":"web"}`} {
		if !slices.Contains(s.cfg.Env, want) {
			t.Errorf("env %v lacks %s", s.cfg.Env, want)
		}
	}
	if !slices.ContainsFunc(s.host.Mounts, func(m mount.Mount) bool {
		return m.Type == mount.TypeVolume && m.Source == "mini-demo-node-2-docker" && m.Target == "/var/lib/docker"
	}) {
		t.Errorf("no volume mini-demo-node-2-docker at /var/lib/docker: %+v", s.host.Mounts)
	}
	if s.cfg.Labels[LabelNodeIndex] != "2" || s.cfg.Labels[LabelRole] != RoleNode || s.cfg.Labels[LabelOp] != "op9" {
		t.Errorf("labels %v", s.cfg.Labels)
	}
}

func TestLBSpec(t *testing.T) {
	subnet := netip.MustParsePrefix("172.30.4.0/24")
	ports := []PortMapping{
		{HostIP: "127.0.0.1", HostPort: 8080, NodePort: 30080, Proto: "tcp"},
		{HostIP: "127.0.0.1", HostPort: 8081, NodePort: 30080, Proto: "tcp"},
		{HostIP: "0.0.0.0", HostPort: 5353, NodePort: 30053, Proto: "udp"},
	}
	s := lbSpec("demo", "op", "mini:x", subnet, "127.0.0.1", 6550, ports, "lbtok", []byte("PEM"))
	wantCmd := []string{"lb", "--api-backend", "172.30.4.2:6443", "--api-listen", ":6443", "--port", "30080:30080/tcp", "--port", "30053:30053/udp"}
	if !reflect.DeepEqual([]string(s.cfg.Cmd), wantCmd) {
		t.Errorf("cmd %v, want %v", s.cfg.Cmd, wantCmd)
	}
	if b := s.host.PortBindings["6443/tcp"]; len(b) != 1 || b[0].HostIP != "127.0.0.1" || b[0].HostPort != "6550" {
		t.Errorf("API binding %v", b)
	}
	if b := s.host.PortBindings["30080/tcp"]; len(b) != 2 || b[0].HostPort != "8080" || b[1].HostPort != "8081" {
		t.Errorf("30080 bindings %v, want host ports 8080 and 8081", b)
	}
	if b := s.host.PortBindings["30053/udp"]; len(b) != 1 || b[0].HostIP != "0.0.0.0" {
		t.Errorf("udp binding %v", b)
	}
	if s.cfg.Labels[LabelAPI] != "127.0.0.1:6550" {
		t.Errorf("API label %q", s.cfg.Labels[LabelAPI])
	}
	got, err := DecodePorts(s.cfg.Labels[LabelPorts])
	if err != nil || !reflect.DeepEqual(got, ports) {
		t.Errorf("ports label decodes to %v, %v; want %v", got, err, ports)
	}
	if !slices.Contains(s.cfg.Env, "MINI_TOKEN=lbtok") {
		t.Errorf("the load balancer must get its read-only token: %v", s.cfg.Env)
	}
}

func TestFreeIndices(t *testing.T) {
	for _, tt := range []struct {
		used []int
		n    int
		want []int
	}{
		{nil, 3, []int{0, 1, 2}},
		{[]int{0, 1, 2}, 1, []int{3}},
		{[]int{0, 2}, 2, []int{1, 3}},
		{[]int{1}, 1, []int{0}},
	} {
		if got := freeIndices(tt.used, tt.n); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("freeIndices(%v, %d) = %v, want %v", tt.used, tt.n, got, tt.want)
		}
	}
}

func TestNotReady(t *testing.T) {
	at := func(ts time.Time, status corev1.ConditionStatus, msg string) corev1.Node {
		return corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: status, Message: msg, LastHeartbeatTime: metav1.NewTime(ts)}}}}
	}
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	a := at(t0, corev1.ConditionTrue, "ok")
	a.Name = "a"
	b := at(t0, corev1.ConditionFalse, "dockerd is not answering")
	b.Name = "b"
	nodes := []corev1.Node{a, b}
	got := notReady([]string{"a", "b", "c"}, nodes, time.Time{})
	want := []string{"b (dockerd is not answering)", "c (not registered)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("notReady = %v, want %v", got, want)
	}
	// After a restart, a Ready written before it does not count (second precision).
	if got := notReady([]string{"a"}, nodes, t0.Add(500*time.Millisecond)); len(got) != 0 {
		t.Errorf("Ready in the same second as since: notReady = %v, want none", got)
	}
	if got := notReady([]string{"a"}, nodes, t0.Add(2*time.Second)); len(got) != 1 || !strings.Contains(got[0], "before the start") {
		t.Errorf("Ready before since: notReady = %v, want a flagged stale", got)
	}
}

func TestProbeReason(t *testing.T) {
	err := errors.New("Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply caps: operation not permitted: unknown")
	if got := probeReason(err); got != "unable to apply caps: operation not permitted" {
		t.Errorf("probeReason = %q", got)
	}
	if got := probeReason(errors.New("short")); got != "short" {
		t.Errorf("probeReason(short) = %q", got)
	}
}

func TestCheckStatic(t *testing.T) {
	// /bin/sh is linked against libc (it has an ELF interpreter).
	if err := checkStatic("/bin/sh"); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("checkStatic(/bin/sh) = %v, want a dynamically-linked refusal", err)
	}
}
