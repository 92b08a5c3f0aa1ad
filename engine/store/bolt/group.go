package bolt

// Group commit.
//
// An Update that finds nobody committing commits by itself, on its own
// goroutine: it runs fn, appends the record and syncs (a lone writer pays
// no goroutine handoffs). Otherwise it queues a call for the committer
// goroutine and waits. The committer takes every call queued so far (up to
// maxBatchSize), opens one read transaction on the bbolt file and, for each
// call in turn, hands the caller's goroutine a transaction over that file
// and the group's copy of the overlay (overlay.go); the caller runs fn on
// it and hands it back. The writes of a fn that fails are undone, so the
// calls after it see exactly what the successful ones wrote. Then the
// committer appends the group's writes
// to the log as one record, with one fdatasync (wal.go), and publishes the
// new overlay. While it syncs, new calls queue up and form the next group,
// so groups grow with the load and the sync time, and a lone Update is not
// delayed at all. A failed fn's error is reported after the commit if
// others wrote before it in the group, so that it never rests on writes
// that did not commit (if the commit fails, the fn gets that failure). A fn
// that panics (or calls runtime.Goexit) does so on its own goroutine, as it
// would without group commit; its call is dropped and the rest of the group
// goes on.
//
// The committer also starts the flushes that write the overlay into the
// bbolt file (one at a time, on their own goroutine, every FlushInterval or
// once flushBytes are logged) and, when one has committed, drops what it
// wrote from the overlay.
//
// This replaces bbolt's DB.Batch, which runs fns on its own goroutine (turning
// panics into errors and hanging its whole batch on runtime.Goexit) and closes
// a batch on a timer (MaxBatchDelay) rather than when the previous commit
// ends, which adds that delay to every Update once two run at a time.

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/sysemu/sysemu/engine/store"
)

const (
	// maxBatchSize caps the number of Updates in one commit.
	maxBatchSize = 1000
	// flushBytes of overlay start a flush before FlushInterval is up.
	flushBytes = 8 << 20
	// maxOverlayBytes: while flushes fail (a full disk), Updates fail once
	// the overlay holds this much.
	maxOverlayBytes = 64 << 20
	// flushRetry spaces out flushes after one failed.
	flushRetry = time.Second
)

// errAbandoned reports to the committer that fn panicked or exited its
// goroutine. Callers never see it.
var errAbandoned = errors.New("bolt: fn panicked or exited")

type groupCommitter struct {
	// mu is held by whoever commits, and guards the fields below head
	// (head is written under it too).
	mu sync.Mutex

	db         *bbolt.DB
	log        *wal
	head       atomic.Pointer[overlay] // read by View
	seq        uint64                  // the last record logged
	delay      time.Duration           // Options.MaxBatchDelay
	flushEvery time.Duration

	flushing  bool
	flushed   chan flushResult
	flushErr  error     // the last flush's failure; nil after a success
	lastFlush time.Time // when the last flush started

	calls    chan *call
	quit     chan struct{}
	exited   chan struct{}
	closeErr error // the final flush's failure
}

// call is one Update waiting in or running with a group.
type call struct {
	tx   chan *tx   // committer to caller: run fn on this
	ran  chan error // caller to committer: fn's result, or errAbandoned
	done chan error // committer to caller: Update's result
	err  error      // fn's failure, held until the group's commit
}

// flushResult is a flush's outcome: o, holding every record up to seq, is
// in the file, or err says why not. old are the log segments it made
// obsolete.
type flushResult struct {
	o   *overlay
	seq uint64
	old []string
	err error
}

func startGroupCommitter(db *bbolt.DB, log *wal, seq uint64, delay, flushEvery time.Duration) *groupCommitter {
	g := &groupCommitter{
		db:         db,
		log:        log,
		seq:        seq,
		delay:      delay,
		flushEvery: flushEvery,
		flushed:    make(chan flushResult, 1),
		calls:      make(chan *call),
		quit:       make(chan struct{}),
		exited:     make(chan struct{}),
	}
	g.head.Store(newOverlay())
	go g.loop()
	return g
}

