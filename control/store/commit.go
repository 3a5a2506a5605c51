package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

type request struct {
	ops  []Op
	done chan result
}

type result struct {
	rev     int64
	entries []Entry
	err     error
}

// staged is the outcome of one accepted request, not yet on disk.
type staged struct {
	req     *request
	rev     int64
	events  []Event
	entries []Entry
}

// commitLoop is the single writer. It takes every request that is waiting,
// checks preconditions against memory plus the writes staged earlier in the
// same batch, assigns revisions, writes the batch in one badger transaction
// (one fsync), then publishes and acknowledges.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*request, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-s.stop:
			s.failPending()
			return
		case r := <-s.reqs:
			batch = append(batch, r)
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.commitBatch(batch)
	}
}

func (s *Store) failPending() {
	for {
		select {
		case r := <-s.reqs:
			r.done <- result{err: ErrClosed}
		default:
			return
		}
	}
}

func (s *Store) commitBatch(batch []*request) {
	overlay := map[string]*Entry{} // key -> staged entry (nil = deleted)
	current := func(key string) *Entry {
		if e, ok := overlay[key]; ok {
			return e
		}
		return s.lookup(key) // only this goroutine writes s.data
	}
	rev := s.rev
	var accepted []staged
	for _, r := range batch {
		st, err := stage(r, rev+1, current)
		if err != nil {
			r.done <- result{err: err}
			continue
		}
		rev++
		for _, ev := range st.events {
			if ev.Type == Delete {
				overlay[ev.Entry.Key] = nil
			} else {
				e := ev.Entry
				overlay[e.Key] = &e
			}
		}
		accepted = append(accepted, st)
	}
	if len(accepted) == 0 {
		return
	}
	committed, err := s.persist(accepted, rev)
	if err != nil {
		// Requests after the durable prefix fail; the prefix (on disk when
		// a large batch was split) is published and acknowledged below, so
		// memory never lags behind the disk.
		err = fmt.Errorf("write to disk: %w", err)
		for _, st := range accepted[committed:] {
			st.req.done <- result{err: err}
		}
		accepted = accepted[:committed]
		if len(accepted) == 0 {
			return
		}
		rev = accepted[len(accepted)-1].rev
	}
	s.mu.Lock()
	for _, st := range accepted {
		for _, ev := range st.events {
			if ev.Type == Delete {
				s.del(ev.Entry.Key)
			} else {
				e := ev.Entry
				s.put(&e)
			}
			if evicted, ok := s.hist.push(ev); ok && evicted.Entry.ModRev > s.compactRev {
				s.compactRev = evicted.Entry.ModRev
			}
		}
	}
	s.rev = rev
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
	for _, st := range accepted {
		st.req.done <- result{rev: st.rev, entries: st.entries}
	}
}

// stage checks one request's preconditions and builds its values.
func stage(r *request, rev int64, current func(string) *Entry) (staged, error) {
	st := staged{req: r, rev: rev}
	seen := map[string]bool{}
	for _, op := range r.ops {
		if seen[op.Key] {
			return st, fmt.Errorf("%s: key appears twice in one transaction", op.Key)
		}
		seen[op.Key] = true
		cur := current(op.Key)
		if err := check(op, cur); err != nil {
			return st, err
		}
		if op.Delete && cur == nil {
			return st, &CondError{Key: op.Key, Err: ErrNotFound}
		}
		var (
			value []byte
			attrs any
		)
		if op.Build != nil {
			var curCopy *Entry
			if cur != nil {
				c := *cur
				curCopy = &c
			}
			v, a, err := op.Build(rev, curCopy)
			if err != nil {
				return st, err
			}
			value, attrs = v, a
		} else if op.Delete {
			value, attrs = cur.Value, cur.Attrs
		} else {
			return st, fmt.Errorf("%s: put without a value", op.Key)
		}
		e := Entry{Key: op.Key, Value: value, ModRev: rev, CreateRev: rev, Attrs: attrs}
		var prev *Entry
		if cur != nil {
			c := *cur
			prev = &c
			e.CreateRev = cur.CreateRev
		}
		typ := Put
		if op.Delete {
			typ = Delete
		}
		st.events = append(st.events, Event{Type: typ, Entry: e, Prev: prev})
		st.entries = append(st.entries, e)
	}
	return st, nil
}

func check(op Op, cur *Entry) error {
	switch op.Cond {
	case CondAbsent:
		if cur != nil {
			return &CondError{Key: op.Key, Err: ErrExists, Current: cur}
		}
	case CondExists:
		if cur == nil {
			return &CondError{Key: op.Key, Err: ErrNotFound}
		}
	case CondModRev:
		if cur == nil {
			return &CondError{Key: op.Key, Err: ErrNotFound}
		}
		if cur.ModRev != op.ModRev {
			return &CondError{Key: op.Key, Err: ErrConflict, Current: cur}
		}
	}
	return nil
}

// persist writes the staged events and the new revision. Large batches are
// split between requests (never inside one) when badger's transaction limit
// is reached; nothing is acknowledged until every part is synced.
func (s *Store) persist(accepted []staged, rev int64) (committed int, err error) {
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	apply := func(t *badger.Txn, st staged) error {
		for _, ev := range st.events {
			k := []byte(objPrefix + ev.Entry.Key)
			var err error
			if ev.Type == Delete {
				err = t.Delete(k)
			} else {
				e := ev.Entry
				err = t.Set(k, encodeEntry(&e))
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	inTxn := 0 // requests staged in txn, not yet committed
	for _, st := range accepted {
		err := apply(txn, st)
		if errors.Is(err, badger.ErrTxnTooBig) && inTxn > 0 {
			if err := txn.Set([]byte(revKey), binary.AppendVarint(nil, st.rev-1)); err != nil {
				return committed, err
			}
			if err := txn.Commit(); err != nil {
				return committed, err
			}
			committed += inTxn
			inTxn = 0
			txn = s.db.NewTransaction(true)
			err = apply(txn, st)
		}
		if err != nil {
			return committed, err
		}
		inTxn++
	}
	if err := txn.Set([]byte(revKey), binary.AppendVarint(nil, rev)); err != nil {
		return committed, err
	}
	if err := txn.Commit(); err != nil {
		return committed, err
	}
	return len(accepted), nil
}
