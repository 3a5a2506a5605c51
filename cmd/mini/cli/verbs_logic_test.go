package cli

import (
	"errors"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/minicluster/mini/control/client"
)

// The aligner must lay a table out exactly as kubectl's tab writer
// (text/tabwriter, minwidth 6, padding 3) does.
func TestAlignerMatchesKubectlTabwriter(t *testing.T) {
	for _, rows := range [][][]string{
		{{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}, {"echo-5d8f7c6b9d-x2x9k", "1/1", "Running", "0", "10s"}, {"e", "0/1", "ContainerCreating", "12", "3h2m"}},
		{{"NAMESPACE", "NAME", "AGE"}, {"kube-system", "a", "1d"}},
		{{"A", "B"}, {"ü-ß", "x"}},
	} {
		var want, got strings.Builder
		tw := tabwriter.NewWriter(&want, 6, 4, 3, ' ', 0)
		for _, r := range rows {
			tw.Write([]byte(strings.Join(r, "\t") + "\n"))
		}
		tw.Flush()
		(&aligner{}).write(&got, rows)
		if got.String() != want.String() {
			t.Errorf("aligner\n%s\ntabwriter\n%s", got.String(), want.String())
		}
	}
}

func TestRolloutStatusMessages(t *testing.T) {
	dep := func(gen, observed int64, spec, replicas, updated, available int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "echo", Generation: gen},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(spec)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: replicas, UpdatedReplicas: updated,
				AvailableReplicas: available, Conditions: conds}}
	}
	rolling := appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}
	ds := func(gen, observed int64, desired, updated, available int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Generation: gen}, Spec: appsv1.DaemonSetSpec{UpdateStrategy: rolling},
			Status: appsv1.DaemonSetStatus{ObservedGeneration: observed, DesiredNumberScheduled: desired, UpdatedNumberScheduled: updated, NumberAvailable: available}}
	}
	sts := func(observed int64, spec, ready, updated int32, cur, upd string, partition *int32) *appsv1.StatefulSet {
		s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: 1},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(spec), UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: observed, ReadyReplicas: ready, UpdatedReplicas: updated, CurrentReplicas: ready,
				CurrentRevision: cur, UpdateRevision: upd}}
		if partition != nil {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: partition}
		}
		return s
	}
	for _, c := range []struct {
		name string
		obj  runtime.Object
		msg  string
		done bool
		err  string
	}{
		{"not observed", dep(2, 1, 3, 3, 3, 3), "Waiting for deployment spec update to be observed...", false, ""},
		{"updating", dep(2, 2, 3, 4, 1, 3), `Waiting for deployment "echo" rollout to finish: 1 out of 3 new replicas have been updated...`, false, ""},
		{"old pending", dep(2, 2, 3, 4, 3, 3), `Waiting for deployment "echo" rollout to finish: 1 old replicas are pending termination...`, false, ""},
		{"unavailable", dep(2, 2, 3, 3, 3, 2), `Waiting for deployment "echo" rollout to finish: 2 of 3 updated replicas are available...`, false, ""},
		{"done", dep(2, 2, 3, 3, 3, 3), `deployment "echo" successfully rolled out`, true, ""},
		{"deadline", dep(2, 2, 3, 3, 1, 1, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded"}), "", false, "exceeded its progress deadline"},
		{"ds updating", ds(1, 1, 2, 1, 1), `Waiting for daemon set "agent" rollout to finish: 1 out of 2 new pods have been updated...`, false, ""},
		{"ds available", ds(1, 1, 2, 2, 1), `Waiting for daemon set "agent" rollout to finish: 1 of 2 updated pods are available...`, false, ""},
		{"ds done", ds(1, 1, 2, 2, 2), `daemon set "agent" successfully rolled out`, true, ""},
		{"ds not observed", ds(2, 1, 2, 2, 2), "Waiting for daemon set spec update to be observed...", false, ""},
		{"sts not ready", sts(1, 3, 1, 1, "a", "a", nil), "Waiting for 2 pods to be ready...", false, ""},
		{"sts updating", sts(1, 3, 3, 1, "a", "b", nil), "waiting for statefulset rolling update to complete 1 pods at revision b...", false, ""},
		{"sts done", sts(1, 3, 3, 3, "b", "b", nil), "statefulset rolling update complete 3 pods at revision b...", true, ""},
		{"sts partition", sts(1, 3, 3, 0, "a", "b", ptr.To[int32](1)), "Waiting for partitioned roll out to finish: 0 out of 2 new pods have been updated...", false, ""},
		{"sts partition done", sts(1, 3, 3, 2, "a", "b", ptr.To[int32](1)), "partitioned roll out complete: 2 new pods have been updated...", true, ""},
		{"sts not observed", sts(0, 3, 3, 3, "a", "a", nil), "Waiting for statefulset spec update to be observed...", false, ""},
	} {
		msg, done, err := rolloutStatus(c.obj)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || msg != c.msg || done != c.done {
			t.Errorf("%s: got %q done=%v err=%v; want %q done=%v", c.name, msg, done, err, c.msg, c.done)
		}
	}
	if _, _, err := rolloutStatus(&appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}}}); err == nil {
		t.Error("an OnDelete daemon set has no rollout status, but no error came")
	}
}

