package controllers

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// ExpectationsTimeout is how long unobserved expectations hold a controller
// back before it acts again regardless (as Kubernetes, 5 minutes).
const ExpectationsTimeout = 5 * time.Minute

// workloadExpectationsTimeout is the shorter lapse of the DaemonSet and Job
// controllers, which come back after it while they wait: a missed pod event
// holds them for seconds, not minutes.
const workloadExpectationsTimeout = 30 * time.Second

// Expectations remember, per controller key, the creations and deletions a
// controller has asked for and not yet seen in its informers, so that a
// sync in between does not act twice on stale caches (Kubernetes's
// UIDTrackingControllerExpectations). Deletions are tracked by object key
// ("namespace/name") so that seeing the same deletion twice (graceful
// delete, then removal) counts once.
//
// A controller acts only when Satisfied, which forgets what it has seen
// through, so the expectations of one pass start from nothing; within the
// pass ExpectCreations and ExpectDeletions add up.
type Expectations struct {
	clk     clock.PassiveClock
	timeout time.Duration
	mu      sync.Mutex
	m       map[string]*expectation
}

type expectation struct {
	adds int
	dels map[string]bool
	at   time.Time
}

// NewExpectations returns empty expectations timed by clk that lapse after
// ExpectationsTimeout.
func NewExpectations(clk clock.PassiveClock) *Expectations {
	return newExpectations(clk, ExpectationsTimeout)
}

// newExpectations returns empty expectations that lapse after timeout.
func newExpectations(clk clock.PassiveClock, timeout time.Duration) *Expectations {
	return &Expectations{clk: clk, timeout: timeout, m: map[string]*expectation{}}
}

// Timeout returns how long unobserved expectations hold a controller back.
func (e *Expectations) Timeout() time.Duration { return e.timeout }

// Satisfied reports whether the controller of key may act: nothing is
// pending, or what is pending is older than the timeout. Either way the
// record is dropped.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if (x.adds <= 0 && len(x.dels) == 0) || e.clk.Since(x.at) > e.timeout {
		delete(e.m, key)
		return true
	}
	return false
}

// record returns the expectations of key, created if need be, timed now.
func (e *Expectations) record(key string) *expectation {
	x, ok := e.m[key]
	if !ok {
		x = &expectation{dels: map[string]bool{}}
		e.m[key] = x
	}
	x.at = e.clk.Now()
	return x
}

// ExpectCreations records that n more creations are in flight for key.
func (e *Expectations) ExpectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.record(key).adds += n
}

// ExpectDeletions records that the objects with keys objKeys are being
// deleted for key.
func (e *Expectations) ExpectDeletions(key string, objKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.record(key)
	for _, k := range objKeys {
		x.dels[k] = true
	}
}

// CreationObserved lowers the pending creations of key by one (also used
// for a creation that failed and will never be observed).
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

// DeletionObserved marks the deletion of objKey for key as seen (also used
// for a deletion that failed).
func (e *Expectations) DeletionObserved(key, objKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.dels, objKey)
	}
}

// Forget drops everything recorded for key (its controller is gone).
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
