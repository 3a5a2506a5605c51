package store

import (
	"context"
	"sort"
	"strings"
)

// ring is the bounded event history, addressed by a sequence number that
// grows by one per event.
type ring struct {
	buf   []Event
	first uint64 // sequence number of the oldest retained event
	next  uint64 // sequence number the next event gets
}

func newRing(n int) ring { return ring{buf: make([]Event, n)} }

func (r *ring) at(seq uint64) *Event { return &r.buf[seq%uint64(len(r.buf))] }

// push appends ev and returns the event it evicted, if any.
func (r *ring) push(ev Event) (Event, bool) {
	var evicted Event
	full := r.next-r.first == uint64(len(r.buf))
	if full {
		evicted = *r.at(r.first)
		r.first++
	}
	*r.at(r.next) = ev
	r.next++
	return evicted, full
}

// seqAfter returns the sequence number of the first retained event with a
// revision greater than rev.
func (r *ring) seqAfter(rev int64) uint64 {
	n := int(r.next - r.first)
	i := sort.Search(n, func(i int) bool { return r.at(r.first+uint64(i)).Entry.ModRev > rev })
	return r.first + uint64(i)
}

// Watcher reads the events under one prefix, in revision order, from the
// shared history. It holds no buffer of its own.
type Watcher struct {
	s      *Store
	prefix string
	seq    uint64
}

// Watch starts a watcher that will return every event under prefix with a
// revision greater than fromRev. It fails with ErrCompacted when events after
// fromRev are no longer retained.
func (s *Store) Watch(prefix string, fromRev int64) (*Watcher, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if fromRev < s.compactRev {
		return nil, ErrCompacted
	}
	return &Watcher{s: s, prefix: prefix, seq: s.hist.seqAfter(fromRev)}, nil
}

// CompactRev returns the oldest revision a watch can start from.
func (s *Store) CompactRev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.compactRev
}

// Next blocks until there are events for the watcher (at most max) or ctx
// ends. progress is the revision up to which the watcher has seen everything;
// it is what a bookmark may report. Next returns ErrCompacted when the
// watcher fell behind the retained history.
func (w *Watcher) Next(ctx context.Context, max int) (events []Event, progress int64, err error) {
	for {
		s := w.s
		s.mu.RLock()
		if w.seq < s.hist.first {
			s.mu.RUnlock()
			return nil, 0, ErrCompacted
		}
		for w.seq < s.hist.next && len(events) < max {
			ev := s.hist.at(w.seq)
			if strings.HasPrefix(ev.Entry.Key, w.prefix) {
				events = append(events, *ev)
			}
			w.seq++
		}
		if w.seq == s.hist.next {
			progress = s.rev
		} else {
			progress = s.hist.at(w.seq - 1).Entry.ModRev
			// Events of one transaction share a revision; only a revision
			// fully read counts as progress.
			if s.hist.at(w.seq).Entry.ModRev == progress {
				progress--
			}
		}
		notify := s.notify
		s.mu.RUnlock()
		if len(events) > 0 {
			return events, progress, nil
		}
		select {
		case <-ctx.Done():
			return nil, progress, ctx.Err()
		case <-notify:
		case <-s.stop:
			return nil, progress, ErrClosed
		}
	}
}

// Progress returns the revision up to which the watcher has read, without
// blocking.
func (w *Watcher) Progress() int64 {
	s := w.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if w.seq >= s.hist.next {
		return s.rev
	}
	if w.seq == 0 || w.seq <= s.hist.first {
		return s.compactRev
	}
	return s.hist.at(w.seq - 1).Entry.ModRev
}
