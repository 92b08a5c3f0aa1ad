package bolt

// The write-ahead log.
//
// A group commit appends one record, the group's writes in order, and
// fdatasyncs once: one sync per commit, into space allocated beforehand, so
// the sync writes no file metadata either. (A bbolt commit syncs twice and
// writes every page on the way to the root.) The bbolt file catches up in
// the background (a flush: one bbolt transaction holding the overlay and the
// number of the last record in it), after which the log's older segments
// are deleted.
//
// The log is a directory of segments named by their first record's number.
// A segment begins with segmentMagic and the file's log ID (a random number
// kept in the file), so that a log is never replayed into another file (one
// copied in from elsewhere after a crash). Then come records:
//
//	crc32c (4, over the rest) | payload length (4) | record number (8) | payload
//
// and the payload is a list of operations: 'p' key value | 'd' key, each
// key and value preceded by its uvarint length. A zero header ends a
// segment: space allocated but not written yet reads as zeros.
//
// Reading the log back, a record that is cut short or fails its checksum
// ends its segment: it is the write that was under way at a crash, never
// acknowledged. A segment named N replaces records from N on in the
// segments before it (a new segment is started after an append fails, for
// the same record number). Records must follow each other without a gap
// from the file's last flushed record on, or the log is damaged.

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

const (
	// DefaultSegmentSize is the space a log segment takes up front.
	DefaultSegmentSize = 16 << 20
	headerSize         = 16
	segmentMagic       = "sysemuL1"
	segmentHeaderSize  = 16
	segmentSuffix      = ".wal"
	opPut, opDelete    = 'p', 'd'
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errDamagedLog is wrapped in ErrDamaged.
var errDamagedLog = errors.New("the write-ahead log is damaged")

// appendOp encodes one operation of a record's payload.
func appendOp(b []byte, op byte, key, val []byte) []byte {
	b = append(b, op)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	if op == opPut {
		b = binary.AppendUvarint(b, uint64(len(val)))
		b = append(b, val...)
	}
	return b
}

// decodeOps calls fn for each operation of a payload.
func decodeOps(p []byte, fn func(op byte, key, val []byte)) error {
	field := func() ([]byte, bool) {
		n, w := binary.Uvarint(p)
		if w <= 0 || n > uint64(len(p)-w) {
			return nil, false
		}
		f := p[w : w+int(n)]
		p = p[w+int(n):]
		return f, true
	}
	for len(p) > 0 {
		op := p[0]
		p = p[1:]
		key, ok := field()
		var val []byte
		if ok && op == opPut {
			val, ok = field()
		}
		if !ok || op != opPut && op != opDelete {
			return fmt.Errorf("%w: a record's operations do not decode", errDamagedLog)
		}
		fn(op, key, val)
	}
	return nil
}

// wal appends records to the current segment.
type wal struct {
	dir     string
	id      uint64 // the file's log ID
	segSize int64
	noSync  bool

	f    *os.File // the current segment; nil after a failed append
	name string   // its path
	off  int64    // where the next record goes
	old  []string // earlier segments, deleted by the next flush
}

func segmentName(dir string, first uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%016x%s", first, segmentSuffix))
}

// segments lists dir's segments in record order.
func segments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var firsts []uint64
	for _, e := range ents {
		hex, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(hex, 16, 64)
		if err != nil || len(hex) != 16 {
			return nil, fmt.Errorf("%w: unexpected file %s", errDamagedLog, filepath.Join(dir, e.Name()))
		}
		firsts = append(firsts, n)
	}
	slices.Sort(firsts)
	return firsts, nil
}

// record is one record read back.
type record struct {
	seq     uint64
	payload []byte
}

// readLog returns the records after applied, in order, of the log of the
// file with log ID id.
func readLog(dir string, id, applied uint64) ([]record, error) {
	firsts, err := segments(dir)
	if err != nil {
		return nil, err
	}
	var recs []record
	for _, first := range firsts {
		// This segment replaces records from first on.
		i, _ := slices.BinarySearchFunc(recs, first, func(r record, s uint64) int { return cmp.Compare(r.seq, s) })
		recs = recs[:i]
		name := segmentName(dir, first)
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		more, err := parseSegment(b, name, first, id, first == firsts[len(firsts)-1])
		if err != nil {
			return nil, err
		}
		recs = append(recs, more...)
	}
	i, _ := slices.BinarySearchFunc(recs, applied+1, func(r record, s uint64) int { return cmp.Compare(r.seq, s) })
	recs = recs[i:]
	for j, r := range recs {
		if r.seq != applied+1+uint64(j) {
			return nil, fmt.Errorf("%w: records %d to %d are missing", errDamagedLog, applied+1+uint64(j), r.seq-1)
		}
	}
	return recs, nil
}

