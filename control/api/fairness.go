package api

import (
	"context"
	"sync"
)

// DefaultMaxInFlight is Config.MaxInFlight's default.
const DefaultMaxInFlight = 32

// fairQueue bounds the requests the server works on at once ("seats") and
// shares them fairly among users, in the manner of Kubernetes's API
// priority and fairness with one priority level: when all seats are taken,
// requests wait in a queue of their user, and a freed seat goes to the
// next user in round-robin order that has a request waiting, oldest
// request first. A thousand nodes heartbeating as one user thus get as
// many seats as an operator's kubectl, not a thousand times as many.
//
// Long-running requests (watches, logs, exec, port-forward) hold no seat.
// A write gives its seat back once it has handed its transaction to the
// store: waiting for the group commit's fsync uses no CPU, and the store
// orders writes by itself.
type fairQueue struct {
	mu      sync.Mutex
	free    int
	waiting map[string][]*seatWaiter // per user, oldest first
	turn    []string                 // users with waiters, in round-robin order
}

type seatWaiter struct {
	user    string
	granted chan struct{} // closed when the waiter holds a seat
}

func newFairQueue(seats int) *fairQueue {
	if seats <= 0 {
		seats = DefaultMaxInFlight
	}
	return &fairQueue{free: seats, waiting: map[string][]*seatWaiter{}}
}

// acquire waits for a seat for user and returns the function that gives it
// back (safe to call more than once). It fails only when ctx ends first.
func (q *fairQueue) acquire(ctx context.Context, user string) (release func(), err error) {
	w := q.enqueue(user)
	select {
	case <-w.granted:
		return q.releaser(), nil
	case <-ctx.Done():
		if !q.cancel(w) { // granted meanwhile: hand the seat on
			q.release()
		}
		return nil, ctx.Err()
	}
}

// enqueue returns a waiter for user, granted at once if a seat is free and
// nobody waits.
func (q *fairQueue) enqueue(user string) *seatWaiter {
	w := &seatWaiter{user: user, granted: make(chan struct{})}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.free > 0 && len(q.turn) == 0 {
		q.free--
		close(w.granted)
		return w
	}
	if len(q.waiting[user]) == 0 {
		q.turn = append(q.turn, user)
	}
	q.waiting[user] = append(q.waiting[user], w)
	return w
}

// releaser returns an idempotent release of one seat.
func (q *fairQueue) releaser() func() {
	var once sync.Once
	return func() { once.Do(q.release) }
}

// release frees a seat and grants it to the next user's oldest waiter.
func (q *fairQueue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.turn) == 0 {
		q.free++
		return
	}
	user := q.turn[0]
	ws := q.waiting[user]
	w := ws[0]
	q.turn = q.turn[1:]
	if len(ws) == 1 {
		delete(q.waiting, user)
	} else {
		q.waiting[user] = ws[1:]
		q.turn = append(q.turn, user) // back of the round
	}
	close(w.granted)
}

// cancel removes a waiter that gave up. It returns false if the waiter had
// already been granted a seat (which the caller must then release).
func (q *fairQueue) cancel(w *seatWaiter) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	ws := q.waiting[w.user]
	for i, x := range ws {
		if x != w {
			continue
		}
		ws = append(ws[:i:i], ws[i+1:]...)
		if len(ws) > 0 {
			q.waiting[w.user] = ws
			return true
		}
		delete(q.waiting, w.user)
		for j, u := range q.turn {
			if u == w.user {
				q.turn = append(q.turn[:j:j], q.turn[j+1:]...)
				break
			}
		}
		return true
	}
	return false
}
