// Package bolt is the embedded default store.Store, over go.etcd.io/bbolt:
// one file, one bucket holding every key.
//
// Concurrent Updates are group-committed: they share one write transaction and
// one fsync (see group.go). Each fn still runs on its caller's goroutine, so a
// panic in fn propagates from Update as usual, with its stack, and nothing fn
// wrote is committed; the rest of its group commits without it.
//
// Bolt-specific behaviour:
//   - Keys must be 1 to bbolt.MaxKeySize (32768) bytes long.
//   - Transactions do not nest: an Update inside an Update's fn deadlocks.
//     A long View holds up an Update whose commit has to grow the file's
//     memory map (past Options.InitialMmapSize) until the View ends, so never
//     wait for an Update inside a View either.
package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/sysemu/sysemu/engine/store"
)

// bucketName is the one bucket holding all keys.
const bucketName = "sysemu"

// Defaults for Options.
const (
	DefaultTimeout = time.Second
	// DefaultInitialMmapSize is 256 MiB.
	DefaultInitialMmapSize = 256 << 20
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
	// NoSync skips fsync on commit: a crash may lose or corrupt recent
	// commits. For tests and benchmarks only.
	NoSync bool
	// Timeout is how long Open waits for the file lock; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxBatchDelay, if positive, makes each group commit wait up to this
	// long for more Updates to join it before it starts. By default (0) a
	// group is every Update that queued while the previous commit ran,
	// which adapts to the disk's fsync time without adding latency.
	MaxBatchDelay time.Duration
	// InitialMmapSize is the size of the file's first memory map (address
	// space, not disk). A commit that outgrows the map must wait for every
	// open View to end, so a large map keeps long Views from stalling
	// Updates. 0 means DefaultInitialMmapSize, except on Windows, where bbolt
	// grows the file to the map size and 0 means bbolt's default (no
	// initial map); < 0 means bbolt's default everywhere.
	InitialMmapSize int
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
	err = db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(bucketName))
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: open %s: create bucket: %w", path, err)
	}
	return &Store{db: db, gc: startGroupCommitter(db, opts.MaxBatchDelay)}, nil
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := s.gate.Enter(ctx); err != nil {
		return err
	}
	defer s.gate.Leave()
	return s.db.View(func(btx *bbolt.Tx) error {
		return fn(newTx(btx))
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
	s.gc.stop()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: close %s: %w", s.db.Path(), err)
	}
	return nil
}

type tx struct {
	b      *bbolt.Bucket
	writes int // bumped by every Put and Delete, so Scan can notice them
}

func newTx(btx *bbolt.Tx) *tx { return &tx{b: btx.Bucket([]byte(bucketName))} }

// Get implements store.Tx. Unlike Scan's slices, the result is a copy and
// stays valid after the transaction.
func (tx *tx) Get(key []byte) ([]byte, error) {
	k, v := tx.b.Cursor().Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		return nil, nil
	}
	return append([]byte{}, v...), nil
}

// Put implements store.Tx.
func (tx *tx) Put(key, value []byte) error {
	if !tx.b.Writable() {
		return store.ErrReadOnly
	}
	tx.writes++
	// bbolt copies key but keeps value until the commit.
	if err := tx.b.Put(key, append([]byte{}, value...)); err != nil {
		return fmt.Errorf("bolt: put %q: %w", key, err)
	}
	return nil
}

// Delete implements store.Tx.
func (tx *tx) Delete(key []byte) error {
	if !tx.b.Writable() {
		return store.ErrReadOnly
	}
	tx.writes++
	if err := tx.b.Delete(key); err != nil {
		return fmt.Errorf("bolt: delete %q: %w", key, err)
	}
	return nil
}

// Scan implements store.Tx. If fn writes, Scan seeks back to the key it last
// visited and carries on from there, so that it neither skips nor revisits
// keys (a bbolt cursor is not safe to use across writes).
func (tx *tx) Scan(start, end []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	c := tx.b.Cursor()
	var k, v []byte
	switch {
	case !reverse:
		k, v = c.Seek(start)
	case end == nil:
		k, v = tx.last(c)
	default:
		k, v = tx.before(c, end)
	}
	for k != nil {
		if reverse && bytes.Compare(k, start) < 0 ||
			!reverse && end != nil && bytes.Compare(k, end) >= 0 {
			return nil
		}
		writes := tx.writes
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
		// k stays valid for the whole transaction, even across writes.
		switch {
		case tx.writes != writes && reverse:
			k, v = tx.before(c, k)
		case tx.writes != writes:
			at, atv := c.Seek(k)
			if bytes.Equal(at, k) {
				k, v = c.Next()
			} else {
				k, v = at, atv // k was deleted
			}
		case reverse:
			k, v = tx.prev(c, k)
		default:
			k, v = c.Next()
		}
	}
	return nil
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
