package bolt

// Group commit, pipelined.
//
// An Update runs its fn on its own goroutine, under g.mu, over a read
// transaction on the bbolt file and the open group's copy of the overlay
// (overlay.go); the fn's writes join the open group's log record. Then, if
// no group is being logged, the Update leads: it closes the open group (a
// new one opens on top of its writes), appends the group's record to the
// log with one fdatasync (wal.go), publishes the group's overlay to Views
// and wakes the group's members. While it syncs, other Updates run their
// fns in the new open group, over the writes being synced, and wait; when
// the sync ends the leader hands the lead to one of them. So the fns of one
// group run while the previous group syncs, a lone Update commits with no
// goroutine handoff, and groups grow with the load and the sync time.
//
// Views see a group's writes only once they are logged. A sync that fails
// fails its group and the open group, whose fns ran on its writes; the open
// group starts again from what is logged. A fn that fails is undone; its
// error is reported at once if it saw only logged writes, else after the
// commit of the writes it saw (if that fails, it gets the failure). A fn
// that panics (or calls runtime.Goexit) is undone and does so on its own
// goroutine, as it would without group commit.
//
// The flushes that write the overlay into the bbolt file run one at a
// time, on their own goroutine, every FlushInterval or once flushBytes are
// logged; when one has committed, what it wrote leaves the overlay.
//
// This replaces bbolt's DB.Batch, which runs fns on its own goroutine (turning
// panics into errors and hanging its whole batch on runtime.Goexit) and closes
// a batch on a timer (MaxBatchDelay) rather than when the previous commit
// ends, which adds that delay to every Update once two run at a time.

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/sysemu/sysemu/engine/store"
)

const (
	// flushBytes of overlay start a flush before FlushInterval is up.
	flushBytes = 8 << 20
	// maxOverlayBytes: Updates wait for a running flush once the overlay
	// holds this much, and fail while flushes fail.
	maxOverlayBytes = 64 << 20
	// flushRetry spaces out flushes after one failed.
	flushRetry = time.Second
)

type groupCommitter struct {
	// mu guards the fields below db, and the log while no group is being
	// logged; the leader appends to the log without it.
	mu sync.Mutex

	db         *bbolt.DB
	log        *wal
	head       atomic.Pointer[overlay] // the logged writes, read by View
	seq        uint64                  // the last record logged
	delay      time.Duration           // Options.MaxBatchDelay
	flushEvery time.Duration

	open    *group // the group that fns join
	logging bool   // a leader logs a group (or is about to)

	flushing    bool
	flushWanted bool          // the interval passed while a group was logged
	flushEnded  chan struct{} // closed when the running flush ends
	flushed     chan flushResult
	flushErr    error     // the last flush's failure; nil after a success
	lastFlush   time.Time // when the last flush started
	unflushed   []string  // obsolete segments a failed flush did not remove

	quit     chan struct{}
	exited   chan struct{}
	closeErr error // the final flush's failure
}

// testHookAppend, set by tests, runs before a leader appends its record.
var testHookAppend func(*wal)

// group is the Updates of one log record.
type group struct {
	seq     uint64   // its record
	work    *overlay // the overlay with its writes
	payload []byte   // the record: its members' writes
	members int      // Updates that wait for its outcome
	lead    chan struct{}
	done    chan struct{} // closed once err is final
	err     error
}

func newGroup(seq uint64, work *overlay) *group {
	return &group{seq: seq, work: work, lead: make(chan struct{}, 1), done: make(chan struct{})}
}

