package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sysemu/sysemu/engine/store/mem"
)

// PreallocIDs against BR's prealloc_table_id test inputs: the IDs of the
// backup and the downstream's current global ID (TiDB's value is the max
// used ID, so start = global + 1). Kept IDs are the ones in [start, 2^32);
// the others get reusableBorder + k.
func TestPreallocIDs(t *testing.T) {
	cases := []struct {
		ids     []uint64
		global  uint64 // TiDB's GetGlobalID(): the highest ID handed out
		kept    []uint64
		mapping map[uint64]uint64
		end     uint64
	}{
		{ids: []uint64{1, 2, 5, 6, 7}, global: 6, kept: []uint64{7},
			mapping: map[uint64]uint64{1: 8, 2: 9, 5: 10, 6: 11, 7: 7}, end: 12},
		{ids: []uint64{4, 6, 9, 2}, global: 1, kept: []uint64{2, 4, 6, 9},
			mapping: map[uint64]uint64{2: 2, 4: 4, 6: 6, 9: 9}, end: 10},
		{ids: []uint64{1, 2, 3, 4}, global: 5, kept: nil,
			mapping: map[uint64]uint64{1: 6, 2: 7, 3: 8, 4: 9}, end: 10},
		{ids: []uint64{1, 2, 5, 6, 1 << 50, 1<<50 + 2479}, global: 3, kept: []uint64{5, 6},
			mapping: map[uint64]uint64{1: 7, 2: 8, 5: 5, 6: 6, 1 << 50: 9, 1<<50 + 2479: 10}, end: 11},
		{ids: []uint64{1, 2, 5, 6, 1 << 50, 1<<50 + 2479}, global: 100, kept: nil,
			mapping: map[uint64]uint64{1: 101, 2: 102, 5: 103, 6: 104, 1 << 50: 105, 1<<50 + 2479: 106}, end: 107},
	}
	for _, tc := range cases {
		p := NewPreallocIDs(tc.ids)
		end := p.Alloc(tc.global + 1)
		if end != tc.end || p.End != tc.end {
			t.Errorf("%v at %d: end %d, want %d", tc.ids, tc.global, end, tc.end)
		}
		got, err := p.Map()
		if err != nil {
			t.Fatalf("%v: %v", tc.ids, err)
		}
		for up, down := range tc.mapping {
			if got[up] != down {
				t.Errorf("%v at %d: %d -> %d, want %d", tc.ids, tc.global, up, got[up], down)
			}
		}
		for _, k := range tc.kept {
			if got[k] != k {
				t.Errorf("%v: %d should keep its ID", tc.ids, k)
			}
		}
		// A retry over the same IDs reuses the allocation.
		q := NewPreallocIDs(tc.ids)
		if err := q.Reuse(*p); err != nil || q.End != p.End {
			t.Errorf("reuse: %v", err)
		}
	}
}

func TestPreallocIDsReuseErrors(t *testing.T) {
	p := NewPreallocIDs([]uint64{1024, 1030})
	p.Alloc(2000)
	other := NewPreallocIDs([]uint64{1024, 1031})
	if err := other.Reuse(*p); err == nil || !strings.Contains(err.Error(), "prealloc IDs hash mismatch") {
		t.Errorf("hash: %v", err)
	}
	bigger := NewPreallocIDs([]uint64{1024, 5000})
	if err := bigger.Reuse(*p); err == nil || !strings.Contains(err.Error(), "prealloc IDs reusable border 2000 does not match with the tables max ID 5000") {
		t.Errorf("border: %v", err)
	}
	bad := *p
	bad.End = 2001
	q := NewPreallocIDs([]uint64{1024, 1030})
	if err := q.Reuse(bad); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Map(); err == nil || !strings.Contains(err.Error(), "table ID 2001 is out of range [2000, 2001)") {
		t.Errorf("range: %v", err)
	}
}

