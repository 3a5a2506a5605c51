package kubelet

import (
	"time"
)

// resetBackOffAfter is how long a container must have run for its crash to
// start a new streak (no back-off), as Kubernetes's 10 minutes.
const resetBackOffAfter = 10 * time.Minute

// restartDelay returns how long after its last exit a container may be
// restarted, and the back-off base of the new attempt. The schedule is
// Kubernetes's: the first restart of a streak of crashes is immediate, then
// initial, doubling up to max; a container that ran for resetBackOffAfter
// or longer starts a new streak. attempt is the restart count of the
// container that exited and base the restart count its streak began at;
// both come from Docker labels, so the schedule survives agent restarts.
func restartDelay(attempt, base int, ran, initial, max time.Duration) (time.Duration, int) {
	if ran >= resetBackOffAfter || base > attempt {
		return 0, attempt + 1
	}
	crashes := attempt - base + 1 // quick exits in this streak, including this one
	if crashes <= 1 {
		return 0, base
	}
	d := initial
	for i := 2; i < crashes && d < max; i++ {
		d *= 2
	}
	return min(d, max), base
}

// pullBackOff tracks failed pulls of one image: Kubernetes's ErrImagePull
// then ImagePullBackOff with the same doubling schedule.
type pullBackOff struct {
	delay    time.Duration
	lastFail time.Time
}

// wait returns how long to wait before the next pull may be tried.
func (b *pullBackOff) wait(now time.Time) time.Duration {
	if b == nil || b.delay == 0 {
		return 0
	}
	return b.lastFail.Add(b.delay).Sub(now)
}

// failed records a failed pull at now.
func (b *pullBackOff) failed(now time.Time, initial, max time.Duration) {
	if b.delay == 0 || now.Sub(b.lastFail) > 2*max {
		b.delay = initial
	} else {
		b.delay = min(2*b.delay, max)
	}
	b.lastFail = now
}