func TestBetterPod(t *testing.T) {
	now := time.Now()
	pod := func(name, node string, phase corev1.PodPhase, ready bool, age time.Duration) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(now.Add(-age))},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
		return p
	}
	for _, c := range []struct {
		name string
		a, b corev1.Pod
	}{
		{"scheduled first", pod("a", "n", corev1.PodPending, false, 0), pod("b", "", corev1.PodPending, false, time.Hour)},
		{"running first", pod("a", "n", corev1.PodRunning, false, 0), pod("b", "n", corev1.PodPending, false, time.Hour)},
		{"pending before failed", pod("a", "n", corev1.PodPending, false, 0), pod("b", "n", corev1.PodFailed, false, time.Hour)},
		{"ready first", pod("a", "n", corev1.PodRunning, true, 0), pod("b", "n", corev1.PodRunning, false, time.Hour)},
		{"older first", pod("b", "n", corev1.PodRunning, true, time.Hour), pod("a", "n", corev1.PodRunning, true, 0)},
	} {
		if !betterPod(&c.a, &c.b) || betterPod(&c.b, &c.a) {
			t.Errorf("%s: %s should be chosen over %s", c.name, c.a.Name, c.b.Name)
		}
	}
}

func TestPortForwardPorts(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "echo-1"}, Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "echo", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9100}}}}}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "echo"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
		{Name: "web", Port: 80, TargetPort: intstr.FromString("http")},
		{Name: "m", Port: 9000, TargetPort: intstr.FromInt32(9100)},
		{Name: "same", Port: 7000}}}}
	toPod := func(p string) (int32, error) { return containerPort(pod, p) }
	toSvc := func(p string) (int32, error) { return servicePort(svc, pod, p) }
	for _, c := range []struct {
		specs  []string
		remote func(string) (int32, error)
		want   string // joined, or "error"
	}{
		{[]string{"9090:8080"}, toPod, "9090:8080"},
		{[]string{"8080"}, toPod, "8080:8080"},
		{[]string{":8080"}, toPod, ":8080"},
		{[]string{"9090:http", ":metrics"}, toPod, "9090:8080 :9100"},
		{[]string{"9090:80"}, toSvc, "9090:8080"},
		{[]string{"80"}, toSvc, "80:8080"},
		{[]string{":web", "9000"}, toSvc, ":8080 9000:9100"},
		{[]string{"7000"}, toSvc, "7000:7000"},
		{[]string{"9090:81"}, toSvc, "error"},
		{[]string{"9090:nope"}, toPod, "error"},
		{[]string{"http"}, toPod, "error"}, // a name needs a local port
		{[]string{"x:8080"}, toPod, "error"},
		{[]string{"9090:"}, toPod, "error"},
	} {
		got, err := translatePorts(c.specs, c.remote)
		s := strings.Join(got, " ")
		if err != nil {
			s = "error"
		}
		if s != c.want {
			t.Errorf("translatePorts(%q) = %q (%v), want %q", c.specs, s, err, c.want)
		}
	}
}

