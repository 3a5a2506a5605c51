package scheduler

import (
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
)

// Defaults Kubernetes's scheduler assumes, for scoring only, for containers
// that request no cpu or memory (so that such pods still spread).
const (
	defaultMilliCPURequest = 100
	defaultMemoryRequest   = 200 << 20
)

// resources is an amount of each resource the scheduler accounts for.
type resources struct {
	milliCPU  int64
	memory    int64
	ephemeral int64
	scalar    map[corev1.ResourceName]int64 // extended resources, hugepages
}

func (r *resources) add(o resources) {
	r.milliCPU += o.milliCPU
	r.memory += o.memory
	r.ephemeral += o.ephemeral
	for k, v := range o.scalar {
		if r.scalar == nil {
			r.scalar = map[corev1.ResourceName]int64{}
		}
		r.scalar[k] += v
	}
}

func (r *resources) sub(o resources) {
	r.milliCPU -= o.milliCPU
	r.memory -= o.memory
	r.ephemeral -= o.ephemeral
	for k, v := range o.scalar {
		if r.scalar != nil {
			r.scalar[k] -= v
		}
	}
}

// max raises each amount of r to at least o's.
func (r *resources) max(o resources) {
	r.milliCPU = max(r.milliCPU, o.milliCPU)
	r.memory = max(r.memory, o.memory)
	r.ephemeral = max(r.ephemeral, o.ephemeral)
	for k, v := range o.scalar {
		if r.scalar == nil {
			r.scalar = map[corev1.ResourceName]int64{}
		}
		r.scalar[k] = max(r.scalar[k], v)
	}
}

// resourcesOf converts a resource list (requests or allocatable).
func resourcesOf(l corev1.ResourceList) resources {
	var r resources
	for name, q := range l {
		switch name {
		case corev1.ResourceCPU:
			r.milliCPU = q.MilliValue()
		case corev1.ResourceMemory:
			r.memory = q.Value()
		case corev1.ResourceEphemeralStorage:
			r.ephemeral = q.Value()
		case corev1.ResourcePods:
		default:
			if r.scalar == nil {
				r.scalar = map[corev1.ResourceName]int64{}
			}
			r.scalar[name] = q.Value()
		}
	}
	return r
}

// hostPort is one port a pod binds on its node.
type hostPort struct {
	ip       string // "" or 0.0.0.0 means every address
	protocol corev1.Protocol
	port     int32
}

// podInfo is what the scheduler keeps of one pod version: the informer
// turns every pod it receives into one (its transform), so that tens of
// thousands of pods cost a few hundred bytes each rather than whole Pod
// objects, and the scheduling constraints are compiled once per version.
// It is a runtime.Object with the pod's (trimmed) metadata, so events can
// name it and the informer can key it.
type podInfo struct {
	metav1.TypeMeta
	metav1.ObjectMeta // name, namespace, uid, resourceVersion, labels, deletion

	uid           types.UID
	key           string // namespace/name
	schedulerName string
	nodeName      string
	gated         bool // has scheduling gates
	phase         corev1.PodPhase
	// scheduled is the PodScheduled condition (nil if none).
	scheduled *corev1.PodCondition
	priority  int32
	req       resources // what the pod needs to fit
	nonZero   resources // req with Kubernetes's scoring defaults for 0
	ports     []hostPort
	owner     types.UID // the controller that owns the pod, for spreading
	// nodeSelector and affinity are compiled from spec; nil when absent.
	nodeSelector labels.Selector
	affinity     []nodeSelectorTerm
	tolerations  []corev1.Toleration
	// The sources of nodeSelector and affinity, to tell whether a new
	// version of an unschedulable pod may fit where the old one did not.
	rawSelector map[string]string
	rawAffinity *corev1.NodeAffinity
	// invalid explains why the pod's scheduling constraints cannot be
	// evaluated (a malformed affinity term); such pods fit nowhere.
	invalid string
}

// DeepCopyObject implements runtime.Object. A podInfo is never modified
// after newPodInfo, so the copy shares its maps and slices.
func (pi *podInfo) DeepCopyObject() runtime.Object {
	c := *pi
	return &c
}

// toPodInfo is the pod informer's transform.
func toPodInfo(obj any) (any, error) {
	if p, ok := obj.(*corev1.Pod); ok {
		return newPodInfo(p), nil
	}
	return obj, nil // tombstones pass through
}

// sameConstraints reports whether two versions of a pod ask the same of a
// node (labels count: spreading may look at them).
func sameConstraints(a, b *podInfo) bool {
	return a.gated == b.gated && a.priority == b.priority && maps.Equal(a.Labels, b.Labels) &&
		maps.Equal(a.rawSelector, b.rawSelector) && equality.Semantic.DeepEqual(a.rawAffinity, b.rawAffinity) &&
		equality.Semantic.DeepEqual(a.tolerations, b.tolerations) && slices.Equal(a.ports, b.ports) &&
		sameResources(a.req, b.req)
}

func sameResources(a, b resources) bool {
	return a.milliCPU == b.milliCPU && a.memory == b.memory && a.ephemeral == b.ephemeral && maps.Equal(a.scalar, b.scalar)
}

// nodeSelectorTerm is one compiled term of required node affinity: the
// terms are ORed, the requirements inside one term ANDed.
type nodeSelectorTerm struct {
	labels labels.Selector // nil when the term has no matchExpressions
	fields fields.Selector // nil when the term has no matchFields
}

