package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/minicluster/mini/control/client"
)

// sim is one running simulation.
type sim struct {
	c      *client.Client
	opts   Options
	runCtx context.Context
	names  []string
	nodes  map[string]*simNode
	wg     sync.WaitGroup

	registered, withCIDR atomic.Int64 // registration progress

	mu         sync.Mutex
	pods       map[string]*podRecord // namespace/name -> what this kubelet did
	lastErrLog time.Time

	informer cache.SharedIndexInformer
	queue    workqueue.TypedRateLimitingInterface[string]
}

// podRecord is the kubelet's memory of one pod.
type podRecord struct {
	uid        types.UID
	node       *simNode
	ip         string    // held in node.pool (or the node IP for hostNetwork)
	started    time.Time // when it was reported running (zero: adopted)
	deleteSeen time.Time // when its deletion was first seen
}

func newSim(ctx context.Context, c *client.Client, o Options) *sim {
	s := &sim{c: c, opts: o, runCtx: ctx, nodes: map[string]*simNode{}, pods: map[string]*podRecord{}}
	for i := 0; i < o.Count; i++ {
		name := fmt.Sprintf("%s-%d", o.Prefix, i)
		s.names = append(s.names, name)
		s.nodes[name] = &simNode{name: name, ip: nodeIP(o.Prefix, i)}
	}
	return s
}

// servePods watches the pods bound to the simulated nodes (one watch for
// all of them) and acts on them with a pool of workers until ctx ends.
func (s *sim) servePods(ctx context.Context, onReady func()) error {
	sel := "spec.nodeName!="
	if len(s.names) == 1 {
		sel = "spec.nodeName=" + s.names[0]
	}
	s.informer = s.c.NewInformer(&corev1.Pod{}, &corev1.PodList{}, "", 0, func(o *client.ListOptions) { o.FieldSelector = sel })
	s.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 5*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "sim-pods", Clock: s.opts.Clock})
	enqueue := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if p, ok := obj.(*corev1.Pod); ok && s.nodes[p.Spec.NodeName] != nil {
			s.queue.Add(p.Namespace + "/" + p.Name)
		}
	}
	if _, err := s.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }, DeleteFunc: enqueue,
	}); err != nil {
		return fmt.Errorf("pod handler: %w", err)
	}
	go s.informer.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), s.informer.HasSynced) {
		return nil
	}
	onReady()
	var wg sync.WaitGroup
	for i := 0; i < s.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s.next(ctx) {
			}
		}()
	}
	<-ctx.Done()
	s.queue.ShutDown()
	wg.Wait()
	return nil
}

func (s *sim) next(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	if err := s.reconcile(ctx, key); err != nil && ctx.Err() == nil {
		if s.queue.NumRequeues(key) > 3 {
			s.opts.Logger.Printf("sim: pod %s: %v", key, err)
		}
		s.queue.AddRateLimited(key)
		return true
	}
	s.queue.Forget(key)
	return true
}

// reconcile moves one pod along its simulated life.
func (s *sim) reconcile(ctx context.Context, key string) error {
	obj, exists, err := s.informer.GetStore().GetByKey(key)
	if err != nil {
		return err
	}
	var p *corev1.Pod
	if exists {
		p, _ = obj.(*corev1.Pod)
	}
	if p == nil || s.nodes[p.Spec.NodeName] == nil {
		s.forget(key)
		return nil
	}
	rec := s.record(key, p)
	now := s.opts.Clock.Now()
	switch {
	case p.DeletionTimestamp != nil:
		return s.finalize(ctx, key, p, rec, now)
	case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
		s.releaseIP(rec) // the sandbox is gone; the status keeps the IP
		return nil
	case p.Status.Phase == corev1.PodRunning:
		s.adopt(rec, p)
		if p.Spec.RestartPolicy == corev1.RestartPolicyAlways || p.Spec.RestartPolicy == "" {
			return nil
		}
		started := rec.started
		if started.IsZero() && p.Status.StartTime != nil {
			started = p.Status.StartTime.Time
		}
		if due := started.Add(s.opts.JobDuration); now.Before(due) {
			s.queue.AddAfter(key, due.Sub(now))
			return nil
		}
		return s.writeStatus(ctx, p, completedStatus(p, rec, now))
	default:
		ip, err := s.allocateIP(rec, p)
		if err != nil {
			return err
		}
		if rec.started.IsZero() {
			rec.started = now
		}
		return s.writeStatus(ctx, p, runningStatus(p, rec.node.ip, ip, now))
	}
}

