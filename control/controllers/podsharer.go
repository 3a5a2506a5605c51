package controllers

import (
	"context"
	"sync"

	"k8s.io/client-go/tools/cache"
)

// PodSharer hands the controller manager's pod informer to another
// component of the same process (the scheduler), so that the control plane
// keeps one pod watch and one pod cache instead of one per component: with
// tens of thousands of pods, each extra copy costs a decode of every pod
// change and a cache's worth of memory. Whoever takes the informer must not
// mutate the objects it delivers.
type PodSharer struct {
	once  sync.Once
	ready chan struct{}
	inf   cache.SharedIndexInformer
}

// NewPodSharer returns a sharer to pass to both the manager (Options.Pods)
// and the consumer.
func NewPodSharer() *PodSharer { return &PodSharer{ready: make(chan struct{})} }

// share publishes the manager's pod informer (once).
func (s *PodSharer) share(inf cache.SharedIndexInformer) {
	s.once.Do(func() {
		s.inf = inf
		close(s.ready)
	})
}

// Pods waits until the manager runs and returns its pod informer (all
// namespaces, all phases; started by the manager). ok is false if ctx ends
// first.
func (s *PodSharer) Pods(ctx context.Context) (inf cache.SharedIndexInformer, ok bool) {
	select {
	case <-s.ready:
		return s.inf, true
	case <-ctx.Done():
		return nil, false
	}
}
