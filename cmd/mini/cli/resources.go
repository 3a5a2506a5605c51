package cli

import (
	"fmt"
	"strings"

	"github.com/minicluster/mini/control/client"
)

// unknownResourceError is a resource type the server does not serve.
type unknownResourceError struct{ name string }

func (e *unknownResourceError) Error() string {
	return fmt.Sprintf("the server doesn't have a resource type %q", e.name)
}

// resolveResource finds the resource a user's word names, as kubectl does:
// plural, singular, short name or Kind, in any case, optionally qualified
// by group ("deployments.apps") or version and group
// ("deployments.v1.apps").
func resolveResource(rs []client.Resource, arg string) (client.Resource, error) {
	word := strings.ToLower(arg)
	if r, ok := findResource(rs, word, "", "", false); ok {
		return r, nil
	}
	if name, rest, ok := strings.Cut(word, "."); ok {
		if r, ok := findResource(rs, name, "", rest, true); ok {
			return r, nil
		}
		if v, g, ok := strings.Cut(rest, "."); ok {
			if r, ok := findResource(rs, name, v, g, true); ok {
				return r, nil
			}
		}
	}
	return client.Resource{}, &unknownResourceError{name: arg}
}

// findResource looks for name among rs, in group (when byGroup) and
// version (when not "").
func findResource(rs []client.Resource, name, version, group string, byGroup bool) (client.Resource, bool) {
	for _, r := range rs {
		if byGroup && r.Group != group || version != "" && r.Version != version {
			continue
		}
		if name == r.Resource || name == r.Singular || name == strings.ToLower(r.Kind) {
			return r, true
		}
		for _, s := range r.ShortNames {
			if name == s {
				return r, true
			}
		}
	}
	return client.Resource{}, false
}

// expandKinds resolves "KIND[,KIND...]"; a category ("all") stands for its
// members. Duplicates are dropped.
func expandKinds(rs []client.Resource, arg string) ([]client.Resource, error) {
	var out []client.Resource
	seen := map[string]bool{}
	add := func(r client.Resource) {
		if k := r.GVR().String(); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	for _, word := range strings.Split(arg, ",") {
		if word == "" {
			return nil, usageError("empty resource type in %q", arg)
		}
		r, err := resolveResource(rs, word)
		if err == nil {
			add(r)
			continue
		}
		members := inCategory(rs, strings.ToLower(word))
		if len(members) == 0 {
			return nil, err
		}
		for _, m := range members {
			add(m)
		}
	}
	return out, nil
}

func inCategory(rs []client.Resource, cat string) []client.Resource {
	var out []client.Resource
	for _, r := range rs {
		for _, c := range r.Categories {
			if c == cat {
				out = append(out, r)
			}
		}
	}
	return out
}

// target is what one group of a verb's arguments names: objects of a kind
// (or kinds), by name or all of them.
type target struct {
	kinds string   // as typed: "pods", "deploy,svc"
	names []string // none: every object (narrowed by -l)
}

// parseTargets reads a verb's object arguments as kubectl does: either
// "KIND[,KIND] [NAME...]" or "KIND/NAME..." (each with its own kind).
func parseTargets(args []string) ([]target, error) {
	if len(args) == 0 {
		return nil, usageError("you must specify the type of resource")
	}
	if !strings.Contains(args[0], "/") {
		for _, a := range args[1:] {
			if strings.Contains(a, "/") {
				return nil, usageError("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'mini get resource/<resource_name>' instead of 'mini get resource resource/<resource_name>')")
			}
		}
		return []target{{kinds: args[0], names: args[1:]}}, nil
	}
	var out []target
	for _, a := range args {
		k, n, ok := strings.Cut(a, "/")
		if !ok || k == "" || n == "" || strings.Contains(n, "/") {
			return nil, usageError("arguments in resource/name form must have a single resource and name, not %q", a)
		}
		if strings.Contains(k, ",") {
			return nil, usageError("%q: a resource/name argument names one resource type", a)
		}
		if len(out) > 0 && out[len(out)-1].kinds == k {
			out[len(out)-1].names = append(out[len(out)-1].names, n)
			continue
		}
		out = append(out, target{kinds: k, names: []string{n}})
	}
	return out, nil
}

// parseKindName reads "KIND/NAME" or "KIND NAME" (two arguments) or, when
// defaultKind is set, a bare "NAME" of that kind.
func parseKindName(args []string, defaultKind string) (kind, name string, err error) {
	switch {
	case len(args) == 1 && strings.Contains(args[0], "/"):
		kind, name, _ = strings.Cut(args[0], "/")
	case len(args) == 1 && defaultKind != "":
		kind, name = defaultKind, args[0]
	case len(args) == 2 && !strings.Contains(args[0], "/"):
		kind, name = args[0], args[1]
	default:
		return "", "", usageError("expected KIND/NAME or KIND NAME, got %q", strings.Join(args, " "))
	}
	if kind == "" || name == "" || strings.Contains(name, "/") {
		return "", "", usageError("expected KIND/NAME or KIND NAME, got %q", strings.Join(args, " "))
	}
	return kind, name, nil
}

// qualifiedKind names a resource as kubectl prefixes object names:
// "pod", "deployment.apps".
func qualifiedKind(r client.Resource) string {
	k := strings.ToLower(r.Kind)
	if r.Group != "" {
		k += "." + r.Group
	}
	return k
}