// record returns the kubelet's record of p, replacing one of an earlier pod
// of the same name.
func (s *sim) record(key string, p *corev1.Pod) *podRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.pods[key]
	if rec != nil && rec.uid != p.UID {
		s.releaseLocked(rec)
		rec = nil
	}
	if rec == nil {
		rec = &podRecord{uid: p.UID, node: s.nodes[p.Spec.NodeName]}
		s.pods[key] = rec
	}
	return rec
}

func (s *sim) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec := s.pods[key]; rec != nil {
		s.releaseLocked(rec)
		delete(s.pods, key)
	}
}

func (s *sim) releaseIP(rec *podRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(rec)
}

func (s *sim) releaseLocked(rec *podRecord) {
	if rec.ip != "" && rec.ip != rec.node.ip {
		rec.node.pool.release(rec.ip)
	}
	rec.ip = ""
}

func (s *sim) allocateIP(rec *podRecord, p *corev1.Pod) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.ip != "" {
		return rec.ip, nil
	}
	if p.Spec.HostNetwork {
		rec.ip = rec.node.ip
		return rec.ip, nil
	}
	ip, err := rec.node.pool.allocate()
	if err != nil {
		return "", fmt.Errorf("node %s: %w", rec.node.name, err)
	}
	rec.ip = ip
	return ip, nil
}

// adopt takes over the IP of a pod found running (after a restart of the
// simulation, or once our own status write is seen).
func (s *sim) adopt(rec *podRecord, p *corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.ip != "" || p.Status.PodIP == "" {
		return
	}
	if p.Spec.HostNetwork || rec.node.pool.claim(p.Status.PodIP) {
		rec.ip = p.Status.PodIP
	}
}

// finalize removes a deleted pod once its simulated shutdown is over: the
// grace period, but at most ShutdownDelay.
func (s *sim) finalize(ctx context.Context, key string, p *corev1.Pod, rec *podRecord, now time.Time) error {
	if rec.deleteSeen.IsZero() {
		rec.deleteSeen = now
	}
	grace := time.Duration(0)
	if g := p.DeletionGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if due := rec.deleteSeen.Add(min(grace, s.opts.ShutdownDelay)); now.Before(due) {
		s.queue.AddAfter(key, due.Sub(now))
		return nil
	}
	zero, uid := int64(0), p.UID
	err := s.c.Delete(ctx, &corev1.Pod{}, p.Namespace, p.Name,
		&metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("finalize: %w", err)
	}
	s.releaseIP(rec)
	return nil
}

// writeStatus replaces the pod's status. A conflict means the watch will
// bring a newer version, which is reconciled again. The body carries only
// the metadata that identifies the version and the status (the status
// subresource takes nothing else), and the response is not decoded (the
// watch brings it): a thousand nodes write a lot of statuses.
func (s *sim) writeStatus(ctx context.Context, p *corev1.Pod, st corev1.PodStatus) error {
	out := corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID,
			ResourceVersion: p.ResourceVersion},
		Status: st,
	}
	body, err := json.Marshal(&out)
	if err != nil {
		return err
	}
	_, err = s.c.Do(ctx, client.Request{Method: http.MethodPut, Path: "/api/v1/namespaces/" + p.Namespace + "/pods/" + p.Name + "/status", Body: body})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("status: %w", err)
	}
	return nil
}
