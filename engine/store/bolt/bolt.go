// Package bolt is the embedded default store.Store, over go.etcd.io/bbolt:
// one file, one bucket holding every key, and in front of it a write-ahead
// log (the directory beside the file, named after it with "-wal").
//
// Concurrent Updates are group-committed, pipelined: they append one record
// to the log with one fdatasync while the next group's fns already run over
// their writes (see group.go and wal.go), and their writes wait in
// memory (overlay.go) until a flush writes them into the file, in the
// background about once a second. Open replays the log into the file; a
// clean Close leaves it empty and removes it. Each fn still runs on its
// caller's goroutine, so a panic in fn propagates from Update as usual, with
// its stack, and nothing fn wrote is committed; the rest of its group
// commits without it.
//
// Bolt-specific behaviour:
//   - Keys must be 1 to bbolt.MaxKeySize (32768) bytes long.
//   - Transactions do not nest: an Update inside an Update's fn deadlocks.
//     A long View holds up a flush that has to grow the file's memory map
//     (past Options.InitialMmapSize) until the View ends, and every
//     transaction that begins meanwhile with it, so never wait for an Update
//     inside a View either.
package bolt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/sysemu/sysemu/engine/store"
)

// bucketName is the one bucket holding all keys. logBucket holds
// appliedKey, the last log record flushed into the file, and logIDKey.
const (
	bucketName = "sysemu"
	logBucket  = "sysemu.log"
	appliedKey = "applied"
	logIDKey   = "id"
)

// Defaults for Options.
const (
	DefaultTimeout = time.Second
	// DefaultInitialMmapSize is 256 MiB.
	DefaultInitialMmapSize = 256 << 20
	// DefaultFlushInterval is how often logged writes are flushed into the
	// file.
	DefaultFlushInterval = time.Second
)

// ErrLocked is returned, wrapped, by Open when another process holds the
// database file.
var ErrLocked = errors.New("database file is locked by another process (is another sysemu running?)")

// ErrDamaged is returned, wrapped, by Open for a file that is truncated or
// holds a torn or corrupt page: it is never served.
var ErrDamaged = errors.New("database file is damaged (truncated, or a torn or corrupt page): restore it from a backup")

// readAhead reads the file once, sequentially, before the check touches
// every page through the memory map in tree order, one 4 KiB fault at a
// time. From a cold page cache that is what a start waits for: a 0.9 GB
// catalog (1M tables, 11M stores) opened in 12.5 s by faults alone, the
// file itself reads in 1.7 s. Errors are left to bbolt's reads.
func readAhead(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Read(buf); err != nil {
			return
		}
	}
}

