package client_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/plane/plantest"
)

const deploy = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: nginx:1.25}
`

func TestApply(t *testing.T) {
	env := plantest.Start(t, plantest.Options{})
	ctx := context.Background()
	apply := func(replicas string) client.ApplyResult {
		t.Helper()
		ms, err := client.ParseManifests("d.yaml", []byte(strings.ReplaceAll(deploy, "REPLICAS", replicas)))
		if err != nil {
			t.Fatal(err)
		}
		res, err := env.Client.Apply(ctx, ms[0], "default")
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if got := apply("2"); got != client.Created {
		t.Fatalf("first apply: %s, want created", got)
	}
	if got := apply("2"); got != client.Unchanged {
		t.Fatalf("same manifest again: %s, want unchanged", got)
	}
	// A change made by someone else to a field the manifest does not set
	// survives the next apply.
	d := &appsv1.Deployment{}
	env.Client.Get(ctx, "default", "web", d)
	d.Spec.MinReadySeconds = 7
	if err := env.Client.Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got := apply("3"); got != client.Configured {
		t.Fatalf("changed replicas: %s, want configured", got)
	}
	env.Client.Get(ctx, "default", "web", d)
	if *d.Spec.Replicas != 3 || d.Spec.MinReadySeconds != 7 || d.Generation != 3 {
		t.Fatalf("after apply: replicas %d minReadySeconds %d generation %d; want 3, 7, 3", *d.Spec.Replicas, d.Spec.MinReadySeconds, d.Generation)
	}
	// kubectl apply of the same manifest sees no difference.
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not installed: skipping the kubectl interplay check")
		return
	}
	cmd := exec.Command(kubectl, "--kubeconfig", env.Kubeconfig, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(strings.ReplaceAll(deploy, "REPLICAS", "3"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "unchanged") {
		t.Fatalf("kubectl apply after mini apply: %v: %s; want unchanged", err, out)
	}
}
