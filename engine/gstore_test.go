package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/mem"
)

// xuguProfile has XuguDB V12's reserved gsto_no blocks and user stores from 201.
var xuguProfile = &Profile{
	Name: "xugu-test", FirstUserTableID: 1024, TableIDStep: 10, FirstUserDatabaseID: 1024,
	SystemDatabases: []Database{{ID: 1, Name: "information_schema"}},
	SystemTables: []Table{
		{ID: 3, Database: "information_schema", Name: "tables", Type: SystemView},
		{ID: 4, Database: "information_schema", Name: "columns", Type: SystemView},
	},
	StoreRanges: []StoreRange{
		{Lo: 2, Hi: 38, Kind: StoreSysHeap}, {Lo: 52, Hi: 54, Kind: StoreSysHeap}, {Lo: 57, Hi: 60, Kind: StoreSysHeap},
		{Lo: 70, Hi: 96, Kind: StoreSysIndex}, {Lo: 42, Hi: 50, Kind: StoreSysLOB},
	},
	FirstUserGsto: 201,
}

func openXugu(t *testing.T, st store.Store, opts Options) *Engine {
	t.Helper()
	log, _ := logtest.NewNullLogger()
	e, err := Open(context.Background(), st, xuguProfile, log, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func createSpec(t *testing.T, e *Engine, spec TableSpec) *Table {
	t.Helper()
	if spec.Database == "" {
		spec.Database = "db"
	}
	if spec.Columns == nil {
		spec.Columns = []Column{{Name: "c1", Type: "int"}}
	}
	tb, err := e.CreateTable(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func hashParts(n int) *Partition {
	return &Partition{Type: "HASH", Expr: "`c2`", Count: n}
}

// row is a store as SYS_GSTORES shows it.
type gstoRow struct {
	No, Head, Tail, Next uint32
	Splits               int
	Sta                  uint8
	Num                  uint8
	Nodes                [3]uint32
}

func gsto(t *testing.T, e *Engine, no uint64) gstoRow {
	t.Helper()
	s := e.State()
	tb, st := s.Gstore(no)
	if st == nil {
		t.Fatalf("no store %d", no)
	}
	vs := s.Versions(st)
	tail, splits := tb.Chain(st)
	r := gstoRow{No: st.No, Head: st.HeadNo(), Tail: tail, Next: st.Next, Splits: splits, Sta: StoreSta(vs), Num: st.Copies}
	for k, v := range vs {
		r.Nodes[k] = v.Node
	}
	return r
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The document's example: after 216 was the last number used, a table
// hashed into 10 partitions gets 217..226 for PART1..PART10 and 227 for
// itself; every store is its own chain, on all three nodes: STORE_STA 41.
func TestGstoreDocumentNumbering(t *testing.T) {
	e := openXugu(t, mem.New(), Options{})
	mustDB(t, e, "db")
	if got := e.State().Sequences[SeqGstoNo]; got != 201 {
		t.Fatalf("first user gsto_no = %d, want 201", got)
	}
	warm := createSpec(t, e, TableSpec{Name: "warmup", Columns: []Column{{Name: "c1", Type: "int"}, {Name: "c2", Type: "int"}}, Partition: hashParts(15)})
	if n := len(warm.Stores); n != 16 || warm.Stores[0].No != 201 || warm.Stores[15].No != 216 {
		t.Fatalf("warmup stores = %d (%d..%d), want 16 (201..216)", n, warm.Stores[0].No, warm.Stores[n-1].No)
	}
	cols := []Column{{Name: "c1", Type: "int"}, {Name: "c2", Type: "int"}}
	for i := 3; i <= 12; i++ {
		cols = append(cols, Column{Name: fmt.Sprintf("c%d", i), Type: "varchar(20)"})
	}
	tb := createSpec(t, e, TableSpec{Name: "tab_hash", Columns: cols, PrimaryKey: []string{"c1"}, Partition: hashParts(10)})
	if len(tb.Stores) != 11 {
		t.Fatalf("tab_hash has %d stores, want 11", len(tb.Stores))
	}
	for i, st := range tb.Stores {
		want := uint32(217 + i)
		if st.No != want {
			t.Fatalf("store %d = %d, want %d", i, st.No, want)
		}
		if i < 10 && (st.Kind != StorePartition || int(st.Part) != i) {
			t.Fatalf("store %d: kind %d part %d, want partition %d", st.No, st.Kind, st.Part, i)
		}
		r := gsto(t, e, uint64(want))
		if r.Head != want || r.Tail != want || r.Next != 0 || r.Splits != 0 || r.Sta != 41 || r.Num != 3 {
			t.Fatalf("store %d = %+v, want its own chain, STORE_STA 41, STORE_NUM 3", want, r)
		}
	}
	if tb.Stores[10].Kind != StoreTable {
		t.Fatalf("store 227 kind %d, want the table", tb.Stores[10].Kind)
	}
	if _, st := e.State().Gstore(228); st != nil {
		t.Fatal("store 228 exists")
	}
}

// Indexes and LOB columns have stores of their own, owned by the table.
func TestGstoreIndexAndLOB(t *testing.T) {
	e := openXugu(t, mem.New(), Options{})
	mustDB(t, e, "db")
	tb := createSpec(t, e, TableSpec{
		Name:    "t",
		Columns: []Column{{Name: "id", Type: "int"}, {Name: "doc", Type: "json"}, {Name: "body", Type: "mediumtext"}, {Name: "name", Type: "varchar(10)"}},
		Indexes: []Index{{Name: "by_name", Columns: []IndexColumn{{Name: "name"}}}},
	})
	kinds := []uint8{StoreTable, StoreIndex, StoreLOB, StoreLOB}
	if len(tb.Stores) != len(kinds) {
		t.Fatalf("stores = %+v", tb.Stores)
	}
	for i, k := range kinds {
		if tb.Stores[i].Kind != k || tb.Stores[i].No != uint32(201+i) {
			t.Fatalf("store %d = %+v, want kind %d no %d", i, tb.Stores[i], k, 201+i)
		}
		if owner, _ := e.State().Gstore(uint64(201 + i)); owner.ID != tb.ID {
			t.Fatalf("store %d owned by %d, want %d", 201+i, owner.ID, tb.ID)
		}
	}
	must(t, e.AddIndex(context.Background(), "db", "t", Index{Name: "by_id", Columns: []IndexColumn{{Name: "id"}}}))
	if _, st := e.State().Gstore(205); st == nil || st.Kind != StoreIndex {
		t.Fatalf("added index store = %+v, want an index store 205", st)
	}
}

// The reserved blocks are real system stores; user numbers never enter them.
func TestGstoreSystemRanges(t *testing.T) {
	e := openXugu(t, mem.New(), Options{})
	s := e.State()
	want := 37 + 3 + 4 + 27 + 9
	if got := s.GstoreCount(); got != want {
		t.Fatalf("system stores = %d, want %d", got, want)
	}
	for _, no := range []uint64{2, 38, 42, 50, 52, 54, 57, 60, 70, 96} {
		tb, st := s.Gstore(no)
		if st == nil || !tb.System {
			t.Fatalf("store %d missing or not a system store", no)
		}
		if sta := StoreSta(s.Versions(st)); sta != 41 {
			t.Fatalf("system store %d STORE_STA = %d, want 41", no, sta)
		}
	}
	for _, no := range []uint64{0, 1, 39, 41, 51, 55, 56, 61, 69, 97, 200} {
		if _, st := s.Gstore(no); st != nil {
			t.Fatalf("store %d exists, want a hole", no)
		}
	}
	// Each node's own store numbers continue after the system stores.
	mustDB(t, e, "db")
	tb := createSpec(t, e, TableSpec{Name: "t"})
	if got := tb.Stores[0].StoreNos; got != [3]uint32{81, 81, 81} {
		t.Fatalf("first user STORE_NOs = %v, want 81 on each node (80 system stores)", got)
	}
	// One node: the live single-node shape, STORE_STA 1 and STORE_NUM 1.
	one := openXugu(t, mem.New(), Options{Nodes: 1})
	_, st := one.State().Gstore(2)
	if sta := StoreSta(one.State().Versions(st)); sta != 1 || st.Copies != 1 {
		t.Fatalf("single node: store 2 STORE_STA %d STORE_NUM %d, want 1 and 1", sta, st.Copies)
	}
}

// The document's offline example: 3 nodes, node 2 offline, CREATE TABLE
// tab_gstore(c1 INT) gives STORE_STA 57 with NODE_ID1..3 = 1, 3, 0.
func TestGstoreOfflineNodeAtCreate(t *testing.T) {
	ctx := context.Background()
	e := openXugu(t, mem.New(), Options{})
	mustDB(t, e, "db")
	must(t, e.NodeOffline(ctx, admin, 2))
	tb := createSpec(t, e, TableSpec{Name: "tab_gstore"})
	r := gsto(t, e, uint64(tb.Stores[0].No))
	if r.Sta != 57 || r.Nodes != [3]uint32{1, 3, 0} || r.Num != 3 {
		t.Fatalf("tab_gstore = %+v, want STORE_STA 57 on nodes 1, 3, 0", r)
	}
	// Node 2 coming back does not place the missing version.
	must(t, e.NodeOnline(ctx, admin, 2))
	if r := gsto(t, e, uint64(tb.Stores[0].No)); r.Sta != 57 {
		t.Fatalf("after node 2 returned: STORE_STA %d, want 57", r.Sta)
	}
}

// Every value of the document's quick-reference table is reachable, and each
// decodes as the table says (version 1 in the low bits).
func TestStoreStaQuickReference(t *testing.T) {
	ctx := context.Background()
	e := openXugu(t, mem.New(), Options{Nodes: 4})
	mustDB(t, e, "db")
	sta := func(tb *Table) uint8 { return gsto(t, e, uint64(tb.Stores[0].No)).Sta }
	seen := map[uint8]bool{}
	note := func(tb *Table, want uint8) {
		t.Helper()
		if got := sta(tb); got != want {
			t.Fatalf("%s: STORE_STA %d, want %d", tb.Name, got, want)
		}
		seen[want] = true
	}
	// Placement balances by load: with 4 nodes every store lands on the
	// three least loaded. Pin the tables to nodes 1..3 / 1 by order.
	three := createSpec(t, e, TableSpec{Name: "three", Comment: "copy_num=3"})
	if got := three.Stores[0].Nodes; got != [3]uint32{4, 1, 2} {
		t.Fatalf("three placed on %v, want the least loaded nodes 4, 1, 2", got)
	}
	note(three, 41) // 10 10 01
	one := createSpec(t, e, TableSpec{Name: "one", Comment: "copy_num=1"})
	n1 := one.Stores[0].Nodes[0]
	note(one, 1) // 00 00 01

	// 41 -> node of version 2 offline -> 45 (10 11 01)
	must(t, e.NodeOffline(ctx, admin, 1))
	note(three, 45)
	// version 1 (node 4) offline: version 3 is the first valid replica -> 31 (01 11 11)
	must(t, e.NodeOffline(ctx, admin, 4))
	note(three, 31)
	// node 1 back: version 2 a replica again -> 27 (01 10 11)
	must(t, e.NodeOnline(ctx, admin, 1))
	note(three, 27)
	must(t, e.NodeOnline(ctx, admin, 4))

	// A fresh copy_num=3 table for 39, 55, 63.
	again := createSpec(t, e, TableSpec{Name: "again", Comment: "copy_num=3"})
	v := again.Stores[0].Nodes
	note(again, 41)
	must(t, e.NodeOffline(ctx, admin, uint64(v[0]))) // primary lost, version 2 promoted
	note(again, 39)                                  // 10 01 11
	must(t, e.NodeOffline(ctx, admin, uint64(v[2])))
	note(again, 55) // 11 01 11
	must(t, e.NodeOffline(ctx, admin, uint64(v[1])))
	note(again, 63) // 11 11 11
	for _, n := range v {
		must(t, e.NodeOnline(ctx, admin, uint64(n)))
	}

	// A copy_num=1 store whose node dies: 3 (00 00 11); back: a replica
	// without primary, 2 (00 00 10); its node dropped for good: 0.
	must(t, e.NodeOffline(ctx, admin, uint64(n1)))
	note(one, 3)
	must(t, e.NodeOnline(ctx, admin, uint64(n1)))
	note(one, 2)
	must(t, e.NodeOffline(ctx, admin, uint64(n1)))
	must(t, e.NodeDrop(ctx, admin, uint64(n1)))
	note(one, 0)
	if r := gsto(t, e, uint64(one.Stores[0].No)); r.Nodes != [3]uint32{} {
		t.Fatalf("dropped node's version shows %v, want (0,0)", r.Nodes)
	}

	// 57: created while a node is missing (three nodes left, one offline).
	var off uint64
	for _, n := range e.State().Nodes() {
		off = n.ID
	}
	must(t, e.NodeOffline(ctx, admin, off))
	note(createSpec(t, e, TableSpec{Name: "missing", Comment: "copy_num=3"}), 57)

	for _, want := range []uint8{0, 1, 2, 3, 27, 31, 39, 41, 45, 55, 57, 63} {
		if !seen[want] {
			t.Errorf("STORE_STA %d not reached", want)
		}
	}
}

// Bad input changes nothing.
func TestNodeErrors(t *testing.T) {
	ctx := context.Background()
	e := openXugu(t, mem.New(), Options{Nodes: 2})
	mustDB(t, e, "db")
	before := e.State().Revision
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"unknown node", e.NodeOffline(ctx, admin, 9), ErrNoSuchNode},
		{"unknown node online", e.NodeOnline(ctx, admin, 0), ErrNoSuchNode},
		{"drop online node", e.NodeDrop(ctx, admin, 1), ErrNodeOnline},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	must(t, e.NodeOffline(ctx, admin, 1))
	if err := e.NodeOffline(ctx, admin, 2); !errors.Is(err, ErrLastOnlineNode) {
		t.Fatalf("offline of the last online node: %v", err)
	}
	if n := e.State().Node(2); !n.Online {
		t.Fatal("node 2 went offline")
	}
	gsto := e.State().Sequences[SeqGstoNo]
	_, err := e.CreateTable(ctx, TableSpec{Database: "db", Name: "t", Columns: []Column{{Name: "c", Type: "int"}}, Comment: "copy_num=3"})
	if !errors.Is(err, ErrTooManyReplicas) {
		t.Fatalf("copy_num=3 on 2 nodes: %v", err)
	}
	if e.State().Table("db", "t") != nil || e.State().Sequences[SeqGstoNo] != gsto {
		t.Fatal("a refused CREATE TABLE left a trace")
	}
	if e.State().Revision != before+1 {
		t.Fatalf("revision %d, want %d (one change: the offline)", e.State().Revision, before+1)
	}
	// Asking a data directory for fewer nodes than it has is refused.
	st := mem.New()
	openXugu(t, st, Options{Nodes: 4})
	log, _ := logtest.NewNullLogger()
	if _, err := Open(ctx, st, xuguProfile, log, Options{Nodes: 2}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("reopen with fewer nodes: %v", err)
	}
}

// Numbers are never reused: not after DROP, not after a restart.
func TestGstoreNeverReused(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	e := openXugu(t, st, Options{})
	mustDB(t, e, "db")
	a := createSpec(t, e, TableSpec{Name: "a", Partition: &Partition{Type: "HASH", Count: 3}})
	must(t, e.DropTable(ctx, "db", "a"))
	b := createSpec(t, e, TableSpec{Name: "b"})
	if b.Stores[0].No != a.Stores[3].No+1 {
		t.Fatalf("after drop: %d, want %d", b.Stores[0].No, a.Stores[3].No+1)
	}
	e = openXugu(t, st, Options{})
	c := createSpec(t, e, TableSpec{Name: "c"})
	if c.Stores[0].No != b.Stores[0].No+1 || c.Stores[0].StoreNos[0] != b.Stores[0].StoreNos[0]+1 {
		t.Fatalf("after restart: gsto %d store_no %d, want %d and %d", c.Stores[0].No, c.Stores[0].StoreNos[0], b.Stores[0].No+1, b.Stores[0].StoreNos[0]+1)
	}
	// The node changes survive the restart too.
	must(t, e.NodeOffline(ctx, admin, 2))
	e = openXugu(t, st, Options{})
	if r := gsto(t, e, uint64(c.Stores[0].No)); r.Sta != 45 || r.Nodes != [3]uint32{1, 2, 3} {
		t.Fatalf("after restart with node 2 offline: %+v, want STORE_STA 45 on 1, 2, 3", r)
	}
}

// A store holds StoreRows rows; the next insert splits it: a new store
// joins the chain (old tail's NEXT_NO, TAIL_NO on every member, SPLIT_NUM).
func TestGstoreSplit(t *testing.T) {
	ctx := context.Background()
	e := openXugu(t, mem.New(), Options{StoreRows: 3})
	mustDB(t, e, "db")
	tb := createSpec(t, e, TableSpec{Name: "t", PrimaryKey: []string{"c1"},
		Indexes: []Index{{Name: "i", Columns: []IndexColumn{{Name: "c1"}}}}})
	head := tb.Stores[0].No // 201; the index store is 202
	insert := func(from, to int) {
		var eds []RowEdit
		for i := from; i <= to; i++ {
			key, err := AppendTuple(nil, int64(i))
			must(t, err)
			eds = append(eds, RowEdit{Op: OpInsert, Key: key, Value: []byte("v")})
		}
		must(t, e.ApplyEdits(ctx, tb.ID, false, eds))
	}
	insert(1, 3)
	if r := gsto(t, e, uint64(head)); r.Tail != head || r.Splits != 0 {
		t.Fatalf("3 rows in a 3-row store: %+v, want no split", r)
	}
	insert(4, 4)
	insert(5, 7) // 7 rows: three stores
	r := gsto(t, e, uint64(head))
	if r.Next != 203 || r.Tail != 204 || r.Splits != 2 {
		t.Fatalf("head after 7 rows = %+v, want NEXT 203, TAIL 204, SPLIT_NUM 2", r)
	}
	mid := gsto(t, e, 203)
	if mid.Head != head || mid.Next != 204 || mid.Tail != 204 || mid.Splits != 2 {
		t.Fatalf("middle store = %+v", mid)
	}
	if last := gsto(t, e, 204); last.Next != 0 || last.Head != head {
		t.Fatalf("tail store = %+v", last)
	}
	stats, err := e.StoreStats(ctx, tb.ID)
	must(t, err)
	// Each statement is one write on the tail it filled: 201, then 203 (split
	// off by the 4th row), then 204; the index store counts every statement.
	if stats[head].Rows != 7 || stats[head].LSN != 1 || stats[203].LSN != 1 || stats[204].LSN != 1 || stats[202].LSN != 3 {
		t.Fatalf("stats = %+v", stats)
	}
	// A split number is never reused either.
	next := createSpec(t, e, TableSpec{Name: "u"})
	if next.Stores[0].No != 205 {
		t.Fatalf("next table's store = %d, want 205", next.Stores[0].No)
	}
	// TRUNCATE empties the chain and counts as a write on every store.
	_, err = e.TruncateTable(ctx, "db", "t")
	must(t, err)
	stats, err = e.StoreStats(ctx, tb.ID)
	must(t, err)
	if stats[head].Rows != 0 || stats[head].LSN != 2 || stats[204].LSN != 2 {
		t.Fatalf("after truncate: %+v", stats)
	}
}

// A metadata restore may take the table-ID sequence back (GreptimeDB's
// hazard), but never the store numbers: they are not reused.
func TestGstoreSnapshotRestoreKeepsNumbers(t *testing.T) {
	ctx := context.Background()
	e := openXugu(t, mem.New(), Options{})
	mustDB(t, e, "db")
	var snap bytes.Buffer
	_, err := e.SaveSnapshot(ctx, &snap)
	must(t, err)
	later := createSpec(t, e, TableSpec{Name: "later"})
	_, err = e.RestoreSnapshot(ctx, admin, bytes.NewReader(snap.Bytes()), true)
	must(t, err)
	if e.State().Table("db", "later") != nil {
		t.Fatal("restore kept a table created after the snapshot")
	}
	must(t, e.SetSwitch(ctx, admin, SwitchRecovery, true))
	must(t, e.SetNextTableID(ctx, admin, 1100))
	must(t, e.SetSwitch(ctx, admin, SwitchRecovery, false))
	again := createSpec(t, e, TableSpec{Name: "again"})
	if again.Stores[0].No != later.Stores[0].No+1 || again.Stores[0].StoreNos[0] != later.Stores[0].StoreNos[0]+1 {
		t.Fatalf("after restore: gsto %d store_no %d, want %d and %d (never reused)",
			again.Stores[0].No, again.Stores[0].StoreNos[0], later.Stores[0].No+1, later.Stores[0].StoreNos[0]+1)
	}
}
