// Package controllers owns mini's controllers: level-based reconcile loops
// that read the current state through shared informers, compare it with the
// declared state and act through the API (never the store), writing status
// and events as Kubernetes's controller manager does.
//
// Each controller is a work queue of keys ("namespace/name") with dedup and
// rate-limited retry; its reconcile function reads everything it needs from
// the informers' caches, never mutates a cached object (it copies first), and
// returns an error to be retried with back-off.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"log"
	"reflect"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/minicluster/mini/control/client"
)

// Informers shares one informer per type among controllers.
type Informers struct {
	c       *client.Client
	mu      sync.Mutex
	m       map[reflect.Type]cache.SharedIndexInformer
	started map[reflect.Type]bool
	ctx     context.Context
}

// NewInformers returns an informer factory over c.
func NewInformers(c *client.Client) *Informers {
	return &Informers{c: c, m: map[reflect.Type]cache.SharedIndexInformer{}, started: map[reflect.Type]bool{}}
}

// For returns the shared informer for obj's type (all namespaces).
func (f *Informers) For(obj runtime.Object) cache.SharedIndexInformer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := reflect.TypeOf(obj)
	if inf, ok := f.m[t]; ok {
		return inf
	}
	info, err := client.InfoFor(obj)
	if err != nil {
		panic(err)
	}
	list, _ := client.NewList(info.GVK())
	inf := f.c.NewInformer(obj, list, "", 0, nil)
	f.m[t] = inf
	if f.ctx != nil { // already started: start late additions too
		f.started[t] = true
		go inf.Run(f.ctx.Done())
	}
	return inf
}

// Start runs every informer created so far (and any created later).
func (f *Informers) Start(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctx = ctx
	for t, inf := range f.m {
		if !f.started[t] {
			f.started[t] = true
			go inf.Run(ctx.Done())
		}
	}
}

// WaitForSync blocks until every started informer has synced.
func (f *Informers) WaitForSync(ctx context.Context) bool {
	f.mu.Lock()
	var synced []cache.InformerSynced
	for _, inf := range f.m {
		synced = append(synced, inf.HasSynced)
	}
	f.mu.Unlock()
	return cache.WaitForCacheSync(ctx.Done(), synced...)
}

// Queue is a controller's rate-limited queue of keys and its workers.
type Queue struct {
	Name      string
	Reconcile func(ctx context.Context, key string) error
	q         workqueue.TypedRateLimitingInterface[string]
	log       *log.Logger
}

// NewQueue returns a queue whose failed keys are retried with exponential
// back-off from 5 ms to 30 s.
func NewQueue(name string, clk clock.WithTicker, logger *log.Logger, reconcile func(ctx context.Context, key string) error) *Queue {
	rl := workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 30*time.Second)
	q := workqueue.NewTypedRateLimitingQueueWithConfig(rl, workqueue.TypedRateLimitingQueueConfig[string]{
		Name: name, Clock: clk,
	})
	return &Queue{Name: name, Reconcile: reconcile, q: q, log: logger}
}

// Add enqueues a key.
func (q *Queue) Add(key string) { q.q.Add(key) }

// AddAfter enqueues a key after a delay.
func (q *Queue) AddAfter(key string, d time.Duration) { q.q.AddAfter(key, d) }

// Len returns the number of waiting keys.
func (q *Queue) Len() int { return q.q.Len() }

// Enqueue adds the key of an informer object (or tombstone).
func (q *Queue) Enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	q.q.Add(key)
}

// Handler returns informer handlers that enqueue the object's own key.
func (q *Queue) Handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    q.Enqueue,
		UpdateFunc: func(_, n any) { q.Enqueue(n) },
		DeleteFunc: q.Enqueue,
	}
}

// Run processes keys with n workers until ctx ends.
func (q *Queue) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q.next(ctx) {
			}
		}()
	}
	<-ctx.Done()
	q.q.ShutDown()
	wg.Wait()
}

func (q *Queue) next(ctx context.Context) bool {
	key, quit := q.q.Get()
	if quit {
		return false
	}
	defer q.q.Done(key)
	err := q.Reconcile(ctx, key)
	var rq *requeueError
	switch {
	case errors.As(err, &rq):
		q.q.Forget(key)
		q.q.AddAfter(key, rq.after)
	case err == nil:
		q.q.Forget(key)
	case ctx.Err() != nil:
	default:
		if n := q.q.NumRequeues(key); n > 3 && q.log != nil {
			q.log.Printf("%s: %s: %v (retry %d)", q.Name, key, err, n)
		}
		q.q.AddRateLimited(key)
	}
	return true
}

// RequeueAfter returns an error that makes the queue retry the key after d,
// without counting it as a failure (for waits such as minReadySeconds).
func RequeueAfter(d time.Duration) error { return &requeueError{after: d} }

type requeueError struct{ after time.Duration }

func (e *requeueError) Error() string { return fmt.Sprintf("requeue after %s", e.after) }
