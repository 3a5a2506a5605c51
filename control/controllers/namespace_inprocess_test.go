package controllers_test

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/controllers"
)

func TestNamespaceDeletionDrains(t *testing.T) {
	env, ctx := start(t, controllers.Options{Only: []string{"replicaset", "deployment", "garbagecollector", "namespace"}})
	c := env.Client
	startKubelet(t, ctx, c, "node-1", nil, true)
	createNamespace(t, ctx, c, "drain")
	held := configMap("drain", "held")
	held.Finalizers = []string{"example.com/hold"}
	grace := int64(3600)
	slow := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "slow", Namespace: "drain"},
		Spec: corev1.PodSpec{NodeName: "node-without-kubelet", TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}}
	mustCreate(t, ctx, c, newDeployment("drain", "web", 3, "img:1"), configMap("drain", "plain"), held, slow,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "drain"}})
	waitRolledOut(t, ctx, c, "drain", "web")

	if err := c.Delete(ctx, &corev1.Namespace{}, "", "drain", nil); err != nil {
		t.Fatal(err)
	}
	// The held ConfigMap and the terminating pod (whose node never
	// confirms) keep the namespace; its conditions say so.
	waitFor(t, 30*time.Second, "the namespace to report the held ConfigMap and the terminating pod", func() (bool, error) {
		ns := &corev1.Namespace{}
		if err := c.Get(ctx, "", "drain", ns); err != nil {
			return false, err
		}
		var remaining, finalizers string
		for _, cond := range ns.Status.Conditions {
			switch cond.Type {
			case corev1.NamespaceContentRemaining:
				remaining = cond.Message
			case corev1.NamespaceFinalizersRemaining:
				finalizers = cond.Message
			}
		}
		return ns.Status.Phase == corev1.NamespaceTerminating &&
			remaining == "Some resources are remaining: configmaps. has 1 resource instances, pods. has 1 resource instances" &&
			finalizers == "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances", nil
	})
	if err := c.Create(ctx, configMap("drain", "late")); !apierrors.IsForbidden(err) {
		t.Errorf("creating content in a terminating namespace: %v, want Forbidden", err)
	}
	patch := []byte(`{"metadata":{"finalizers":null}}`)
	if err := c.Patch(ctx, &corev1.ConfigMap{}, "drain", "held", types.MergePatchType, patch, ""); err != nil {
		t.Fatal(err)
	}
	// The pod's node confirms its termination.
	zero := int64(0)
	if err := c.Delete(ctx, &corev1.Pod{}, "drain", "slow", &metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	waitDeleted(t, ctx, c, &corev1.Namespace{}, "", "drain")
	for _, list := range []runtime.Object{&corev1.PodList{}, &appsv1.ReplicaSetList{}, &appsv1.DeploymentList{}, &corev1.ConfigMapList{}, &corev1.SecretList{}} {
		if err := c.List(ctx, "drain", list, client.ListOptions{}); err != nil || meta.LenList(list) != 0 {
			t.Errorf("%d of %T left in the deleted namespace (%v)", meta.LenList(list), list, err)
		}
	}
}

func TestImmortalNamespaces(t *testing.T) {
	env, ctx := start(t, controllers.Options{Only: []string{"namespace"}})
	c := env.Client
	for _, ns := range []string{"default", "kube-system", "kube-public"} {
		err := c.Delete(ctx, &corev1.Namespace{}, "", ns, nil)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "this namespace may not be deleted") {
			t.Errorf("deleting %s: %v, want 403 this namespace may not be deleted", ns, err)
		}
		got := &corev1.Namespace{}
		if err := c.Get(ctx, "", ns, got); err != nil || got.DeletionTimestamp != nil {
			t.Errorf("namespace %s after the refused delete: %v, deletionTimestamp %v", ns, err, got.DeletionTimestamp)
		}
	}
	createNamespace(t, ctx, c, "empty")
	if err := c.Delete(ctx, &corev1.Namespace{}, "", "empty", nil); err != nil {
		t.Fatal(err)
	}
	waitDeleted(t, ctx, c, &corev1.Namespace{}, "", "empty")
}
