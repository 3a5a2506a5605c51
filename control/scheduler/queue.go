package scheduler

import (
	"container/heap"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Back-off of pods that failed to schedule, and how long a pod waits in the
// unschedulable set when no cluster event moves it (Kubernetes: 1 s, 10 s
// and 5 min; mini retries sooner, since its clusters are small).
const (
	initialBackoff      = time.Second
	maxBackoff          = 10 * time.Second
	maxUnschedulableAge = time.Minute
)

type qstate int

const (
	qActive        qstate = iota // waiting to be scheduled
	qBackoff                     // failed; waits for its back-off to end
	qUnschedulable               // fits nowhere; waits for a cluster event
	qInFlight                    // being scheduled or bound
)

// queuedPod is a pending pod in the scheduling queue.
type queuedPod struct {
	info         *podInfo
	state        qstate
	attempts     int
	backoffUntil time.Time
	since        time.Time // entered the unschedulable set
	seq          int64     // arrival order: FIFO among equal priorities
	index        int       // position in the active heap
	popMoveSeq   int64     // the queue's moveSeq when this pod was popped
	updated      bool      // a newer version arrived while in flight
	gone         bool      // deleted (or bound elsewhere) while in flight
}

// schedulingQueue orders pending pods as Kubernetes's does: an active heap
// (priority, then arrival), a back-off set for pods that failed recently,
// and an unschedulable set whose pods move back when the cluster changes in
// a way that may let them fit (a node added or changed, a pod removed).
type schedulingQueue struct {
	clk     clock.Clock
	mu      sync.Mutex
	cond    *sync.Cond
	active  activeHeap
	pods    map[types.UID]*queuedPod
	backoff map[types.UID]*queuedPod
	unsched map[types.UID]*queuedPod
	seq     int64
	moveSeq int64 // bumped by every cluster event
	closed  bool
}

func newSchedulingQueue(clk clock.Clock) *schedulingQueue {
	q := &schedulingQueue{clk: clk, pods: map[types.UID]*queuedPod{},
		backoff: map[types.UID]*queuedPod{}, unsched: map[types.UID]*queuedPod{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add queues a new pending pod, or records a newer version of a queued one.
func (q *schedulingQueue) add(pi *podInfo) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp, ok := q.pods[pi.uid]
	if !ok {
		q.seq++
		qp = &queuedPod{info: pi, seq: q.seq}
		q.pods[pi.uid] = qp
		q.pushActiveLocked(qp)
		return
	}
	old := qp.info
	qp.info = pi
	switch qp.state {
	case qActive:
		heap.Fix(&q.active, qp.index)
	case qInFlight:
		qp.updated = true
	case qUnschedulable:
		if !sameConstraints(old, pi) {
			q.moveLocked(qp)
		}
	}
}

// remove drops a pod that was deleted or bound.
func (q *schedulingQueue) remove(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp, ok := q.pods[uid]
	if !ok {
		return
	}
	if qp.state == qInFlight {
		qp.gone = true
		return
	}
	q.dropLocked(qp)
}

func (q *schedulingQueue) dropLocked(qp *queuedPod) {
	switch qp.state {
	case qActive:
		heap.Remove(&q.active, qp.index)
	case qBackoff:
		delete(q.backoff, qp.info.uid)
	case qUnschedulable:
		delete(q.unsched, qp.info.uid)
	}
	delete(q.pods, qp.info.uid)
}

func (q *schedulingQueue) pushActiveLocked(qp *queuedPod) {
	delete(q.backoff, qp.info.uid)
	delete(q.unsched, qp.info.uid)
	qp.state = qActive
	heap.Push(&q.active, qp)
	q.cond.Signal()
}

// pop blocks until a pod is active (nil once the queue is closed).
func (q *schedulingQueue) pop() *queuedPod {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.active) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil
	}
	qp := heap.Pop(&q.active).(*queuedPod)
	qp.state = qInFlight
	qp.popMoveSeq = q.moveSeq
	return qp
}

// done removes a pod whose binding succeeded (or that needs no more work).
func (q *schedulingQueue) done(qp *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if cur := q.pods[qp.info.uid]; cur == qp {
		delete(q.pods, qp.info.uid)
	}
}

// failed puts back a pod that could not be scheduled or bound. A pod that
// fits nowhere waits for a cluster event, unless one happened while it was
// being scheduled (then it only backs off); other failures back off.
func (q *schedulingQueue) failed(qp *queuedPod, unschedulable bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp.gone || q.pods[qp.info.uid] != qp {
		delete(q.pods, qp.info.uid)
		return
	}
	now := q.clk.Now()
	qp.attempts++
	qp.backoffUntil = now.Add(backoffFor(qp.attempts))
	if unschedulable && qp.popMoveSeq == q.moveSeq && !qp.updated {
		qp.state, qp.since = qUnschedulable, now
		q.unsched[qp.info.uid] = qp
	} else {
		qp.state = qBackoff
		q.backoff[qp.info.uid] = qp
	}
	qp.updated = false
}

func backoffFor(attempts int) time.Duration {
	d := initialBackoff
	for i := 1; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// moveAll is called on cluster events that may make unschedulable pods fit.
func (q *schedulingQueue) moveAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveSeq++
	for _, qp := range q.unsched {
		q.moveLocked(qp)
	}
}

// moveLocked sends an unschedulable pod to the active heap, or to the
// back-off set while its back-off lasts.
func (q *schedulingQueue) moveLocked(qp *queuedPod) {
	if q.clk.Now().Before(qp.backoffUntil) {
		delete(q.unsched, qp.info.uid)
		qp.state = qBackoff
		q.backoff[qp.info.uid] = qp
		return
	}
	q.pushActiveLocked(qp)
}

// flush activates pods whose back-off ended and retries pods that have been
// unschedulable for long.
func (q *schedulingQueue) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clk.Now()
	for _, qp := range q.backoff {
		if !now.Before(qp.backoffUntil) {
			q.pushActiveLocked(qp)
		}
	}
	for _, qp := range q.unsched {
		if now.Sub(qp.since) >= maxUnschedulableAge {
			q.moveLocked(qp)
		}
	}
}

// close wakes pop up for good.
func (q *schedulingQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// lens returns the sizes of the active, back-off and unschedulable sets.
func (q *schedulingQueue) lens() (active, backoff, unsched int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.active), len(q.backoff), len(q.unsched)
}

// activeHeap orders by priority (high first), then arrival.
type activeHeap []*queuedPod

func (h activeHeap) Len() int { return len(h) }
func (h activeHeap) Less(i, j int) bool {
	if h[i].info.priority != h[j].info.priority {
		return h[i].info.priority > h[j].info.priority
	}
	return h[i].seq < h[j].seq
}
func (h activeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *activeHeap) Push(x any) {
	qp := x.(*queuedPod)
	qp.index = len(*h)
	*h = append(*h, qp)
}
func (h *activeHeap) Pop() any {
	old := *h
	qp := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return qp
}

// responsible reports whether a pod waits for this scheduler.
func responsible(pi *podInfo, name string) bool {
	sn := pi.schedulerName
	return (sn == name || (sn == "" && name == corev1.DefaultSchedulerName)) &&
		pi.nodeName == "" && pi.DeletionTimestamp == nil && !pi.gated &&
		pi.phase != corev1.PodSucceeded && pi.phase != corev1.PodFailed
}
