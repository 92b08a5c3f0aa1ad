package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
)

// writeLog writes records first.. (one per payload) into a new segment of a
// log with ID id.
func writeLog(t *testing.T, dir string, id, first uint64, payloads ...string) *wal {
	t.Helper()
	w := &wal{dir: dir, id: id, segSize: 4096, noSync: true}
	if err := w.start(first, 0); err != nil {
		t.Fatal(err)
	}
	for i, p := range payloads {
		if err := w.append(first+uint64(i), appendOp(nil, opPut, []byte("k"), []byte(p))); err != nil {
			t.Fatal(err)
		}
	}
	w.close()
	return w
}

// values returns the put values of recs, in order.
func values(t *testing.T, recs []record) []string {
	t.Helper()
	var got []string
	for _, r := range recs {
		err := decodeOps(r.payload, func(op byte, key, val []byte) { got = append(got, fmt.Sprint(r.seq, "=", string(val))) })
		if err != nil {
			t.Fatal(err)
		}
	}
	return got
}

func TestReadLog(t *testing.T) {
	const id = 77
	for _, tc := range []struct {
		name    string
		write   func(t *testing.T, dir string)
		applied uint64
		want    []string
		wantErr string
	}{{
		name:  "records in order",
		write: func(t *testing.T, dir string) { writeLog(t, dir, id, 1, "a", "b", "c") },
		want:  []string{"1=a", "2=b", "3=c"},
	}, {
		name:    "records up to applied skipped",
		write:   func(t *testing.T, dir string) { writeLog(t, dir, id, 1, "a", "b", "c") },
		applied: 2,
		want:    []string{"3=c"},
	}, {
		name: "a torn last record ends the log",
		write: func(t *testing.T, dir string) {
			writeLog(t, dir, id, 1, "a", "b", "c")
			corrupt(t, segmentName(dir, 1), -2) // inside the last record
		},
		want: []string{"1=a", "2=b"},
	}, {
		name: "a later segment replaces records from its first on",
		write: func(t *testing.T, dir string) {
			writeLog(t, dir, id, 5, "a", "b", "c")
			writeLog(t, dir, id, 7, "C", "d")
		},
		applied: 4,
		want:    []string{"5=a", "6=b", "7=C", "8=d"},
	}, {
		name: "a damaged record before the next segment loses records",
		write: func(t *testing.T, dir string) {
			writeLog(t, dir, id, 1, "a", "b", "c")
			corrupt(t, segmentName(dir, 1), segmentHeaderSize+headerSize) // record 1's payload
			writeLog(t, dir, id, 4, "d")
		},
		wantErr: "records 1 to 3 are missing",
	}, {
		name:    "records after applied missing",
		write:   func(t *testing.T, dir string) { writeLog(t, dir, id, 9, "a") },
		applied: 4,
		wantErr: "records 5 to 8 are missing",
	}, {
		name:    "another file's log",
		write:   func(t *testing.T, dir string) { writeLog(t, dir, 78, 1, "a") },
		wantErr: "belongs to another database file",
	}, {
		name: "a last segment cut short before its header",
		write: func(t *testing.T, dir string) {
			writeLog(t, dir, id, 1, "a")
			if err := os.WriteFile(segmentName(dir, 2), make([]byte, 4096), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		want: []string{"1=a"},
	}, {
		name: "an earlier segment without a header",
		write: func(t *testing.T, dir string) {
			if err := os.WriteFile(segmentName(dir, 1), []byte("garbage garbage garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
			writeLog(t, dir, id, 2, "b")
		},
		wantErr: "is not a log segment",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.write(t, dir)
			recs, err := readLog(dir, id, tc.applied)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, errDamagedLog) || !bytes.Contains([]byte(err.Error()), []byte(tc.wantErr)) {
					t.Fatalf("readLog: %v, %v; want an error containing %q", values(t, recs), err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := values(t, recs); !slices.Equal(got, tc.want) {
				t.Fatalf("readLog = %v, want %v", got, tc.want)
			}
		})
	}
}

// corrupt flips a byte of file at off (from the end of the records if
// negative: off bytes before the first zero after the header).
func corrupt(t *testing.T, file string, off int) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		end := len(bytes.TrimRight(b, "\x00"))
		off += end
	}
	b[off] ^= 0xff
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// An append that fails leaves the segment; the next starts a new one at the
// same record number, which replaces the failed record on reading.
func TestAppendAfterFailure(t *testing.T) {
	dir := t.TempDir()
	w := writeLog(t, dir, 1, 1, "a", "b")
	w.f = nil // as after a failed append of record 3, written in part
	f, err := os.OpenFile(segmentName(dir, 1), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("\x13\x00\x00\x00half a record"), w.off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for i, p := range []string{"c", "d"} {
		if err := w.append(3+uint64(i), appendOp(nil, opPut, []byte("k"), []byte(p))); err != nil {
			t.Fatal(err)
		}
	}
	w.close()
	recs, err := readLog(dir, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := values(t, recs), []string{"1=a", "2=b", "3=c", "4=d"}; !slices.Equal(got, want) {
		t.Fatalf("readLog = %v, want %v", got, want)
	}
	if !slices.Equal(w.old, []string{segmentName(dir, 1)}) {
		t.Fatalf("old segments %v, want the first", w.old)
	}
}

func TestDecodeOpsRejects(t *testing.T) {
	good := appendOp(appendOp(nil, opPut, []byte("key"), []byte("value")), opDelete, []byte("k2"), nil)
	if err := decodeOps(good, func(byte, []byte, []byte) {}); err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{good[:len(good)-1], good[:3], {'x', 1, 'k'}, {opPut, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}} {
		if err := decodeOps(b, func(byte, []byte, []byte) {}); !errors.Is(err, errDamagedLog) {
			t.Errorf("decodeOps(%q) = %v, want errDamagedLog", b, err)
		}
	}
}

// FuzzReadLog parses a segment of arbitrary bytes (it must not panic, and
// fails only with errDamagedLog), and a valid segment of records made from
// the input, cut at an arbitrary point with the bytes after it garbled:
// what it reads back is always a prefix of the records written, each whole.
func FuzzReadLog(f *testing.F) {
	f.Add([]byte("sysemuL1\x4d\x00\x00\x00\x00\x00\x00\x00"), []byte("a\x00bb\x00ccc"), uint16(40), byte(0))
	f.Add([]byte{}, []byte("payload"), uint16(0), byte(0xff))
	f.Add([]byte("garbage"), []byte("x\x00y"), uint16(1000), byte(1))
	f.Fuzz(func(t *testing.T, raw, data []byte, cut uint16, garble byte) {
		const id = 77
		for _, last := range []bool{false, true} {
			recs, err := parseSegment(raw, "raw", 1, id, last)
			if err != nil && !errors.Is(err, errDamagedLog) {
				t.Fatalf("parseSegment of arbitrary bytes: %v", err)
			}
			for _, r := range recs {
				if err := decodeOps(r.payload, func(byte, []byte, []byte) {}); err != nil && !errors.Is(err, errDamagedLog) {
					t.Fatal(err)
				}
			}
		}

		// A valid segment: one record per 0-separated part of data.
		seg := segmentHeader(id)
		var want [][]byte
		for i, part := range bytes.Split(data, []byte{0}) {
			op := appendOp(nil, opPut, fmt.Appendf(nil, "k%d", i), part)
			seg = append(seg, encodeRecord(uint64(i+1), op)...)
			want = append(want, op)
		}
		seg = append(seg, make([]byte, 64)...) // allocated, not written yet
		if at := int(cut); at < len(seg) {
			for i := at; i < len(seg); i++ {
				seg[i] ^= garble
			}
			seg = seg[:max(at, len(seg)/2)]
		}
		recs, err := parseSegment(seg, "valid", 1, id, true)
		if err != nil && !errors.Is(err, errDamagedLog) {
			t.Fatal(err)
		}
		if len(recs) > len(want) {
			t.Fatalf("read %d records, %d were written", len(recs), len(want))
		}
		for i, r := range recs {
			if r.seq != uint64(i+1) || !bytes.Equal(r.payload, want[i]) {
				t.Fatalf("record %d read back as %d %q, want %q", i+1, r.seq, r.payload, want[i])
			}
		}
	})
}
