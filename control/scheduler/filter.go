package scheduler

import (
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Reasons a node does not fit a pod, worded as Kubernetes's scheduler words
// them in "0/N nodes are available: …" messages.
const (
	reasonUnschedulable = "node(s) were unschedulable"
	reasonAffinity      = "node(s) didn't match Pod's node affinity/selector"
	reasonPorts         = "node(s) didn't have free ports for the requested pod ports"
	reasonTooManyPods   = "Too many pods"
	reasonNoNode        = "node(s) were not found" // a pod pinned to a missing node
)

func reasonTaint(t corev1.Taint) string {
	return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)
}

func reasonInsufficient(name corev1.ResourceName) string { return "Insufficient " + string(name) }

// nodeInfo is the scheduler's incrementally kept view of one node: what it
// offers (from the Node) and what the pods bound or assumed on it use.
type nodeInfo struct {
	name string
	node *corev1.Node // nil while pods name a node the cache has not seen

	labels        labels.Set
	fields        fields.Set
	alloc         resources
	allocPods     int64
	unschedulable bool
	// taints are the node's NoSchedule and NoExecute taints, plus the
	// condition taint Kubernetes's node lifecycle controller would set
	// when the node is not Ready (so pods that tolerate it still fit).
	taints []corev1.Taint

	requested resources // sum of the pods' requests
	nonZero   resources // the same with scoring defaults
	pods      map[types.UID]*podInfo
	ports     map[hostPort]int // host ports in use (count of pods)
}

func newNodeInfo(name string) *nodeInfo {
	return &nodeInfo{name: name, pods: map[types.UID]*podInfo{}}
}

// setNode records what a Node offers.
func (n *nodeInfo) setNode(node *corev1.Node) {
	n.node = node
	n.labels = labels.Set(node.Labels)
	n.fields = fields.Set{"metadata.name": node.Name}
	n.alloc = resourcesOf(node.Status.Allocatable)
	n.allocPods = node.Status.Allocatable.Pods().Value()
	n.unschedulable = node.Spec.Unschedulable
	n.taints = n.taints[:0]
	hasConditionTaint := false
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			n.taints = append(n.taints, t)
		}
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			hasConditionTaint = true
		}
	}
	if ready := nodeReady(node); ready != corev1.ConditionTrue && !hasConditionTaint {
		key := corev1.TaintNodeNotReady
		if ready == corev1.ConditionUnknown {
			key = corev1.TaintNodeUnreachable
		}
		n.taints = append(n.taints, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
	}
}

// nodeReady returns the status of the node's Ready condition ("" = none,
// treated as not ready).
func nodeReady(node *corev1.Node) corev1.ConditionStatus {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionUnknown {
				return corev1.ConditionUnknown
			}
			return c.Status
		}
	}
	return corev1.ConditionFalse
}

func (n *nodeInfo) addPod(pi *podInfo) {
	n.pods[pi.uid] = pi
	n.requested.add(pi.req)
	n.nonZero.add(pi.nonZero)
	for _, p := range pi.ports {
		if n.ports == nil {
			n.ports = map[hostPort]int{}
		}
		n.ports[p]++
	}
}

func (n *nodeInfo) removePod(uid types.UID) {
	pi, ok := n.pods[uid]
	if !ok {
		return
	}
	delete(n.pods, uid)
	n.requested.sub(pi.req)
	n.nonZero.sub(pi.nonZero)
	for _, p := range pi.ports {
		if n.ports[p]--; n.ports[p] <= 0 {
			delete(n.ports, p)
		}
	}
}

// tolerated reports whether tolerations tolerate taint.
func tolerated(tolerations []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tolerations {
		if tolerations[i].ToleratesTaint(logr.Discard(), taint, true) {
			return true
		}
	}
	return false
}

// fits runs the filters of pi against n in Kubernetes's order and returns
// the reasons it does not fit (nil when it fits). The first failing filter
// decides; only the resource filter reports several reasons at once.
func fits(pi *podInfo, n *nodeInfo, reasons []string) []string {
	reasons = reasons[:0]
	if n.node == nil {
		return append(reasons, reasonNoNode)
	}
	if r := filterUnschedulable(pi, n); r != "" {
		return append(reasons, r)
	}
	if r := filterTaints(pi, n); r != "" {
		return append(reasons, r)
	}
	if r := filterAffinity(pi, n); r != "" {
		return append(reasons, r)
	}
	if r := filterPorts(pi, n); r != "" {
		return append(reasons, r)
	}
	return filterResources(pi, n, reasons)
}

var unschedulableTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

func filterUnschedulable(pi *podInfo, n *nodeInfo) string {
	if n.unschedulable && !tolerated(pi.tolerations, &unschedulableTaint) {
		return reasonUnschedulable
	}
	return ""
}

func filterTaints(pi *podInfo, n *nodeInfo) string {
	for i := range n.taints {
		if !tolerated(pi.tolerations, &n.taints[i]) {
			return reasonTaint(n.taints[i])
		}
	}
	return ""
}

func filterAffinity(pi *podInfo, n *nodeInfo) string {
	if pi.invalid != "" {
		return reasonAffinity
	}
	if pi.nodeSelector != nil && !pi.nodeSelector.Matches(n.labels) {
		return reasonAffinity
	}
	if pi.affinity == nil {
		return ""
	}
	for _, t := range pi.affinity {
		if (t.labels == nil || t.labels.Matches(n.labels)) && (t.fields == nil || t.fields.Matches(n.fields)) {
			return ""
		}
	}
	return reasonAffinity
}

// filterPorts refuses a node where a wanted host port is taken: the same
// protocol and port on the same address, or on any address when either
// side binds the wildcard.
func filterPorts(pi *podInfo, n *nodeInfo) string {
	if len(pi.ports) == 0 || len(n.ports) == 0 {
		return ""
	}
	for _, want := range pi.ports {
		for used := range n.ports {
			if used.port != want.port || used.protocol != want.protocol {
				continue
			}
			if isWildcard(used.ip) || isWildcard(want.ip) || used.ip == want.ip {
				return reasonPorts
			}
		}
	}
	return ""
}

func isWildcard(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }

func filterResources(pi *podInfo, n *nodeInfo, reasons []string) []string {
	if int64(len(n.pods))+1 > n.allocPods {
		reasons = append(reasons, reasonTooManyPods)
	}
	r, used, alloc := pi.req, n.requested, n.alloc
	if r.milliCPU > 0 && used.milliCPU+r.milliCPU > alloc.milliCPU {
		reasons = append(reasons, reasonInsufficient(corev1.ResourceCPU))
	}
	if r.memory > 0 && used.memory+r.memory > alloc.memory {
		reasons = append(reasons, reasonInsufficient(corev1.ResourceMemory))
	}
	if r.ephemeral > 0 && used.ephemeral+r.ephemeral > alloc.ephemeral {
		reasons = append(reasons, reasonInsufficient(corev1.ResourceEphemeralStorage))
	}
	for name, v := range r.scalar {
		if v > 0 && used.scalar[name]+v > alloc.scalar[name] {
			reasons = append(reasons, reasonInsufficient(name))
		}
	}
	return reasons
}
