package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func init() { register("serviceaccount", setupServiceAccounts) }

// saDefault is the ServiceAccount every namespace gets.
const saDefault = "default"

// saController makes sure every active namespace has a default
// ServiceAccount (and puts it back when it is deleted).
type saController struct {
	m   *Manager
	nss cache.SharedIndexInformer
	sas cache.SharedIndexInformer
}

func setupServiceAccounts(m *Manager) func(ctx context.Context) {
	c := &saController{m: m, nss: m.Informers.For(&corev1.Namespace{}), sas: m.Informers.For(&corev1.ServiceAccount{})}
	q := NewQueue("serviceaccount", m.Clock, m.Log, c.sync)
	c.nss.AddEventHandler(q.Handler())
	c.sas.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
		if sa, ok := tombstoned(obj).(*corev1.ServiceAccount); ok && sa.Name == saDefault {
			q.Add(sa.Namespace)
		}
	}})
	return func(ctx context.Context) { q.Run(ctx, m.Opts.Workers) }
}

func (c *saController) sync(ctx context.Context, ns string) error {
	n, ok := fromCacheKey[*corev1.Namespace](c.nss, ns)
	if !ok || n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating {
		return nil
	}
	if _, ok := fromCache[*corev1.ServiceAccount](c.sas, ns, saDefault); ok {
		return nil
	}
	err := c.m.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: saDefault, Namespace: ns}})
	if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
		return fmt.Errorf("create the default service account in %s: %w", ns, err)
	}
	return nil
}