// flushResult is a flush's outcome: every record up to seq is in the file,
// or err says why not. old are the log segments it made obsolete.
type flushResult struct {
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
		open:       newGroup(seq+1, newOverlay()),
		flushed:    make(chan flushResult, 1),
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

// update runs fn on the calling goroutine and commits what it wrote.
func (g *groupCommitter) update(ctx context.Context, fn func(tx store.Tx) error) error {
	g.mu.Lock()
	if err := g.admit(); err != nil {
		g.mu.Unlock()
		return err
	}
	gr := g.open
	err := g.run(ctx, gr, fn)
	if len(gr.payload) == 0 && !g.logging {
		g.mu.Unlock()
		return err // fn saw only logged writes
	}
	gr.members++
	lead := !g.logging
	g.logging = true
	g.mu.Unlock()
	if !lead {
		select {
		case <-gr.done:
			return cmp.Or(gr.err, err)
		case <-gr.lead:
		}
	}
	g.lead()
	return cmp.Or(gr.err, err)
}

// admit waits while the overlay holds more than a flush should take at
// once and a flush runs, and refuses writes while flushes fail. g.mu is
// held.
func (g *groupCommitter) admit() error {
	for g.head.Load().bytes >= maxOverlayBytes && g.flushing {
		ended := g.flushEnded
		g.mu.Unlock()
		<-ended
		g.mu.Lock()
	}
	if o := g.head.Load(); g.flushErr != nil && o.bytes >= maxOverlayBytes {
		return fmt.Errorf("bolt: %d MiB of logged writes wait for %s, which cannot take them: %w", o.bytes>>20, g.db.Path(), g.flushErr)
	}
	return nil
}

// run runs fn over gr's overlay and adds its writes to gr's record; the
// writes of a fn that fails are undone. g.mu is held, and released if fn
// panics.
func (g *groupCommitter) run(ctx context.Context, gr *group, fn func(tx store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	btx, err := g.db.Begin(false)
	if err != nil {
		return err
	}
	t := &tx{b: btx.Bucket([]byte(bucketName)), v: view{o: gr.work, applied: readApplied(btx)}, seq: gr.seq}
	returned := false
	defer func() {
		btx.Rollback()
		if !returned {
			t.rollback()
			g.mu.Unlock()
		}
	}()
	err = fn(t)
	returned = true
	if err == nil {
		// A ctx done before the commit still cancels the Update.
		err = ctx.Err()
	}
	if err != nil {
		t.rollback()
		return err
	}
	gr.payload = append(gr.payload, t.ops...)
	return nil
}

// lead logs the open group, publishes or fails it, and hands the lead to a
// member of the next group, if it has any.
func (g *groupCommitter) lead() {
	if g.delay > 0 {
		time.Sleep(g.delay)
	}
	g.mu.Lock()
	gr := g.open
	next := gr.seq
	if len(gr.payload) > 0 {
		next++
	}
	g.open = newGroup(next, gr.work.clone())
	g.mu.Unlock()

	var err error
	if len(gr.payload) > 0 {
		if testHookAppend != nil {
			testHookAppend(g.log)
		}
		err = g.log.append(gr.seq, gr.payload)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case err != nil:
		gr.err = err
		// The open group's fns ran on writes that are not logged.
		if g.open.members > 0 {
			g.open.err = err
			close(g.open.done)
		}
		g.open = newGroup(gr.seq, g.head.Load().clone())
	case len(gr.payload) > 0:
		g.seq = gr.seq
		g.head.Store(gr.work)
	}
	close(gr.done)
	if g.flushWanted || g.head.Load().bytes >= flushBytes {
		g.startFlush()
	}
	if g.open.members > 0 {
		g.open.lead <- struct{}{}
		return
	}
	g.logging = false
}

func (g *groupCommitter) loop() {
	defer close(g.exited)
	tick := time.NewTicker(g.flushEvery)
	defer tick.Stop()
	for {
		select {
		case r := <-g.flushed:
			g.mu.Lock()
			g.flushDone(r)
			g.mu.Unlock()
		case <-tick.C:
			g.mu.Lock()
			if g.logging {
				g.flushWanted = true // the leader starts it
			} else {
				g.startFlush()
			}
			g.mu.Unlock()
		case <-g.quit:
			g.mu.Lock()
			g.closeErr = g.finish()
			g.mu.Unlock()
			return
		}
	}
}

// startFlush writes the logged overlay into the file on another goroutine,
// unless a flush runs, there is nothing to write, or the last one failed
// less than flushRetry ago. g.mu is held and no group is being logged, or
// the caller leads.
func (g *groupCommitter) startFlush() {
	g.flushWanted = false
	o := g.head.Load()
	if g.flushing || o.t.Len() == 0 || g.flushErr != nil && time.Since(g.lastFlush) < flushRetry {
		return
	}
	g.lastFlush = time.Now()
	rotated, err := g.log.rotate(g.seq + 1)
	if err != nil {
		g.flushErr = err
		return
	}
	old := append(g.unflushed, rotated...)
	g.unflushed = nil
	g.flushing = true
	g.flushEnded = make(chan struct{})
	seq := g.seq
	go func() {
		err := flushInto(g.db, o, seq)
		if err == nil {
			removeSegments(old)
		}
		g.flushed <- flushResult{seq: seq, old: old, err: err}
	}()
}

// flushDone takes a flush's result. g.mu is held.
func (g *groupCommitter) flushDone(r flushResult) {
	g.flushing = false
	close(g.flushEnded)
	if r.err != nil {
		g.flushErr = r.err
		g.unflushed = append(r.old, g.unflushed...)
		return
	}
	g.flushErr = nil
	// A group being logged keeps what the flush wrote until the next flush.
	g.head.Store(g.head.Load().without(r.seq))
	g.open.work.prune(r.seq)
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
