// Package store owns mini's durable state: a key-value store on an embedded
// badger database with one global revision counter, compare-and-swap writes,
// and an in-memory event log from which watches are served.
//
// Every write (a transaction of one or more operations) is given the next
// revision; the revision is stored in the same badger transaction, so it
// survives restarts. Writes are funnelled through one committer goroutine that
// groups concurrent transactions into one fsync (group commit). A write is
// acknowledged, made visible to readers, and published to watchers only after
// it is on disk, so an acknowledged write survives kill -9.
//
// The whole data set is also kept in memory (mini's clusters are small), which
// makes reads and preconditions cheap. Watches read the shared event log by
// cursor: there is no per-watcher buffer to overflow; a watcher that falls
// behind the bounded history gets ErrCompacted and must relist, exactly as a
// Kubernetes client does on 410 Expired.
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"slices"
	"strings"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Errors returned by the store. CondError wraps the first three.
var (
	ErrNotFound  = errors.New("not found")
	ErrExists    = errors.New("already exists")
	ErrConflict  = errors.New("revision conflict")
	ErrCompacted = errors.New("requested revision has been compacted")
	ErrClosed    = errors.New("store is closed")
)

// Entry is one stored key with its value and revisions.
type Entry struct {
	Key       string
	Value     []byte
	CreateRev int64
	ModRev    int64
	// Attrs is derived from Value by Options.Attrs; it lives only in memory and
	// lets callers filter without decoding Value.
	Attrs any
}

// EventType says whether an event stores or removes a key.
type EventType int

// Event types.
const (
	Put EventType = iota
	Delete
)

// Event is one committed change. For Delete, Entry.Value is the value the
// deleting operation built (or the last value) and Entry.ModRev the revision of
// the deletion.
type Event struct {
	Type  EventType
	Entry Entry
	Prev  *Entry // nil when the key did not exist before
}

// Cond is a precondition on the current state of an operation's key.
type Cond int

// Preconditions.
const (
	CondNone   Cond = iota
	CondAbsent      // key must not exist (create)
	CondExists      // key must exist
	CondModRev      // key must exist with ModRev == Op.ModRev
)

// Op is one operation of a transaction.
type Op struct {
	Key    string
	Delete bool
	Cond   Cond
	ModRev int64
	// Build produces the value to store (for Delete: the value reported in the
	// event). It runs on the committer goroutine after the preconditions held,
	// with the revision the write will get and the current entry (nil if the
	// key is absent). A nil Build on a Delete reports the last value. An error
	// from Build fails the whole transaction and nothing is written.
	Build func(rev int64, cur *Entry) (value []byte, attrs any, err error)
}

// CondError reports a failed precondition.
type CondError struct {
	Key     string
	Err     error  // ErrNotFound, ErrExists or ErrConflict
	Current *Entry // the current entry, if any
}

func (e *CondError) Error() string { return fmt.Sprintf("%s: %v", e.Key, e.Err) }
func (e *CondError) Unwrap() error { return e.Err }

// Options configure a Store.
type Options struct {
	// Dir holds the badger files. Empty means in memory only (tests).
	Dir string
	// HistorySize bounds the event log that watches resume from.
	HistorySize int
	// Attrs derives an entry's in-memory attributes when loading from disk.
	Attrs func(key string, value []byte) any
	// GCInterval is how often value-log GC runs (0: DefaultGCInterval).
	// Values live in the value log (see badgerOptions), so every update
	// leaves garbage there that only GC reclaims.
	GCInterval time.Duration
	// Logf receives badger's warnings and errors (nil: the standard logger).
	Logf func(format string, args ...any)

	// valueLogFileSize and memTableSize override badger's sizes (tests).
	valueLogFileSize, memTableSize int64
}

// Store is the revisioned key-value store. It is safe for concurrent use.
type Store struct {
	db   *badger.DB
	opts Options

	reqs   chan *request
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once

	mu         sync.RWMutex
	rev        int64
	data       map[string]map[string]*Entry // bucket -> key -> entry
	hist       ring
	compactRev int64
	notify     chan struct{} // closed and replaced on every commit
}

