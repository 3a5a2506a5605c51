package runtime

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// Docker labels on every container the runtime creates. The pod and
// container keys are the ones Kubernetes's dockershim used, so tools that
// knew those find them again; the mini.* keys are mini's own. Together they
// let a new agent recover every pod's state from Docker alone.
const (
	LabelPodUID       = "io.kubernetes.pod.uid"
	LabelPodName      = "io.kubernetes.pod.name"
	LabelPodNamespace = "io.kubernetes.pod.namespace"
	LabelContainer    = "io.kubernetes.container.name"         // "POD" for the sandbox
	LabelRestartCount = "io.kubernetes.container.restartCount" // attempt of a container or sandbox
	LabelType         = "io.kubernetes.docker.type"            // "podsandbox" or "container"
	LabelSandboxID    = "io.kubernetes.sandbox.id"
	LabelNode         = "mini.node"           // the node whose agent owns the container
	LabelInit         = "mini.container.init" // "true" on init containers
	LabelHash         = "mini.container.hash" // hash of the container's spec
	// LabelBackOffBase is the restart count at which the container's
	// current streak of quick crashes began: restart back-off is computed
	// from it and the restart count, so it survives agent restarts.
	LabelBackOffBase = "mini.container.backoff-base"
)

// Values of LabelType and the sandbox's LabelContainer.
const (
	TypeSandbox   = "podsandbox"
	TypeContainer = "container"
	SandboxName   = "POD"
)

// Kind says what a Docker container is to its pod.
type Kind int

// Kinds of containers.
const (
	KindSandbox Kind = iota
	KindInit
	KindRegular
)

func (k Kind) String() string {
	return [...]string{"sandbox", "init", "regular"}[k]
}

// Meta is what the labels of one container say.
type Meta struct {
	PodUID       types.UID
	PodName      string
	PodNamespace string
	Node         string
	Name         string // spec container name; SandboxName for the sandbox
	Kind         Kind
	Attempt      int // restart count of a container, attempt of a sandbox
	SandboxID    string
	Hash         string
	BackOffBase  int
}

// Labels encodes m (plus extra labels, which never override mini's).
func (m Meta) Labels(extra map[string]string) map[string]string {
	l := make(map[string]string, len(extra)+10)
	for k, v := range extra {
		l[k] = v
	}
	l[LabelPodUID] = string(m.PodUID)
	l[LabelPodName] = m.PodName
	l[LabelPodNamespace] = m.PodNamespace
	l[LabelNode] = m.Node
	l[LabelRestartCount] = strconv.Itoa(m.Attempt)
	if m.Kind == KindSandbox {
		l[LabelType] = TypeSandbox
		l[LabelContainer] = SandboxName
		return l
	}
	l[LabelType] = TypeContainer
	l[LabelContainer] = m.Name
	l[LabelSandboxID] = m.SandboxID
	l[LabelHash] = m.Hash
	l[LabelBackOffBase] = strconv.Itoa(m.BackOffBase)
	if m.Kind == KindInit {
		l[LabelInit] = "true"
	}
	return l
}

// ParseLabels decodes the labels of a container made by the runtime.
func ParseLabels(l map[string]string) (Meta, error) {
	m := Meta{
		PodUID: types.UID(l[LabelPodUID]), PodName: l[LabelPodName], PodNamespace: l[LabelPodNamespace],
		Node: l[LabelNode], Name: l[LabelContainer], SandboxID: l[LabelSandboxID], Hash: l[LabelHash],
	}
	if m.PodUID == "" || m.PodName == "" || m.PodNamespace == "" || m.Name == "" {
		return m, fmt.Errorf("labels %v lack the pod uid, name, namespace or container name", l)
	}
	n, err := strconv.Atoi(l[LabelRestartCount])
	if err != nil || n < 0 {
		return m, fmt.Errorf("label %s=%q is not a restart count", LabelRestartCount, l[LabelRestartCount])
	}
	m.Attempt = n
	if v, ok := l[LabelBackOffBase]; ok {
		if m.BackOffBase, err = strconv.Atoi(v); err != nil {
			return m, fmt.Errorf("label %s=%q is not a restart count", LabelBackOffBase, v)
		}
	}
	switch l[LabelType] {
	case TypeSandbox:
		m.Kind = KindSandbox
	case TypeContainer:
		m.Kind = KindRegular
		if l[LabelInit] == "true" {
			m.Kind = KindInit
		}
	default:
		return m, fmt.Errorf("label %s=%q is neither %s nor %s", LabelType, l[LabelType], TypeSandbox, TypeContainer)
	}
	return m, nil
}

// ContainerName is the Docker name of a container, unique per pod, spec
// container and attempt: k8s_<container>_<pod>_<namespace>_<uid>_<attempt>
// (dockershim's scheme). Creating a name that exists fails, which is what
// keeps two agents from starting the same attempt twice.
func (m Meta) ContainerName() string {
	name := m.Name
	if m.Kind == KindSandbox {
		name = SandboxName
	}
	return strings.Join([]string{"k8s", name, m.PodName, m.PodNamespace, string(m.PodUID), strconv.Itoa(m.Attempt)}, "_")
}
