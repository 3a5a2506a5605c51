package controllers

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"
)

func init() { register("job", setupJob) }

// jobController runs Jobs: pods until enough succeed, with parallelism,
// backoff limit, active deadline, suspension and Indexed completion.
type jobController struct {
	m    *Manager
	jobs cache.SharedIndexInformer
	pods cache.SharedIndexInformer
	rec  *Recorder
	exp  *Expectations
	ctl  podControl
}

func setupJob(m *Manager) func(ctx context.Context) {
	c := &jobController{
		m: m, rec: m.Recorder("job-controller"), exp: newExpectations(m.Clock, workloadExpectationsTimeout),
		jobs: m.Informers.For(&batchv1.Job{}),
		pods: m.Informers.For(&corev1.Pod{}),
	}
	ensureIndexers(c.pods, IndexController)
	c.ctl = podControl{c: m.Client, rec: c.rec, exp: c.exp}
	q := NewQueue("job", m.Clock, m.Log, c.sync)
	c.jobs.AddEventHandler(q.Handler())
	c.pods.AddEventHandler(podOwnerEvents(q, "Job", c.exp))
	return func(ctx context.Context) { q.Run(ctx, m.Opts.Workers) }
}

func (c *jobController) sync(ctx context.Context, key string) error {
	job, ok := fromCacheKey[*batchv1.Job](c.jobs, key)
	if !ok {
		c.exp.Forget(key)
		return nil
	}
	if job.DeletionTimestamp != nil {
		return nil
	}
	if !c.exp.Satisfied(key) {
		// The pod events we wait for bring the Job back; the requeue only
		// covers expectations that lapse.
		return RequeueAfter(c.exp.Timeout())
	}
	plan := jobPlanFor(job, controlledBy[*corev1.Pod](c.pods, job.Namespace, job.UID), c.m.Clock.Now())
	err := c.act(ctx, key, job, plan)
	if !equality.Semantic.DeepEqual(plan.status, job.Status) {
		up := job.DeepCopy()
		up.Status = plan.status
		if uerr := c.m.Client.UpdateStatus(ctx, up); uerr != nil && !apierrors.IsNotFound(uerr) {
			return fmt.Errorf("update status: %w", uerr)
		}
		for _, e := range plan.events {
			c.rec.Eventf(job, e.typ, e.reason, "%s", e.msg)
		}
	}
	if err != nil {
		return err
	}
	if plan.recheck > 0 {
		return RequeueAfter(plan.recheck)
	}
	return nil
}

func (c *jobController) act(ctx context.Context, key string, job *batchv1.Job, plan jobPlan) error {
	var creates []*corev1.Pod
	for _, idx := range plan.create {
		creates = append(creates, jobNewPod(job, idx))
	}
	return c.ctl.apply(ctx, key, job, creates, plan.delete)
}
