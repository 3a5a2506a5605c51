package controllers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/controllers"
)

// TestDeletePropagation deletes a Deployment with each propagation policy.
func TestDeletePropagation(t *testing.T) {
	for _, policy := range []metav1.DeletionPropagation{metav1.DeletePropagationBackground, metav1.DeletePropagationOrphan, metav1.DeletePropagationForeground} {
		t.Run(string(policy), func(t *testing.T) {
			env, ctx := start(t, controllers.Options{Only: []string{"replicaset", "deployment", "garbagecollector"}})
			c := env.Client
			startKubelet(t, ctx, c, "node-1", nil, true)
			if err := c.Create(ctx, newDeployment("default", "web", 3, "img:1")); err != nil {
				t.Fatal(err)
			}
			waitRolledOut(t, ctx, c, "default", "web")
			// The response is the Deployment as the delete left it.
			body, _ := json.Marshal(map[string]any{"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy})
			resp, err := c.Do(ctx, client.Request{Method: http.MethodDelete, Path: "/apis/apps/v1/namespaces/default/deployments/web", Body: body})
			if err != nil {
				t.Fatal(err)
			}
			var deleted appsv1.Deployment
			_ = json.Unmarshal(resp, &deleted)
			switch policy {
			case metav1.DeletePropagationBackground:
				waitGone(t, ctx, c, "the ReplicaSets and pods", func() (int, error) { return countApp(ctx, c, false) })
			case metav1.DeletePropagationOrphan:
				waitFor(t, 30*time.Second, "the deployment to go, orphaning its ReplicaSet", func() (bool, error) {
					_, err := getDeployment(ctx, c, "default", "web")
					return apierrors.IsNotFound(err), err
				})
				rss, _ := listRS(ctx, c, "default", "app=web")
				if len(rss) != 1 || len(rss[0].OwnerReferences) != 0 {
					t.Fatalf("after an orphan delete: %d ReplicaSets, owners %v; want 1 without owners", len(rss), rss)
				}
				pods, _ := listPods(ctx, c, "default", "app=web")
				for _, p := range pods {
					if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != rss[0].UID {
						t.Errorf("pod %s lost its ReplicaSet: %v", p.Name, p.OwnerReferences)
					}
				}
				if len(pods) != 3 {
					t.Errorf("%d pods after an orphan delete, want 3", len(pods))
				}
			case metav1.DeletePropagationForeground:
				if deleted.DeletionTimestamp == nil || !hasString(deleted.Finalizers, metav1.FinalizerDeleteDependents) {
					t.Fatalf("deployment after a foreground delete has finalizers %v; want it held by %s", deleted.Finalizers, metav1.FinalizerDeleteDependents)
				}
				// Dependents go first: once the Deployment is gone, nothing of it is left.
				waitFor(t, 30*time.Second, "the deployment to go", func() (bool, error) {
					_, err := getDeployment(ctx, c, "default", "web")
					return apierrors.IsNotFound(err), err
				})
				if n, err := countApp(ctx, c, true); n != 0 || err != nil {
					t.Errorf("%d ReplicaSets and pods (terminating included) outlived their foreground-deleted Deployment (%v)", n, err)
				}
			}
		})
	}
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// countApp counts the ReplicaSets and pods of app=web (with terminating
// pods, or only active ones).
func countApp(ctx context.Context, c *client.Client, terminating bool) (int, error) {
	rss, err := listRS(ctx, c, "default", "app=web")
	if err != nil {
		return 0, err
	}
	pods, err := listPods(ctx, c, "default", "app=web")
	n := len(rss)
	for _, p := range pods {
		if terminating || p.DeletionTimestamp == nil {
			n++
		}
	}
	return n, err
}

func waitGone(t *testing.T, ctx context.Context, c *client.Client, what string, count func() (int, error)) {
	t.Helper()
	waitFor(t, 30*time.Second, what+" to be deleted", func() (bool, error) {
		n, err := count()
		return n == 0 && err == nil, err
	})
}

func configMap(ns, name string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: owners}}
}

func ownerRef(kind, apiVersion, name string, uid types.UID, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, BlockOwnerDeletion: &block}
}

func cmRef(cm *corev1.ConfigMap, block bool) metav1.OwnerReference {
	return ownerRef("ConfigMap", "v1", cm.Name, cm.UID, block)
}

func mustCreate(t *testing.T, ctx context.Context, c *client.Client, objs ...runtime.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("creating %T: %v", o, err)
		}
	}
}

func mustDelete(t testing.TB, ctx context.Context, c *client.Client, proto runtime.Object, ns, name string, policy metav1.DeletionPropagation) {
	t.Helper()
	if err := c.Delete(ctx, proto, ns, name, &metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		t.Fatalf("deleting %s: %v", name, err)
	}
}

func waitDeleted(t *testing.T, ctx context.Context, c *client.Client, proto runtime.Object, ns, name string) {
	t.Helper()
	waitFor(t, 20*time.Second, name+" to be deleted", func() (bool, error) {
		err := c.Get(ctx, ns, name, proto.DeepCopyObject())
		return apierrors.IsNotFound(err), err
	})
}

