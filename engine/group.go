package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/sysemu/sysemu/engine/store"
)

// Group commit of metadata changes.
//
// Changes are serial: each one sees every change before it. But they need
// not each pay a store commit (an fsync, an etcd round): update queues its
// change, and whoever holds the metadata lock runs every queued change in
// one store transaction, each on the State the previous one left, and
// commits once. A change that fails is dropped from its group by running the
// group again without it (the store has no savepoints); if others ran
// before it in that transaction, it then runs on its own, so that its error
// never rests on writes that might not be committed. A lone change runs as
// before, under its caller's context.
//
// New relation files are created after every change of the group ran and
// before the commit, and synced after it (relfiles.go).

// maxGroup caps the changes of one group.
const maxGroup = 64

// pendingChange is one update waiting for, or done by, a group.
type pendingChange struct {
	ctx      context.Context
	fn       func(c *change) error
	finished bool // guarded by the metadata lock
	err      error
}

// errDropped aborts a group's transaction when one of its changes failed.
var errDropped = errors.New("a change of the group failed")

// update runs fn as one metadata change: serial with every other, durable
// when it returns nil, its State published. The transaction first checks
// that the in-memory State is the stored one (in a cluster another node may
// have changed the metadata since): if not, it reloads the State and runs
// again. fn may run more than once.
func (e *Engine) update(ctx context.Context, fn func(c *change) error) error {
	p := &pendingChange{ctx: ctx, fn: fn}
	e.queueMu.Lock()
	e.queue = append(e.queue, p)
	e.queueMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	for !p.finished {
		e.queueMu.Lock()
		n := min(len(e.queue), maxGroup)
		group := append([]*pendingChange(nil), e.queue[:n]...)
		e.queue = append(e.queue[:0], e.queue[n:]...)
		e.queueMu.Unlock()
		e.runGroup(ctx, group)
	}
	return p.err
}

// runGroup runs group in as few transactions as failures allow and finishes
// every change in it. e.mu is held; ctx is the running caller's.
func (e *Engine) runGroup(ctx context.Context, group []*pendingChange) {
	todo := [][]*pendingChange{group}
	for len(todo) > 0 {
		batch := todo[0]
		todo = todo[1:]
		var live []*pendingChange
		for _, p := range batch {
			if err := p.ctx.Err(); err != nil {
				p.finished, p.err = true, err
			} else {
				live = append(live, p)
			}
		}
		if len(live) == 0 {
			continue
		}
		// A lone change runs under its own context; a group must not fail
		// because one caller gave up.
		tctx := live[0].ctx
		if len(live) > 1 {
			tctx = context.WithoutCancel(ctx)
		}
		failed, err := e.commitGroup(tctx, live)
		switch {
		case failed < 0:
			for _, p := range live {
				p.finished, p.err = true, err
			}
		case failed == 0:
			// It saw only committed data: its error stands.
			live[0].finished, live[0].err = true, err
			todo = append([][]*pendingChange{live[1:]}, todo...)
		default:
			rest := append(append([]*pendingChange(nil), live[:failed]...), live[failed+1:]...)
			todo = append([][]*pendingChange{rest, {live[failed]}}, todo...)
		}
	}
}

// commitGroup runs the changes of group in one transaction, reloading a
// stale State first, and publishes the result. It returns the position of
// the first change that failed, with its error (the transaction then
// committed nothing), or -1 and the commit's outcome.
func (e *Engine) commitGroup(ctx context.Context, group []*pendingChange) (int, error) {
	for {
		changes, failed, ferr, err := e.groupOnce(ctx, group)
		if errors.Is(err, errStaleState) {
			if err := e.reload(ctx); err != nil {
				return -1, err
			}
			continue
		}
		if failed >= 0 && errors.Is(err, errDropped) {
			return failed, ferr
		}
		if err != nil {
			return -1, err
		}
		for _, c := range changes {
			for name, cache := range c.caches {
				e.seqs[name].cache = cache
			}
			if c.resets {
				for _, seq := range e.seqs {
					seq.reset()
				}
			}
		}
		e.state.Store(changes[len(changes)-1].next)
		e.syncFilesLater(changes)
		for _, c := range changes {
			for _, ev := range c.events {
				e.log.WithFields(map[string]any{"kind": ev.Kind, "sequence": ev.Sequence, "old": ev.Old, "new": ev.New,
					"user": ev.User, "statement": ev.Statement}).Info("admin change")
			}
			for _, f := range c.after {
				f()
			}
		}
		return -1, nil
	}
}

