package api

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// granted reports whether w holds a seat, without waiting.
func granted(w *seatWaiter) bool {
	select {
	case <-w.granted:
		return true
	default:
		return false
	}
}

// TestFairQueueOrder drives the queue step by step: each step either
// enqueues a request of a user ("+user") or frees a seat ("-"), and the
// test checks which requests hold seats after it, in the order granted.
func TestFairQueueOrder(t *testing.T) {
	tests := []struct {
		name  string
		seats int
		steps []string
		want  string // requests ("user#n", n counting that user's requests) granted, in order
	}{
		{"free seats are granted at once", 2, []string{"+a", "+b", "+a"}, "a#1 b#1"},
		{"a freed seat goes to the waiter", 1, []string{"+a", "+a", "-"}, "a#1 a#2"},
		{"users take turns whatever their backlog", 1,
			[]string{"+n", "+n", "+n", "+n", "+p", "-", "-", "-"}, "n#1 n#2 p#1 n#3"},
		{"round robin over three users", 1,
			[]string{"+a", "+a", "+a", "+b", "+b", "+c", "-", "-", "-", "-", "-"}, "a#1 a#2 b#1 c#1 a#3 b#2"},
		{"a user with no more waiters leaves the round", 1,
			[]string{"+a", "+b", "+c", "+c", "-", "-", "-"}, "a#1 b#1 c#1 c#2"},
		{"freed seats with nobody waiting are kept", 1, []string{"+a", "-", "+b", "+c"}, "a#1 b#1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := newFairQueue(tc.seats)
			count := map[string]int{}
			var ws []*seatWaiter
			var names []string
			var order []string
			seen := map[*seatWaiter]bool{}
			note := func() {
				for i, w := range ws {
					if granted(w) && !seen[w] {
						seen[w] = true
						order = append(order, names[i])
					}
				}
			}
			for _, st := range tc.steps {
				if st == "-" {
					q.release()
				} else {
					u := strings.TrimPrefix(st, "+")
					count[u]++
					ws = append(ws, q.enqueue(u))
					names = append(names, u+"#"+string(rune('0'+count[u])))
				}
				note()
			}
			if got := strings.Join(order, " "); got != tc.want {
				t.Errorf("granted %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFairQueueCancel(t *testing.T) {
	q := newFairQueue(1)
	ctx := context.Background()
	release, err := q.acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	// b gives up while waiting: it must leave the queue, so that c gets
	// the seat a frees.
	bctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := q.acquire(bctx, "b"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b: got %v, want a deadline error", err)
	}
	c := q.enqueue("c")
	release()
	release() // idempotent: frees one seat only
	if !granted(c) {
		t.Fatal("c did not get the seat a freed")
	}
	d := q.enqueue("d")
	if granted(d) {
		t.Fatal("a second release of the same seat was counted")
	}
	q.release() // c done
	if !granted(d) {
		t.Fatal("d did not get the seat c freed")
	}
	// A waiter cancelled after being granted gives the seat on.
	e := q.enqueue("e")
	q.release() // d done: e granted
	if q.cancel(e) {
		t.Fatal("cancel of a granted waiter reported it removed")
	}
}
