package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func put(key, val string, cond Cond, modRev int64) Op {
	return Op{Key: key, Cond: cond, ModRev: modRev, Build: func(int64, *Entry) ([]byte, any, error) {
		return []byte(val), nil, nil
	}}
}

func open(t *testing.T, dir string, hist int) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, HistorySize: hist, Logf: t.Logf})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func TestPreconditions(t *testing.T) {
	ctx := context.Background()
	s := open(t, "", 100)
	defer s.Close()
	rev, _, err := s.Txn(ctx, put("core/pods/a/x", "1", CondAbsent, 0))
	if err != nil || rev != 1 {
		t.Fatalf("create: rev=%d err=%v, want rev 1", rev, err)
	}
	tests := []struct {
		name string
		op   Op
		want error
	}{
		{"create existing", put("core/pods/a/x", "2", CondAbsent, 0), ErrExists},
		{"stale update", put("core/pods/a/x", "2", CondModRev, 7), ErrConflict},
		{"update missing", put("core/pods/a/y", "2", CondModRev, 1), ErrNotFound},
		{"exists missing", put("core/pods/a/y", "2", CondExists, 0), ErrNotFound},
		{"delete missing", Op{Key: "core/pods/a/y", Delete: true}, ErrNotFound},
	}
	for _, tc := range tests {
		_, _, err := s.Txn(ctx, tc.op)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if s.Rev() != 1 {
		t.Errorf("failed writes bumped the revision to %d, want 1", s.Rev())
	}
	rev, ents, err := s.Txn(ctx, put("core/pods/a/x", "3", CondModRev, 1))
	if err != nil || rev != 2 || ents[0].CreateRev != 1 || ents[0].ModRev != 2 {
		t.Fatalf("cas update: rev=%d ents=%+v err=%v", rev, ents, err)
	}
	e, ok := s.Get("core/pods/a/x")
	if !ok || string(e.Value) != "3" {
		t.Fatalf("get after update: %+v %v, want value 3", e, ok)
	}
}

func TestTxnAtomic(t *testing.T) {
	ctx := context.Background()
	s := open(t, "", 100)
	defer s.Close()
	_, _, err := s.Txn(ctx, put("core/a/x", "1", CondAbsent, 0), put("core/a/y", "1", CondModRev, 3))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	if _, ok := s.Get("core/a/x"); ok {
		t.Fatalf("half of a failed transaction was written")
	}
	rev, _, err := s.Txn(ctx, put("core/a/x", "1", CondAbsent, 0), put("core/a/y", "1", CondAbsent, 0))
	if err != nil {
		t.Fatal(err)
	}
	ents, lrev := s.List("core/a/")
	if len(ents) != 2 || lrev != rev || ents[0].ModRev != rev || ents[1].ModRev != rev {
		t.Fatalf("list: %+v at %d, want two entries at rev %d", ents, lrev, rev)
	}
}

func TestWatchResumeAndCompaction(t *testing.T) {
	ctx := context.Background()
	s := open(t, "", 4)
	defer s.Close()
	for i := 1; i <= 3; i++ {
		if _, _, err := s.Txn(ctx, put(fmt.Sprintf("core/pods/ns/p%d", i), "v", CondNone, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Txn(ctx, put("core/nodes/n1", "v", CondNone, 0)); err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch("core/pods/", 1)
	if err != nil {
		t.Fatal(err)
	}
	evs, progress, err := w.Next(ctx, 100)
	if err != nil || len(evs) != 2 || evs[0].Entry.ModRev != 2 || evs[1].Entry.ModRev != 3 || progress != 4 {
		t.Fatalf("next: %d events %+v progress %d err %v; want revs 2,3 and progress 4", len(evs), evs, progress, err)
	}
	// Two more writes push revisions 1 and 2 out of the 4-event history.
	for i := 0; i < 2; i++ {
		if _, _, err := s.Txn(ctx, Op{Key: "core/pods/ns/p1", Delete: i == 1, Build: func(int64, *Entry) ([]byte, any, error) { return []byte("w"), nil, nil }}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Watch("core/pods/", 1); !errors.Is(err, ErrCompacted) {
		t.Fatalf("watch from compacted rev: %v, want ErrCompacted", err)
	}
	evs, _, err = w.Next(ctx, 100)
	if err != nil || len(evs) != 2 || evs[1].Type != Delete || evs[1].Prev == nil || string(evs[1].Prev.Value) != "w" {
		t.Fatalf("events after update+delete: %+v %v", evs, err)
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := w.Next(tctx, 100); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("idle next: %v, want deadline", err)
	}
}

func TestSlowWatcherCompacted(t *testing.T) {
	ctx := context.Background()
	s := open(t, "", 3)
	defer s.Close()
	w, _ := s.Watch("core/x/", 0)
	for i := 0; i < 5; i++ {
		s.Txn(ctx, put("core/x/k", "v", CondNone, 0))
	}
	if _, _, err := w.Next(ctx, 10); !errors.Is(err, ErrCompacted) {
		t.Fatalf("got %v, want ErrCompacted", err)
	}
}

func TestPersistAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir, 100)
	for i := 0; i < 10; i++ {
		s.Txn(ctx, put(fmt.Sprintf("core/cm/ns/c%d", i), fmt.Sprint(i), CondNone, 0))
	}
	s.Txn(ctx, Op{Key: "core/cm/ns/c0", Delete: true})
	rev := s.Rev()
	s.Close()

	s = open(t, dir, 100)
	defer s.Close()
	if s.Rev() != rev {
		t.Fatalf("rev after restart %d, want %d", s.Rev(), rev)
	}
	ents, _ := s.List("core/cm/ns/")
	if len(ents) != 9 {
		t.Fatalf("%d entries after restart, want 9", len(ents))
	}
	if _, err := s.Watch("core/cm/", rev-1); !errors.Is(err, ErrCompacted) {
		t.Fatalf("watch from before restart: %v, want ErrCompacted", err)
	}
	if _, err := s.Watch("core/cm/", rev); err != nil {
		t.Fatalf("watch from current rev: %v", err)
	}
	r2, _, _ := s.Txn(ctx, put("core/cm/ns/new", "x", CondAbsent, 0))
	if r2 != rev+1 {
		t.Fatalf("next rev %d, want %d", r2, rev+1)
	}
}

func TestConcurrentCASIncrements(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), 1000)
	defer s.Close()
	s.Txn(ctx, put("core/c/n", "0", CondAbsent, 0))
	var wg sync.WaitGroup
	const workers, each = 8, 25
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; {
				cur, _ := s.Get("core/c/n")
				var n int
				fmt.Sscan(string(cur.Value), &n)
				_, _, err := s.Txn(ctx, put("core/c/n", fmt.Sprint(n+1), CondModRev, cur.ModRev))
				if errors.Is(err, ErrConflict) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				i++
			}
		}()
	}
	wg.Wait()
	cur, _ := s.Get("core/c/n")
	if string(cur.Value) != fmt.Sprint(workers*each) {
		t.Fatalf("counter %s, want %d (lost update)", cur.Value, workers*each)
	}
}

