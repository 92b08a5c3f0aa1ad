package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sysemu/sysemu/engine/store"
)

// storageInfo is the value of a table's storage marker.
type storageInfo struct {
	Rows  uint64 // row count
	RowID uint64 // last hidden row id of a table without primary key
}

func putStorage(tx store.Tx, id uint64, s storageInfo) error {
	b := binary.BigEndian.AppendUint64(nil, s.Rows)
	b = binary.BigEndian.AppendUint64(b, s.RowID)
	return tx.Put(storageKey(id), b)
}

// getStorage reads a table's marker; ok is false when the table has no storage.
func getStorage(tx store.Tx, id uint64) (s storageInfo, ok bool, err error) {
	b, err := tx.Get(storageKey(id))
	if err != nil || b == nil {
		return s, false, err
	}
	if len(b) != 16 {
		return s, false, fmt.Errorf("table %d: corrupt storage marker", id)
	}
	s.Rows = binary.BigEndian.Uint64(b)
	s.RowID = binary.BigEndian.Uint64(b[8:])
	return s, true, nil
}

func rowCount(tx store.Tx, id uint64) (uint64, error) {
	s, _, err := getStorage(tx, id)
	return s.Rows, err
}

func storageErr(id uint64, err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: table id %d was dropped", ErrNoSuchTable, id)
}

// Op is the kind of a row edit.
type Op int

// Row edit kinds.
const (
	OpInsert Op = 1
	OpDelete Op = 2
)

// RowEdit is one change of one statement to a table's rows. Keys are encoded
// primary keys (AppendTuple); for a table without primary key, Key is the
// encoded full row and the engine appends a hidden row id on insert and
// deletes one matching row on delete.
type RowEdit struct {
	Op  Op
	Key []byte
	// Value is an insert's row. A delete's Value, when set, is the row as
	// the statement read it: the delete (an UPDATE's first half, say) fails
	// with *RowChangedError unless the row is still stored with exactly
	// that value, so a concurrent change is never overwritten unseen.
	Value []byte
	// Unique holds the encoded key of the row in each unique index, by index
	// position in Table.Indexes; a nil entry is not checked (NULL parts).
	Unique map[int][]byte
	// Part is the partition the row belongs to (0 when not partitioned).
	Part int
}

// DuplicateKeyError says which edit of a batch hit which existing key.
type DuplicateKeyError struct {
	Edit  int // position in the batch
	Index int // -1: the primary key; else the position in Table.Indexes
}

func (e *DuplicateKeyError) Error() string { return ErrDuplicateKey.Error() }
func (e *DuplicateKeyError) Unwrap() error { return ErrDuplicateKey }

// RowChangedError says which delete of a batch found its row changed or
// gone since the statement read it.
type RowChangedError struct {
	Edit int // position in the batch
}

func (e *RowChangedError) Error() string { return ErrRowChanged.Error() }
func (e *RowChangedError) Unwrap() error { return ErrRowChanged }

// ApplyEdits commits one statement's edits to table id as one transaction,
// all or nothing, together with the table's row count and its stores'
// counters. Identity values were handed out before (NextIdentity). Inserts of an existing key fail with a
// *DuplicateKeyError. A write that fills a store commits, with the store's
// split, as a metadata change.
func (e *Engine) ApplyEdits(ctx context.Context, id uint64, keyless bool, edits []RowEdit) error {
	if len(edits) == 0 {
		return nil
	}
	t := e.State().TableByID(id)
	if t == nil {
		return storageErr(id, nil)
	}
	if err := e.checkNotRestoring(id); err != nil {
		return err
	}
	err := e.st.Update(ctx, func(tx store.Tx) error {
		deltas, err := applyEdits(tx, id, keyless, edits)
		if err != nil {
			return err
		}
		return storeWrites(tx, t, deltas, e.storeRows, nil)
	})
	if !errors.Is(err, errNeedSplit) {
		return err
	}
	return e.update(ctx, func(c *change) error {
		old := c.old.TableByID(id)
		if old == nil {
			return storageErr(id, nil)
		}
		deltas, err := applyEdits(c.tx, id, keyless, edits)
		if err != nil {
			return err
		}
		n := *old
		if err := storeWrites(c.tx, &n, deltas, e.storeRows, func(head uint32) (uint32, error) {
			return c.split(&n, head)
		}); err != nil {
			return err
		}
		c.next.putTable(&n)
		return putTableRecord(c.tx, &n)
	})
}

