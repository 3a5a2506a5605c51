package plane_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/minicluster/mini/control/plane/plantest"
)

func TestInformerSeesChanges(t *testing.T) {
	env := plantest.Start(t, plantest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := env.Client
	inf := c.NewInformer(&corev1.Pod{}, &corev1.PodList{}, "", 0, nil)
	events := make(chan string, 100)
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { events <- "add " + o.(*corev1.Pod).Name },
		UpdateFunc: func(_, o any) { events <- "update " + o.(*corev1.Pod).Name },
		DeleteFunc: func(o any) { events <- "delete" },
	})
	go inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p1", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x:1"}}}}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Labels = map[string]string{"a": "b"}
	if err := c.Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, &corev1.Pod{}, "default", "p1", nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"add p1", "update p1", "delete"}
	for _, w := range want {
		select {
		case got := <-events:
			if got != w {
				t.Fatalf("event %q, want %q", got, w)
			}
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %q", w)
		}
	}
}