func newPodInfo(p *corev1.Pod) *podInfo {
	pi := &podInfo{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Labels: p.Labels, DeletionTimestamp: p.DeletionTimestamp},
		uid: p.UID, key: p.Namespace + "/" + p.Name, schedulerName: p.Spec.SchedulerName, nodeName: p.Spec.NodeName,
		gated: len(p.Spec.SchedulingGates) > 0, phase: p.Status.Phase, tolerations: p.Spec.Tolerations,
		rawSelector: p.Spec.NodeSelector,
	}
	for i := range p.Status.Conditions {
		if c := p.Status.Conditions[i]; c.Type == corev1.PodScheduled {
			pi.scheduled = &c
		}
	}
	if p.Spec.Priority != nil {
		pi.priority = *p.Spec.Priority
	}
	pi.req, pi.nonZero = podRequests(p)
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.HostPort > 0 {
				proto := cp.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				pi.ports = append(pi.ports, hostPort{ip: cp.HostIP, protocol: proto, port: cp.HostPort})
			}
		}
	}
	if ref := metav1.GetControllerOf(p); ref != nil {
		pi.owner = ref.UID
	}
	if len(p.Spec.NodeSelector) > 0 {
		pi.nodeSelector = labels.SelectorFromValidatedSet(labels.Set(p.Spec.NodeSelector))
	}
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		pi.rawAffinity = a.NodeAffinity
		if req := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution; req != nil {
			terms, err := compileTerms(req.NodeSelectorTerms)
			if err != nil {
				pi.invalid = err.Error()
			}
			pi.affinity = terms
			if len(terms) == 0 && err == nil {
				// An empty list of terms matches no node, as in Kubernetes.
				pi.affinity = []nodeSelectorTerm{{labels: labels.Nothing()}}
			}
		}
	}
	return pi
}

// podRequests returns what a pod needs on a node, computed as Kubernetes
// does: the sum of its containers and sidecars (restartable init
// containers), or the largest regular init container plus the sidecars
// started before it if that is more, plus the pod overhead. The second
// result substitutes the scoring defaults for missing cpu and memory.
func podRequests(p *corev1.Pod) (req, nonZero resources) {
	var sidecars, sidecarsNZ resources
	var initMax, initMaxNZ resources
	for _, c := range p.Spec.InitContainers {
		r := resourcesOf(c.Resources.Requests)
		nz := withDefaults(r)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.add(r)
			sidecarsNZ.add(nz)
			continue
		}
		r.add(sidecars)
		nz.add(sidecarsNZ)
		initMax.max(r)
		initMaxNZ.max(nz)
	}
	for _, c := range p.Spec.Containers {
		r := resourcesOf(c.Resources.Requests)
		req.add(r)
		nonZero.add(withDefaults(r))
	}
	req.add(sidecars)
	nonZero.add(sidecarsNZ)
	req.max(initMax)
	nonZero.max(initMaxNZ)
	if p.Spec.Overhead != nil {
		o := resourcesOf(p.Spec.Overhead)
		req.add(o)
		nonZero.add(o)
	}
	return req, nonZero
}

func withDefaults(r resources) resources {
	nz := resources{milliCPU: r.milliCPU, memory: r.memory}
	if nz.milliCPU == 0 {
		nz.milliCPU = defaultMilliCPURequest
	}
	if nz.memory == 0 {
		nz.memory = defaultMemoryRequest
	}
	return nz
}

var selectionOps = map[corev1.NodeSelectorOperator]selection.Operator{
	corev1.NodeSelectorOpIn:           selection.In,
	corev1.NodeSelectorOpNotIn:        selection.NotIn,
	corev1.NodeSelectorOpExists:       selection.Exists,
	corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
	corev1.NodeSelectorOpGt:           selection.GreaterThan,
	corev1.NodeSelectorOpLt:           selection.LessThan,
}

// compileTerms turns required node affinity terms into selectors. A term
// with neither expressions nor fields matches no node (Kubernetes's rule).
func compileTerms(terms []corev1.NodeSelectorTerm) ([]nodeSelectorTerm, error) {
	var out []nodeSelectorTerm
	for i, t := range terms {
		var ct nodeSelectorTerm
		if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
			ct.labels = labels.Nothing()
			out = append(out, ct)
			continue
		}
		if len(t.MatchExpressions) > 0 {
			sel := labels.NewSelector()
			for j, e := range t.MatchExpressions {
				op, ok := selectionOps[e.Operator]
				if !ok {
					return nil, fmt.Errorf("nodeSelectorTerms[%d].matchExpressions[%d]: unknown operator %q", i, j, e.Operator)
				}
				r, err := labels.NewRequirement(e.Key, op, e.Values)
				if err != nil {
					return nil, fmt.Errorf("nodeSelectorTerms[%d].matchExpressions[%d]: %w", i, j, err)
				}
				sel = sel.Add(*r)
			}
			ct.labels = sel
		}
		if len(t.MatchFields) > 0 {
			var reqs []fields.Selector
			for j, f := range t.MatchFields {
				if f.Key != "metadata.name" {
					return nil, fmt.Errorf("nodeSelectorTerms[%d].matchFields[%d]: only metadata.name is supported, not %q", i, j, f.Key)
				}
				switch {
				case f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1:
					reqs = append(reqs, fields.OneTermEqualSelector(f.Key, f.Values[0]))
				case f.Operator == corev1.NodeSelectorOpNotIn && len(f.Values) == 1:
					reqs = append(reqs, fields.OneTermNotEqualSelector(f.Key, f.Values[0]))
				default:
					return nil, fmt.Errorf("nodeSelectorTerms[%d].matchFields[%d]: metadata.name takes In or NotIn with exactly one value", i, j)
				}
			}
			ct.fields = fields.AndSelectors(reqs...)
		}
		out = append(out, ct)
	}
	return out, nil
}