// applyEdits writes edits and the table's storage marker; it returns the
// change in row count per partition.
func applyEdits(tx store.Tx, id uint64, keyless bool, edits []RowEdit) (map[int]int64, error) {
	deltas := map[int]int64{}
	err := func() error {
		s, ok, err := getStorage(tx, id)
		if err != nil || !ok {
			return storageErr(id, err)
		}
		for i, ed := range edits {
			if _, ok := deltas[ed.Part]; !ok {
				deltas[ed.Part] = 0
			}
			switch ed.Op {
			case OpInsert:
				key := ed.Key
				if keyless {
					s.RowID++
					key = binary.BigEndian.AppendUint64(append([]byte(nil), key...), s.RowID)
				} else if old, err := tx.Get(rowKey(id, key)); err != nil {
					return err
				} else if old != nil {
					return &DuplicateKeyError{Edit: i, Index: -1}
				}
				for idx, uk := range ed.Unique {
					if uk == nil {
						continue
					}
					if old, err := tx.Get(uniqueKey(id, idx, uk)); err != nil {
						return err
					} else if old != nil {
						return &DuplicateKeyError{Edit: i, Index: idx}
					}
					if err := tx.Put(uniqueKey(id, idx, uk), key); err != nil {
						return err
					}
				}
				if err := tx.Put(rowKey(id, key), ed.Value); err != nil {
					return err
				}
				s.Rows++
				deltas[ed.Part]++
			case OpDelete:
				found, err := deleteRow(tx, id, keyless, ed.Key, ed.Value)
				if err != nil {
					return err
				}
				if !found && ed.Value != nil {
					return &RowChangedError{Edit: i}
				}
				if !found {
					continue
				}
				for idx, uk := range ed.Unique {
					if uk != nil {
						if err := tx.Delete(uniqueKey(id, idx, uk)); err != nil {
							return err
						}
					}
				}
				s.Rows--
				deltas[ed.Part]--
			}
		}
		return putStorage(tx, id, s)
	}()
	return deltas, err
}

// deleteRow deletes the row with key (if want is set, only while its value
// is want), or for a keyless table one row whose encoded values are key.
func deleteRow(tx store.Tx, id uint64, keyless bool, key, want []byte) (bool, error) {
	if !keyless {
		old, err := tx.Get(rowKey(id, key))
		if err != nil || old == nil || (want != nil && !bytes.Equal(old, want)) {
			return false, err
		}
		return true, tx.Delete(rowKey(id, key))
	}
	var victim []byte
	prefix := rowKey(id, key)
	err := tx.Scan(prefix, store.PrefixEnd(prefix), false, func(k, _ []byte) (bool, error) {
		if len(k) == len(prefix)+8 {
			victim = append([]byte(nil), k...)
			return false, nil
		}
		return true, nil
	})
	if err != nil || victim == nil {
		return false, err
	}
	return true, tx.Delete(victim)
}

// KV is one stored row: its key (relative to the table) and value.
type KV struct {
	Key, Value []byte
}

// ReadRows returns up to limit rows of table id with start <= key < end (nil:
// unbounded) in key order, or descending when reverse is set. Long scans read
// in batches, each call resuming after the last key of the previous one, so
// no read transaction stays open while the caller works.
func (e *Engine) ReadRows(ctx context.Context, id uint64, start, end []byte, reverse bool, limit int) ([]KV, error) {
	var out []KV
	lo := rowKey(id, start)
	hi := store.PrefixEnd(rowPrefix(id))
	if end != nil {
		hi = rowKey(id, end)
	}
	n := len(rowPrefix(id))
	err := e.st.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		return tx.Scan(lo, hi, reverse, func(k, v []byte) (bool, error) {
			out = append(out, KV{Key: bytes.Clone(k[n:]), Value: bytes.Clone(v)})
			return len(out) < limit, nil
		})
	})
	return out, err
}

// GetRow returns the value of the row with primary key key, or nil.
func (e *Engine) GetRow(ctx context.Context, id uint64, key []byte) ([]byte, error) {
	var v []byte
	err := e.st.View(ctx, func(tx store.Tx) error {
		var err error
		v, err = tx.Get(rowKey(id, key))
		return err
	})
	return v, err
}

// LookupUnique returns the primary key stored for key in unique index idx, or nil.
func (e *Engine) LookupUnique(ctx context.Context, id uint64, idx int, key []byte) ([]byte, error) {
	var v []byte
	err := e.st.View(ctx, func(tx store.Tx) error {
		var err error
		v, err = tx.Get(uniqueKey(id, idx, key))
		return err
	})
	return v, err
}

// RowCount returns the number of rows of table id.
func (e *Engine) RowCount(ctx context.Context, id uint64) (uint64, error) {
	var n uint64
	err := e.st.View(ctx, func(tx store.Tx) error {
		var err error
		n, err = rowCount(tx, id)
		return err
	})
	return n, err
}

// TruncateTable removes every row of db.name and resets its identity
// counters; the table keeps its ID and gets a new relfilenode, as
// PostgreSQL's TRUNCATE does. It returns the number of rows removed.
func (e *Engine) TruncateTable(ctx context.Context, db, name string) (uint64, error) {
	return e.TruncateTableAs(ctx, Actor{}, db, name)
}
