package controllers

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubectlOnWorkloads runs stock kubectl against the controllers'
// objects: rollout history and status of a StatefulSet (from its
// ControllerRevisions and status) and wait --for=condition=complete on a
// Job. Skipped where kubectl is not installed.
func TestKubectlOnWorkloads(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed")
	}
	ctx, env := ipStartEnv(t, Options{Only: []string{"statefulset", "job"}})
	c := env.Client
	run := func(args ...string) string {
		t.Helper()
		start := time.Now()
		out, err := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", env.Kubeconfig}, args...)...).CombinedOutput()
		t.Logf("kubectl %v took %s", args, time.Since(start))
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	ipNode(ctx, t, c, "n1")
	one := int32(1)
	set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{Replicas: &one, ServiceName: "nginx", Template: ipTemplate("web"),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	if err := c.Create(ctx, set); err != nil {
		t.Fatal(err)
	}
	ipRunStsPod(ctx, t, c, "web-0", 0)
	if err := ipUpdateSts(ctx, c, func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "img:v2" }); err != nil {
		t.Fatal(err)
	}
	ipPlayTerminate(ctx, t, c, "web-0")
	ipRunStsPod(ctx, t, c, "web-0", 0)
	out := run("rollout", "status", "statefulset/web", "--timeout=20s")
	if !strings.Contains(out, "partitioned roll out complete") && !strings.Contains(out, "roll out complete") {
		t.Errorf("kubectl rollout status said %q, want a complete roll out", out)
	}
	hist := run("rollout", "history", "statefulset/web")
	lines := strings.Fields(hist)
	if !strings.Contains(hist, "REVISION") || !ipHasWord(lines, "1") || !ipHasWord(lines, "2") {
		t.Errorf("kubectl rollout history:\n%s\nwant revisions 1 and 2", hist)
	}
	if rev := run("rollout", "history", "statefulset/web", "--revision=1"); !strings.Contains(rev, "img:v1") {
		t.Errorf("revision 1 detail does not show the old image img:v1:\n%s", rev)
	}

	tmpl := ipTemplate("once")
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "once", Namespace: "default"}, Spec: batchv1.JobSpec{Template: tmpl}}
	if err := c.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", env.Kubeconfig, "wait", "--for=condition=complete", "job/once", "--timeout=20s").CombinedOutput()
		if err != nil {
			out = append(out, []byte(err.Error())...)
		}
		done <- string(out)
	}()
	ipWait(t, 30*time.Second, "the job's pod", func() (bool, string) {
		pods := &corev1.PodList{}
		if err := c.List(ctx, "default", pods, ipListBy("job-name=once")); err != nil || len(pods.Items) == 0 {
			return false, "no pod yet"
		}
		return ipSucceed(ctx, c, &pods.Items[0]) == nil, ""
	})
	if out := <-done; !strings.Contains(out, "condition met") {
		t.Errorf("kubectl wait --for=condition=complete said %q", out)
	}
}

func ipHasWord(ws []string, w string) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}