// parseSegment returns the records of segment b (the file name, holding
// records from first on, the last segment if last) of the log with ID id.
func parseSegment(b []byte, name string, first, id uint64, last bool) ([]record, error) {
	if len(b) < segmentHeaderSize || string(b[:8]) != segmentMagic {
		if last && !slices.ContainsFunc(b, func(c byte) bool { return c != 0 }) {
			return nil, nil // started, but cut short before its header was written
		}
		return nil, fmt.Errorf("%w: %s is not a log segment", errDamagedLog, name)
	}
	if got := binary.LittleEndian.Uint64(b[8:]); got != id {
		return nil, fmt.Errorf("%w: %s belongs to another database file (log ID %x, the file's is %x): "+
			"move the log directory away if the file was replaced on purpose", errDamagedLog, name, got, id)
	}
	b = b[segmentHeaderSize:]
	var recs []record
	for seq := first; len(b) >= headerSize; seq++ {
		crc, n := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
		if crc == 0 && n == 0 || uint64(n) > uint64(len(b)-headerSize) ||
			crc32.Checksum(b[4:headerSize+int(n)], castagnoli) != crc {
			break // the end, or a write cut short
		}
		if got := binary.LittleEndian.Uint64(b[8:]); got != seq {
			return nil, fmt.Errorf("%w: %s holds record %d where %d belongs", errDamagedLog, name, got, seq)
		}
		recs = append(recs, record{seq: seq, payload: b[headerSize : headerSize+int(n)]})
		b = b[headerSize+int(n):]
	}
	return recs, nil
}

// segmentHeader is the beginning of a segment of the log with ID id.
func segmentHeader(id uint64) []byte {
	return binary.LittleEndian.AppendUint64([]byte(segmentMagic), id)
}

// encodeRecord returns record seq holding payload.
func encodeRecord(seq uint64, payload []byte) []byte {
	rec := make([]byte, headerSize+len(payload))
	binary.LittleEndian.PutUint32(rec[4:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(rec[8:], seq)
	copy(rec[headerSize:], payload)
	binary.LittleEndian.PutUint32(rec, crc32.Checksum(rec[4:], castagnoli))
	return rec
}

// start begins a new segment for records from first on.
func (w *wal) start(first uint64, size int64) error {
	name := segmentName(w.dir, first)
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if w.name != "" && w.name != name {
		w.old = append(w.old, w.name)
	}
	w.name = ""
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("bolt: log: %w", err)
	}
	if err := allocate(f, max(segmentHeaderSize+size, w.segSize)); err != nil {
		f.Close()
		os.Remove(name)
		return fmt.Errorf("bolt: log: allocate %s: %w", name, err)
	}
	if err := w.syncDir(); err != nil {
		f.Close()
		os.Remove(name)
		return err
	}
	if _, err := f.WriteAt(segmentHeader(w.id), 0); err != nil {
		f.Close()
		os.Remove(name)
		return fmt.Errorf("bolt: log: write %s: %w", name, err)
	}
	w.f, w.name, w.off = f, name, segmentHeaderSize
	return nil
}

// allocate reserves size bytes for f, so that writes into it cannot run out
// of space and syncs need not update the file's size. A file system without
// fallocate, or without that much space left, gets none: appends then grow
// the file (and fail, changing nothing, when the space runs out).
func allocate(f *os.File, size int64) error {
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.ENOSPC) {
		return nil
	}
	return err
}

func (w *wal) syncDir() error {
	if w.noSync {
		return nil
	}
	d, err := os.Open(w.dir)
	if err != nil {
		return fmt.Errorf("bolt: log: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("bolt: log: sync %s: %w", w.dir, err)
	}
	return nil
}

// append writes record seq and syncs it. After a failure the record may be
// partly on disk; the next append starts a new segment at the same number,
// which replaces it.
func (w *wal) append(seq uint64, payload []byte) error {
	rec := encodeRecord(seq, payload)
	if w.f == nil || w.off > segmentHeaderSize && w.off+int64(len(rec)) > w.segSize {
		if err := w.start(seq, int64(len(rec))); err != nil {
			return err
		}
	}
	_, err := w.f.WriteAt(rec, w.off)
	if err == nil && !w.noSync {
		err = syscall.Fdatasync(int(w.f.Fd()))
	}
	if err != nil {
		w.f.Close()
		w.f = nil
		return fmt.Errorf("bolt: log: write %s: %w", w.name, err)
	}
	w.off += int64(len(rec))
	return nil
}

// rotate starts a new segment at record first and returns the earlier ones,
// which the flush of every record before first makes obsolete.
func (w *wal) rotate(first uint64) ([]string, error) {
	if err := w.start(first, 0); err != nil {
		return nil, err
	}
	old := w.old
	w.old = nil
	return old, nil
}

func (w *wal) close() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// removeSegments deletes the given segments (obsolete after a flush).
func removeSegments(names []string) {
	for _, n := range names {
		os.Remove(n)
	}
}
