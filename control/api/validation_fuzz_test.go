package api

import (
	"encoding/json"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// FuzzRules feeds arbitrary JSON of every served kind through what the
// server applies to a write (create preparer, defaults, validation, update
// validation against itself and against an empty object) and through the
// printer: none of it may panic, and an object must not conflict with
// itself.
func FuzzRules(f *testing.F) {
	seeds := []runtime.Object{podWith(func(*corev1.PodSpec) {}), deployWith(func(*appsv1.Deployment) {}), svcWith(func(*corev1.Service) {}),
		jobWith(func(*batchv1.Job) {}), ingressWith(func(*networkingv1.Ingress) {}), sliceWith(func(*discoveryv1.EndpointSlice) {})}
	kinds := DefaultResources()
	for i, s := range seeds {
		data, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), data)
	}
	f.Add(uint8(200), []byte(`{"spec":{"containers":[{"env":[{"valueFrom":{}}],"livenessProbe":{}}],"volumes":[{}]}}`))
	f.Fuzz(func(t *testing.T, k uint8, data []byte) {
		res := kinds[int(k)%len(kinds)]
		obj := res.New()
		if json.Unmarshal(data, obj) != nil {
			return
		}
		obj = prepared(res.Kind, obj)
		res.Validate(obj)
		empty := prepared(res.Kind, res.New())
		if res.ValidateUpdate != nil {
			if errs := res.ValidateUpdate(obj.DeepCopyObject(), obj.DeepCopyObject()); len(errs) > 0 {
				t.Errorf("%s conflicts with itself: %v", res.Kind, errs)
			}
			res.ValidateUpdate(obj.DeepCopyObject(), empty)
			res.ValidateUpdate(empty, obj.DeepCopyObject())
		}
		if got := len(res.Table.Row(obj, time.Now())); got != len(res.Table.Columns) {
			t.Errorf("%s row has %d cells for %d columns", res.Kind, got, len(res.Table.Columns))
		}
	})
}