// stop ends the committer after flushing everything logged into the file.
// No update may be running or start.
func (g *groupCommitter) stop() error {
	close(g.quit)
	<-g.exited
	return g.closeErr
}

// update runs fn, by itself or in a group commit. It runs fn on the calling
// goroutine.
func (g *groupCommitter) update(ctx context.Context, fn func(tx store.Tx) error) error {
	if g.mu.TryLock() {
		if g.flushErr == nil && g.head.Load().bytes < flushBytes {
			defer g.mu.Unlock()
			return g.commitAlone(ctx, fn)
		}
		g.mu.Unlock()
	}
	c := &call{tx: make(chan *tx), ran: make(chan error, 1), done: make(chan error, 1)}
	g.calls <- c
	for {
		select {
		case t := <-c.tx:
			c.runFn(ctx, fn, t)
		case err := <-c.done:
			return err
		}
	}
}

// runFn runs fn on t and reports the result to the committer.
func (c *call) runFn(ctx context.Context, fn func(tx store.Tx) error, t *tx) {
	if err := ctx.Err(); err != nil {
		c.ran <- err
		return
	}
	returned := false
	defer func() {
		if !returned {
			c.ran <- errAbandoned
		}
	}()
	err := fn(t)
	returned = true
	if err == nil {
		// A ctx done before the commit still cancels the Update.
		err = ctx.Err()
	}
	c.ran <- err
}

// run has c's goroutine run its fn on t and returns the result.
func (c *call) run(t *tx) error {
	c.tx <- t
	return <-c.ran
}

func (g *groupCommitter) loop() {
	defer close(g.exited)
	tick := time.NewTicker(g.flushEvery)
	defer tick.Stop()
	for {
		select {
		case c := <-g.calls:
			group := g.gather(c)
			g.mu.Lock()
			g.commit(group)
			if g.head.Load().bytes >= maxOverlayBytes && g.flushing {
				// Writes outrun the flushes: wait for the running one.
				g.flushDone(<-g.flushed)
			}
			g.mu.Unlock()
		case r := <-g.flushed:
			g.mu.Lock()
			g.flushDone(r)
			g.mu.Unlock()
		case <-tick.C:
			g.mu.Lock()
			g.startFlush()
			g.mu.Unlock()
		case <-g.quit:
			g.mu.Lock()
			g.closeErr = g.finish()
			g.mu.Unlock()
			return
		}
	}
}

// gather returns first and the calls queued behind it.
func (g *groupCommitter) gather(first *call) []*call {
	group := []*call{first}
	if g.delay <= 0 {
		for len(group) < maxBatchSize {
			select {
			case c := <-g.calls:
				group = append(group, c)
			default:
				return group
			}
		}
		return group
	}
	timer := time.NewTimer(g.delay)
	defer timer.Stop()
	for len(group) < maxBatchSize {
		select {
		case c := <-g.calls:
			group = append(group, c)
		case <-timer.C:
			return group
		}
	}
	return group
}

// commit runs group's calls in turn and logs what the successful ones wrote
// as one record.
func (g *groupCommitter) commit(group []*call) {
	head := g.head.Load()
	if g.flushErr != nil && head.bytes >= maxOverlayBytes {
		err := fmt.Errorf("bolt: %d MiB of logged writes wait for %s, which cannot take them: %w", head.bytes>>20, g.db.Path(), g.flushErr)
		for _, c := range group {
			c.done <- err
		}
		return
	}
	work := head.clone()
	var payload []byte
	var ok, held []*call
	err := g.db.View(func(btx *bbolt.Tx) error {
		base, applied := btx.Bucket([]byte(bucketName)), readApplied(btx)
		for _, c := range group {
			t := &tx{b: base, v: view{o: work, applied: applied}, seq: g.seq + 1}
			err := c.run(t)
			if err != nil {
				t.rollback()
			}
			switch {
			case err == errAbandoned:
				// The caller is unwinding its panic; nobody waits for done.
			case err != nil && len(payload) == 0:
				c.done <- err // fn saw only committed data: its error stands
			case err != nil:
				c.err = err
				held = append(held, c)
			default:
				payload = append(payload, t.ops...)
				ok = append(ok, c)
			}
		}
		return nil
	})
	if err == nil && len(payload) > 0 {
		err = g.record(payload, work)
	}
	for _, c := range ok {
		c.done <- err
	}
	for _, c := range held {
		c.done <- cmp.Or(err, c.err)
	}
}

