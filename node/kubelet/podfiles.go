package kubelet

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/minicluster/mini/node/runtime"
)

// hostsFile renders a pod's /etc/hosts as the kubelet does.
func hostsFile(pod *corev1.Pod, podIP, clusterDomain string) []byte {
	var b bytes.Buffer
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	host, domain := runtime.Hostname(pod, clusterDomain)
	if podIP != "" {
		if domain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", podIP, host, domain, host)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", podIP, host)
		}
	}
	hostAliases(&b, pod)
	return b.Bytes()
}

// hostAliasesOnly renders just the HostAliases entries.
func hostAliasesOnly(pod *corev1.Pod) []byte {
	var b bytes.Buffer
	hostAliases(&b, pod)
	return b.Bytes()
}

func hostAliases(b *bytes.Buffer, pod *corev1.Pod) {
	if len(pod.Spec.HostAliases) == 0 {
		return
	}
	b.WriteString("\n# Entries added by HostAliases.\n")
	for _, a := range pod.Spec.HostAliases {
		fmt.Fprintf(b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
	}
}

// resolvConf renders a pod's /etc/resolv.conf for its DNS policy; nodeConf
// is the node's own resolv.conf (for dnsPolicy Default). It returns nil
// when the pod should keep what the container runtime gives it.
func resolvConf(pod *corev1.Pod, clusterDNS, clusterDomain string, nodeConf []byte) []byte {
	var servers, search, options []string
	policy := pod.Spec.DNSPolicy
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault // ClusterFirst does not apply to host-network pods
	}
	switch policy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet, "":
		servers = []string{clusterDNS}
		search = []string{pod.Namespace + ".svc." + clusterDomain, "svc." + clusterDomain, clusterDomain}
		options = []string{"ndots:5"}
	case corev1.DNSDefault:
		servers, search, options = parseResolvConf(nodeConf)
		// the node's loopback resolver (Docker's 127.0.0.11 in a node
		// container) is not reachable from pods: use the cluster DNS, which
		// forwards other names upstream
		servers = slices.DeleteFunc(servers, func(s string) bool { return strings.HasPrefix(s, "127.") })
		if len(servers) == 0 {
			servers = []string{clusterDNS}
		}
	case corev1.DNSNone:
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		servers = appendNew(servers, dc.Nameservers...)
		search = appendNew(search, dc.Searches...)
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			options = slices.DeleteFunc(options, func(s string) bool { n, _, _ := strings.Cut(s, ":"); return n == o.Name })
			options = append(options, opt)
		}
	}
	var b bytes.Buffer
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.Bytes()
}

func appendNew(list []string, more ...string) []string {
	for _, m := range more {
		if !slices.Contains(list, m) {
			list = append(list, m)
		}
	}
	return list
}

// parseResolvConf reads nameserver, search and options lines.
func parseResolvConf(data []byte) (servers, search, options []string) {
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "nameserver":
			servers = append(servers, f[1])
		case "search", "domain":
			search = f[1:]
		case "options":
			options = append(options, f[1:]...)
		}
	}
	return servers, search, options
}

// writeIfChanged writes data to path unless the file already holds it. It
// writes in place, so containers that bind-mount the file see the change.
func writeIfChanged(path string, data []byte, mode os.FileMode) error {
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, mode)
}
