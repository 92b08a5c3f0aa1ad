package bolt

// Group commit.
//
// One committer goroutine does all writing. Update queues a call and waits.
// The committer takes every call queued so far (up to maxBatchSize), begins
// one write transaction and, for each call in turn, hands the transaction to
// the caller's goroutine, which runs fn on it and hands it back. Then it
// commits once, with one fsync. While it commits, new calls queue up and form
// the next group, so groups grow with the load and the fsync time, and a lone
// Update is not delayed at all.
//
// bbolt has no savepoints, so when a fn fails the transaction is rolled back
// and the group is run again without that call. A call that failed after
// others had written in the same transaction is then run on its own, so that
// its error never rests on writes that might not be committed. A fn that
// panics (or calls runtime.Goexit) does so on its own goroutine, as it would
// without group commit; its call is dropped and the rest of the group goes on.
//
// This replaces bbolt's DB.Batch, which runs fns on its own goroutine (turning
// panics into errors and hanging its whole batch on runtime.Goexit) and closes
// a batch on a timer (MaxBatchDelay) rather than when the previous commit
// ends, which adds that delay to every Update once two run at a time.

import (
	"context"
	"errors"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/sysemu/sysemu/engine/store"
)

// maxBatchSize caps the number of Updates in one commit.
const maxBatchSize = 1000

// errAbandoned reports to the committer that fn panicked or exited its
// goroutine. Callers never see it.
var errAbandoned = errors.New("bolt: fn panicked or exited")

type groupCommitter struct {
	db     *bbolt.DB
	delay  time.Duration // Options.MaxBatchDelay
	calls  chan *call
	quit   chan struct{}
	exited chan struct{}
}

// call is one Update waiting in or running with a group.
type call struct {
	tx   chan *bbolt.Tx // committer to caller: run fn on this
	ran  chan error     // caller to committer: fn's result, or errAbandoned
	done chan error     // committer to caller: Update's result
}

func startGroupCommitter(db *bbolt.DB, delay time.Duration) *groupCommitter {
	g := &groupCommitter{
		db:     db,
		delay:  delay,
		calls:  make(chan *call),
		quit:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	go g.loop()
	return g
}

// stop ends the committer. No update may be running or start.
func (g *groupCommitter) stop() {
	close(g.quit)
	<-g.exited
}

// update runs fn in a group commit. It runs fn on the calling goroutine,
// possibly more than once.
func (g *groupCommitter) update(ctx context.Context, fn func(tx store.Tx) error) error {
	c := &call{tx: make(chan *bbolt.Tx), ran: make(chan error, 1), done: make(chan error, 1)}
	g.calls <- c
	for {
		select {
		case btx := <-c.tx:
			c.runFn(ctx, fn, btx)
		case err := <-c.done:
			return err
		}
	}
}

// runFn runs fn on btx and reports the result to the committer.
func (c *call) runFn(ctx context.Context, fn func(tx store.Tx) error, btx *bbolt.Tx) {
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
	err := fn(newTx(btx))
	returned = true
	if err == nil {
		// A ctx done before the commit still cancels the Update.
		err = ctx.Err()
	}
	c.ran <- err
}

// run has c's goroutine run its fn on btx and returns the result.
func (c *call) run(btx *bbolt.Tx) error {
	c.tx <- btx
	return <-c.ran
}

func (g *groupCommitter) loop() {
	defer close(g.exited)
	for {
		select {
		case c := <-g.calls:
			g.commit(g.gather(c))
		case <-g.quit:
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

// commit runs group in one transaction and commits it, dropping failed calls.
func (g *groupCommitter) commit(group []*call) {
	for len(group) > 0 {
		failed, failure := -1, error(nil)
		err := g.db.Update(func(btx *bbolt.Tx) error {
			for i, c := range group {
				if failure = c.run(btx); failure != nil {
					failed = i
					return failure
				}
			}
			return nil
		})
		if failed < 0 {
			for _, c := range group {
				c.done <- err // nil, or the commit's error
			}
			return
		}
		c := group[failed]
		group = slices.Delete(group, failed, failed+1)
		switch {
		case failure == errAbandoned:
			// The caller is unwinding its panic; nobody waits for done.
		case failed == 0:
			// fn saw only committed data: its error stands.
			c.done <- failure
		default:
			c.done <- g.db.Update(c.run)
		}
	}
}
