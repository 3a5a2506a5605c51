package cluster

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// fakeSteps records what runs; step i fails when fail[i] is set, and
// advances the fake clock by 1.5s per step.
func fakeSteps(clk *clocktesting.FakePassiveClock, log *[]string, n int, fail map[int]error, cancelAt int, cancel func()) []Step {
	var steps []Step
	for i := 0; i < n; i++ {
		name := string(rune('A' + i))
		steps = append(steps, Step{
			Name: "Step " + name,
			Do: func(ctx context.Context) error {
				*log = append(*log, "do "+name)
				clk.SetTime(clk.Now().Add(1500 * time.Millisecond))
				if i == cancelAt {
					cancel()
					<-ctx.Done()
					return ctx.Err()
				}
				return fail[i]
			},
			Undo: func(ctx context.Context) error {
				if ctx.Err() != nil {
					return errors.New("undo got a cancelled context")
				}
				*log = append(*log, "undo "+name)
				return nil
			},
		})
	}
	return steps
}

func TestRunnerRollback(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		n        int
		fail     map[int]error
		cancelAt int
		wantLog  []string
		wantErr  []string // substrings
		wantOut  string
	}{
		{
			name: "all succeed", n: 3, cancelAt: -1,
			wantLog: []string{"do A", "do B", "do C"},
			wantOut: "✓ Step A (1.50s)\n✓ Step B (1.50s)\n✓ Step C (1.50s)\n",
		},
		{
			name: "third fails", n: 4, fail: map[int]error{2: boom}, cancelAt: -1,
			wantLog: []string{"do A", "do B", "do C", "undo C", "undo B", "undo A"},
			wantErr: []string{"step C: boom", ErrRolledBack.Error()},
			wantOut: "✓ Step A (1.50s)\n✓ Step B (1.50s)\n✗ Step C (1.50s)\n✓ Rolling back (0.00s)\n",
		},
		{
			name: "first fails", n: 2, fail: map[int]error{0: boom}, cancelAt: -1,
			wantLog: []string{"do A", "undo A"},
			wantErr: []string{"step A: boom"},
		},
		{
			name: "interrupted in the second", n: 3, cancelAt: 1,
			wantLog: []string{"do A", "do B", "undo B", "undo A"},
			wantErr: []string{"step B: interrupted", "context canceled"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakePassiveClock(time.Unix(0, 0))
			var out bytes.Buffer
			var log []string
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := &Runner{Out: &out, Clock: clk}
			err := r.Run(ctx, fakeSteps(clk, &log, tt.n, tt.fail, tt.cancelAt, cancel))
			if !reflect.DeepEqual(log, tt.wantLog) {
				t.Errorf("ran %v, want %v", log, tt.wantLog)
			}
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("Run: %v", err)
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Run error = %v, want it to contain %q", err, w)
				}
			}
			if tt.wantOut != "" && out.String() != tt.wantOut {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), tt.wantOut)
			}
			if strings.Contains(out.String(), "\x1b[") {
				t.Errorf("plain output has escape codes: %q", out.String())
			}
		})
	}
}

func TestRunnerUndoErrorsReported(t *testing.T) {
	r := &Runner{}
	steps := []Step{
		{Name: "Make X", Do: func(context.Context) error { return nil }, Undo: func(context.Context) error { return errors.New("x stuck") }},
		{Name: "Make Y", Do: func(context.Context) error { return errors.New("y failed") }},
	}
	err := r.Run(context.Background(), steps)
	if err == nil || !strings.Contains(err.Error(), "make Y: y failed") || !strings.Contains(err.Error(), "undo make X: x stuck") {
		t.Fatalf("Run error = %v, want the step error and the undo error", err)
	}
	if errors.Is(err, ErrRolledBack) {
		t.Fatalf("a failed rollback must not claim ErrRolledBack: %v", err)
	}
}

func TestRunnerFancy(t *testing.T) {
	var out bytes.Buffer
	r := &Runner{Out: &out, Fancy: true, Clock: clocktesting.NewFakePassiveClock(time.Unix(0, 0))}
	if err := r.Run(context.Background(), []Step{{Name: "Go", Do: func(context.Context) error { r.Printf("  note %d", 1); return nil }}}); err != nil {
		t.Fatal(err)
	}
	want := "• Go …\r\x1b[K  note 1\n• Go …\r\x1b[K\x1b[32m✓\x1b[0m Go (0.00s)\n"
	if out.String() != want {
		t.Fatalf("fancy output %q, want %q", out.String(), want)
	}
}
