package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// InsaneTableIDThreshold is BR's bound: IDs at or above it are left out of
// the maximum and the hash, and are always remapped.
const InsaneTableIDThreshold = math.MaxUint32

// PreallocIDs is TiDB BR's table-ID preallocation
// (br/pkg/restore/internal/prealloc_table_id): upstream IDs in
// [Start, InsaneTableIDThreshold) keep their value, every other ID gets
// ReusableBorder + k (k = 0, 1, ... in ascending upstream order), and the
// table-ID sequence is advanced to End. Hash is SHA-256 over the sorted IDs
// as big-endian u64; a retry must see the same IDs (ReuseCheckpoint).
type PreallocIDs struct {
	Start          uint64   `json:"Start"`
	ReusableBorder uint64   `json:"ReusableBorder"`
	End            uint64   `json:"End"`
	Hash           [32]byte `json:"Hash"`

	ids   []uint64 // every upstream ID, sorted, deduplicated
	maxID uint64   // the highest ID below the threshold
}

// NewPreallocIDs collects the upstream table IDs of a restore.
func NewPreallocIDs(ids []uint64) *PreallocIDs {
	p := &PreallocIDs{ids: slices.Compact(slices.Sorted(slices.Values(ids)))}
	h := sha256.New()
	for _, id := range p.ids {
		if id >= InsaneTableIDThreshold {
			continue
		}
		p.maxID = max(p.maxID, id)
		h.Write(binary.BigEndian.AppendUint64(nil, id))
	}
	copy(p.Hash[:], h.Sum(nil))
	p.ReusableBorder = p.maxID + 1
	return p
}

// Alloc fixes the allocation given start, the first ID the downstream
// sequence has not handed out. It returns how far the sequence advances:
// the new high-water mark End (the sequence stores the next free ID).
func (p *PreallocIDs) Alloc(start uint64) uint64 {
	p.Start = start
	p.ReusableBorder = max(p.ReusableBorder, start)
	k := uint64(0)
	for _, id := range p.ids {
		if !p.keeps(id) {
			k++
		}
	}
	// AdvanceGlobalIDs(reusableBorder - start + k); end = start + that.
	p.End = p.Start + (p.ReusableBorder - p.Start + k)
	return p.End
}

func (p *PreallocIDs) keeps(id uint64) bool {
	return id >= p.Start && id < InsaneTableIDThreshold
}

// Reuse takes a legacy allocation stored with a checkpoint for the same IDs,
// with BR's checks and error texts.
func (p *PreallocIDs) Reuse(legacy PreallocIDs) error {
	if legacy.ReusableBorder < p.maxID+1 {
		return fmt.Errorf("%w: prealloc IDs reusable border %d does not match with the tables max ID %d", ErrRestoreCheckpoint, legacy.ReusableBorder, p.maxID)
	}
	if legacy.Hash != p.Hash {
		return fmt.Errorf("%w: prealloc IDs hash mismatch", ErrRestoreCheckpoint)
	}
	p.Start, p.ReusableBorder, p.End = legacy.Start, legacy.ReusableBorder, legacy.End
	return nil
}

// Map returns the downstream ID of every upstream ID, checking that each
// lies in [Start, End).
func (p *PreallocIDs) Map() (map[uint64]uint64, error) {
	out := make(map[uint64]uint64, len(p.ids))
	next := p.ReusableBorder
	for _, id := range p.ids {
		down := id
		if !p.keeps(id) {
			down = next
			next++
		}
		if down < p.Start || down >= p.End {
			return nil, fmt.Errorf("%w: table ID %d is out of range [%d, %d)", ErrRestoreCheckpoint, down, p.Start, p.End)
		}
		out[id] = down
	}
	return out, nil
}