// commitAlone runs fn and commits what it wrote. g.mu is held.
func (g *groupCommitter) commitAlone(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	work := g.head.Load().clone()
	var payload []byte
	err := g.db.View(func(btx *bbolt.Tx) error {
		t := &tx{b: btx.Bucket([]byte(bucketName)), v: view{o: work, applied: readApplied(btx)}, seq: g.seq + 1}
		if err := fn(t); err != nil {
			return err
		}
		payload = t.ops
		return ctx.Err() // a ctx done before the commit still cancels it
	})
	if err != nil || len(payload) == 0 {
		return err
	}
	return g.record(payload, work)
}

// record logs the next record and publishes work, the overlay with its
// writes. g.mu is held.
func (g *groupCommitter) record(payload []byte, work *overlay) error {
	seq := g.seq + 1
	if err := g.log.append(seq, payload); err != nil {
		return err
	}
	g.seq = seq
	g.head.Store(work)
	if work.bytes >= flushBytes {
		g.startFlush()
	}
	return nil
}

// startFlush writes the overlay into the file on another goroutine, unless
// a flush runs, there is nothing to write, or the last one failed less than
// flushRetry ago.
func (g *groupCommitter) startFlush() {
	o := g.head.Load()
	if g.flushing || o.t.Len() == 0 || g.flushErr != nil && time.Since(g.lastFlush) < flushRetry {
		return
	}
	g.lastFlush = time.Now()
	old, err := g.log.rotate(g.seq + 1)
	if err != nil {
		g.flushErr = err
		return
	}
	g.flushing = true
	seq := g.seq
	go func() {
		err := flushInto(g.db, o, seq)
		if err == nil {
			removeSegments(old)
		}
		g.flushed <- flushResult{o: o, seq: seq, old: old, err: err}
	}()
}

func (g *groupCommitter) flushDone(r flushResult) {
	g.flushing = false
	if r.err != nil {
		g.flushErr = r.err
		g.log.old = append(r.old, g.log.old...)
		return
	}
	g.flushErr = nil
	g.head.Store(g.head.Load().without(r.o, r.seq))
}

// finish waits for a running flush and flushes the rest; the log is then
// empty and removed. If that fails, the log stays for the next Open.
func (g *groupCommitter) finish() error {
	if g.flushing {
		g.flushDone(<-g.flushed)
	}
	g.log.close()
	if o := g.head.Load(); o.t.Len() > 0 {
		if err := flushInto(g.db, o, g.seq); err != nil {
			return fmt.Errorf("bolt: flush the log into %s: %w", g.db.Path(), err)
		}
	}
	return removeLog(g.log.dir)
}

// flushInto writes o, which holds every record up to seq, into db.
func flushInto(db *bbolt.DB, o *overlay, seq uint64) error {
	return db.Update(func(btx *bbolt.Tx) error {
		b := btx.Bucket([]byte(bucketName))
		var err error
		o.t.Ascend(func(e *entry) bool {
			if e.del {
				err = b.Delete(e.key)
			} else {
				err = b.Put(e.key, e.val)
			}
			return err == nil
		})
		if err != nil {
			return err
		}
		return btx.Bucket([]byte(logBucket)).Put([]byte(appliedKey), binary.BigEndian.AppendUint64(nil, seq))
	})
}

// readApplied returns the last record flushed into the file.
func readApplied(btx *bbolt.Tx) uint64 {
	v := btx.Bucket([]byte(logBucket)).Get([]byte(appliedKey))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// removeLog deletes every segment in dir.
func removeLog(dir string) error {
	firsts, err := segments(dir)
	if err != nil {
		return err
	}
	for _, f := range firsts {
		if err := os.Remove(segmentName(dir, f)); err != nil {
			return err
		}
	}
	return nil
}
