package api

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEncodeObjectStampsOnlyTheObjectsResourceVersion(t *testing.T) {
	res := resourceOfKind(t, "ConfigMap")
	tricky := `"resourceVersion":"0"`
	cases := []struct {
		name string
		obj  *corev1.ConfigMap
		rv   string
	}{
		{"plain", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}}, "0"},
		{"placeholder in annotations, labels and data", &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns",
				Labels:      map[string]string{"resourceVersion": "0"},
				Annotations: map[string]string{"resourceVersion": "0", "x": tricky}},
			Data: map[string]string{"resourceVersion": "0", "y": tricky}}, "0"},
		{"current revision as placeholder", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns",
			Annotations: map[string]string{"resourceVersion": "41"}}}, "41"},
	}
	for _, tc := range cases {
		setTypeMeta(res, tc.obj)
		enc, err := encodeObject(res, tc.obj, tc.rv)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, rev := range []int64{7, 123456789012} {
			var got corev1.ConfigMap
			if err := json.Unmarshal(enc.withRev(rev), &got); err != nil {
				t.Fatalf("%s: stamped JSON does not decode: %v\n%s", tc.name, err, enc.withRev(rev))
			}
			want := tc.obj.DeepCopy()
			want.ResourceVersion = formatRev(rev)
			if got.ResourceVersion != want.ResourceVersion || got.Name != want.Name ||
				!equalMaps(got.Annotations, want.Annotations) || !equalMaps(got.Labels, want.Labels) || !equalMaps(got.Data, want.Data) {
				t.Errorf("%s: stamped %d gives %+v, want %+v", tc.name, rev, got, want)
			}
		}
		if tc.obj.ResourceVersion != "" {
			t.Errorf("%s: encodeObject left resourceVersion %q on the object", tc.name, tc.obj.ResourceVersion)
		}
	}
}

func resourceOfKind(t *testing.T, kind string) *Resource {
	for _, r := range DefaultResources() {
		if r.Kind == kind {
			return r
		}
	}
	t.Fatalf("no resource of kind %s", kind)
	return nil
}

func formatRev(rev int64) string {
	b, _ := json.Marshal(rev)
	return string(b)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
