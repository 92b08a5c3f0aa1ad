// Package mem is an in-memory store.Store for unit tests.
//
// Committed data is an immutable two-level sorted structure (a list of
// sorted leaves). View reads the current version without locking; Update
// runs one at a time and copies the list and each leaf it touches on first
// write, so readers never see a transaction in progress. Nothing is persisted.
package mem

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sysemu/sysemu/engine/store"
)

// maxLeaf is the number of entries at which a leaf is split in two.
const maxLeaf = 256

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	data atomic.Pointer[tree] // the last committed version
	wmu  sync.Mutex           // serializes Update
	gen  uint64               // counts Updates, under wmu

	gate store.Gate
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	s := &Store{}
	s.data.Store(&tree{})
	return s
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := s.gate.Enter(ctx); err != nil {
		return err
	}
	defer s.gate.Leave()
	return fn(&tx{t: s.data.Load(), readOnly: true})
}

// Update implements store.Store. A panic in fn propagates; nothing fn wrote is
// kept.
func (s *Store) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := s.gate.Enter(ctx); err != nil {
		return err
	}
	defer s.gate.Leave()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.gen++
	tx := &tx{t: s.data.Load(), gen: s.gen}
	// A tx kept past the end of fn must not change what was committed.
	defer func() { tx.readOnly = true }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.data.Store(tx.t)
	return nil
}

// Close implements store.Store. It waits for running transactions and drops
// the data; closing again is a no-op.
func (s *Store) Close() error {
	if !s.gate.Close() {
		return nil
	}
	s.data.Store(&tree{})
	return nil
}

type entry struct{ k, v []byte }

// leaf is a non-empty run of entries in key order. It is immutable once the
// transaction that made it (gen) has ended.
type leaf struct {
	gen uint64
	es  []entry
}

// tree is the whole key space: leaves in key order, each non-empty. Like a
// leaf it is immutable once its transaction has ended.
type tree struct {
	gen    uint64
	leaves []*leaf
}

// pos is an entry's position: leaf i, entry j.
type pos struct{ i, j int }

// seek returns the position of the first key >= key (i == len(leaves) if
// there is none) and whether that key equals key.
func (t *tree) seek(key []byte) (pos, bool) {
	i, _ := slices.BinarySearchFunc(t.leaves, key, func(l *leaf, key []byte) int {
		return bytes.Compare(l.es[len(l.es)-1].k, key)
	})
	if i == len(t.leaves) {
		return pos{i, 0}, false
	}
	j, found := slices.BinarySearchFunc(t.leaves[i].es, key, func(e entry, key []byte) int {
		return bytes.Compare(e.k, key)
	})
	return pos{i, j}, found
}

func (t *tree) valid(p pos) bool { return p.i >= 0 && p.i < len(t.leaves) }

func (t *tree) at(p pos) entry { return t.leaves[p.i].es[p.j] }

func (t *tree) next(p pos) pos {
	if p.j++; p.j == len(t.leaves[p.i].es) {
		return pos{p.i + 1, 0}
	}
	return p
}

// prev steps back from p, which may be one past the end.
func (t *tree) prev(p pos) pos {
	if p.j > 0 {
		return pos{p.i, p.j - 1}
	}
	if p.i--; p.i < 0 {
		return p
	}
	return pos{p.i, len(t.leaves[p.i].es) - 1}
}

// tx is a transaction over t. In an Update, t starts as the committed
// version and is replaced by a private copy on the first write; gen marks the
// leaves this transaction owns and may change in place.
type tx struct {
	t        *tree
	gen      uint64
	readOnly bool
	writes   int // bumped by every Put and Delete, so Scan can notice them
}

func (tx *tx) Get(key []byte) ([]byte, error) {
	p, found := tx.t.seek(key)
	if !found {
		return nil, nil
	}
	return append([]byte{}, tx.t.at(p).v...), nil
}

func (tx *tx) Put(key, value []byte) error {
	if tx.readOnly {
		return store.ErrReadOnly
	}
	tx.writes++
	e := entry{bytes.Clone(key), append([]byte{}, value...)}
	if e.k == nil {
		e.k = []byte{}
	}
	t := tx.own()
	p, found := t.seek(key)
	if len(t.leaves) == 0 {
		t.leaves = []*leaf{{gen: tx.gen}}
	} else if p.i == len(t.leaves) {
		p = pos{p.i - 1, len(t.leaves[p.i-1].es)}
	}
	l := tx.ownLeaf(p.i)
	if found {
		l.es[p.j] = e
		return nil
	}
	l.es = slices.Insert(l.es, p.j, e)
	if len(l.es) >= maxLeaf {
		h := len(l.es) / 2
		right := &leaf{gen: tx.gen, es: slices.Clone(l.es[h:])}
		l.es = l.es[:h]
		t.leaves = slices.Insert(t.leaves, p.i+1, right)
	}
	return nil
}

func (tx *tx) Delete(key []byte) error {
	if tx.readOnly {
		return store.ErrReadOnly
	}
	tx.writes++
	p, found := tx.t.seek(key)
	if !found {
		return nil
	}
	t := tx.own()
	l := tx.ownLeaf(p.i)
	l.es = slices.Delete(l.es, p.j, p.j+1)
	if len(l.es) == 0 {
		t.leaves = slices.Delete(t.leaves, p.i, p.i+1)
	}
	return nil
}

// own makes tx.t private to the transaction.
func (tx *tx) own() *tree {
	if tx.t.gen != tx.gen {
		tx.t = &tree{gen: tx.gen, leaves: slices.Clone(tx.t.leaves)}
	}
	return tx.t
}

// ownLeaf makes leaf i of the private tree private too.
func (tx *tx) ownLeaf(i int) *leaf {
	l := tx.t.leaves[i]
	if l.gen != tx.gen {
		l = &leaf{gen: tx.gen, es: slices.Clone(l.es)}
		tx.t.leaves[i] = l
	}
	return l
}

// Scan implements store.Tx. If fn writes, Scan carries on from the key it
// last visited, so it sees those writes for keys it has not reached yet.
func (tx *tx) Scan(start, end []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	var p pos
	switch {
	case !reverse:
		p, _ = tx.t.seek(start)
	case end == nil:
		p = tx.t.prev(pos{len(tx.t.leaves), 0})
	default:
		p, _ = tx.t.seek(end)
		p = tx.t.prev(p)
	}
	for tx.t.valid(p) {
		e := tx.t.at(p)
		if reverse && bytes.Compare(e.k, start) < 0 ||
			!reverse && end != nil && bytes.Compare(e.k, end) >= 0 {
			return nil
		}
		writes := tx.writes
		more, err := fn(e.k, e.v)
		if err != nil || !more {
			return err
		}
		if tx.writes != writes {
			// p may be stale: find e.k again (e.k itself is never modified).
			var found bool
			if p, found = tx.t.seek(e.k); !found && !reverse {
				continue
			}
		}
		if reverse {
			p = tx.t.prev(p)
		} else {
			p = tx.t.next(p)
		}
	}
	return nil
}
