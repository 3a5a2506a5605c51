package controllers

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func stsFixture(replicas int32, opts ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-web", Generation: 2},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas, ServiceName: "nginx", PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptrTo(int32(0))}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:v2"}}}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

var stsTestRevs = stsRevs{currentName: "web-old", updateName: "web-new",
	current: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:v1"}}}},
	update:  &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:v2"}}}}}

// stsPod is pod <name> at revision rev, ready or pending.
func stsPod(name, rev string, ready bool, opts ...func(*corev1.Pod)) *corev1.Pod {
	o := []func(*corev1.Pod){fxLabels(appsv1.ControllerRevisionHashLabelKey, rev)}
	if ready {
		o = append(o, fxRunning("10.244.0.1", true))
	}
	return fxPod(name, append(o, opts...)...)
}

func TestStsPlanOrderingAndUpdates(t *testing.T) {
	parallel := func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }
	partition := func(n int32) func(*appsv1.StatefulSet) {
		return func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = &n }
	}
	onDelete := func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	}
	cases := []struct {
		name         string
		set          *appsv1.StatefulSet
		pods         []*corev1.Pod
		create, del  []string
		createImages []string
	}{
		{name: "ordered start creates only ordinal 0", set: stsFixture(3), create: []string{"web-0"}, createImages: []string{"img:v2"}},
		{name: "ordinal 1 after 0 is running and ready", set: stsFixture(3),
			pods: []*corev1.Pod{stsPod("web-0", "web-new", true)}, create: []string{"web-1"}},
		{name: "waits while ordinal 0 is pending", set: stsFixture(3),
			pods: []*corev1.Pod{stsPod("web-0", "web-new", false)}},
		{name: "parallel creates all at once", set: stsFixture(3, parallel), create: []string{"web-0", "web-1", "web-2"}},
		{name: "refills a gap in order", set: stsFixture(3),
			pods:   []*corev1.Pod{stsPod("web-0", "web-new", true), stsPod("web-2", "web-new", true)},
			create: []string{"web-1"}},
		{name: "scale down removes the highest ordinal first, one at a time", set: stsFixture(2),
			pods: []*corev1.Pod{stsPod("web-0", "web-new", true), stsPod("web-1", "web-new", true), stsPod("web-2", "web-new", true), stsPod("web-3", "web-new", true)},
			del:  []string{"web-3"}},
		{name: "scale down waits for the terminating pod", set: stsFixture(2),
			pods: []*corev1.Pod{stsPod("web-0", "web-new", true), stsPod("web-1", "web-new", true), stsPod("web-2", "web-new", true), stsPod("web-3", "web-new", true, fxTerminating())}},
		{name: "parallel scale down removes all condemned", set: stsFixture(1, parallel),
			pods: []*corev1.Pod{stsPod("web-0", "web-new", true), stsPod("web-1", "web-new", true), stsPod("web-2", "web-new", true)},
			del:  []string{"web-2", "web-1"}},
		{name: "failed pod is deleted for recreation", set: stsFixture(2),
			pods: []*corev1.Pod{stsPod("web-0", "web-new", true), stsPod("web-1", "web-new", false, fxPhase(corev1.PodFailed))},
			del:  []string{"web-1"}},
		{name: "rolling update starts at the highest ordinal", set: stsFixture(3),
			pods: []*corev1.Pod{stsPod("web-0", "web-old", true), stsPod("web-1", "web-old", true), stsPod("web-2", "web-old", true)},
			del:  []string{"web-2"}},
		{name: "rolling update recreates the deleted ordinal with the update revision", set: stsFixture(3),
			pods:   []*corev1.Pod{stsPod("web-0", "web-old", true), stsPod("web-1", "web-old", true)},
			create: []string{"web-2"}, createImages: []string{"img:v2"}},
		{name: "rolling update waits until the replacement is ready", set: stsFixture(3),
			pods: []*corev1.Pod{stsPod("web-0", "web-old", true), stsPod("web-1", "web-old", true), stsPod("web-2", "web-new", false)}},
		{name: "rolling update moves down once the replacement is ready", set: stsFixture(3),
			pods: []*corev1.Pod{stsPod("web-0", "web-old", true), stsPod("web-1", "web-old", true), stsPod("web-2", "web-new", true)},
			del:  []string{"web-1"}},
		{name: "partition keeps lower ordinals", set: stsFixture(3, partition(2)),
			pods: []*corev1.Pod{stsPod("web-0", "web-old", true), stsPod("web-1", "web-old", true), stsPod("web-2", "web-new", true)}},
		{name: "below the partition pods are recreated at the current revision", set: stsFixture(3, partition(2)),
			pods:   []*corev1.Pod{stsPod("web-1", "web-old", true), stsPod("web-2", "web-new", true)},
			create: []string{"web-0"}, createImages: []string{"img:v1"}},
		{name: "OnDelete never deletes for an update", set: stsFixture(2, onDelete),
			pods: []*corev1.Pod{stsPod("web-0", "web-old", true), stsPod("web-1", "web-old", true)}},
		{name: "pods with foreign names are ignored", set: stsFixture(1),
			pods: []*corev1.Pod{stsPod("web-0", "web-new", true), stsPod("web-x", "web-new", true), stsPod("webby-1", "web-new", true)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := stsPlanFor(tc.set, tc.pods, stsTestRevs, fxNow)
			if got := fxPodNames(plan.create); !reflect.DeepEqual(got, append([]string{}, tc.create...)) {
				t.Errorf("creates %v, want %v", got, tc.create)
			}
			if got := fxPodNames(plan.delete); !reflect.DeepEqual(got, append([]string{}, tc.del...)) {
				t.Errorf("deletes %v, want %v", got, tc.del)
			}
			for i, img := range tc.createImages {
				if got := plan.create[i].Spec.Containers[0].Image; got != img {
					t.Errorf("pod %s has image %s, want %s", plan.create[i].Name, got, img)
				}
			}
		})
	}
}

