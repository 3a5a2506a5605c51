package controllers_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minicluster/mini/control/client"
)

const (
	revisionKey    = "deployment.kubernetes.io/revision"
	changeCauseKey = "kubernetes.io/change-cause"
)

// revisions returns the Deployment's ReplicaSets by revision, as kubectl
// rollout history reads them.
func revisions(t *testing.T, ctx context.Context, c *client.Client, d *appsv1.Deployment) map[string]appsv1.ReplicaSet {
	t.Helper()
	rss, err := listRS(ctx, c, d.Namespace, metav1.FormatLabelSelector(d.Spec.Selector))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]appsv1.ReplicaSet{}
	for _, rs := range rss {
		if metav1.IsControlledBy(&rs, d) {
			out[rs.Annotations[revisionKey]] = rs
		}
	}
	return out
}

// undo does what kubectl rollout undo --to-revision does: it copies the
// template (without the hash label) and annotations of the ReplicaSet of
// that revision back into the Deployment with a JSON patch.
func undo(t *testing.T, ctx context.Context, c *client.Client, d *appsv1.Deployment, rs appsv1.ReplicaSet) {
	t.Helper()
	tmpl := rs.Spec.Template.DeepCopy()
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	annotations := map[string]string{}
	for k, v := range d.Annotations {
		if strings.HasPrefix(k, "deployment.kubernetes.io/") || k == corev1.LastAppliedConfigAnnotation {
			annotations[k] = v
		}
	}
	for k, v := range rs.Annotations {
		if !strings.HasPrefix(k, "deployment.kubernetes.io/") && k != corev1.LastAppliedConfigAnnotation {
			annotations[k] = v
		}
	}
	patch, _ := json.Marshal([]map[string]any{
		{"op": "replace", "path": "/spec/template", "value": tmpl},
		{"op": "replace", "path": "/metadata/annotations", "value": annotations},
	})
	if err := c.Patch(ctx, &appsv1.Deployment{}, d.Namespace, d.Name, types.JSONPatchType, patch, ""); err != nil {
		t.Fatalf("rolling back to %s: %v", rs.Name, err)
	}
}

func TestRolloutHistoryUndoRestartPause(t *testing.T) {
	env, ctx := start(t, workloads)
	c := env.Client
	startKubelet(t, ctx, c, "node-1", nil, true)
	d := newDeployment("default", "web", 3, "img:1")
	d.Annotations = map[string]string{changeCauseKey: "first"}
	if err := c.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, ctx, c, "default", "web")
	setImage(t, ctx, c, "web", "img:2")
	patchDeployment(t, ctx, c, "web", `{"metadata":{"annotations":{"kubernetes.io/change-cause":"second"}}}`)
	d = waitRolledOut(t, ctx, c, "default", "web")
	revs := revisions(t, ctx, c, d)
	if len(revs) != 2 || revs["1"].Annotations[changeCauseKey] != "first" || revs["2"].Annotations[changeCauseKey] != "second" ||
		*revs["1"].Spec.Replicas != 0 || d.Annotations[revisionKey] != "2" {
		t.Fatalf("after the image change: revisions %v, deployment revision %s", keys(revs), d.Annotations[revisionKey])
	}

	undo(t, ctx, c, d, revs["1"])
	waitFor(t, 30*time.Second, "the rollback to become revision 3", func() (bool, error) {
		d, _ = getDeployment(ctx, c, "default", "web")
		done, err := rolledOut(d)
		return done && d.Annotations[revisionKey] == "3", err
	})
	revs = revisions(t, ctx, c, d)
	if rs, ok := revs["3"]; !ok || rs.Spec.Template.Spec.Containers[0].Image != "img:1" || rs.Annotations["deployment.kubernetes.io/revision-history"] != "1" ||
		rs.Annotations[changeCauseKey] != "first" || len(revs) != 2 {
		t.Fatalf("after the rollback: revisions %v; revision 3 is %s with history %q", keys(revs), rs.Name, rs.Annotations["deployment.kubernetes.io/revision-history"])
	}

	// kubectl rollout restart: a template annotation starts a new rollout.
	patchDeployment(t, ctx, c, "web", `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2024-01-01T00:00:00Z"}}}}}`)
	waitFor(t, 30*time.Second, "the restart to become revision 4", func() (bool, error) {
		d, _ = getDeployment(ctx, c, "default", "web")
		done, err := rolledOut(d)
		return done && d.Annotations[revisionKey] == "4", err
	})

	// Paused: spec changes are observed but not rolled out.
	patchDeployment(t, ctx, c, "web", `{"spec":{"paused":true}}`)
	setImage(t, ctx, c, "web", "img:3")
	waitFor(t, 30*time.Second, "the paused deployment's change to be observed", func() (bool, error) {
		d, _ = getDeployment(ctx, c, "default", "web")
		p := condition(d, appsv1.DeploymentProgressing)
		return d.Status.ObservedGeneration == d.Generation && p != nil && p.Reason == "DeploymentPaused" && p.Status == corev1.ConditionUnknown, nil
	})
	if n := len(revisions(t, ctx, c, d)); n != 3 {
		t.Errorf("a paused deployment has %d ReplicaSets, want 3 (no new one)", n)
	}
	patchDeployment(t, ctx, c, "web", `{"spec":{"paused":false,"revisionHistoryLimit":1}}`)
	waitFor(t, 30*time.Second, "the resumed rollout to finish and prune history", func() (bool, error) {
		d, _ = getDeployment(ctx, c, "default", "web")
		done, err := rolledOut(d)
		return done && d.Annotations[revisionKey] == "5" && len(revisions(t, ctx, c, d)) == 2, err
	})
}