// groupOnce is one attempt at the group's transaction. When change i fails
// it returns i and the change's error, and errDropped (or the error of the
// store, if it failed for another reason).
func (e *Engine) groupOnce(ctx context.Context, group []*pendingChange) (changes []*change, failed int, ferr, err error) {
	err = e.st.Update(ctx, func(stx store.Tx) error {
		changes, failed, ferr = changes[:0], -1, nil
		old := e.state.Load()
		if p, ok := stx.(prefetcher); ok {
			if err := p.Prefetch(e.groupReads(old, e.seqs[SeqTableID].cache, len(group))); err != nil {
				return err
			}
		}
		m, err := readMeta(stx)
		if err != nil {
			return err
		}
		if m != old.meta {
			// Another node changed the metadata: catch up from the change
			// log, at this transaction's revision (cluster.go).
			s, err := e.catchUp(stx, old, m)
			if err != nil {
				return err
			}
			if s == nil {
				return errStaleState
			}
			e.adopt(s)
			old = e.state.Load()
			if old.meta != m {
				return errStaleState
			}
		}
		tx := &logTx{Tx: stx}
		// caches are the sequence caches as the changes so far leave them.
		caches := map[string]seqCache{}
		resets, jumped := false, false
		for i, p := range group {
			c := &change{e: e, tx: tx, old: old, next: old.clone(), caches: make(map[string]seqCache, len(caches))}
			for name, cache := range caches {
				c.caches[name] = cache
			}
			if err := runChange(p, c); err != nil {
				failed, ferr = i, err
				return errDropped
			}
			if err := c.recordSequences(); err != nil {
				return err
			}
			if err := c.writeEvents(); err != nil {
				return err
			}
			caches = c.caches
			if c.resets {
				for name, seq := range e.seqs {
					caches[name] = seqCache{initial: seq.initial, next: seq.initial}
				}
			}
			resets, jumped = resets || c.resets, jumped || c.jumped
			changes = append(changes, c)
			old = c.next
		}
		if i, err := createFiles(tx, changes); err != nil {
			failed, ferr = i, err
			return errDropped
		}
		m.rev++
		if resets || jumped {
			m.seqEpoch++
		}
		old.meta = m
		if err := writeLog(stx, m.rev, tx.entry); err != nil {
			return err
		}
		if p, ok := stx.(prefetcher); ok {
			next, ok := caches[SeqTableID]
			if !ok {
				next = e.seqs[SeqTableID].cache
			}
			p.PrefetchNext(e.groupReads(old, next, len(group)))
		}
		return writeMeta(stx, m)
	})
	return changes, failed, ferr, err
}

// groupReads is what a group of n changes on State s is likely to read,
// the table-ID sequence's cache being c: the revision, the change log past
// it, the sequences every change records, the store counters a new table
// takes, and whether the storage and identity keys of the next table IDs
// are free. e.mu is held.
func (e *Engine) groupReads(s *State, c seqCache, n int) ([][]byte, [][2][]byte) {
	keys := [][]byte{metaRevKey, seqKey(SeqGstoNo)}
	for name := range e.seqs {
		keys = append(keys, seqKey(name))
	}
	for _, node := range s.Nodes() {
		if node.Online {
			keys = append(keys, seqKey(storeNoSeq(uint32(node.ID))))
		}
	}
	ranges := [][2][]byte{logRange(s)}
	// The IDs left in the cached range, then, for n in all, those of the
	// ranges the sequence will likely reserve next (from the high-water
	// mark s knows), to the end of the range.
	id, end, hw := c.next, c.end, s.Sequences[SeqTableID]
	for k := 0; (k < n || id < end) && k < maxPrefetchIDs; k++ {
		if id >= end {
			id, end = hw, hw+e.seqs[SeqTableID].step
			hw = end
		}
		ranges = append(ranges, idRanges(id)...)
		id++
	}
	return keys, ranges
}

// maxPrefetchIDs bounds the table IDs a prefetch covers (two ranges each;
// an etcd transaction takes 128 operations).
const maxPrefetchIDs = 40

// idRanges are the key ranges a new table with ID id must find empty.
func idRanges(id uint64) [][2][]byte {
	var out [][2][]byte
	for _, k := range [][]byte{storageKey(id), identKey(id)} {
		out = append(out, [2][]byte{k, store.PrefixEnd(k)})
	}
	return out
}

// prefetchIDs reads at once whether the table IDs from id to the end of
// the cached range are free, when the group's prefetch guessed wrong (the
// store then has none of them): one round trip for the rest of the range
// instead of two per table.
func (c *change) prefetchIDs(id uint64) error {
	p, ok := c.tx.(prefetcher)
	if !ok {
		return nil
	}
	var ranges [][2][]byte
	for n := id; n < max(c.caches[SeqTableID].end, id+1) && n < id+maxPrefetchIDs; n++ {
		ranges = append(ranges, idRanges(n)...)
	}
	return p.Prefetch(nil, ranges)
}

// runChange runs p's function on c; a panic fails the change alone.
func runChange(p *pendingChange, c *change) (err error) {
	if err := p.ctx.Err(); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("metadata change panicked: %v", r)
		}
	}()
	return p.fn(c)
}

// recordSequences records in c.next every sequence's high-water mark as
// the transaction leaves it.
func (c *change) recordSequences() error {
	for name, seq := range c.e.seqs {
		floor := seq.cache.initial
		if cache, ok := c.caches[name]; ok {
			floor = cache.initial
		}
		if c.resets {
			floor = seq.initial
		}
		v, ok, err := seq.stored(c.tx)
		if err != nil {
			return err
		}
		if !ok || v < floor {
			v = floor
		}
		c.next.Sequences[name] = v
	}
	return nil
}
