package api

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validationCase is one object to validate and the errors it must give,
// each as "field.path: Type" (empty for a valid object).
type validationCase struct {
	name string
	obj  runtime.Object
	want []string
}

// prepared applies what the server applies before validation on create:
// the create preparer and Kubernetes's defaults.
func prepared(kind string, obj runtime.Object) runtime.Object {
	objectMeta(obj).UID = types.UID("0b3a7f3e-6a8f-4c1e-9f43-1e4d3c2b1a00")
	if objectMeta(obj).Name == "" {
		objectMeta(obj).Name = "x"
	}
	if f := createPreparers[kind]; f != nil {
		f(obj)
	}
	if f := defaulters[kind]; f != nil {
		f(obj)
	}
	return obj
}

// errorKeys renders errors as sorted "path: Type" strings.
func errorKeys(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, fmt.Sprintf("%s: %s", e.Field, e.Type))
	}
	sort.Strings(out)
	return out
}

func describe(errs field.ErrorList) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("\n\t" + e.Error())
	}
	return b.String()
}

// runValidation checks each case against validators[kind] after defaults.
func runValidation(t *testing.T, kind string, cases []validationCase) {
	t.Helper()
	v := validators[kind]
	if v == nil {
		t.Fatalf("no validator for %s", kind)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := v(prepared(kind, c.obj))
			got, want := errorKeys(errs), append([]string{}, c.want...)
			sort.Strings(want)
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%s %s: want errors %q, got %q:%s", kind, c.name, want, got, describe(errs))
			}
		})
	}
}

// updateCase is a change to a stored object (old, as created) and the
// errors it must give.
type updateCase struct {
	name string
	old  runtime.Object
	mod  func(obj runtime.Object)
	want []string
}

// change builds an updateCase with a typed modification of a copy of old.
func change[T runtime.Object](name string, old T, mod func(obj T), want ...string) updateCase {
	return updateCase{name: name, old: old, mod: func(o runtime.Object) { mod(o.(T)) }, want: want}
}

// runUpdateValidation checks each change against updateValidators[kind]
// followed by validators[kind], as the server runs them.
func runUpdateValidation(t *testing.T, kind string, cases []updateCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			old := prepared(kind, c.old)
			obj := old.DeepCopyObject()
			c.mod(obj)
			if f := defaulters[kind]; f != nil {
				f(obj)
			}
			var errs field.ErrorList
			if f := updateValidators[kind]; f != nil {
				errs = f(obj, old)
			}
			errs = append(errs, validators[kind](obj)...)
			got, want := errorKeys(errs), append([]string{}, c.want...)
			sort.Strings(want)
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%s update %s: want errors %q, got %q:%s", kind, c.name, want, got, describe(errs))
			}
		})
	}
}

func TestEveryServedKindHasAValidator(t *testing.T) {
	kinds := map[string]bool{}
	for _, r := range DefaultResources() {
		kinds[r.Kind] = true
		if r.Validate == nil {
			t.Errorf("resource %s (kind %s) has no validator in validators", r.Name, r.Kind)
		}
	}
	for k := range validators {
		if !kinds[k] {
			t.Errorf("validators has %s, which DefaultResources does not serve", k)
		}
	}
	for k := range updateValidators {
		if !kinds[k] {
			t.Errorf("updateValidators has %s, which DefaultResources does not serve", k)
		}
	}
}

// BenchmarkValidatePod measures the validation of a pod (run on every pod
// write): one that uses most features, and a typical replica.
func BenchmarkValidatePod(b *testing.B) {
	typical := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27",
		Ports: []corev1.ContainerPort{{ContainerPort: 80}}, Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}}}}}
	for _, c := range []struct {
		name string
		pod  *corev1.Pod
	}{{"rich", podWith(func(*corev1.PodSpec) {})}, {"typical", typical}} {
		b.Run(c.name, func(b *testing.B) {
			defaulters["Pod"](c.pod)
			b.ReportAllocs()
			for b.Loop() {
				if errs := validators["Pod"](c.pod); len(errs) > 0 {
					b.Fatal(errs)
				}
			}
		})
	}
}
