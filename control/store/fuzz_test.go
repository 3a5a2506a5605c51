package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The model is what the store must behave like: a map of keys to entries, a
// revision counter and the list of every event, of which the last
// fuzzHistory are retained for watches.

const fuzzHistory = 8

// Keys and prefixes of one input; "T" is replaced by a segment unique to
// the input, so that inputs can share a store.
var (
	fuzzKeys     = []string{"T/a/n1/x", "T/a/n1/y", "T/a/n2/x", "T/b/n1/x", "T/b/x", "T/ab/x"}
	fuzzPrefixes = []string{"T/a/", "T/a/n1/", "T/b/", "T/ab/", "T/b/x"}
)

// sharedStore is the in-memory store the inputs of one fuzz process share
// (opening badger costs far more than a run). Its history is filled first,
// so that every input finds it full, as the model assumes.
var (
	sharedOnce  sync.Once
	sharedStore *Store
	sharedSeq   int
)

func fuzzStore(t *testing.T) (*Store, string) {
	sharedOnce.Do(func() {
		s, err := Open(Options{HistorySize: fuzzHistory, Logf: func(string, ...any) {}})
		if err != nil {
			panic(err)
		}
		for i := 0; i < fuzzHistory; i++ {
			if _, _, err := s.Txn(context.Background(), put("fill/x", "x", CondNone, 0)); err != nil {
				panic(err)
			}
		}
		sharedStore = s
	})
	sharedSeq++
	return sharedStore, fmt.Sprintf("t%d", sharedSeq)
}

type modelEvent struct {
	typ   EventType
	key   string
	value string
	rev   int64
}

type model struct {
	rev        int64
	data       map[string]Entry
	events     []modelEvent
	compactRev int64
	openRev    int64 // revision at the last (re)open: older history is gone
}

func newModel() *model { return &model{data: map[string]Entry{}} }

// mop is one operation of a model transaction.
type mop struct {
	key      string
	del      bool
	cond     Cond
	modRev   int64
	value    string
	buildErr bool
}

var errBuild = errors.New("build refused")

// apply runs a transaction on the model and returns what the store must
// return: the revision and entries, or the error class.
func (m *model) apply(ops []mop) (int64, []Entry, error) {
	rev := m.rev + 1
	seen := map[string]bool{}
	var out []Entry
	var evs []modelEvent
	for _, op := range ops {
		if seen[op.key] {
			return 0, nil, errors.New("duplicate")
		}
		seen[op.key] = true
		cur, ok := m.data[op.key]
		switch {
		case op.cond == CondAbsent && ok:
			return 0, nil, ErrExists
		case (op.cond == CondExists || op.cond == CondModRev) && !ok:
			return 0, nil, ErrNotFound
		case op.cond == CondModRev && cur.ModRev != op.modRev:
			return 0, nil, ErrConflict
		case op.del && !ok:
			return 0, nil, ErrNotFound
		case op.buildErr:
			return 0, nil, errBuild
		}
		e := Entry{Key: op.key, Value: []byte(op.value), CreateRev: rev, ModRev: rev}
		if ok {
			e.CreateRev = cur.CreateRev
		}
		typ := Put
		if op.del {
			typ = Delete
		}
		out = append(out, e)
		evs = append(evs, modelEvent{typ, op.key, op.value, rev})
	}
	m.rev = rev
	for _, ev := range evs {
		if ev.typ == Delete {
			delete(m.data, ev.key)
		} else {
			m.data[ev.key] = out[indexOf(out, ev.key)]
		}
		m.events = append(m.events, ev)
		if n := len(m.events) - m.retainedFrom(); n > fuzzHistory {
			m.compactRev = max(m.compactRev, m.events[len(m.events)-fuzzHistory-1].rev)
		}
	}
	return rev, out, nil
}

// retainedFrom is the index of the first event the store may still hold.
func (m *model) retainedFrom() int {
	i := sort.Search(len(m.events), func(i int) bool { return m.events[i].rev > m.openRev })
	return i
}

func indexOf(es []Entry, key string) int {
	for i, e := range es {
		if e.Key == key {
			return i
		}
	}
	return -1
}

func (op mop) storeOp() Op {
	o := Op{Key: op.key, Delete: op.del, Cond: op.cond, ModRev: op.modRev}
	v, fail := op.value, op.buildErr
	o.Build = func(int64, *Entry) ([]byte, any, error) {
		if fail {
			return nil, nil, errBuild
		}
		return []byte(v), nil, nil
	}
	return o
}

func sameClass(got, want error) bool {
	switch {
	case want == nil || got == nil:
		return got == want
	case errors.Is(want, ErrExists), errors.Is(want, ErrNotFound), errors.Is(want, ErrConflict), errors.Is(want, errBuild):
		return errors.Is(got, want)
	default:
		return true // some other refusal (duplicate key)
	}
}

// fuzzRun drives a store and the model with the operations encoded in data.
type fuzzRun struct {
	t      *testing.T
	s      *Store
	m      *model
	dir    string // on-disk store of this input only ("": the shared one)
	keys   []string
	prefix []string
}