// TestLargeBatchSplitsAcrossBadgerTransactions writes a group of concurrent
// transactions larger than one badger transaction may be, and finds every
// acknowledged write in memory and after a restart.
func TestLargeBatchSplitsAcrossBadgerTransactions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir, 1000)
	big := string(make([]byte, 200<<10)) // 200 KiB values: 60 of them exceed one badger txn
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.Txn(ctx, put(fmt.Sprintf("core/big/ns/k%02d", i), big, CondAbsent, 0))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("write failed: %v", err)
		}
	}
	rev := s.Rev()
	if n := s.Count("core/big/"); n != 60 || rev != 60 {
		t.Fatalf("%d keys at rev %d in memory, want 60 at 60", n, rev)
	}
	s.Close()
	s = open(t, dir, 1000)
	defer s.Close()
	if n := s.Count("core/big/"); n != 60 || s.Rev() != rev {
		t.Fatalf("after restart %d keys at rev %d, want 60 at %d", n, s.Rev(), rev)
	}
}

// vlogSize returns the bytes of the value log files in dir.
func vlogSize(t *testing.T, dir string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}

// TestValueLogGC overwrites the same keys until the value log holds mostly
// garbage, and checks that the GC ticker reclaims it and that the values
// read back after a restart are the last ones written.
func TestValueLogGC(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := Options{Dir: dir, HistorySize: 100, Logf: t.Logf, GCInterval: 20 * time.Millisecond, valueLogFileSize: 1 << 20, memTableSize: 64 << 10}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 4<<10)
	const keys, rounds = 8, 400 // 12.5 MiB written, 32 KiB live
	for r := 0; r < rounds; r++ {
		for k := 0; k < keys; k++ {
			if _, _, err := s.Txn(ctx, put(fmt.Sprintf("core/cm/ns/c%d", k), fmt.Sprint(r, big), CondNone, 0)); err != nil {
				t.Fatal(err)
			}
		}
	}
	written := int64(keys * rounds * len(big))
	deadline := time.Now().Add(20 * time.Second)
	for vlogSize(t, dir) > written/2 {
		if time.Now().After(deadline) {
			t.Fatalf("value log still %d bytes after GC (%d written, %d live)", vlogSize(t, dir), written, keys*len(big))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for k := 0; k < keys; k++ {
		e, ok := s.Get(fmt.Sprintf("core/cm/ns/c%d", k))
		if !ok || string(e.Value) != fmt.Sprint(rounds-1, big) {
			t.Fatalf("key %d after GC and restart: found %v, %d bytes", k, ok, len(e.Value))
		}
	}
}

func TestWithSubmitted(t *testing.T) {
	s := open(t, "", 100)
	defer s.Close()
	calls := 0
	ctx := WithSubmitted(context.Background(), func() { calls++ })
	if _, _, err := s.Txn(ctx, put("core/a/x", "1", CondAbsent, 0)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Txn(ctx, put("core/a/x", "1", CondAbsent, 0)); !errors.Is(err, ErrExists) {
		t.Fatalf("got %v, want ErrExists", err)
	}
	if calls != 2 {
		t.Fatalf("submitted called %d times for 2 transactions, want 2", calls)
	}
}
