// Package scheduler owns mini's pod scheduler, a control plane component
// that assigns pending pods to nodes as Kubernetes's default scheduler does.
//
// It watches pods and nodes through the API (informers; in the control
// plane it shares the controller manager's pod informer, see
// controllers.PodSharer), keeps per-node
// usage incrementally (including pods it has decided to bind whose binding
// is not yet visible: the assumed-pod cache), and schedules one pod at a
// time from a priority queue: filters (node Ready and schedulable, taints
// and tolerations, nodeSelector and required node affinity, host ports,
// cpu/memory/pods and other requested resources), then scores (spread the
// pods of one controller, least allocated). Bindings go through the pods'
// binding subresource from a bounded pool of goroutines, so the decision
// loop never waits for the API. A pod that fits nowhere gets the condition
// PodScheduled=False (reason Unschedulable) with Kubernetes's message and a
// FailedScheduling event, and is retried with back-off when the cluster
// changes.
package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/controllers"
)

// Options tune the scheduler. Zero values take the defaults in parentheses.
type Options struct {
	Clock  clock.WithTicker // (real clock)
	Logger *log.Logger      // (discard)
	// SchedulerName is the spec.schedulerName of the pods this scheduler
	// serves (default-scheduler; pods with none are defaulted to it).
	SchedulerName string
	// BindWorkers bounds the bindings and status writes in flight (64).
	BindWorkers int
	// PercentageOfNodesToScore is the share of nodes examined per pod in
	// clusters of 100 nodes or more (0: Kubernetes's adaptive default).
	PercentageOfNodesToScore int
	// Pods, when set, is where the scheduler gets its pod informer: the
	// controller manager's, shared (see controllers.PodSharer). Unset, the
	// scheduler watches pods itself.
	Pods *controllers.PodSharer
}

// Scheduler is the control plane component; see the package comment.
type Scheduler struct {
	opts  Options
	clk   clock.WithTicker
	log   *log.Logger
	cache *cache
	queue *schedulingQueue

	client *client.Client
	rec    *controllers.Recorder
	sem    chan struct{}
	wg     sync.WaitGroup
}

// New returns a scheduler with defaults applied.
func New(o Options) *Scheduler {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = log.New(io.Discard, "", 0)
	}
	if o.SchedulerName == "" {
		o.SchedulerName = corev1.DefaultSchedulerName
	}
	if o.BindWorkers <= 0 {
		o.BindWorkers = 64
	}
	return &Scheduler{opts: o, clk: o.Clock, log: o.Logger, cache: newCache(), queue: newSchedulingQueue(o.Clock),
		sem: make(chan struct{}, o.BindWorkers)}
}

// Name implements plane.Component.
func (s *Scheduler) Name() string { return "scheduler" }

// Run watches pods and nodes and schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context, c *client.Client) error {
	s.client = c
	s.rec = controllers.NewRecorder(c, s.opts.SchedulerName, s.clk)
	pods, handlers, own, err := s.podInformer(ctx, c)
	if err != nil || pods == nil {
		return err // nil: ctx ended while waiting for the shared informer
	}
	nodes := c.NewInformer(&corev1.Node{}, &corev1.NodeList{}, "", 0, nil)
	if _, err := pods.AddEventHandler(handlers); err != nil {
		return fmt.Errorf("pod handler: %w", err)
	}
	if _, err := nodes.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: s.onNode, UpdateFunc: s.onNodeUpdate, DeleteFunc: s.onNodeDelete,
	}); err != nil {
		return fmt.Errorf("node handler: %w", err)
	}
	if own {
		go pods.Run(ctx.Done())
	}
	go nodes.Run(ctx.Done())
	if !toolscache.WaitForCacheSync(ctx.Done(), pods.HasSynced, nodes.HasSynced) {
		return nil // ctx ended before the first list
	}
	go s.rec.Run(ctx)
	go s.flushLoop(ctx)
	go func() {
		<-ctx.Done()
		s.queue.close()
	}()
	for {
		qp := s.queue.pop()
		if qp == nil {
			break
		}
		s.scheduleOne(ctx, qp)
	}
	s.wg.Wait()
	return nil
}

// podInformer returns the pod informer to schedule from and its handlers:
// the shared one of Options.Pods (own false: someone else runs it), or one
// of the scheduler's own.
func (s *Scheduler) podInformer(ctx context.Context, c *client.Client) (inf toolscache.SharedIndexInformer, h toolscache.ResourceEventHandler, own bool, err error) {
	if s.opts.Pods != nil {
		inf, ok := s.opts.Pods.Pods(ctx)
		if !ok {
			return nil, nil, false, nil
		}
		return inf, s.sharedPodHandlers(), false, nil
	}
	// Finished pods use nothing; leaving them out of the watch turns a pod
	// finishing into a deletion for the scheduler, as in kube-scheduler.
	inf = c.NewInformer(&corev1.Pod{}, &corev1.PodList{}, "", 0, func(o *client.ListOptions) {
		o.FieldSelector = "status.phase!=Succeeded,status.phase!=Failed"
	})
	if err := inf.SetTransform(toPodInfo); err != nil {
		return nil, nil, false, fmt.Errorf("pod informer: %w", err)
	}
	return inf, toolscache.ResourceEventHandlerFuncs{AddFunc: s.onPod, UpdateFunc: s.onPodUpdate, DeleteFunc: s.onPodDelete}, true, nil
}

