package api

import (
	"reflect"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
)

// structField returns the addressable field name of a typed object (a
// pointer to a struct), or an invalid value when there is none.
func structField(obj runtime.Object, name string) reflect.Value {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Elem().FieldByName(name)
}

// hasSpec reports whether objects of this type carry a .spec.
func hasSpec(obj runtime.Object) bool { return structField(obj, "Spec").IsValid() }

// specEqual compares the .spec of two objects of the same type.
func specEqual(a, b runtime.Object) bool {
	fa, fb := structField(a, "Spec"), structField(b, "Spec")
	if !fa.IsValid() || !fb.IsValid() {
		return true
	}
	return equality.Semantic.DeepEqual(fa.Interface(), fb.Interface())
}

// copyField sets dst.name = src.name (both of the same type).
func copyField(dst, src runtime.Object, name string) {
	fd, fs := structField(dst, name), structField(src, name)
	if fd.IsValid() && fs.IsValid() && fd.CanSet() {
		fd.Set(fs)
	}
}

// resetField sets obj.name to its zero value.
func resetField(obj runtime.Object, name string) {
	f := structField(obj, name)
	if f.IsValid() && f.CanSet() {
		f.Set(reflect.Zero(f.Type()))
	}
}

func timeSeconds(g int64) time.Duration { return time.Duration(g) * time.Second }