func keys(m map[string]appsv1.ReplicaSet) []string {
	var out []string
	for k, rs := range m {
		out = append(out, k+"="+rs.Name)
	}
	return out
}

// TestKubectlRollout drives the rollout commands of the installed kubectl
// against the in-process control plane.
func TestKubectlRollout(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed")
	}
	env, ctx := start(t, workloads)
	c := env.Client
	startKubelet(t, ctx, c, "node-1", nil, true)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", env.Kubeconfig}, args...)...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("kubectl %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	expect := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Fatalf("kubectl output lacks %q:\n%s", w, out)
			}
		}
	}
	if err := c.Create(ctx, newDeployment("default", "web", 3, "img:1")); err != nil {
		t.Fatal(err)
	}
	expect(run("rollout", "status", "deployment/web", "--timeout=60s"), `deployment "web" successfully rolled out`)
	run("set", "image", "deployment/web", "app=img:2")
	run("annotate", "deployment/web", changeCauseKey+"=to img:2")
	expect(run("rollout", "status", "deployment/web", "--timeout=60s"), "successfully rolled out")
	expect(run("rollout", "history", "deployment/web"), "REVISION", "1 ", "2 ", "to img:2")
	expect(run("rollout", "undo", "deployment/web"), "rolled back")
	expect(run("rollout", "status", "deployment/web", "--timeout=60s", "--revision=3"), "successfully rolled out")
	expect(run("rollout", "history", "deployment/web", "--revision=3"), "img:1")
	d, err := getDeployment(ctx, c, "default", "web")
	if err != nil || d.Spec.Template.Spec.Containers[0].Image != "img:1" {
		t.Fatalf("after undo the image is %s (%v), want img:1", d.Spec.Template.Spec.Containers[0].Image, err)
	}
	run("rollout", "restart", "deployment/web")
	expect(run("rollout", "status", "deployment/web", "--timeout=60s", "--revision=4"), "successfully rolled out")
	expect(run("rollout", "pause", "deployment/web"), "paused")
	expect(run("rollout", "resume", "deployment/web"), "resumed")
	expect(run("rollout", "status", "deployment/web", "--timeout=60s"), "successfully rolled out")
}