func (r *fuzzRun) setSpace(id string) {
	r.keys, r.prefix = nil, nil
	for _, k := range fuzzKeys {
		r.keys = append(r.keys, strings.Replace(k, "T", id, 1))
	}
	for _, p := range fuzzPrefixes {
		r.prefix = append(r.prefix, strings.Replace(p, "T", id, 1))
	}
}

func (r *fuzzRun) txn(ops ...mop) {
	r.t.Helper()
	sops := make([]Op, len(ops))
	for i, op := range ops {
		sops[i] = op.storeOp()
	}
	rev, ents, err := r.s.Txn(context.Background(), sops...)
	wrev, wents, werr := r.m.apply(ops)
	if !sameClass(err, werr) {
		r.t.Fatalf("txn %+v: error %v, model says %v", ops, err, werr)
	}
	if err != nil {
		return
	}
	if rev != wrev || len(ents) != len(wents) {
		r.t.Fatalf("txn %+v: rev %d with %d entries, model says %d with %d", ops, rev, len(ents), wrev, len(wents))
	}
	for i := range ents {
		g, w := ents[i], wents[i]
		if g.Key != w.Key || string(g.Value) != string(w.Value) || g.CreateRev != w.CreateRev || g.ModRev != w.ModRev {
			r.t.Fatalf("txn %+v: entry %+v, model says %+v", ops, g, w)
		}
	}
}

// concurrent writes n distinct keys at once; the store may order them as
// it likes, and the model follows the order of the revisions it gave.
func (r *fuzzRun) concurrent(n int, step int) {
	r.t.Helper()
	type res struct {
		key string
		rev int64
		err error
	}
	out := make([]res, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		key := r.keys[(step+i)%len(r.keys)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			rev, _, err := r.s.Txn(context.Background(), mop{key: key, value: fmt.Sprintf("c%d", step)}.storeOp())
			out[i] = res{key, rev, err}
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].rev < out[j].rev })
	for _, o := range out {
		if o.err != nil {
			r.t.Fatalf("concurrent put %s: %v", o.key, o.err)
		}
		if wrev, _, _ := r.m.apply([]mop{{key: o.key, value: fmt.Sprintf("c%d", step)}}); wrev != o.rev {
			r.t.Fatalf("concurrent puts got revisions %+v; not consecutive after %d", out, wrev-1)
		}
	}
}

// check compares every read the store offers with the model.
func (r *fuzzRun) check() {
	r.t.Helper()
	if r.s.Rev() != r.m.rev {
		r.t.Fatalf("store revision %d, model %d", r.s.Rev(), r.m.rev)
	}
	for _, k := range r.keys {
		g, ok := r.s.Get(k)
		w, wok := r.m.data[k]
		if ok != wok || (ok && (string(g.Value) != string(w.Value) || g.CreateRev != w.CreateRev || g.ModRev != w.ModRev)) {
			r.t.Fatalf("get %s: %+v (%v), model %+v (%v)", k, g, ok, w, wok)
		}
	}
	for _, p := range r.prefix {
		ents, rev := r.s.List(p)
		var got, want []string
		for _, e := range ents {
			got = append(got, fmt.Sprintf("%s=%s@%d", e.Key, e.Value, e.ModRev))
		}
		for _, k := range r.keys {
			if e, ok := r.m.data[k]; ok && strings.HasPrefix(k, p) {
				want = append(want, fmt.Sprintf("%s=%s@%d", k, e.Value, e.ModRev))
			}
		}
		sort.Strings(want)
		if strings.Join(got, " ") != strings.Join(want, " ") || rev != r.m.rev || r.s.Count(p) != len(want) {
			r.t.Fatalf("list %s: %v at %d (count %d), model %v at %d", p, got, rev, r.s.Count(p), want, r.m.rev)
		}
		// A filtered list keeps exactly the matching entries, in order.
		odd := func(e *Entry) bool { return len(e.Value) > 0 && e.Value[len(e.Value)-1]%2 == 1 }
		ents, _ = r.s.ListFunc(p, odd)
		var gotOdd, wantOdd []string
		for _, e := range ents {
			gotOdd = append(gotOdd, e.Key)
		}
		for _, w := range want {
			k, v, _ := strings.Cut(w, "=")
			if v = v[:strings.LastIndexByte(v, '@')]; len(v) > 0 && v[len(v)-1]%2 == 1 {
				wantOdd = append(wantOdd, k)
			}
		}
		if strings.Join(gotOdd, " ") != strings.Join(wantOdd, " ") {
			r.t.Fatalf("filtered list %s: %v, model %v", p, gotOdd, wantOdd)
		}
	}
}