// openVerified opens the file and checks it before anything reads it: the
// file must hold every page its meta page counts, and bbolt's consistency
// check (every page reachable once, page headers matching their position)
// must pass. Pages are memory-mapped, so reading past the end of a
// truncated file faults: the fault is turned into ErrDamaged rather than a
// crash.
func openVerified(path string, o *bbolt.Options) (db *bbolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				_ = db.Close()
			}
			db, err = nil, fmt.Errorf("%w: %v", ErrDamaged, r)
		}
	}()
	db, err = bbolt.Open(path, 0o600, o)
	if err != nil {
		if errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) || errors.Is(err, bolterrors.ErrVersionMismatch) {
			err = fmt.Errorf("%w: %v", ErrDamaged, err)
		}
		return nil, err
	}
	readAhead(path)
	err = db.View(func(tx *bbolt.Tx) error {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		if fi.Size() < tx.Size() {
			return fmt.Errorf("%w: the file has %d bytes, its pages need %d", ErrDamaged, fi.Size(), tx.Size())
		}
		var errs []error
		for e := range tx.Check() {
			if len(errs) < 3 {
				errs = append(errs, e)
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%w: %w", ErrDamaged, errors.Join(errs...))
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// Options configures Open. The zero value is the production setting.
type Options struct {
	// NoSync skips fsync on commit and flush: a crash of the machine may
	// lose or corrupt recent commits. For tests and benchmarks only.
	NoSync bool
	// Timeout is how long Open waits for the file lock; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxBatchDelay, if positive, makes each group commit wait up to this
	// long for more Updates to join it before it starts. By default (0) a
	// group is every Update that ran while the previous group was being
	// logged, which adapts to the disk's fsync time without adding latency.
	MaxBatchDelay time.Duration
	// InitialMmapSize is the size of the file's first memory map (address
	// space, not disk). A flush that outgrows the map must wait for every
	// open View to end, so a large map keeps long Views from stalling
	// flushes. 0 means DefaultInitialMmapSize, except on Windows, where bbolt
	// grows the file to the map size and 0 means bbolt's default (no
	// initial map); < 0 means bbolt's default everywhere.
	InitialMmapSize int
	// SegmentSize is the space each log segment allocates up front; 0 means
	// DefaultSegmentSize.
	SegmentSize int64
	// FlushInterval is how often logged writes are flushed into the file
	// (sooner once 8 MiB wait); 0 means DefaultFlushInterval.
	FlushInterval time.Duration
}

// Store is a store.Store in one bbolt file.
type Store struct {
	db *bbolt.DB
	gc *groupCommitter

	gate store.Gate
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the database file at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.InitialMmapSize == 0 && runtime.GOOS != "windows" {
		opts.InitialMmapSize = DefaultInitialMmapSize
	}
	opts.SegmentSize = cmp.Or(opts.SegmentSize, DefaultSegmentSize)
	opts.FlushInterval = cmp.Or(opts.FlushInterval, DefaultFlushInterval)
	db, err := openVerified(path, &bbolt.Options{
		Timeout:         opts.Timeout,
		NoSync:          opts.NoSync,
		InitialMmapSize: max(opts.InitialMmapSize, 0),
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt: open %s: %w (gave up after %v)", path, ErrLocked, opts.Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	var logID uint64
	err = db.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists([]byte(bucketName)); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists([]byte(logBucket))
		if err != nil {
			return err
		}
		if v := b.Get([]byte(logIDKey)); len(v) == 8 {
			logID = binary.BigEndian.Uint64(v)
			return nil
		}
		logID = rand.Uint64()
		return b.Put([]byte(logIDKey), binary.BigEndian.AppendUint64(nil, logID))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: open %s: create bucket: %w", path, err)
	}
	// The first commit starts the log's first segment, so that a data
	// directory on a full disk still opens and answers reads.
	log := &wal{dir: path + "-wal", id: logID, segSize: opts.SegmentSize, noSync: opts.NoSync}
	seq, err := replay(db, log.dir, logID)
	if errors.Is(err, errDamagedLog) {
		err = fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	return &Store{db: db, gc: startGroupCommitter(db, log, seq, opts.MaxBatchDelay, opts.FlushInterval)}, nil
}

// replay flushes the records in the log directory that the file lacks
// into it, removes the log and returns the last record's number.
func replay(db *bbolt.DB, dir string, logID uint64) (uint64, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	var applied uint64
	if err := db.View(func(btx *bbolt.Tx) error { applied = readApplied(btx); return nil }); err != nil {
		return 0, err
	}
	recs, err := readLog(dir, logID, applied)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", dir, err)
	}
	if len(recs) > 0 {
		o := newOverlay()
		for _, r := range recs {
			err := decodeOps(r.payload, func(op byte, key, val []byte) {
				o.set(&entry{key: key, val: val, seq: r.seq, del: op == opDelete})
			})
			if err != nil {
				return 0, fmt.Errorf("%s: record %d: %w", dir, r.seq, err)
			}
		}
		applied = recs[len(recs)-1].seq
		if err := flushInto(db, o, applied); err != nil {
			return 0, fmt.Errorf("replay the log %s: %w", dir, err)
		}
	}
	return applied, removeLog(dir)
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := s.gate.Enter(ctx); err != nil {
		return err
	}
	defer s.gate.Leave()
	o := s.gc.head.Load() // before the file's transaction: see overlay.go
	return s.db.View(func(btx *bbolt.Tx) error {
		t := &tx{b: btx.Bucket([]byte(bucketName)), v: view{o: o}}
		if o.t.Len() > 0 {
			t.v.applied = readApplied(btx)
		}
		return fn(t)
	})
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := s.gate.Enter(ctx); err != nil {
		return err
	}
	defer s.gate.Leave()
	return s.gc.update(ctx, fn)
}

// Close implements store.Store: it waits for running transactions and closes
// the file. Closing again is a no-op.
func (s *Store) Close() error {
	if !s.gate.Close() {
		return nil
	}
	ferr := s.gc.stop()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: close %s: %w", s.db.Path(), err)
	}
	return ferr
}

// tx is one transaction: the file as of a flush (b, read-only) and the
// overlay's entries newer than that flush (v). An Update's tx writes into
// its group's copy of the overlay, noting what each write replaced (undo),
// and encodes them (ops) for the log record seq.
type tx struct {
	b    *bbolt.Bucket
	v    view
	seq  uint64 // 0 in a View
	ops  []byte
	undo []*entry // pairs: what was set, what it replaced (or nil)
}

// rollback takes the tx's writes out of the overlay.
func (tx *tx) rollback() {
	for i := len(tx.undo) - 2; i >= 0; i -= 2 {
		tx.v.o.unset(tx.undo[i], tx.undo[i+1])
	}
	tx.undo, tx.ops = nil, nil
}

// Get implements store.Tx. Unlike Scan's slices, the result is a copy and
// stays valid after the transaction.
func (tx *tx) Get(key []byte) ([]byte, error) {
	if e := tx.v.get(key); e != nil {
		if e.del {
			return nil, nil
		}
		return append([]byte{}, e.val...), nil
	}
	k, v := tx.b.Cursor().Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		return nil, nil
	}
	return append([]byte{}, v...), nil
}

// Put implements store.Tx. Keys and values are checked against bbolt's
// limits here, as the flush that writes them into the file must not fail.
func (tx *tx) Put(key, value []byte) error {
	if tx.seq == 0 {
		return store.ErrReadOnly
	}
	if err := checkKey(key); err != nil {
		return fmt.Errorf("bolt: put %q: %w", key, err)
	}
	if int64(len(value)) > bbolt.MaxValueSize {
		return fmt.Errorf("bolt: put %q: %w", key, bolterrors.ErrValueTooLarge)
	}
	tx.write(opPut, key, value)
	return nil
}

// Delete implements store.Tx.
func (tx *tx) Delete(key []byte) error {
	if tx.seq == 0 {
		return store.ErrReadOnly
	}
	if err := checkKey(key); err != nil {
		return fmt.Errorf("bolt: delete %q: %w", key, err)
	}
	tx.write(opDelete, key, nil)
	return nil
}

func checkKey(key []byte) error {
	switch {
	case len(key) == 0:
		return bolterrors.ErrKeyRequired
	case len(key) > bbolt.MaxKeySize:
		return bolterrors.ErrKeyTooLarge
	}
	return nil
}

func (tx *tx) write(op byte, key, value []byte) {
	e := &entry{key: bytes.Clone(key), seq: tx.seq, del: op == opDelete}
	if op == opPut {
		e.val = append([]byte{}, value...) // not nil: empty and absent differ
	}
	tx.undo = append(tx.undo, e, tx.v.o.set(e))
	tx.ops = appendOp(tx.ops, op, key, value)
}

// Scan implements store.Tx: it merges the file's keys with the overlay's,
// the overlay's winning. The file is read-only underneath, so its cursor
// just moves on; the overlay is searched afresh after each key, so keys fn
// writes or deletes further on are seen as they are then, and none is
// skipped or visited twice.
func (tx *tx) Scan(start, end []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	c := tx.b.Cursor()
	var bk, bv []byte // the file's next key
	switch {
	case !reverse:
		bk, bv = c.Seek(start)
	case end == nil:
		bk, bv = tx.last(c)
	default:
		bk, bv = tx.before(c, end)
	}
	step := func() {
		if reverse {
			bk, bv = tx.prev(c, bk)
		} else {
			bk, bv = c.Next()
		}
	}
	var pos []byte // the last key visited
	// The overlay's next entry, searched again once visited or after fn
	// wrote (the overlay changed).
	var e *entry
	var known bool
	written := len(tx.ops)
	for {
		if bk != nil && (reverse && bytes.Compare(bk, start) < 0 || !reverse && end != nil && bytes.Compare(bk, end) >= 0) {
			bk = nil
		}
		if !known || len(tx.ops) != written {
			e = tx.v.next(start, end, pos, reverse)
			known, written = true, len(tx.ops)
		}
		var k, v []byte
		switch order := 0; {
		case bk == nil && e == nil:
			return nil
		case bk != nil && e != nil:
			order = bytes.Compare(bk, e.key)
			if reverse {
				order = -order
			}
			if order < 0 {
				k, v = bk, bv
				step()
				break
			}
			if order == 0 {
				step() // the overlay's entry replaces the file's
			}
			fallthrough
		case e != nil:
			pos, known = e.key, false
			if e.del {
				continue
			}
			k, v = e.key, e.val
		default:
			k, v = bk, bv
			step()
		}
		pos = k
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
}

// The helpers below work around two bugs in bbolt v1.5.0's Cursor, both
// caused by leaves emptied by deletes earlier in the same transaction (bbolt
// only rebalances on commit). Seek, First and Next skip such leaves, but:
//   - Prev returns nil on reaching one, as if at the first key;
//   - Last loops forever when every leaf is empty.

// before moves c to the greatest key < key.
func (tx *tx) before(c *bbolt.Cursor, key []byte) ([]byte, []byte) {
	at, _ := c.Seek(key)
	if at == nil {
		return tx.last(c)
	}
	return tx.prev(c, at)
}

// last moves c to the greatest key.
func (tx *tx) last(c *bbolt.Cursor) ([]byte, []byte) {
	if k, _ := tx.b.Cursor().First(); k == nil {
		return nil, nil
	}
	return c.Last()
}

// prev moves c from key at to the greatest key < at.
func (tx *tx) prev(c *bbolt.Cursor, at []byte) ([]byte, []byte) {
	for {
		if k, v := c.Prev(); k != nil {
			return k, v
		}
		// Either at was the first key, or c is on an empty leaf: another
		// Prev moves on to the leaf before it.
		if first, _ := tx.b.Cursor().First(); first == nil || bytes.Compare(first, at) >= 0 {
			return nil, nil
		}
	}
}
