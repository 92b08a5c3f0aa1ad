package engine

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/sysemu/sysemu/engine/store"
)

// Sequence names. The stored key is "__meta_seq-" + name, as in GreptimeDB.
const (
	SeqTableID    = "table_id"
	SeqDatabaseID = "database_id"
)

// casRetries is GreptimeDB's force_quit bound on next_range loops.
const casRetries = 1024

// sequence is GreptimeDB's Sequence (common/meta/src/sequence.rs): a node
// hands out IDs from a cached range [next, end) whose exclusive end — the
// high-water mark — is durable before any ID in it is used. The stored value
// is 8 bytes, u64 little-endian.
//
// The cache fields are guarded by the engine's metadata lock. They move only
// after the transaction that justified the move has committed: the methods
// return the new cache as a value and the caller installs it.
type sequence struct {
	name    string
	initial uint64 // configured initial value; IDs below it are reserved
	step    uint64
	max     uint64
	cache   seqCache
}

type seqCache struct {
	initial uint64 // moves up on jump_to, back to the configured value on reset
	next    uint64
	end     uint64 // the cached range is [next, end) when next < end
}

func newSequence(name string, initial, step uint64) *sequence {
	s := &sequence{name: name, initial: initial, step: step, max: math.MaxUint64}
	s.reset()
	return s
}

// reset makes the sequence behave like a freshly started node: no cached
// range. Used after anything outside the sequence rewrote its stored value.
func (s *sequence) reset() { s.cache = seqCache{initial: s.initial, next: s.initial} }

func (s *sequence) key() []byte { return seqKey(s.name) }

// stored reads the durable value; ok is false if the key is absent.
func (s *sequence) stored(tx store.Tx) (v uint64, ok bool, err error) {
	b, err := tx.Get(s.key())
	if err != nil || b == nil {
		return 0, false, err
	}
	if len(b) != 8 {
		return 0, false, fmt.Errorf("Unexpected sequence value: Not a valid u64 for '__meta_seq-%s': %v", s.name, b)
	}
	return binary.LittleEndian.Uint64(b), true, nil
}

func le(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// peek returns max(initial, stored), or initial when nothing is stored: the
// high-water mark. It never consumes a value.
func (s *sequence) peek(tx store.Tx) (uint64, error) {
	v, ok, err := s.stored(tx)
	if err != nil || !ok {
		return s.cache.initial, err
	}
	return max(v, s.cache.initial), nil
}

// next hands out one ID, reserving a new range in tx when the cached one is
// used up. It returns the ID and the cache to install after tx commits.
func (s *sequence) next(tx store.Tx) (uint64, seqCache, error) {
	c := s.cache
	if c.next < c.end {
		id := c.next
		c.next++
		return id, c, nil
	}
	start := c.next
	for range casRetries {
		step := min(s.step, s.max-start)
		if step == 0 {
			return 0, c, fmt.Errorf("%w: Failed to get sequence: next sequence exhausted, max: %d", ErrSequenceExhausted, s.max)
		}
		v, ok, err := s.stored(tx)
		if err != nil {
			return 0, c, err
		}
		// CompareAndPut(key, expect, start+step): expect absent when start is
		// the initial value, else the exact bytes of start.
		matches := (!ok && start == c.initial) || (ok && v == start)
		if matches {
			if err := tx.Put(s.key(), le(start+step)); err != nil {
				return 0, c, err
			}
			c.next, c.end = start+1, start+step
			return start, c, nil
		}
		if ok {
			start = max(v, c.initial)
		} else {
			start = c.initial
		}
	}
	return 0, c, fmt.Errorf("Failed to get sequence: __meta_seq-%s.next_range()", s.name)
}

// jumpTo is GreptimeDB's jump_to: next must be strictly greater than the
// current high-water mark.
func (s *sequence) jumpTo(tx store.Tx, next uint64) (old uint64, c seqCache, err error) {
	curr, err := s.peek(tx)
	if err != nil {
		return 0, s.cache, err
	}
	if next <= curr {
		return curr, s.cache, fmt.Errorf("%w: The next value %d is not greater than the current next value %d", ErrNotGreater, next, curr)
	}
	if err := tx.Put(s.key(), le(next)); err != nil {
		return curr, s.cache, err
	}
	return curr, seqCache{initial: next, next: next}, nil
}

// force writes v as the stored value whatever it was: the unsafe path
// (fault injection). The cache is reset as on a fresh node.
func (s *sequence) force(tx store.Tx, v uint64) (old uint64, err error) {
	old, err = s.peek(tx)
	if err != nil {
		return 0, err
	}
	return old, tx.Put(s.key(), le(v))
}
