package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Step is one stage of an operation that makes things (kind's
// pkg/cluster/internal/create style). Undo removes what Do made; it runs
// when Do or a later step fails or the operation is interrupted, and also
// for the failing step itself, so Do may leave partial results behind.
type Step struct {
	Name string
	Do   func(ctx context.Context) error
	Undo func(ctx context.Context) error // nil: nothing to undo
}

// Runner runs steps in order, printing each with its duration, and rolls
// back on failure.
type Runner struct {
	Out io.Writer
	// Fancy draws an in-progress line and colours (a terminal); otherwise
	// only finished steps are printed, as plain lines.
	Fancy bool
	Clock clock.PassiveClock
	// UndoTimeout bounds the whole rollback (default 30s).
	UndoTimeout time.Duration

	mu      sync.Mutex // serialises output of concurrent Printf calls
	current string     // the step in progress (Fancy redraws it)
}

// ErrRolledBack marks an error after which everything made was removed.
var ErrRolledBack = errors.New("rolled back: everything this operation made was removed")

const (
	green = "\x1b[32m"
	red   = "\x1b[31m"
	reset = "\x1b[0m"
)

func (r *Runner) clock() clock.PassiveClock {
	if r.Clock == nil {
		return clock.RealClock{}
	}
	return r.Clock
}

func (r *Runner) out() io.Writer {
	if r.Out == nil {
		return io.Discard
	}
	return r.Out
}

// Printf prints a line outside any step (safe for concurrent use).
func (r *Runner) Printf(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Fancy && r.current != "" {
		fmt.Fprintf(r.out(), "\r\x1b[K"+format+"\n• %s …", append(a, r.current)...)
		return
	}
	fmt.Fprintf(r.out(), format+"\n", a...)
}

func (r *Runner) finish(ok bool, name string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current = ""
	mark, color := "✓", green
	if !ok {
		mark, color = "✗", red
	}
	secs := fmt.Sprintf("(%.2fs)", d.Seconds())
	if r.Fancy {
		fmt.Fprintf(r.out(), "\r\x1b[K%s%s%s %s %s\n", color, mark, reset, name, secs)
		return
	}
	fmt.Fprintf(r.out(), "%s %s %s\n", mark, name, secs)
}

// Run runs the steps in order. When a step fails or ctx ends, it undoes the
// failing step and every step before it, in reverse order, and returns the
// step's error (joined with ErrRolledBack, or with the undo errors).
func (r *Runner) Run(ctx context.Context, steps []Step) error {
	for i, s := range steps {
		if r.Fancy {
			r.mu.Lock()
			r.current = s.Name
			fmt.Fprintf(r.out(), "• %s …", s.Name)
			r.mu.Unlock()
		}
		start := r.clock().Now()
		err := ctx.Err()
		if err == nil {
			err = s.Do(ctx)
		}
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		r.finish(err == nil, s.Name, r.clock().Since(start))
		if err != nil {
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				err = fmt.Errorf("interrupted: %w", err)
			}
			err = fmt.Errorf("%s: %w", lowerFirst(s.Name), err)
			return errors.Join(err, r.rollback(ctx, steps[:i+1]))
		}
	}
	return nil
}

// rollback undoes steps in reverse order on a context that outlives the
// (maybe cancelled) operation.
func (r *Runner) rollback(ctx context.Context, done []Step) error {
	timeout := r.UndoTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	start := r.clock().Now()
	var errs []error
	for i := len(done) - 1; i >= 0; i-- {
		if done[i].Undo == nil {
			continue
		}
		if err := done[i].Undo(uctx); err != nil {
			errs = append(errs, fmt.Errorf("undo %s: %w", lowerFirst(done[i].Name), err))
		}
	}
	r.finish(len(errs) == 0, "Rolling back", r.clock().Since(start))
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return ErrRolledBack
}

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}