// watch reads a watch from fromRev on prefix and compares it with the
// model's retained history.
func (r *fuzzRun) watch(prefix string, fromRev int64) {
	r.t.Helper()
	// What came before this input is not in the model.
	fromRev = max(fromRev, r.m.openRev)
	w, err := r.s.Watch(prefix, fromRev)
	compacted := fromRev < max(r.m.compactRev, r.m.openRev)
	if compacted != errors.Is(err, ErrCompacted) || (err != nil && !compacted) {
		r.t.Fatalf("watch %s from %d: %v, model compacted at %d (opened at %d)", prefix, fromRev, err, r.m.compactRev, r.m.openRev)
	}
	if err != nil {
		return
	}
	var want []string
	for _, ev := range r.m.events {
		if ev.rev > fromRev && strings.HasPrefix(ev.key, prefix) {
			want = append(want, fmt.Sprintf("%d:%s=%s@%d", ev.typ, ev.key, ev.value, ev.rev))
		}
	}
	done, cancel := context.WithCancel(context.Background())
	cancel() // Next returns what is there, then sees the context ended
	var got []string
	var progress int64
	for {
		evs, p, err := w.Next(done, 3)
		for _, ev := range evs {
			got = append(got, fmt.Sprintf("%d:%s=%s@%d", ev.Type, ev.Entry.Key, ev.Entry.Value, ev.Entry.ModRev))
		}
		progress = p
		if err != nil {
			break
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") || progress != r.m.rev {
		r.t.Fatalf("watch %s from %d: %v progress %d, model %v at %d", prefix, fromRev, got, progress, want, r.m.rev)
	}
}

// cleanup deletes this input's keys from the shared store.
func (r *fuzzRun) cleanup() {
	for _, k := range r.keys {
		if _, ok := r.s.Get(k); ok {
			r.s.Txn(context.Background(), Op{Key: k, Delete: true})
		}
	}
}

func (r *fuzzRun) reopen() {
	r.t.Helper()
	if r.dir == "" {
		return
	}
	if err := r.s.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.s = open(r.t, r.dir, fuzzHistory)
	r.m.openRev, r.m.compactRev = r.m.rev, r.m.rev
}

// step decodes and runs one operation from three bytes.
func (r *fuzzRun) step(i int, kind, a, b byte) {
	key := r.keys[int(a)%len(r.keys)]
	key2 := r.keys[int(b)%len(r.keys)]
	cur := r.m.data[key]
	val := fmt.Sprintf("v%d", i)
	switch kind % 14 {
	case 0:
		r.txn(mop{key: key, cond: CondAbsent, value: val})
	case 1:
		r.txn(mop{key: key, cond: CondModRev, modRev: cur.ModRev, value: val})
	case 2:
		r.txn(mop{key: key, cond: CondModRev, modRev: int64(b), value: val})
	case 3:
		r.txn(mop{key: key, cond: CondExists, value: val})
	case 4:
		r.txn(mop{key: key, value: val})
	case 5:
		r.txn(mop{key: key, del: true, value: string(cur.Value)})
	case 6:
		r.txn(mop{key: key, del: true, cond: CondModRev, modRev: cur.ModRev, value: "gone"})
	case 7:
		r.txn(mop{key: key, cond: CondAbsent, value: val}, mop{key: key2, value: val})
	case 8:
		r.txn(mop{key: key, value: val}, mop{key: key2, value: val, buildErr: b%2 == 0, del: b%3 == 0})
	case 9:
		r.concurrent(2+int(b)%4, i)
	case 10:
		r.check()
	case 11:
		r.watch(r.prefix[int(a)%len(r.prefix)], r.m.rev-int64(b)%12)
	case 12:
		r.reopen()
	case 13:
		r.txn(mop{key: key, del: true, cond: CondExists, value: val}, mop{key: key2, cond: CondModRev, modRev: r.m.data[key2].ModRev, value: val})
	}
}

// FuzzStoreTxn runs random transaction sequences against the store and a
// map model and compares every result, read and watch.
func FuzzStoreTxn(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 11, 0, 0, 10, 0, 0})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 7, 1, 2, 8, 2, 3, 8, 2, 2, 12, 0, 0, 11, 0, 0, 10, 0, 0})
	f.Add([]byte{0, 9, 0, 3, 9, 1, 5, 11, 2, 20, 5, 0, 0, 13, 1, 2, 11, 1, 0, 10, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || len(data) > 300 {
			return
		}
		r := &fuzzRun{t: t, m: newModel()}
		if data[0]%8 == 0 {
			// On disk, alone: reopening must keep everything.
			r.dir = t.TempDir()
			r.s = open(t, r.dir, fuzzHistory)
			r.setSpace("t")
			defer func() { r.s.Close() }()
		} else {
			var id string
			r.s, id = fuzzStore(t)
			r.setSpace(id)
			r.m.rev = r.s.Rev()
			r.m.openRev, r.m.compactRev = r.m.rev, r.m.rev
			defer r.cleanup()
		}
		ops := data[1:]
		for i := 0; i+2 < len(ops); i += 3 {
			r.step(i/3, ops[i], ops[i+1], ops[i+2])
		}
		r.check()
		r.reopen()
		r.check()
	})
}