func TestStsNewPodIdentity(t *testing.T) {
	set := stsFixture(3)
	set.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
	p := stsNewPod(set, &set.Spec.Template, "web-abc", 2)
	want := map[string]string{"app": "web", appsv1.StatefulSetPodNameLabel: "web-2", appsv1.PodIndexLabel: "2", appsv1.ControllerRevisionHashLabelKey: "web-abc"}
	if !reflect.DeepEqual(p.Labels, want) {
		t.Errorf("labels %v, want %v", p.Labels, want)
	}
	if p.Name != "web-2" || p.Spec.Hostname != "web-2" || p.Spec.Subdomain != "nginx" {
		t.Errorf("name/hostname/subdomain = %s/%s/%s, want web-2/web-2/nginx", p.Name, p.Spec.Hostname, p.Spec.Subdomain)
	}
	if ref := metav1.GetControllerOf(p); ref == nil || ref.Kind != "StatefulSet" || ref.UID != set.UID {
		t.Errorf("controller ref %+v, want the StatefulSet", ref)
	}
	if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].PersistentVolumeClaim == nil || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-web-2" {
		t.Errorf("volumes %+v, want claim data-web-2", p.Spec.Volumes)
	}
}

func TestStsStatus(t *testing.T) {
	cases := []struct {
		name                             string
		set                              *appsv1.StatefulSet
		pods                             []*corev1.Pod
		replicas, ready, current, update int32
		currentRevision                  string
	}{
		{name: "mid update", set: stsFixture(3),
			pods:     []*corev1.Pod{stsPod("web-0", "web-old", true), stsPod("web-1", "web-old", false), stsPod("web-2", "web-new", true)},
			replicas: 3, ready: 2, current: 2, update: 1, currentRevision: "web-old"},
		{name: "update complete makes it current", set: stsFixture(2),
			pods:     []*corev1.Pod{stsPod("web-0", "web-new", true), stsPod("web-1", "web-new", true)},
			replicas: 2, ready: 2, current: 2, update: 2, currentRevision: "web-new"},
		{name: "not complete while a pod is missing", set: stsFixture(3),
			pods:     []*corev1.Pod{stsPod("web-0", "web-new", true), stsPod("web-1", "web-new", true)},
			replicas: 2, ready: 2, current: 0, update: 2, currentRevision: "web-old"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := stsStatus(tc.set, tc.pods, stsTestRevs, fxNow)
			got := []int32{st.Replicas, st.ReadyReplicas, st.CurrentReplicas, st.UpdatedReplicas}
			if want := []int32{tc.replicas, tc.ready, tc.current, tc.update}; !reflect.DeepEqual(got, want) {
				t.Errorf("replicas/ready/current/updated = %v, want %v", got, want)
			}
			if st.CurrentRevision != tc.currentRevision || st.UpdateRevision != "web-new" || st.ObservedGeneration != 2 {
				t.Errorf("revisions %s/%s generation %d, want %s/web-new 2", st.CurrentRevision, st.UpdateRevision, st.ObservedGeneration, tc.currentRevision)
			}
		})
	}
}

func TestStsOrdinal(t *testing.T) {
	for name, want := range map[string]int{"web-0": 0, "web-12": 12, "web-01": -1, "web-": -1, "web-a": -1, "web-x-1": -1, "webs-1": -1} {
		got, ok := stsOrdinal("web", name)
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("stsOrdinal(web, %s) = %d, want %d", name, got, want)
		}
	}
}

func TestRevPatchRoundTrip(t *testing.T) {
	set := stsFixture(1)
	data, err := revPatch(&set.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := stsTemplateOf(&appsv1.ControllerRevision{Data: fxRaw(data)})
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Spec.Containers[0].Image != "img:v2" || tmpl.Labels["app"] != "web" {
		t.Errorf("template from revision data %s = %+v, want the set's", data, tmpl)
	}
	other := stsFixture(1)
	other.Spec.Template.Spec.Containers[0].Image = "img:v3"
	data2, _ := revPatch(&other.Spec.Template)
	if revSameData(data, data2) || revHash(data, 0) == revHash(data2, 0) {
		t.Errorf("different templates gave the same revision data or hash")
	}
	if revHash(data, 0) == revHash(data, 1) {
		t.Errorf("a collision count did not change the hash")
	}
}
