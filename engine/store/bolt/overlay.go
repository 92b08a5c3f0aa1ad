package bolt

// The overlay: writes that are durable in the log but not yet in the bbolt
// file, newest per key, kept in a copy-on-write B-tree.
//
// A transaction reads the bbolt file as of some flush (the base) and an
// overlay, and takes an overlay entry over the base only if the entry's log
// record is newer than the base's last flushed record. A reader loads the
// overlay before it opens the bbolt transaction, and the committer removes
// entries from the overlay only after the flush that holds them committed,
// so whatever the order of the two, base and visible entries together are
// one state: the newer of the two.

import (
	"bytes"

	"github.com/google/btree"
)

// entry is the newest logged write of one key.
type entry struct {
	key []byte
	val []byte // nil for a delete
	seq uint64 // the log record that wrote it
	del bool
}

// entrySize is what an entry costs in memory, roughly.
func entrySize(e *entry) int { return len(e.key) + len(e.val) + 64 }

// overlay is immutable once published; writers change a clone. Entries are
// held by pointer, never changed, so that a clone's copy of a node is small.
type overlay struct {
	t     *btree.BTreeG[*entry]
	bytes int // sum of entrySize
}

func newOverlay() *overlay {
	return &overlay{t: btree.NewG(16, func(a, b *entry) bool { return bytes.Compare(a.key, b.key) < 0 })}
}

// clone returns a copy to change; o stays as it is.
func (o *overlay) clone() *overlay { return &overlay{t: o.t.Clone(), bytes: o.bytes} }

// set puts e and returns the entry it replaced, or nil.
func (o *overlay) set(e *entry) *entry {
	old, _ := o.t.ReplaceOrInsert(e)
	if old != nil {
		o.bytes -= entrySize(old)
	}
	o.bytes += entrySize(e)
	return old
}

// unset undoes set(e), which replaced old.
func (o *overlay) unset(e, old *entry) {
	o.bytes -= entrySize(e)
	if old != nil {
		o.t.ReplaceOrInsert(old)
		o.bytes += entrySize(old)
	} else {
		o.t.Delete(e)
	}
}

// without returns a copy of o without the entries of records up to seq,
// which a flush wrote into the file.
func (o *overlay) without(seq uint64) *overlay {
	n := o.clone()
	n.prune(seq)
	return n
}

// prune removes the entries of records up to seq from o.
func (o *overlay) prune(seq uint64) {
	var flushed []*entry
	o.t.Ascend(func(e *entry) bool {
		if e.seq <= seq {
			flushed = append(flushed, e)
		}
		return true
	})
	for _, e := range flushed {
		o.t.Delete(e)
		o.bytes -= entrySize(e)
	}
}

// view is an overlay as one transaction sees it: entries of records after
// applied (the base's last flushed record).
type view struct {
	o       *overlay
	applied uint64
}

// get returns key's visible entry, or nil.
func (v view) get(key []byte) *entry {
	e, _ := v.o.t.Get(&entry{key: key})
	if e == nil || e.seq <= v.applied {
		return nil
	}
	return e
}

// next returns the first visible entry after pos in scan order (from the
// range's own bound when pos is nil), within [start, end).
func (v view) next(start, end, pos []byte, reverse bool) *entry {
	var found *entry
	visit := func(e *entry) bool {
		if pos != nil && bytes.Equal(e.key, pos) || e.seq <= v.applied {
			return true
		}
		found = e
		return false
	}
	switch {
	case !reverse && pos == nil:
		v.o.t.AscendGreaterOrEqual(&entry{key: start}, visit)
	case !reverse:
		v.o.t.AscendGreaterOrEqual(&entry{key: pos}, visit)
	case pos != nil:
		v.o.t.DescendLessOrEqual(&entry{key: pos}, visit)
	case end != nil:
		v.o.t.DescendLessOrEqual(&entry{key: end}, func(e *entry) bool {
			return bytes.Equal(e.key, end) || visit(e)
		})
	default:
		v.o.t.Descend(visit)
	}
	if found == nil || !reverse && end != nil && bytes.Compare(found.key, end) >= 0 || reverse && bytes.Compare(found.key, start) < 0 {
		return nil
	}
	return found
}
