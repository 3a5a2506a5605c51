package cluster

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/docker/docker/api/types/filters"
)

// Labels put on every Docker object mini makes. A cluster is exactly the set
// of containers, volumes and networks carrying LabelCluster=<name>; nothing
// else records it.
const (
	LabelCluster   = "mini.cluster"    // cluster name, on everything
	LabelRole      = "mini.role"       // RoleControl, RoleNode, RoleLB, RoleProbe
	LabelNodeIndex = "mini.node.index" // node containers and their volumes: the index i of mini-NAME-node-<i>
	LabelAPI       = "mini.api"        // control plane and load balancer: host address of the API, IP:PORT
	LabelPorts     = "mini.ports"      // load balancer: the -p mappings, EncodePorts
	LabelOp        = "mini.op"         // id of the create or node-add operation that made the object (rollback)
	LabelVersion   = "mini.version"    // mini version that made the object
	LabelNodeMode  = "mini.node.mode"  // node containers: ModePrivileged or ModeUnprivileged
)

// Roles.
const (
	RoleControl = "control"
	RoleNode    = "node"
	RoleLB      = "lb"
	RoleProbe   = "probe" // short-lived privilege probe of a create
)

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// MaxNameLen bounds cluster names so container and Node names stay valid DNS labels.
const MaxNameLen = 32

// ValidateName checks a cluster name.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("a cluster name is required")
	}
	if len(name) > MaxNameLen || !nameRE.MatchString(name) {
		return fmt.Errorf("invalid cluster name %q: use at most %d lower-case letters, digits and '-', starting and ending with a letter or digit", name, MaxNameLen)
	}
	return nil
}

// Object names of a cluster.
func NetworkName(cluster string) string     { return "mini-" + cluster }
func ControlName(cluster string) string     { return "mini-" + cluster + "-control" }
func LBName(cluster string) string          { return "mini-" + cluster + "-lb" }
func DataVolume(cluster string) string      { return "mini-" + cluster + "-data" }
func NodeName(cluster string, i int) string { return fmt.Sprintf("mini-%s-node-%d", cluster, i) }
func NodeVolume(cluster string, i int) string {
	return fmt.Sprintf("mini-%s-node-%d-docker", cluster, i)
}

// ContextName is the kubeconfig context (and cluster and user) of a cluster.
func ContextName(cluster string) string { return "mini-" + cluster }

// labels returns the labels of an object of cluster with role, plus extra
// key/value pairs.
func labels(cluster, role, op string, extra ...string) map[string]string {
	m := map[string]string{LabelCluster: cluster, LabelRole: role, LabelVersion: Version}
	if op != "" {
		m[LabelOp] = op
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// clusterFilter selects the objects of one cluster ("" = of every cluster),
// optionally with further key=value label conditions.
func clusterFilter(cluster string, kv ...string) filters.Args {
	f := filters.NewArgs()
	if cluster == "" {
		f.Add("label", LabelCluster)
	} else {
		f.Add("label", LabelCluster+"="+cluster)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add("label", kv[i]+"="+kv[i+1])
	}
	return f
}

// nodeIndex reads the node index label; ok is false when it is absent or bad.
func nodeIndex(l map[string]string) (int, bool) {
	s, found := l[LabelNodeIndex]
	if !found {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0
}
