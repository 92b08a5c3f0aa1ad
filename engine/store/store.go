// Package store defines the durable, ordered key-value transactions the engine is
// built on, and nothing else: no catalog, no SQL. Backends live in sub-packages
// (bolt: the embedded default; etcd: cluster mode; mem: unit tests) and all pass storetest.
package store

import (
	"context"
	"errors"
)

// Store runs serializable transactions over ordered byte keys.
//
// Update runs fn in a read-write transaction and commits it if fn returns nil.
// If fn returns an error or panics, or ctx is done before the commit, nothing fn
// wrote is visible to anyone, ever. fn may be called more than once (a backend
// may retry it after a conflict or when a group commit is split), so it must
// not have effects outside tx that it cannot repeat.
//
// View runs fn in a read-only transaction that sees one consistent snapshot.
type Store interface {
	View(ctx context.Context, fn func(tx Tx) error) error
	Update(ctx context.Context, fn func(tx Tx) error) error
	Close() error
}

// Tx is one transaction's view of the store. Byte slices handed to the caller
// (Get's result, Scan's k and v) are valid only until the transaction ends;
// copy what you keep.
type Tx interface {
	// Get returns the value of key, or nil and no error if key is absent.
	Get(key []byte) ([]byte, error)
	// Put sets key to value. Empty values are allowed and distinct from absent.
	Put(key, value []byte) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(key []byte) error
	// Scan calls fn for every key k with start <= k < end, in ascending key
	// order, or descending when reverse is set. A nil end means no upper bound.
	// Scan stops early, returning nil, when fn returns false, and returns fn's
	// error when fn fails.
	Scan(start, end []byte, reverse bool, fn func(k, v []byte) (bool, error)) error
}

// ErrReadOnly is returned by Put and Delete inside View.
var ErrReadOnly = errors.New("store: write in a read-only transaction")

// ErrClosed is returned by View and Update after Close.
var ErrClosed = errors.New("store: closed")

// ErrUnavailable is returned, wrapped, by a backend that cannot reach its
// servers or has no quorum (etcd). A commit that fails so may or may not
// have happened.
var ErrUnavailable = errors.New("store: unavailable")

// ErrTooLarge is returned, wrapped, when one key-value pair does not fit in
// a backend's request (etcd's request limit).
var ErrTooLarge = errors.New("store: key-value pair too large")

// PrefixEnd returns the smallest key greater than every key that starts with
// prefix, for use as Scan's end; nil if there is none (prefix is all 0xff).
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
