package api

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validators check an object about to be stored; updateValidators check a
// change against the stored version (immutable fields).
var (
	validators       = map[string]func(runtime.Object) field.ErrorList{}
	updateValidators = map[string]func(obj, old runtime.Object) field.ErrorList{}
)

// toFieldErrors turns messages about one field into a field.ErrorList.
func toFieldErrors(path string, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, m := range msgs {
		errs = append(errs, field.Invalid(field.NewPath(path), nil, m))
	}
	return errs
}