const (
	objPrefix = "o/"
	revKey    = "m/rev"
	maxBatch  = 512
)

// DefaultGCInterval is Options.GCInterval's default.
const DefaultGCInterval = 15 * time.Second

// Open opens (or creates) the store in opts.Dir and loads it into memory.
func Open(opts Options) (*Store, error) {
	if opts.HistorySize <= 0 {
		opts.HistorySize = 50000
	}
	if opts.GCInterval <= 0 {
		opts.GCInterval = DefaultGCInterval
	}
	if opts.Logf == nil {
		opts.Logf = log.Printf
	}
	db, err := badger.Open(badgerOptions(opts))
	if err != nil {
		return nil, fmt.Errorf("open badger in %q: %w", opts.Dir, err)
	}
	s := &Store{
		db:     db,
		opts:   opts,
		reqs:   make(chan *request, maxBatch),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		data:   map[string]map[string]*Entry{},
		hist:   newRing(opts.HistorySize),
		notify: make(chan struct{}),
	}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	s.compactRev = s.rev
	go s.commitLoop()
	go s.gcLoop()
	return s, nil
}

// badgerOptions sizes badger for a small embedded process: its defaults
// reserve hundreds of megabytes (64 MB memtables, 256 MB block cache).
// Values over 256 bytes (every object) go to the value log, so the LSM tree
// holds only keys and value pointers: memtables stay small and compactions
// rewrite pointers, not objects. The store keeps every value in memory
// anyway, so badger's reads are only those of Open.
func badgerOptions(o Options) badger.Options {
	opts := badger.DefaultOptions(o.Dir).
		WithSyncWrites(true).
		WithMemTableSize(4 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(4 << 20).
		WithBaseLevelSize(16 << 20).
		WithValueLogFileSize(64 << 20).
		WithValueThreshold(256).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		WithCompression(options.None).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		WithLogger(badgerLogger{o.Logf}).
		WithLoggingLevel(badger.WARNING)
	if o.valueLogFileSize > 0 {
		opts = opts.WithValueLogFileSize(o.valueLogFileSize)
	}
	if o.memTableSize > 0 {
		opts = opts.WithMemTableSize(o.memTableSize)
	}
	if o.Dir == "" {
		// In memory there is no value log: every value must fit under
		// the threshold (at most a sixth of a memtable).
		opts = opts.WithInMemory(true).WithDir("").WithValueDir("").WithValueThreshold(512 << 10)
	}
	return opts
}

type badgerLogger struct{ logf func(string, ...any) }

func (l badgerLogger) Errorf(f string, a ...any) {
	l.logf("badger: "+strings.TrimSuffix(f, "\n"), a...)
}
func (l badgerLogger) Warningf(f string, a ...any) {
	l.logf("badger: "+strings.TrimSuffix(f, "\n"), a...)
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

func (s *Store) load() error {
	return s.db.View(func(txn *badger.Txn) error {
		if item, err := txn.Get([]byte(revKey)); err == nil {
			if err := item.Value(func(v []byte) error {
				r, n := binary.Varint(v)
				if n <= 0 {
					return fmt.Errorf("corrupt revision record")
				}
				s.rev = r
				return nil
			}); err != nil {
				return err
			}
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("read revision: %w", err)
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(objPrefix), PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			key := string(item.Key()[len(objPrefix):])
			raw, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("read %s: %w", key, err)
			}
			e, err := decodeEntry(key, raw)
			if err != nil {
				return err
			}
			if s.opts.Attrs != nil {
				e.Attrs = s.opts.Attrs(key, e.Value)
			}
			s.put(e)
			if e.ModRev > s.rev {
				s.rev = e.ModRev
			}
		}
		return nil
	})
}

func encodeEntry(e *Entry) []byte {
	buf := make([]byte, 0, len(e.Value)+2*binary.MaxVarintLen64)
	buf = binary.AppendVarint(buf, e.CreateRev)
	buf = binary.AppendVarint(buf, e.ModRev)
	return append(buf, e.Value...)
}

func decodeEntry(key string, raw []byte) (*Entry, error) {
	c, n := binary.Varint(raw)
	if n <= 0 {
		return nil, fmt.Errorf("corrupt record %s", key)
	}
	m, n2 := binary.Varint(raw[n:])
	if n2 <= 0 {
		return nil, fmt.Errorf("corrupt record %s", key)
	}
	return &Entry{Key: key, CreateRev: c, ModRev: m, Value: raw[n+n2:]}, nil
}

// bucket groups keys for listing: everything up to the second '/', so that
// "core/pods/ns/name" lives in "core/pods".
func bucket(key string) string {
	i := strings.IndexByte(key, '/')
	if i < 0 {
		return key
	}
	j := strings.IndexByte(key[i+1:], '/')
	if j < 0 {
		return key
	}
	return key[:i+1+j]
}

func (s *Store) put(e *Entry) {
	b := bucket(e.Key)
	m := s.data[b]
	if m == nil {
		m = map[string]*Entry{}
		s.data[b] = m
	}
	m[e.Key] = e
}

func (s *Store) del(key string) {
	if m := s.data[bucket(key)]; m != nil {
		delete(m, key)
	}
}

func (s *Store) lookup(key string) *Entry {
	return s.data[bucket(key)][key]
}

// Rev returns the current revision.
func (s *Store) Rev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// Get returns the entry for key.
func (s *Store) Get(key string) (Entry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.lookup(key)
	if e == nil {
		return Entry{}, false
	}
	return *e, true
}

// List returns the entries whose key starts with prefix, sorted by key, and
// the revision they were read at. The prefix must contain at least two '/'
// separated segments ("core/pods/" or "core/pods/ns/").
func (s *Store) List(prefix string) ([]Entry, int64) { return s.ListFunc(prefix, nil) }

// ListFunc is List keeping only the entries for which keep (if not nil)
// returns true. keep runs under the store's read lock and must not call
// the store; filtering before copying keeps selective lists cheap.
func (s *Store) ListFunc(prefix string, keep func(*Entry) bool) ([]Entry, int64) {
	s.mu.RLock()
	m := s.data[bucket(prefix)]
	n := len(m)
	if keep != nil {
		n = 0
	}
	out := make([]Entry, 0, n)
	for k, e := range m {
		if strings.HasPrefix(k, prefix) && (keep == nil || keep(e)) {
			out = append(out, *e)
		}
	}
	rev := s.rev
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	return out, rev
}

// Count returns how many keys start with prefix.
func (s *Store) Count(prefix string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for k := range s.data[bucket(prefix)] {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// Txn applies ops atomically and returns the revision they were written at
// and the resulting entries (for a Delete, the deleted entry as reported in its
// event). It returns a *CondError when a precondition fails.
func (s *Store) Txn(ctx context.Context, ops ...Op) (int64, []Entry, error) {
	if len(ops) == 0 {
		return 0, nil, errors.New("empty transaction")
	}
	r := &request{ops: ops, done: make(chan result, 1)}
	select {
	case s.reqs <- r:
		if f, ok := ctx.Value(submittedKey{}).(func()); ok {
			f()
		}
	case <-s.stop:
		return 0, nil, ErrClosed
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
	// Once queued, the write may commit; wait for its outcome regardless of
	// ctx so the caller never reports failure for a write that happened.
	select {
	case res := <-r.done:
		return res.rev, res.entries, res.err
	case <-s.done:
		return 0, nil, ErrClosed
	}
}

type submittedKey struct{}

// WithSubmitted returns ctx carrying f, which Txn calls once it has handed
// its transaction to the committer, before it waits for the commit: a
// server bounding the requests it works on can count a write as done with
// the CPU from then on.
func WithSubmitted(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, submittedKey{}, f)
}

// Close stops the committer and closes badger. Pending writes fail.
func (s *Store) Close() error {
	var err error
	s.closed.Do(func() {
		close(s.stop)
		<-s.done
		err = s.db.Close()
	})
	return err
}

func (s *Store) gcLoop() {
	t := time.NewTicker(s.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if s.opts.Dir == "" {
				continue
			}
			for s.db.RunValueLogGC(0.5) == nil {
			}
		}
	}
}