func rowsTable(t *testing.T, e *Engine, db, name string, n int) *Table {
	t.Helper()
	tb, err := e.CreateTable(context.Background(), TableSpec{
		Database: db, Name: name,
		Columns:    []Column{{Name: "id", Type: "bigint"}, {Name: "v", Type: "varchar(20)"}},
		PrimaryKey: []string{"id"},
		Indexes:    []Index{{Name: "uv", Unique: true, Columns: []IndexColumn{{Name: "v"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var edits []RowEdit
	for i := range n {
		k, _ := AppendTuple(nil, int64(i))
		v, _ := AppendTuple(nil, int64(i), "v"+strings.Repeat("x", i%7)+string(rune('a'+i%26)))
		u, _ := AppendTuple(nil, int64(i), "u")
		edits = append(edits, RowEdit{Op: OpInsert, Key: k, Value: v, Unique: map[int][]byte{0: u}})
	}
	if err := e.ApplyEdits(context.Background(), tb.ID, false, edits); err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	up := open(t, mem.New())
	mustDB(t, up, "shop")
	a := rowsTable(t, up, "shop", "a", 250)
	b := rowsTable(t, up, "shop", "b", 30)
	dir := filepath.Join(t.TempDir(), "bk")
	res, err := up.Backup(ctx, dir, []string{"shop"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tables != 2 || res.Ranges != 4 || res.Rows != 280 {
		t.Fatalf("backup: %+v", res)
	}
	if _, err := up.Backup(ctx, dir, nil, 100); !errors.Is(err, ErrBadBackup) {
		t.Errorf("second backup into the same dir: %v", err)
	}

	// Downstream's next ID (1024) is below the upstream IDs' border: the
	// IDs at or above 1024 are kept.
	down := open(t, mem.New())
	mustDB(t, down, "other")
	mustCreate(t, down, "other", "x") // 1024, next 1034
	r, err := down.Restore(ctx, admin, dir, RestoreOptions{Concurrency: 2, CheckpointInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ranges != 4 || r.Skipped != 0 || r.Rows != 280 {
		t.Errorf("restore: %+v", r)
	}
	for _, up := range []*Table{a, b} {
		var found bool
		for _, m := range r.IDMap {
			if m.Kind == MapTable && m.Upstream == up.ID {
				found = true
				if m.Downstream < 1034 {
					t.Errorf("%s remapped to %d, below the downstream's next ID", up.Name, m.Downstream)
				}
			}
		}
		if !found {
			t.Errorf("no map entry for %d", up.ID)
		}
	}
	ta := down.State().Table("shop", "a")
	if n, _ := down.RowCount(ctx, ta.ID); n != 250 {
		t.Errorf("rows %d", n)
	}
	us, _ := up.TableChecksum(ctx, a.ID)
	ds, _ := down.TableChecksum(ctx, ta.ID)
	if us != ds {
		t.Errorf("checksum %+v vs %+v", us, ds)
	}
	if down.State().NextTableID() <= ta.ID {
		t.Errorf("sequence %d not past %d", down.State().NextTableID(), ta.ID)
	}
	// A second run of the same backup starts a new restore: the tables
	// exist, rows are rewritten with the same values.
	r2, err := down.Restore(ctx, admin, dir, RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := down.RowCount(ctx, ta.ID); n != 250 || r2.RestoreID != r.RestoreID+1 {
		t.Errorf("second restore: rows %d, id %d", n, r2.RestoreID)
	}
}

func TestRestoreResumeAndRecreatedTable(t *testing.T) {
	ctx := context.Background()
	up := open(t, mem.New())
	mustDB(t, up, "shop")
	rowsTable(t, up, "shop", "a", 300)
	rowsTable(t, up, "shop", "b", 300)
	dir := filepath.Join(t.TempDir(), "bk")
	if _, err := up.Backup(ctx, dir, nil, 50); err != nil {
		t.Fatal(err)
	}
	// Break a range file of table b: the first run fails there after a's
	// ranges were checkpointed (concurrency 1: in order).
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, m.Tables[1].Ranges[2].File)
	good, _ := os.ReadFile(broken)
	os.WriteFile(broken, append([]byte{1}, good...), 0o644)

	down := open(t, mem.New())
	_, err = down.Restore(ctx, admin, dir, RestoreOptions{Concurrency: 1, CheckpointInterval: time.Hour})
	if !errors.Is(err, ErrBadBackup) {
		t.Fatalf("want a checksum error, got %v", err)
	}
	cps, _ := down.Checkpoints(ctx)
	if len(cps) != 8 { // a: 6 ranges, b: 2 before the broken one; flushed on the error exit
		t.Fatalf("checkpoints after failure: %d", len(cps))
	}
	// Drop and re-create b: its checkpoint entries (old ID) are ignored.
	oldB := down.State().Table("shop", "b")
	if err := down.DropTable(ctx, "shop", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := down.CreateTable(ctx, TableSpec{Database: "shop", Name: "b", Columns: oldB.Columns, PrimaryKey: oldB.PrimaryKey, Indexes: oldB.Indexes}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(broken, good, 0o644)
	r, err := down.Restore(ctx, admin, dir, RestoreOptions{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Resumed || r.Skipped != 6 || r.RestoredRows != 300 {
		t.Errorf("resume: %+v", r)
	}
	nb := down.State().Table("shop", "b")
	if nb.ID == oldB.ID {
		t.Fatal("re-created table kept its ID")
	}
	if n, _ := down.RowCount(ctx, nb.ID); n != 300 {
		t.Errorf("b rows %d", n)
	}
	probs, err := down.CheckIDs(ctx)
	if err != nil || len(probs) != 0 {
		t.Errorf("check after a finished restore: %v %+v", err, probs)
	}
}

func TestRestoreRefusesWrites(t *testing.T) {
	e := open(t, mem.New())
	e.setRestoring(&restoreRun{p: RestoreProgress{RestoreID: 7}}, []*restoreTarget{{down: &Table{ID: 1024}}})
	err := e.checkNotRestoring(1024)
	if !errors.Is(err, ErrTableRestoring) || !strings.Contains(err.Error(), "restore 7") {
		t.Errorf("got %v", err)
	}
	e.setRestoring(nil, []*restoreTarget{{down: &Table{ID: 1024}}})
	if err := e.checkNotRestoring(1024); err != nil {
		t.Error(err)
	}
}
