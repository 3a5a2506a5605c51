package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupRoot is where the node container sees the cgroup hierarchy.
var cgroupRoot = "/sys/fs/cgroup"

// setupCgroups makes cgroups usable by the inner dockerd and returns the
// --cgroup-parent to give it ("" for dockerd's default).
//
// cgroup v2 (the node runs in a private cgroup namespace): as kind's and
// k3d's entrypoints do, remount /sys/fs/cgroup read-write if needed, move
// every process of the namespace root into a child "init" group, and
// enable all available controllers for the root's children, so that
// dockerd can create nested groups with controllers (the "no internal
// processes" rule forbids that while processes sit in the root).
//
// cgroup v1 (the host's hierarchy is bind-mounted, host cgroup namespace):
// nest the inner containers under the node container's own group, so
// they are accounted to, limited by and removed with the node.
func setupCgroups(logf func(string, ...any)) (parent string, err error) {
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		return "", setupCgroupV2(logf)
	}
	own, err := ownCgroupV1("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	if own == "/" {
		return "", nil
	}
	// The group must be visible at its full path (host hierarchy mounted).
	if _, err := os.Stat(filepath.Join(cgroupRoot, "memory", own)); err != nil {
		logf("cgroup v1: own group %s is not visible under %s; inner containers use dockerd's default parent", own, cgroupRoot)
		return "", nil
	}
	return filepath.Join(own, "mini"), nil
}

// ownCgroupV1 returns this process's path in the memory hierarchy (or the
// first named one) from a /proc/PID/cgroup file.
func ownCgroupV1(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	first := ""
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				return parts[2], nil
			}
		}
		if first == "" && parts[1] != "" {
			first = parts[2]
		}
	}
	if first == "" {
		return "", fmt.Errorf("no cgroup v1 hierarchy in %s", path)
	}
	return first, nil
}

func setupCgroupV2(logf func(string, ...any)) error {
	if err := writable(cgroupRoot); err != nil {
		// Mounted read-only (an unprivileged container): remount it.
		if err := syscall.Mount("", cgroupRoot, "", syscall.MS_REMOUNT, ""); err != nil {
			if err2 := syscall.Mount("", cgroupRoot, "", syscall.MS_REMOUNT|syscall.MS_BIND, ""); err2 != nil {
				return fmt.Errorf("remount %s read-write: %v; %v", cgroupRoot, err, err2)
			}
		}
	}
	initDir := filepath.Join(cgroupRoot, "init")
	if err := os.MkdirAll(initDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", initDir, err)
	}
	// Move processes until the root is empty (new ones may appear meanwhile).
	for attempt := 0; attempt < 10; attempt++ {
		procs, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.procs"))
		if err != nil {
			return err
		}
		pids := strings.Fields(string(procs))
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			// A process may have exited meanwhile: ignore its error.
			os.WriteFile(filepath.Join(initDir, "cgroup.procs"), []byte(pid), 0)
		}
	}
	ctrls, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.controllers"))
	if err != nil {
		return err
	}
	for _, c := range strings.Fields(string(ctrls)) {
		if err := os.WriteFile(filepath.Join(cgroupRoot, "cgroup.subtree_control"), []byte("+"+c), 0); err != nil {
			logf("cgroup v2: cannot enable controller %s for nested groups: %v", c, err)
		}
	}
	return nil
}

// writable reports whether dir is writable (nil) or why not.
func writable(dir string) error { return syscall.Access(dir, 2 /* W_OK */) }

// enableIPForward sets net.ipv4.ip_forward=1 (dockerd would otherwise set
// it itself and turn the FORWARD policy to DROP).
func enableIPForward() error {
	return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
}

// memTotal returns MemTotal of a meminfo file in bytes.
func memTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: bad MemTotal %q", path, fields[1])
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("%s: no MemTotal line", path)
}

// localIPFor returns the local address used to reach host (the node's IP
// on the cluster network). Connecting a UDP socket sends nothing.
func localIPFor(host string) (net.IP, error) {
	c, err := net.DialTimeout("udp", net.JoinHostPort(host, "6443"), time.Second)
	if err != nil {
		return nil, fmt.Errorf("find the local address towards %s: %w", host, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP, nil
}

// osImage returns PRETTY_NAME of an os-release file.
func osImage(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "linux"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "linux"
}

func kernelVersion() string {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return ""
	}
	b := make([]byte, 0, len(u.Release))
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return string(bytes.TrimSpace(b))
}

// iptablesLegacyDir is where chooseIPTables puts legacy symlinks.
var iptablesLegacyDir = "/run/mini/iptables-legacy"

// chooseIPTables keeps the default iptables when it works, and otherwise
// (a kernel without nf_tables under an nft iptables) switches to
// iptables-legacy where the image has it, by putting a directory of
// symlinks first on PATH, as the docker:dind entrypoint does. It returns
// a description of the choice.
func chooseIPTables(run func(name string, args ...string) error) string {
	if run("iptables", "-w", "-n", "-L", "INPUT") == nil {
		return "iptables"
	}
	legacy, err := exec.LookPath("iptables-legacy")
	if err != nil || run(legacy, "-w", "-n", "-L", "INPUT") != nil {
		return "iptables (not working; no working iptables-legacy either)"
	}
	if err := os.MkdirAll(iptablesLegacyDir, 0o755); err != nil {
		return "iptables (could not switch to legacy: " + err.Error() + ")"
	}
	dir := filepath.Dir(legacy)
	for _, t := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"} {
		src := filepath.Join(dir, t+"-legacy")
		if _, err := os.Stat(src); err == nil {
			os.Remove(filepath.Join(iptablesLegacyDir, t))
			os.Symlink(src, filepath.Join(iptablesLegacyDir, t))
		}
	}
	os.Setenv("PATH", iptablesLegacyDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return "iptables-legacy (the default iptables does not work here)"
}