// sharedPodHandlers adapt the events of a shared informer of full pods
// (all phases) to the handlers of the scheduler's own informer: pods become
// podInfos, and a pod finishing is its deletion, as if watched with the
// field selector of podInformer.
func (s *Scheduler) sharedPodHandlers() toolscache.ResourceEventHandler {
	live := func(o any) (*podInfo, bool) {
		p, ok := o.(*corev1.Pod)
		if !ok || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return nil, false
		}
		return newPodInfo(p), true
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			if pi, ok := live(o); ok {
				s.onPod(pi)
			}
		},
		UpdateFunc: func(o, n any) {
			old, wasLive := live(o)
			cur, isLive := live(n)
			switch {
			case wasLive && isLive:
				s.onPodUpdate(old, cur)
			case isLive:
				s.onPod(cur)
			case wasLive:
				s.onPodDelete(old)
			}
		},
		DeleteFunc: func(o any) {
			if t, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if p, ok := o.(*corev1.Pod); ok {
				s.onPodDelete(newPodInfo(p))
			}
		},
	}
}

func (s *Scheduler) flushLoop(ctx context.Context) {
	t := s.clk.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			s.queue.flush()
		}
	}
}

// scheduleOne decides where one pod goes and starts its binding.
func (s *Scheduler) scheduleOne(ctx context.Context, qp *queuedPod) {
	pi := qp.info
	node, ferr := s.cache.schedule(pi, s.opts.PercentageOfNodesToScore)
	if ferr != nil {
		s.queue.failed(qp, true)
		s.async(ctx, func() { s.reportUnschedulable(ctx, pi, ferr.Error()) })
		return
	}
	s.async(ctx, func() { s.bind(ctx, qp, node) })
}

// async runs f on the bounded pool, waiting for a free slot.
func (s *Scheduler) async(ctx context.Context, f func()) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	s.wg.Add(1)
	go func() {
		defer func() { <-s.sem; s.wg.Done() }()
		f()
	}()
}

func (s *Scheduler) bind(ctx context.Context, qp *queuedPod, node string) {
	p := qp.info
	err := s.client.Bind(ctx, p.Namespace, p.Name, p.uid, node)
	switch {
	case err == nil:
		s.queue.done(qp)
		s.rec.Eventf(p, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", p.Namespace, p.Name, node)
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		// Deleted, being deleted, replaced or bound by someone else: the
		// informer brings the outcome.
		s.cache.forget(p.uid)
		s.queue.done(qp)
	default:
		s.cache.forget(p.uid)
		if ctx.Err() != nil {
			return
		}
		s.log.Printf("scheduler: binding %s to %s: %v", p.key, node, err)
		s.queue.failed(qp, false)
		s.rec.Eventf(p, corev1.EventTypeWarning, "FailedScheduling", "Binding rejected: %v", err)
	}
}

// reportUnschedulable records why a pod fits nowhere: an event every time
// (repeats are counted), and the PodScheduled condition when it changed.
func (s *Scheduler) reportUnschedulable(ctx context.Context, p *podInfo, msg string) {
	s.rec.Eventf(p, corev1.EventTypeWarning, "FailedScheduling", "%s", msg)
	if c := p.scheduled; c != nil && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable && c.Message == msg {
		return
	}
	cond := map[string]any{
		"type": corev1.PodScheduled, "status": corev1.ConditionFalse, "reason": corev1.PodReasonUnschedulable,
		"message": msg, "lastProbeTime": nil, "lastTransitionTime": metav1.NewTime(s.clk.Now()),
	}
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []any{cond}}})
	err := s.client.Patch(ctx, &corev1.Pod{}, p.Namespace, p.Name, types.StrategicMergePatchType, patch, "status")
	if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		s.log.Printf("scheduler: marking %s unschedulable: %v", p.key, err)
	}
}

func (s *Scheduler) onPod(obj any) {
	p, ok := obj.(*podInfo)
	if !ok {
		return
	}
	if p.nodeName != "" {
		s.queue.remove(p.uid)
		s.cache.addPod(p, p.nodeName)
		return
	}
	if responsible(p, s.opts.SchedulerName) {
		s.queue.add(p)
	}
}

func (s *Scheduler) onPodUpdate(oldObj, newObj any) {
	old, ok1 := oldObj.(*podInfo)
	p, ok2 := newObj.(*podInfo)
	if !ok1 || !ok2 {
		return
	}
	if p.nodeName != "" && old.nodeName == p.nodeName && !s.cache.isAssumed(p.uid) && sameResources(old.req, p.req) {
		return // a status change of a pod already counted
	}
	if p.nodeName == "" && !responsible(p, s.opts.SchedulerName) {
		s.queue.remove(p.uid)
		return
	}
	s.onPod(p)
}

func (s *Scheduler) onPodDelete(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*podInfo)
	if !ok {
		return
	}
	s.queue.remove(p.uid)
	if p.nodeName != "" {
		s.cache.removePod(p.uid)
		s.queue.moveAll() // room was freed
	}
}

func (s *Scheduler) onNode(obj any) {
	if n, ok := obj.(*corev1.Node); ok {
		s.cache.setNode(n)
		s.queue.moveAll()
	}
}

func (s *Scheduler) onNodeUpdate(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Node)
	n, ok2 := newObj.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	s.cache.setNode(n)
	if nodeReady(old) != nodeReady(n) || old.Spec.Unschedulable != n.Spec.Unschedulable ||
		!equality.Semantic.DeepEqual(old.Status.Allocatable, n.Status.Allocatable) ||
		!equality.Semantic.DeepEqual(old.Labels, n.Labels) || !equality.Semantic.DeepEqual(old.Spec.Taints, n.Spec.Taints) {
		s.queue.moveAll()
	}
}

func (s *Scheduler) onNodeDelete(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if n, ok := obj.(*corev1.Node); ok {
		s.cache.removeNode(n.Name)
	}
}
