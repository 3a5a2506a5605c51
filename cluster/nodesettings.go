package cluster

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// NodeSettings are the labels and taints a node registers its Node with
// (besides the ones it sets itself). The node agent receives them as JSON
// in the environment variables EnvNodeLabels and EnvNodeTaints.
type NodeSettings struct {
	Labels map[string]string `json:"labels,omitempty"`
	Taints []corev1.Taint    `json:"taints,omitempty"`
}

// Environment variables of node containers carrying NodeSettings (read by
// node/agent).
const (
	EnvNodeLabels = "MINI_NODE_LABELS"
	EnvNodeTaints = "MINI_NODE_TAINTS"
)

// labelNodeSettings on the control plane records the NodeSettings of every
// node (JSON), so nodes added later register the same way.
const labelNodeSettings = "mini.node.settings"

// reservedNodeLabels are set by the node agent itself.
var reservedNodeLabels = []string{corev1.LabelHostname, corev1.LabelOSStable, corev1.LabelArchStable}

// merge returns s with more's labels (winning) and taints (replacing one
// with the same key and effect) added.
func (s NodeSettings) merge(more NodeSettings) NodeSettings {
	out := NodeSettings{Labels: maps.Clone(s.Labels)}
	if len(more.Labels) > 0 && out.Labels == nil {
		out.Labels = map[string]string{}
	}
	maps.Copy(out.Labels, more.Labels)
	for _, t := range s.Taints {
		if !slices.ContainsFunc(more.Taints, func(m corev1.Taint) bool { return m.Key == t.Key && m.Effect == t.Effect }) {
			out.Taints = append(out.Taints, t)
		}
	}
	out.Taints = append(out.Taints, more.Taints...)
	return out
}

// env renders the settings as node container environment variables.
func (s NodeSettings) env() []string {
	var out []string
	if len(s.Labels) > 0 {
		b, _ := json.Marshal(s.Labels)
		out = append(out, EnvNodeLabels+"="+string(b))
	}
	if len(s.Taints) > 0 {
		b, _ := json.Marshal(s.Taints)
		out = append(out, EnvNodeTaints+"="+string(b))
	}
	return out
}

// ParseNodeLabels parses KEY=VALUE strings into a validated label map.
func ParseNodeLabels(kvs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("node label %q: want KEY=VALUE", kv)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("node label %q: key %s is given twice", kv, k)
		}
		m[k] = v
	}
	return m, ValidateNodeLabels(m)
}

// ValidateNodeLabels checks label keys and values as Kubernetes does, and
// refuses the labels the node agent sets itself.
func ValidateNodeLabels(m map[string]string) error {
	keys := slices.Sorted(maps.Keys(m))
	for _, k := range keys {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return fmt.Errorf("node label key %q is invalid: %s", k, strings.Join(errs, "; "))
		}
		if slices.Contains(reservedNodeLabels, k) {
			return fmt.Errorf("node label %s is set by mini itself", k)
		}
		if errs := validation.IsValidLabelValue(m[k]); len(errs) > 0 {
			return fmt.Errorf("node label %s: value %q is invalid: %s", k, m[k], strings.Join(errs, "; "))
		}
	}
	return nil
}

var taintEffects = []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}

// ParseTaint parses a taint in kubectl's syntax, KEY[=VALUE]:EFFECT.
func ParseTaint(s string) (corev1.Taint, error) {
	bad := func(format string, a ...any) (corev1.Taint, error) {
		return corev1.Taint{}, fmt.Errorf("taint %q: %s (want KEY[=VALUE]:EFFECT, EFFECT one of NoSchedule, PreferNoSchedule, NoExecute)", s, fmt.Sprintf(format, a...))
	}
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return bad("no effect")
	}
	t := corev1.Taint{Effect: corev1.TaintEffect(s[i+1:])}
	t.Key, t.Value, _ = strings.Cut(s[:i], "=")
	if !slices.Contains(taintEffects, t.Effect) {
		return bad("unknown effect %q", t.Effect)
	}
	if errs := validation.IsQualifiedName(t.Key); len(errs) > 0 {
		return bad("invalid key %q: %s", t.Key, strings.Join(errs, "; "))
	}
	if errs := validation.IsValidLabelValue(t.Value); len(errs) > 0 {
		return bad("invalid value %q: %s", t.Value, strings.Join(errs, "; "))
	}
	return t, nil
}

// ParseTaints parses taints and refuses two with the same key and effect.
func ParseTaints(ss []string) ([]corev1.Taint, error) {
	var out []corev1.Taint
	for _, s := range ss {
		t, err := ParseTaint(s)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(out, func(o corev1.Taint) bool { return o.Key == t.Key && o.Effect == t.Effect }) {
			return nil, fmt.Errorf("taint %q: a taint %s with effect %s is given twice", s, t.Key, t.Effect)
		}
		out = append(out, t)
	}
	return out, nil
}

// ValidateImageRef checks that s is a Docker image reference.
func ValidateImageRef(s string) error {
	if _, err := reference.ParseNormalizedNamed(s); err != nil {
		return fmt.Errorf("%q is not an image reference: %v", s, err)
	}
	return nil
}

// validateNodeSettings checks per-node settings against the node count.
func validateNodeSettings(nodes int, perNode map[int]NodeSettings) error {
	for _, i := range slices.Sorted(maps.Keys(perNode)) {
		if i < 0 || i >= nodes {
			return fmt.Errorf("nodeOverrides: node index %d, but the cluster has %d node%s (indices 0 to %d)", i, nodes, plural(nodes), nodes-1)
		}
	}
	return nil
}

// validateNodes checks the labels, taints and per-node settings of o.
func (o CreateOptions) validateNodes() error {
	if err := ValidateNodeLabels(o.Node.Labels); err != nil {
		return err
	}
	for _, s := range o.PerNode {
		if err := ValidateNodeLabels(s.Labels); err != nil {
			return err
		}
	}
	for _, img := range o.Images {
		if err := ValidateImageRef(img); err != nil {
			return fmt.Errorf("image to load: %w", err)
		}
	}
	return validateNodeSettings(o.Nodes, o.PerNode)
}