func TestGarbageCollector(t *testing.T) {
	env, ctx := start(t, controllers.Options{Only: []string{"garbagecollector"}})
	c := env.Client
	cm := &corev1.ConfigMap{}

	// Objects the collector must leave alone, checked at the end.
	keepOwner := configMap("default", "keep-owner")
	mustCreate(t, ctx, c, keepOwner)
	keep := configMap("default", "keep", cmRef(keepOwner, false))
	clusterDep := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-with-namespaced-owner",
		OwnerReferences: []metav1.OwnerReference{ownerRef("ConfigMap", "v1", "gone", "no-such-uid", false)}}}
	unknownKind := configMap("default", "unknown-owner-kind", ownerRef("Widget", "example.com/v1", "w", "w-uid", false))
	mustCreate(t, ctx, c, keep, clusterDep, unknownKind)

	t.Run("dependent created after its owner was deleted", func(t *testing.T) {
		owner := configMap("default", "late-owner")
		mustCreate(t, ctx, c, owner)
		mustDelete(t, ctx, c, cm, "default", owner.Name, metav1.DeletePropagationBackground)
		mustCreate(t, ctx, c, configMap("default", "late-dep", cmRef(owner, true)))
		waitDeleted(t, ctx, c, cm, "default", "late-dep")
	})
	t.Run("owner replaced by another object of the same name", func(t *testing.T) {
		owner := configMap("default", "replaced")
		mustCreate(t, ctx, c, owner)
		oldRef := cmRef(owner, false)
		mustDelete(t, ctx, c, cm, "default", owner.Name, metav1.DeletePropagationBackground)
		mustCreate(t, ctx, c, configMap("default", "replaced"), configMap("default", "stale-ref", oldRef))
		waitDeleted(t, ctx, c, cm, "default", "stale-ref")
	})
	t.Run("namespaced dependent of a cluster-scoped owner", func(t *testing.T) {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gc-node"}}
		mustCreate(t, ctx, c, node)
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "gc-node", Namespace: "kube-node-lease",
			OwnerReferences: []metav1.OwnerReference{ownerRef("Node", "v1", node.Name, node.UID, false)}}}
		mustCreate(t, ctx, c, lease)
		mustDelete(t, ctx, c, &corev1.Node{}, "", node.Name, metav1.DeletePropagationBackground)
		waitDeleted(t, ctx, c, &coordinationv1.Lease{}, "kube-node-lease", "gc-node")
	})
	t.Run("a surviving owner keeps the dependent", func(t *testing.T) {
		a, b := configMap("default", "owner-a"), configMap("default", "owner-b")
		mustCreate(t, ctx, c, a, b)
		mustCreate(t, ctx, c, configMap("default", "two-owners", cmRef(a, false), cmRef(b, false)))
		mustDelete(t, ctx, c, cm, "default", "owner-b", metav1.DeletePropagationBackground)
		waitFor(t, 20*time.Second, "the reference to the deleted owner to be dropped", func() (bool, error) {
			got := &corev1.ConfigMap{}
			err := c.Get(ctx, "default", "two-owners", got)
			return err == nil && len(got.OwnerReferences) == 1 && got.OwnerReferences[0].UID == a.UID, err
		})
	})
	t.Run("orphan", func(t *testing.T) {
		owner := configMap("default", "orphaning")
		mustCreate(t, ctx, c, owner)
		mustCreate(t, ctx, c, configMap("default", "orphaned", cmRef(owner, true)))
		mustDelete(t, ctx, c, cm, "default", owner.Name, metav1.DeletePropagationOrphan)
		waitDeleted(t, ctx, c, cm, "default", owner.Name)
		got := &corev1.ConfigMap{}
		if err := c.Get(ctx, "default", "orphaned", got); err != nil || len(got.OwnerReferences) != 0 {
			t.Fatalf("orphaned dependent: %v, owners %v; want it without owners", err, got.OwnerReferences)
		}
	})
	t.Run("foreground waits for blocking dependents", func(t *testing.T) {
		owner := configMap("default", "fg-owner")
		mustCreate(t, ctx, c, owner)
		held := configMap("default", "fg-held", cmRef(owner, true))
		held.Finalizers = []string{"example.com/hold"}
		mustCreate(t, ctx, c, held, configMap("default", "fg-loose", cmRef(owner, false)))
		mustDelete(t, ctx, c, cm, "default", owner.Name, metav1.DeletePropagationForeground)
		waitFor(t, 20*time.Second, "the held dependent to be deleted", func() (bool, error) {
			got := &corev1.ConfigMap{}
			err := c.Get(ctx, "default", "fg-held", got)
			return err == nil && got.DeletionTimestamp != nil, err
		})
		waitDeleted(t, ctx, c, cm, "default", "fg-loose")
		if err := c.Get(ctx, "default", owner.Name, &corev1.ConfigMap{}); err != nil {
			t.Fatalf("the owner went before its blocking dependent: %v", err)
		}
		patch := []byte(`{"metadata":{"finalizers":null}}`)
		if err := c.Patch(ctx, &corev1.ConfigMap{}, "default", "fg-held", types.MergePatchType, patch, ""); err != nil {
			t.Fatal(err)
		}
		waitDeleted(t, ctx, c, cm, "default", owner.Name)
	})

	for _, o := range []struct {
		proto    runtime.Object
		ns, name string
	}{
		{&corev1.ConfigMap{}, "default", "keep"},
		{&corev1.Node{}, "", "node-with-namespaced-owner"},
		{&corev1.ConfigMap{}, "default", "unknown-owner-kind"},
	} {
		got := o.proto.DeepCopyObject()
		if err := c.Get(ctx, o.ns, o.name, got); err != nil {
			t.Errorf("%s was collected: %v", o.name, err)
		}
	}
}