func TestUndoTarget(t *testing.T) {
	revs := []revision{{n: 1}, {n: 2}, {n: 4}, {n: 5}}
	for _, c := range []struct {
		current, to, want int64 // want 0: error
	}{
		{5, 0, 4}, {4, 0, 2}, {5, 2, 2}, {5, 1, 1}, {1, 0, 0}, {5, 3, 0},
	} {
		got, err := undoTarget(revs, c.current, c.to)
		if c.want == 0 {
			var ee *exitError
			if err == nil || !errors.As(err, &ee) || ee.code != ExitNotFound {
				t.Errorf("undoTarget(current %d, to %d) = %d, %v; want a not-found error", c.current, c.to, got.n, err)
			}
			continue
		}
		if err != nil || got.n != c.want {
			t.Errorf("undoTarget(current %d, to %d) = %d, %v; want %d", c.current, c.to, got.n, err, c.want)
		}
	}
}

func TestDefaultContainer(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "sidecar"}}}}
	if n, note := defaultContainer(p); n != "app" || note != `Defaulted container "app" out of: app, sidecar` {
		t.Errorf("two containers: %q, %q", n, note)
	}
	p.Annotations = map[string]string{"kubectl.kubernetes.io/default-container": "sidecar"}
	if n, note := defaultContainer(p); n != "sidecar" || note != "" {
		t.Errorf("annotated: %q, %q", n, note)
	}
	p = &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "only"}}}}
	if n, note := defaultContainer(p); n != "only" || note != "" {
		t.Errorf("one container: %q, %q", n, note)
	}
}

func TestManifestNamespaceAgainstFlag(t *testing.T) {
	ns := client.Info{Namespaced: true}
	for _, c := range []struct {
		m    client.Manifest
		flag string
		ok   bool
	}{
		{client.Manifest{Info: ns, NS: "a"}, "", true},
		{client.Manifest{Info: ns, NS: ""}, "b", true},
		{client.Manifest{Info: ns, NS: "a"}, "a", true},
		{client.Manifest{Info: ns, NS: "a"}, "b", false},
		{client.Manifest{Info: client.Info{}, NS: "a"}, "b", true},
	} {
		if err := checkManifestNS(c.m, c.flag); (err == nil) != c.ok {
			t.Errorf("manifest ns %q, -n %q: %v", c.m.NS, c.flag, err)
		}
	}
}

func TestDeleteOptions(t *testing.T) {
	for _, c := range []struct {
		o     deleteOptions
		prop  metav1.DeletionPropagation
		grace int64 // -1: unset
		err   bool
	}{
		{deleteOptions{cascade: "background", gracePeriod: -1}, metav1.DeletePropagationBackground, -1, false},
		{deleteOptions{cascade: "foreground", gracePeriod: 0}, metav1.DeletePropagationForeground, 0, false},
		{deleteOptions{cascade: "orphan", gracePeriod: -1, now: true}, metav1.DeletePropagationOrphan, 1, false},
		{deleteOptions{cascade: "sideways", gracePeriod: -1}, "", -1, true},
	} {
		opts, err := c.o.deleteOpts()
		if c.err {
			if err == nil {
				t.Errorf("cascade %q: no error", c.o.cascade)
			}
			continue
		}
		grace := int64(-1)
		if opts.GracePeriodSeconds != nil {
			grace = *opts.GracePeriodSeconds
		}
		if err != nil || *opts.PropagationPolicy != c.prop || grace != c.grace {
			t.Errorf("%+v: got %v grace %d err %v", c.o, *opts.PropagationPolicy, grace, err)
		}
	}
}

func TestTitleCase(t *testing.T) {
	for in, want := range map[string]string{
		"holderIdentity": "Holder Identity", "leaseDurationSeconds": "Lease Duration Seconds", "podIP": "Pod IP",
		"apiVersion": "API Version", "uid": "UID", "spec": "Spec", "hostIPs": "Host IPs", "clusterIP": "Cluster IP",
		"renewTime": "Renew Time", "URLPath": "URL Path",
	} {
		if got := titleCase(in); got != want {
			t.Errorf("titleCase(%q) = %q, want %q", in, got, want)
		}
	}
}
