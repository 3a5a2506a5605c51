package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/controllers"
	"github.com/minicluster/mini/control/plane"
	"github.com/minicluster/mini/control/plane/plantest"
)

// BenchmarkDeploy30 measures, on an in-process plane with the test
// kubelet, how long a 30-replica Deployment takes from create to
// Available with all pods ready ("deploy-ms"), and the same 30 pods
// created directly by the client ("baseline-ms": the API server and the
// kubelet alone), then deleting the Deployment until its pods are gone
// ("delete-ms"). ratio = deploy / baseline is the controllers' cost.
func BenchmarkDeploy30(b *testing.B) {
	env := plantest.Start(b, plantest.Options{Components: []plane.Component{
		controllers.New(controllers.Options{Only: []string{"replicaset", "deployment", "garbagecollector"}})}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := env.Client
	startKubelet(b, ctx, c, "node-1", nil, true)
	var base, deploy, del time.Duration
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		for j := range 30 {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bare-%d-%d", i, j), Namespace: "default",
				Labels: map[string]string{"bare": fmt.Sprint(i)}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
			if err := c.Create(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
		waitReady(b, ctx, c, fmt.Sprintf("bare=%d", i), 30)
		base += time.Since(t0)

		name := fmt.Sprintf("web-%d", i)
		t0 = time.Now()
		if err := c.Create(ctx, newDeployment("default", name, 30, "img:1")); err != nil {
			b.Fatal(err)
		}
		waitFor(b, time.Minute, name+" to be available", func() (bool, error) {
			d, err := getDeployment(ctx, c, "default", name)
			if err != nil {
				return false, err
			}
			return d.Status.AvailableReplicas == 30 && d.Status.ObservedGeneration == d.Generation, nil
		})
		waitReady(b, ctx, c, "app="+name, 30)
		deploy += time.Since(t0)

		t0 = time.Now()
		mustDelete(b, ctx, c, &appsv1.Deployment{}, "default", name, metav1.DeletePropagationBackground)
		waitReady(b, ctx, c, "app="+name, 0)
		del += time.Since(t0)
	}
	n := float64(b.N)
	b.ReportMetric(float64(base.Milliseconds())/n, "baseline-ms")
	b.ReportMetric(float64(deploy.Milliseconds())/n, "deploy-ms")
	b.ReportMetric(float64(del.Milliseconds())/n, "delete-ms")
	b.ReportMetric(float64(deploy)/float64(base), "ratio")
}

// waitReady waits until exactly n pods of the selector exist, all ready.
func waitReady(tb testing.TB, ctx context.Context, c *client.Client, selector string, n int) {
	tb.Helper()
	waitFor(tb, time.Minute, fmt.Sprintf("%d ready pods of %s", n, selector), func() (bool, error) {
		pods, err := listPods(ctx, c, "default", selector)
		ready := 0
		for i := range pods {
			if controllers.IsPodReady(&pods[i]) && pods[i].DeletionTimestamp == nil {
				ready++
			}
		}
		return len(pods) == n && ready == n, err
	})
}
