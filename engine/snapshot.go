package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

	"github.com/sysemu/sysemu/engine/store"
)

// snapshotFormat names the file format of a metadata snapshot.
const snapshotFormat = "sysemu-metadata-snapshot/1"

type snapshotFile struct {
	Format  string          `json:"format"`
	Profile string          `json:"profile"`
	Entries []snapshotEntry `json:"entries"`
}

type snapshotEntry struct {
	Key   []byte `json:"k"`
	Value []byte `json:"v"`
}

// SaveSnapshot writes every metadata key-value pair (catalog, sequences,
// switches: GreptimeDB's "meta snapshot save") from one consistent view.
// Rows are not metadata and are not included. It returns the pair count.
func (e *Engine) SaveSnapshot(ctx context.Context, w io.Writer) (int, error) {
	f := snapshotFile{Format: snapshotFormat, Profile: e.State().Profile.Name}
	// Identity counters are written with their current values first, so the
	// snapshot holds them exactly rather than their reserved blocks.
	if err := e.FlushIdentities(ctx); err != nil {
		return 0, err
	}
	err := e.st.View(ctx, func(tx store.Tx) error {
		return tx.Scan(metaPrefix, store.PrefixEnd(metaPrefix), false, func(k, v []byte) (bool, error) {
			if !bytes.Equal(k, profileKey) {
				f.Entries = append(f.Entries, snapshotEntry{bytes.Clone(k), bytes.Clone(v)})
			}
			return true, nil
		})
	})
	if err != nil {
		return 0, err
	}
	enc := json.NewEncoder(w)
	return len(f.Entries), enc.Encode(&f)
}

// RestoreSnapshot replaces all metadata with a snapshot's, in one
// transaction. Rows stay: the tables created after the snapshot leave their
// storage behind as orphans, whose IDs CreateTable then refuses to reuse.
// A target that holds user databases, tables or a used table-ID sequence is
// not clean; restoring over it needs force.
func (e *Engine) RestoreSnapshot(ctx context.Context, a Actor, r io.Reader, force bool) (int, error) {
	var f snapshotFile
	if err := json.NewDecoder(r).Decode(&f); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	if f.Format != snapshotFormat {
		return 0, fmt.Errorf("%w: format %q, want %q", ErrBadSnapshot, f.Format, snapshotFormat)
	}
	p := e.State().Profile
	if f.Profile != p.Name {
		return 0, fmt.Errorf("%w: snapshot of profile %q, server runs %q", ErrBadSnapshot, f.Profile, p.Name)
	}
	for _, en := range f.Entries {
		if !bytes.HasPrefix(en.Key, metaPrefix) || bytes.Equal(en.Key, profileKey) {
			return 0, fmt.Errorf("%w: key %q is not metadata", ErrBadSnapshot, en.Key)
		}
	}
	// The counters a restore keeps are written with their current values
	// first: the nodes they stand for did not crash.
	if err := e.FlushIdentities(ctx); err != nil {
		return 0, err
	}
	err := e.update(ctx, func(c *change) error {
		if !force {
			clean, err := c.clean()
			if err != nil {
				return err
			}
			if !clean {
				return fmt.Errorf("%w: The target source is not clean, if you want to restore the metadata snapshot forcefully, please use --force option.", ErrTargetNotClean)
			}
		}
		var old [][]byte
		counters := map[string][]byte{}
		kept := map[string][]byte{}
		err := c.tx.Scan(metaPrefix, store.PrefixEnd(metaPrefix), false, func(k, v []byte) (bool, error) {
			if !bytes.Equal(k, profileKey) {
				old = append(old, bytes.Clone(k))
			}
			if isStoreCounter(k) {
				counters[string(k)] = bytes.Clone(v)
			}
			if keepsIdentity(k) {
				kept[string(k)] = bytes.Clone(v)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := c.tx.Delete(k); err != nil {
				return err
			}
		}
		for _, en := range f.Entries {
			if keepsIdentity(en.Key) {
				continue
			}
			if err := c.tx.Put(en.Key, en.Value); err != nil {
				return err
			}
		}
		for k, v := range kept {
			if err := c.tx.Put([]byte(k), v); err != nil {
				return err
			}
		}
		if err := keepHigher(c.tx, counters); err != nil {
			return err
		}
		s, err := e.load(c.tx, p)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadSnapshot, err)
		}
		s.Revision = c.old.Revision + 1
		c.next, c.resets = s, true
		// Tables the snapshot holds without stores get them now, as Open
		// would give them at the next start: a snapshot that cannot have
		// them (an exhausted gsto_no sequence) is refused here rather than
		// leaving a store the server can no longer open.
		if err := c.addMissingStores(); err != nil {
			return fmt.Errorf("%w: %v", ErrBadSnapshot, err)
		}
		c.event(a, EventSnapshotRestore, SeqTableID, int64(c.old.NextTableID()), int64(s.NextTableID()))
		return nil
	})
	if err == nil {
		e.rtMu.Lock()
		clear(e.rt)
		e.rtMu.Unlock()
	}
	return len(f.Entries), err
}

// clean reports whether the metadata holds nothing a user made.
func (c *change) clean() (bool, error) {
	for _, prefix := range [][]byte{dbPrefix, tablePrefix} {
		if found, err := hasPrefix(c.tx, prefix); err != nil || found {
			return false, err
		}
	}
	_, used, err := c.e.seqs[SeqTableID].stored(c.tx)
	return !used, err
}

// isStoreCounter reports whether k is the gsto_no sequence or a node's
// store-number sequence. Unlike the table-ID sequence — whose going back is
// the GreptimeDB hazard sysemu reproduces — these are never lowered by a
// restore: store numbers are never reused.
func isStoreCounter(k []byte) bool {
	return bytes.Equal(k, seqKey(SeqGstoNo)) || bytes.HasPrefix(k, seqKey(storeNoPrefix))
}

// keepsIdentity reports whether a restore keeps k as the target has it: every
// identity record but the Publisher's counters. The snapshot stands for a
// backup of the Publisher's database; the Subscribers' counters and the
// range pool (kept by the Distributor) are not in it, and the table's own
// counter (mode none) never goes back, because the rows it numbered stay.
func keepsIdentity(k []byte) bool {
	if !bytes.HasPrefix(k, identPrefix) {
		return false
	}
	rest := k[len(identPrefix):]
	return len(rest) != 12 || binary.BigEndian.Uint32(rest[8:]) != PublisherNode
}

// keepHigher writes back every counter in old whose value is above what the
// transaction now holds.
func keepHigher(tx store.Tx, old map[string][]byte) error {
	for k, v := range old {
		cur, err := tx.Get([]byte(k))
		if err != nil {
			return err
		}
		if len(v) == 8 && (len(cur) != 8 || binary.LittleEndian.Uint64(v) > binary.LittleEndian.Uint64(cur)) {
			if err := tx.Put([]byte(k), v); err != nil {
				return err
			}
		}
	}
	return nil
}
