package engine

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/mem"
)

var testProfile = &Profile{
	Name: "test", FirstUserTableID: 1024, TableIDStep: 10, FirstUserDatabaseID: 1024,
	SystemDatabases: []Database{{ID: 1, Name: "information_schema"}},
	SystemTables:    []Table{{ID: 3, Database: "information_schema", Name: "tables", Type: SystemView}},
}

var admin = Actor{User: "root", Statement: "test"}

func open(t *testing.T, st store.Store) *Engine {
	t.Helper()
	log, _ := logtest.NewNullLogger()
	e, err := Open(context.Background(), st, testProfile, log, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustDB(t *testing.T, e *Engine, name string) {
	t.Helper()
	if _, err := e.CreateDatabase(context.Background(), name, ""); err != nil {
		t.Fatal(err)
	}
}

func create(e *Engine, db, name string) (*Table, error) {
	return e.CreateTable(context.Background(), TableSpec{
		Database: db, Name: name,
		Columns:    []Column{{Name: "id", Type: "bigint"}},
		PrimaryKey: []string{"id"},
	})
}

func mustCreate(t *testing.T, e *Engine, db, name string) *Table {
	t.Helper()
	tb, err := create(e, db, name)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// The sequence itself, against GreptimeDB's unit tests (sequence.rs).
func TestSequencePeek(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	seq := newSequence(SeqTableID, 1024, 10)
	for want := uint64(1024); want <= 1034; want++ {
		err := st.Update(ctx, func(tx store.Tx) error {
			id, c, err := seq.next(tx)
			if err == nil && id != want {
				t.Fatalf("next = %d, want %d", id, want)
			}
			seq.cache = c
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	fresh := newSequence(SeqTableID, 1024, 10)
	_ = st.View(ctx, func(tx store.Tx) error {
		if got, _ := fresh.peek(tx); got != 1044 {
			t.Fatalf("fresh peek after 11 nexts = %d, want 1044", got)
		}
		return nil
	})
}

func TestSequenceJump(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	seq := newSequence(SeqTableID, 1024, 10)
	step := func(fn func(tx store.Tx) error) error { return st.Update(ctx, fn) }
	jump := func(n uint64) error {
		return step(func(tx store.Tx) error {
			_, c, err := seq.jumpTo(tx, n)
			if err == nil {
				seq.cache = c
			}
			return err
		})
	}
	next := func() uint64 {
		var id uint64
		if err := step(func(tx store.Tx) error {
			var c seqCache
			var err error
			id, c, err = seq.next(tx)
			seq.cache = c
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	if err := jump(1025); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != 1025 {
		t.Fatalf("next after jump 1025 = %d", got)
	}
	err := jump(1025)
	if !errors.Is(err, ErrNotGreater) || !strings.Contains(err.Error(), "The next value 1025 is not greater than the current next value 1035") {
		t.Fatalf("second jump to 1025: %v", err)
	}
	if got := next(); got != 1026 {
		t.Fatalf("next after refused jump = %d, want 1026", got)
	}
	if err := jump(1048); err != nil {
		t.Fatal(err)
	}
	seq = newSequence(SeqTableID, 1024, 10) // a fresh instance
	if got := next(); got != 1048 {
		t.Fatalf("fresh next after jump 1048 = %d", got)
	}
}

func TestTableIDsAndNextID(t *testing.T) {
	st := mem.New()
	e := open(t, st)
	if got := e.NextTableID(); got != 1024 {
		t.Fatalf("fresh next id = %d, want 1024", got)
	}
	mustDB(t, e, "shop")
	if tb := mustCreate(t, e, "shop", "orders"); tb.ID != 1024 {
		t.Fatalf("first table id = %d", tb.ID)
	}
	if got := e.NextTableID(); got != 1034 {
		t.Fatalf("next id after one table = %d, want 1034", got)
	}
	if tb := mustCreate(t, e, "shop", "items"); tb.ID != 1025 {
		t.Fatalf("second table id = %d (cached range)", tb.ID)
	}
	// A restart loses the cached range: the next table gets 1034, a gap.
	e = open(t, st)
	if tb := mustCreate(t, e, "shop", "after_restart"); tb.ID != 1034 {
		t.Fatalf("table after restart = %d, want 1034", tb.ID)
	}
	if got := e.NextTableID(); got != 1044 {
		t.Fatalf("next id = %d, want 1044", got)
	}
	if _, err := create(e, "shop", "ORDERS"); !errors.Is(err, ErrTableExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := create(e, "nope", "t"); !errors.Is(err, ErrNoSuchDatabase) {
		t.Fatalf("unknown db: %v", err)
	}
	if _, err := create(e, "information_schema", "t"); !errors.Is(err, ErrReadOnlyDatabase) {
		t.Fatalf("system db: %v", err)
	}
	if got := e.NextTableID(); got != 1044 {
		t.Fatalf("failed creates moved the sequence to %d", got)
	}
}

func TestSetNextTableID(t *testing.T) {
	ctx := context.Background()
	e := open(t, mem.New())
	mustDB(t, e, "db")
	mustCreate(t, e, "db", "t")
	err := e.SetNextTableID(ctx, admin, 2000)
	if !errors.Is(err, ErrNotRecoveryMode) || !strings.Contains(err.Error(), "Unexpected, violated: Setting next table id is only allowed in recovery mode") {
		t.Fatalf("outside recovery mode: %v", err)
	}
	if err := e.SetSwitch(ctx, admin, SwitchRecovery, true); err != nil {
		t.Fatal(err)
	}
	for _, n := range []uint64{0, 1030, 1034} { // equal is refused too
		err := e.SetNextTableID(ctx, admin, n)
		if !errors.Is(err, ErrNotGreater) || !strings.Contains(err.Error(), "is not greater than the current next value 1034") {
			t.Fatalf("set %d: %v", n, err)
		}
	}
	if _, err := create(e, "db", "blocked"); !errors.Is(err, ErrRecoveryMode) {
		t.Fatalf("create in recovery mode: %v", err)
	}
	if err := e.SetNextTableID(ctx, admin, 1035); err != nil {
		t.Fatal(err)
	}
	if got := e.NextTableID(); got != 1035 {
		t.Fatalf("next id = %d", got)
	}
	if err := e.SetSwitch(ctx, admin, SwitchRecovery, false); err != nil {
		t.Fatal(err)
	}
	if tb := mustCreate(t, e, "db", "after"); tb.ID != 1035 {
		t.Fatalf("table after set = %d, want 1035", tb.ID)
	}
	evs := e.State().Events()
	kinds := []string{}
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	if strings.Join(kinds, ",") != "recovery_mode,sequence_jump,recovery_mode" {
		t.Fatalf("events %v", kinds)
	}
	if j := evs[1]; j.Old != 1034 || j.New != 1035 || j.User != "root" || j.Sequence != SeqTableID || j.Node != 1 {
		t.Fatalf("jump event %+v", j)
	}
}

func TestProcedureManagerPauseRefusesDDL(t *testing.T) {
	ctx := context.Background()
	e := open(t, mem.New())
	mustDB(t, e, "db")
	if err := e.SetSwitch(ctx, admin, SwitchPauseProcedure, true); err != nil {
		t.Fatal(err)
	}
	if _, err := create(e, "db", "t"); !errors.Is(err, ErrProcedurePaused) {
		t.Fatalf("create while paused: %v", err)
	}
	if err := e.SetSwitch(ctx, admin, SwitchPauseProcedure, false); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, e, "db", "t")
}

// The seed document's situation: tables 1024..1030 exist, the sequence says 1026.
func TestStaleSequenceRefusedThenFixed(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	e := open(t, st)
	mustDB(t, e, "db")
	for i := 0; i < 7; i++ {
		mustCreate(t, e, "db", "t"+string(rune('0'+i)))
	}
	if err := e.FaultSetSequence(ctx, admin, SeqTableID, 1026); err != nil {
		t.Fatal(err)
	}
	if got := e.NextTableID(); got != 1026 {
		t.Fatalf("next id after fault = %d", got)
	}
	before := e.State().TableCount()
	_, err := create(e, "db", "new")
	if !errors.Is(err, ErrIDInUse) || !strings.Contains(err.Error(), "table id 1026 is already in use by table db.t2") ||
		!strings.Contains(err.Error(), "CALL set_next_table_id(1031)") {
		t.Fatalf("stale create: %v", err)
	}
	if e.State().TableCount() != before || e.NextTableID() != 1026 {
		t.Fatalf("refused create left a trace: %d tables, next %d", e.State().TableCount(), e.NextTableID())
	}
	_ = e.SetSwitch(ctx, admin, SwitchRecovery, true)
	if err := e.SetNextTableID(ctx, admin, 1031); err != nil {
		t.Fatal(err)
	}
	_ = e.SetSwitch(ctx, admin, SwitchRecovery, false)
	if tb := mustCreate(t, e, "db", "new"); tb.ID != 1031 {
		t.Fatalf("after fix: id %d", tb.ID)
	}
}

func TestSnapshotRestoreOrphanedStorage(t *testing.T) {
	ctx := context.Background()
	e := open(t, mem.New())
	mustDB(t, e, "db")
	mustCreate(t, e, "db", "base")
	var snap bytes.Buffer
	if _, err := e.SaveSnapshot(ctx, &snap); err != nil {
		t.Fatal(err)
	}
	// 12 more tables, 1025..1036: past the snapshot's high-water mark 1034.
	var last *Table
	for i := 0; i < 12; i++ {
		last = mustCreate(t, e, "db", "late"+strings.Repeat("x", i))
		key, _ := AppendTuple(nil, int64(1))
		if err := e.ApplyEdits(ctx, last.ID, false, []RowEdit{{Op: OpInsert, Key: key, Value: key}}); err != nil {
			t.Fatal(err)
		}
	}
	if last.ID != 1036 {
		t.Fatalf("last id %d", last.ID)
	}
	_, err := e.RestoreSnapshot(ctx, admin, bytes.NewReader(snap.Bytes()), false)
	if !errors.Is(err, ErrTargetNotClean) || !strings.Contains(err.Error(), "please use --force option") {
		t.Fatalf("restore without force: %v", err)
	}
	if _, err := e.RestoreSnapshot(ctx, admin, bytes.NewReader(snap.Bytes()), true); err != nil {
		t.Fatal(err)
	}
	if e.State().Table("db", "late") != nil || e.State().Table("db", "base") == nil || e.NextTableID() != 1034 {
		t.Fatalf("restored state wrong: next %d", e.NextTableID())
	}
	_, err = create(e, "db", "fresh")
	if !errors.Is(err, ErrIDInUse) || !strings.Contains(err.Error(), "table id 1034 is already in use by orphaned storage") ||
		!strings.Contains(err.Error(), "set_next_table_id(1037)") {
		t.Fatalf("create over orphaned storage: %v", err)
	}
	// The orphaned rows are untouched.
	rows, err := e.ReadRows(ctx, 1034, nil, nil, false, 10)
	if err != nil || len(rows) != 1 {
		t.Fatalf("orphaned rows: %v %v", rows, err)
	}
}

func TestApplyEditsAtomic(t *testing.T) {
	ctx := context.Background()
	e := open(t, mem.New())
	mustDB(t, e, "db")
	tb := mustCreate(t, e, "db", "t")
	k := func(i int64) []byte { b, _ := AppendTuple(nil, i); return b }
	if err := e.ApplyEdits(ctx, tb.ID, false, []RowEdit{{Op: OpInsert, Key: k(1), Value: k(1)}}); err != nil {
		t.Fatal(err)
	}
	err := e.ApplyEdits(ctx, tb.ID, false, []RowEdit{
		{Op: OpInsert, Key: k(2), Value: k(2)},
		{Op: OpInsert, Key: k(1), Value: k(1)},
	})
	var dup *DuplicateKeyError
	if !errors.As(err, &dup) || dup.Edit != 1 || dup.Index != -1 {
		t.Fatalf("duplicate: %v", err)
	}
	if n, _ := e.RowCount(ctx, tb.ID); n != 1 {
		t.Fatalf("rows after failed statement = %d, want 1", n)
	}
	if v, _ := e.GetRow(ctx, tb.ID, k(2)); v != nil {
		t.Fatal("half of a failed statement is visible")
	}
	if n, err := e.TruncateTable(ctx, "db", "t"); err != nil || n != 1 {
		t.Fatalf("truncate: %d %v", n, err)
	}
	if n, _ := e.RowCount(ctx, tb.ID); n != 0 {
		t.Fatal("rows after truncate")
	}
	if err := e.DropTable(ctx, "db", "t"); err != nil {
		t.Fatal(err)
	}
	if err := e.ApplyEdits(ctx, tb.ID, false, []RowEdit{{Op: OpInsert, Key: k(3), Value: k(3)}}); !errors.Is(err, ErrNoSuchTable) {
		t.Fatalf("insert into dropped table: %v", err)
	}
}

// A delete that carries the row as read commits only while the row is
// stored with that value; otherwise the whole batch fails with
// *RowChangedError and nothing of it is applied.
func TestApplyEditsRowChanged(t *testing.T) {
	ctx := context.Background()
	e := open(t, mem.New())
	mustDB(t, e, "db")
	tb := mustCreate(t, e, "db", "t")
	k := func(i int64) []byte { b, _ := AppendTuple(nil, i); return b }
	row := func(i, v int64) []byte { b, _ := AppendTuple(nil, i, v); return b }
	if err := e.ApplyEdits(ctx, tb.ID, false, []RowEdit{{Op: OpInsert, Key: k(1), Value: row(1, 10)}}); err != nil {
		t.Fatal(err)
	}
	update := func(from, to int64) error { // UPDATE t SET v = to WHERE k = 1, having read v = from; and an insert of k = to
		return e.ApplyEdits(ctx, tb.ID, false, []RowEdit{
			{Op: OpInsert, Key: k(to), Value: row(to, 0)},
			{Op: OpDelete, Key: k(1), Value: row(1, from)},
			{Op: OpInsert, Key: k(1), Value: row(1, to)},
		})
	}
	var changed *RowChangedError
	if err := update(11, 12); !errors.As(err, &changed) || changed.Edit != 1 || !errors.Is(err, ErrRowChanged) {
		t.Fatalf("update from a stale read: %v, want RowChangedError at edit 1", err)
	}
	if v, _ := e.GetRow(ctx, tb.ID, k(12)); v != nil {
		t.Fatal("half of a failed statement is visible")
	}
	if err := update(10, 11); err != nil {
		t.Fatalf("update from the stored value: %v", err)
	}
	if v, _ := e.GetRow(ctx, tb.ID, k(1)); !bytes.Equal(v, row(1, 11)) {
		t.Fatalf("row after update = %x", v)
	}
	// Deleted by another statement: a delete (or update) that read it fails.
	if err := e.ApplyEdits(ctx, tb.ID, false, []RowEdit{{Op: OpDelete, Key: k(1)}}); err != nil {
		t.Fatal(err)
	}
	if err := update(11, 13); !errors.As(err, &changed) {
		t.Fatalf("update of a deleted row: %v, want RowChangedError", err)
	}
	// Keyless: the key is the row; one matching row must still be there.
	bag := mustCreate(t, e, "db", "bag")
	if err := e.ApplyEdits(ctx, bag.ID, true, []RowEdit{{Op: OpDelete, Key: row(0, 1), Value: row(0, 1)}}); !errors.As(err, &changed) {
		t.Fatalf("keyless delete of a missing row: %v, want RowChangedError", err)
	}
}

func TestMain(m *testing.M) {
	logrus.SetOutput(bytes.NewBuffer(nil))
	m.Run()
}
