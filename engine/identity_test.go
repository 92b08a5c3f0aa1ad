package engine

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sysemu/sysemu/engine/store/mem"
)

// identTable creates db.name with an identity column of SQL type typ.
func identTable(t *testing.T, e *Engine, name, typ string, seed, incr int64) *Table {
	t.Helper()
	maxV, ok := IdentityMax(typ)
	if !ok {
		t.Fatalf("type %s cannot be an identity", typ)
	}
	tb, err := e.CreateTable(context.Background(), TableSpec{
		Database: "db", Name: name,
		Columns:    []Column{{Name: "id", Type: typ, AutoIncrement: true}},
		PrimaryKey: []string{"id"},
		Identity:   &Identity{Column: "id", Type: strings.TrimSuffix(typ, " unsigned"), Seed: seed, Incr: incr, Max: maxV},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// rowsOf stands in for the server's rows: it remembers the inserted identity
// values so CHECKIDENT can ask for MAX(column).
type rowsOf struct {
	e    *Engine
	t    *Table
	vals []int64
}

func (r *rowsOf) insert(t *testing.T, node uint64) int64 {
	t.Helper()
	v, err := r.e.NextIdentity(context.Background(), r.t.ID, IdentityCaller{Node: node, Admin: yes}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.vals = append(r.vals, v)
	if err := r.e.IdentityStatementDone(context.Background(), r.t.ID, IdentityCaller{Node: node, Admin: yes}); err != nil {
		t.Fatal(err)
	}
	return v
}

func (r *rowsOf) max() (*int64, error) {
	if len(r.vals) == 0 {
		return nil, nil
	}
	m := r.vals[0]
	for _, v := range r.vals {
		m = max(m, v)
	}
	return &m, nil
}

func (r *rowsOf) checkident(t *testing.T, mode string, value *int64) string {
	t.Helper()
	msg, err := r.e.CheckIdent(context.Background(), admin, "db", r.t.Name, 1, mode, value, r.max)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func i64(v int64) *int64 { return &v }

func yes() bool { return true }

func openIdent(t *testing.T) (*Engine, *mem.Store) {
	t.Helper()
	st := mem.New()
	e := open(t, st)
	mustDB(t, e, "db")
	return e, st
}

// Every DBCC CHECKIDENT form, with the numbers and messages of SQL Server's
// documentation (dbcc-checkident-transact-sql.md).
func TestCheckIdentDocument(t *testing.T) {
	type step struct {
		do   string // "insert", "delete-all", "truncate", or a CHECKIDENT form
		val  *int64
		msg  string // expected message ("" for inserts)
		next int64  // expected value of the following insert (0: not checked)
	}
	cases := []struct {
		name  string
		seed  int64
		incr  int64
		steps []step
	}{
		{"never used: both values NULL; next is the seed", 1, 1, []step{
			{do: CheckIdentNoReseed, msg: "Checking identity information: current identity value 'NULL', current column value 'NULL'.", next: 1},
		}},
		{"RESEED v on a never-used table: the next insert gets v", 1, 1, []step{
			{do: CheckIdentReseed, val: i64(10), msg: "Checking identity information: current identity value 'NULL'.", next: 10},
		}},
		{"RESEED 10 with rows: next is 11 (v + increment)", 1, 1, []step{
			{do: "insert"}, {do: "insert"}, {do: "insert"},
			{do: CheckIdentReseed, val: i64(10), msg: "Checking identity information: current identity value '3'.", next: 11},
		}},
		{"rows removed by DELETE still count as used: RESEED 0 gives 1", 1, 1, []step{
			{do: "insert"}, {do: "insert"}, {do: "delete-all"},
			{do: CheckIdentReseed, val: i64(0), msg: "Checking identity information: current identity value '2'.", next: 1},
		}},
		{"TRUNCATE then RESEED 1: next is 1", 1, 1, []step{
			{do: "insert"}, {do: "insert"}, {do: "truncate"},
			{do: CheckIdentNoReseed, msg: "Checking identity information: current identity value 'NULL', current column value 'NULL'."},
			{do: CheckIdentReseed, val: i64(1), msg: "Checking identity information: current identity value 'NULL'.", next: 1},
		}},
		{"NORESEED changes nothing", 1, 1, []step{
			{do: "insert"}, {do: "insert"},
			{do: CheckIdentReseed, val: i64(0), msg: "Checking identity information: current identity value '2'."},
			{do: CheckIdentNoReseed, msg: "Checking identity information: current identity value '0', current column value '2'.", next: 1},
		}},
		{"no option raises the current value to MAX(column)", 1, 1, []step{
			{do: "insert"}, {do: "insert"}, {do: "insert"},
			{do: CheckIdentReseed, val: i64(1), msg: "Checking identity information: current identity value '3'."},
			{do: CheckIdentDefault, msg: "Checking identity information: current identity value '1', current column value '3'.", next: 4},
		}},
		{"RESEED without a value raises to MAX(column) and never lowers; RESEED low then RESEED again fixes it", 1, 1, []step{
			{do: "insert"}, {do: "insert"},
			{do: CheckIdentReseed, val: i64(30), msg: "Checking identity information: current identity value '2'.", next: 31},
			{do: CheckIdentReseed, val: i64(5), msg: "Checking identity information: current identity value '31'."},
			{do: CheckIdentReseed, msg: "Checking identity information: current identity value '5', current column value '31'.", next: 32},
			{do: CheckIdentReseed, val: i64(100), msg: "Checking identity information: current identity value '32'."},
			{do: CheckIdentReseed, msg: "Checking identity information: current identity value '100', current column value '32'.", next: 101},
			{do: CheckIdentReseed, val: i64(1), msg: "Checking identity information: current identity value '101'."},
			{do: CheckIdentReseed, msg: "Checking identity information: current identity value '1', current column value '101'.", next: 102},
		}},
		{"increment 5 from seed 1000; RESEED 10 gives 15", 1000, 5, []step{
			{do: "insert", next: 1005},
			{do: CheckIdentNoReseed, msg: "Checking identity information: current identity value '1005', current column value '1005'."},
			{do: CheckIdentReseed, val: i64(10), msg: "Checking identity information: current identity value '1005'.", next: 15},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := openIdent(t)
			r := &rowsOf{e: e, t: identTable(t, e, "t", "int", tc.seed, tc.incr)}
			for i, s := range tc.steps {
				switch s.do {
				case "insert":
					r.insert(t, 1)
				case "delete-all":
					r.vals = nil
				case "truncate":
					if _, err := e.TruncateTable(context.Background(), "db", "t"); err != nil {
						t.Fatal(err)
					}
					r.vals = nil
				default:
					if got := r.checkident(t, s.do, s.val); got != s.msg {
						t.Fatalf("step %d %s: message\n got %q\nwant %q", i, s.do, got, s.msg)
					}
				}
				if s.next != 0 {
					if got := r.insert(t, 1); got != s.next {
						t.Fatalf("step %d %s: next insert got %d, want %d", i, s.do, got, s.next)
					}
				}
			}
			info, err := e.IdentityOf(context.Background(), r.t.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			if info.Seed != tc.seed || info.Incr != tc.incr {
				t.Fatalf("IDENT_SEED/IDENT_INCR = %d/%d, want %d/%d: CHECKIDENT must not change them", info.Seed, info.Incr, tc.seed, tc.incr)
			}
		})
	}
}

func TestIdentCurrent(t *testing.T) {
	e, _ := openIdent(t)
	r := &rowsOf{e: e, t: identTable(t, e, "t", "int", 100, 10)}
	cur := func() int64 {
		info, err := e.IdentityOf(context.Background(), r.t.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		return info.Current
	}
	if got := cur(); got != 100 {
		t.Fatalf("IDENT_CURRENT of a never-used table = %d, want the seed 100", got)
	}
	r.insert(t, 1)
	r.insert(t, 1)
	if got := cur(); got != 110 {
		t.Fatalf("IDENT_CURRENT = %d, want 110", got)
	}
	if _, err := e.TruncateTable(context.Background(), "db", "t"); err != nil {
		t.Fatal(err)
	}
	if got := cur(); got != 100 {
		t.Fatalf("IDENT_CURRENT after TRUNCATE = %d, want the seed 100", got)
	}
	// A supplied value above the current one becomes the current one.
	if _, err := e.NextIdentity(context.Background(), r.t.ID, IdentityCaller{Node: 1}, true, i64(500)); err != nil {
		t.Fatal(err)
	}
	if got := r.insert(t, 1); got != 510 {
		t.Fatalf("after an explicit 500 the next value is %d, want 510", got)
	}
}

func TestCheckIdentWithoutIdentity(t *testing.T) {
	e, _ := openIdent(t)
	mustCreate(t, e, "db", "plain")
	_, err := e.CheckIdent(context.Background(), admin, "db", "plain", 1, CheckIdentDefault, nil, func() (*int64, error) { return nil, nil })
	if !errors.Is(err, ErrNoIdentity) || !strings.HasSuffix(err.Error(), "'plain' does not contain an identity column.") {
		t.Fatalf("got %v, want Msg 7997", err)
	}
}

// Msg 8115 at the end of each type's range.
func TestIdentityOverflow(t *testing.T) {
	for _, tc := range []struct {
		typ, name string
		seed      int64
		values    int
	}{
		{"tinyint unsigned", "tinyint", 250, 6}, // 250..255
		{"smallint", "smallint", 32765, 3},
		{"int", "int", 2147483645, 3},
		{"bigint", "bigint", 9223372036854775805, 3},
		{"decimal(3,0)", "decimal(3,0)", 997, 3},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			e, _ := openIdent(t)
			tb := identTable(t, e, "t", tc.typ, tc.seed, 1)
			for i := 0; i < tc.values; i++ {
				v, err := e.NextIdentity(context.Background(), tb.ID, IdentityCaller{Node: 1}, i == 0, nil)
				if err != nil || v != tc.seed+int64(i) {
					t.Fatalf("value %d: got %d, %v", i, v, err)
				}
			}
			_, err := e.NextIdentity(context.Background(), tb.ID, IdentityCaller{Node: 1}, false, nil)
			want := "Arithmetic overflow error converting IDENTITY to data type " + tc.name + "."
			if !errors.Is(err, ErrIdentityOverflow) || !strings.HasSuffix(err.Error(), want) {
				t.Fatalf("got %v, want %q", err, want)
			}
		})
	}
}

func TestIdentityMax(t *testing.T) {
	for typ, want := range map[string]int64{
		"tinyint": 127, "tinyint unsigned": 255, "smallint": 32767, "mediumint": 8388607,
		"int": 2147483647, "int unsigned": 4294967295, "bigint": 9223372036854775807,
		"decimal(5,0)": 99999, "numeric(18,0)": 999999999999999999, "decimal(38,0)": 9223372036854775807,
	} {
		if got, ok := IdentityMax(typ); !ok || got != want {
			t.Errorf("IdentityMax(%q) = %d, %v; want %d", typ, got, ok, want)
		}
	}
	for _, typ := range []string{"varchar(10)", "decimal(5,2)", "double"} {
		if _, ok := IdentityMax(typ); ok {
			t.Errorf("IdentityMax(%q) accepted", typ)
		}
	}
}

// Persist before use: a crash loses the cached block (a gap), never hands
// a value out twice; a clean shutdown keeps the sequence without a gap.
func TestIdentityCacheDurability(t *testing.T) {
	e, st := openIdent(t)
	tb := identTable(t, e, "t", "int", 1, 1)
	r := &rowsOf{e: e, t: tb}
	for i := 0; i < 5; i++ {
		r.insert(t, 1)
	}
	crashed := open(t, st) // the first engine is abandoned: its cache is lost
	v, err := crashed.NextIdentity(context.Background(), tb.ID, IdentityCaller{Node: 1}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v != 1+DefaultIdentityCache {
		t.Fatalf("after a crash the next value is %d, want %d (past the reserved block)", v, 1+DefaultIdentityCache)
	}
	if err := crashed.FlushIdentities(context.Background()); err != nil {
		t.Fatal(err)
	}
	clean := open(t, st)
	if v, err = clean.NextIdentity(context.Background(), tb.ID, IdentityCaller{Node: 1}, true, nil); err != nil || v != 2+DefaultIdentityCache {
		t.Fatalf("after a clean shutdown the next value is %d (%v), want %d", v, err, 2+DefaultIdentityCache)
	}
}

// RESEED n on a table without rows makes n the next value; the insert that
// takes it must reserve a block durably first, or a kill -9 right after
// hands n out again (found by the crash loop: 1062 on the next insert).
func TestIdentityReseedThenCrash(t *testing.T) {
	for _, truncate := range []bool{false, true} {
		e, st := openIdent(t)
		tb := identTable(t, e, "t", "int", 1, 1)
		r := &rowsOf{e: e, t: tb}
		if truncate {
			r.insert(t, 1)
			if _, err := e.TruncateTable(context.Background(), "db", "t"); err != nil {
				t.Fatal(err)
			}
			r.vals = nil
		}
		r.checkident(t, CheckIdentReseed, i64(2))
		if v := r.insert(t, 1); v != 2 {
			t.Fatalf("truncate=%v: first insert after RESEED 2 got %d", truncate, v)
		}
		crashed := open(t, st)
		v, err := crashed.NextIdentity(context.Background(), tb.ID, IdentityCaller{Node: 1}, true, nil)
		if err != nil || v <= 2 {
			t.Fatalf("truncate=%v: after a crash the next value is %d (%v); 2 was handed out already", truncate, v, err)
		}
	}
}

// The replication topologies of "Replicate identity columns": automatic
// ranges with the document's numbers, the threshold, exhaustion, the
// Publisher's admin rule and the batch that crosses a range.
func TestIdentityRangesAuto(t *testing.T) {
	ctx := context.Background()
	e, _ := openIdent(t)
	tb := identTable(t, e, "t", "int", 1, 1)
	r := &rowsOf{e: e, t: tb}
	for i := 0; i < 4; i++ {
		r.insert(t, 1)
	}
	must(t, e.ManageIdentityRange(ctx, admin, "db", "t", IdentityAuto, 1000, 1000, 80))
	st, err := e.IdentityStateOf(ctx, tb.ID)
	must(t, err)
	want := map[uint64][]IdentityRange{
		1: {{4, 1004}, {1004, 2004}}, // the merge constraint: >4 AND <=1004 OR >1004 AND <=2004
		2: {{2004, 3004}, {3004, 4004}},
		3: {{4004, 5004}, {5004, 6004}},
	}
	for _, n := range st.Nodes {
		if !equalRanges(n.Ranges, want[n.Node]) {
			t.Fatalf("node %d ranges %v, want %v", n.Node, n.Ranges, want[n.Node])
		}
	}
	if st.NextSeed != 6004 {
		t.Fatalf("next seed %d, want 6004", st.NextSeed)
	}

	// Threshold 80 % of 1000: node 2 gets a new range after 800 inserts.
	for i := 0; i < 799; i++ {
		r.insert(t, 2)
	}
	if n := nodeState(t, e, tb, 2); len(n.Ranges) != 2 || n.Ranges[1].Hi != 4004 {
		t.Fatalf("after 799 inserts node 2 has %v", n.Ranges)
	}
	if v := r.insert(t, 2); v != 2804 {
		t.Fatalf("800th value %d, want 2804", v)
	}
	if n := nodeState(t, e, tb, 2); !equalRanges(n.Ranges, []IdentityRange{{3004, 4004}, {6004, 7004}}) {
		t.Fatalf("after 800 inserts node 2 has %v, want the secondary as primary and a new secondary", n.Ranges)
	}
	if v := r.insert(t, 2); v != 3005 {
		t.Fatalf("next value on node 2 %d, want 3005", v)
	}

	// The Publisher without the admin privilege: no reassignment; it runs
	// through its primary into its secondary, then fails with Msg 548.
	pub := IdentityCaller{Node: 1}
	for i := 0; i < 2000; i++ {
		v, err := e.NextIdentity(ctx, tb.ID, pub, true, nil)
		if err != nil || v != 5+int64(i) {
			t.Fatalf("publisher value %d: %d, %v", i, v, err)
		}
		must(t, e.IdentityStatementDone(ctx, tb.ID, pub))
	}
	_, err = e.NextIdentity(ctx, tb.ID, pub, true, nil)
	if !errors.Is(err, ErrIdentityRange) || !strings.Contains(err.Error(), "conflicted with an identity range check constraint in database 'db', replicated table 't'") {
		t.Fatalf("exhausted publisher: %v, want Msg 548", err)
	}
	changed, err := e.AdjustIdentityRange(ctx, admin, "db", "t")
	if err != nil || !changed {
		t.Fatalf("adjust: %v %v", changed, err)
	}
	if v, err := e.NextIdentity(ctx, tb.ID, pub, true, nil); err != nil || v != 7005 {
		t.Fatalf("after sp_adjustpublisheridentityrange: %d, %v; want 7005", v, err)
	}

	// A batch that crosses the end of node 3's ranges fails at the crossing;
	// values stay consumed, and an explicit value outside the ranges fails.
	for i := 0; i < 2000; i++ {
		if _, err := e.NextIdentity(ctx, tb.ID, IdentityCaller{Node: 3}, i == 0, nil); err != nil {
			t.Fatalf("node 3 row %d: %v", i, err)
		}
	}
	if _, err := e.NextIdentity(ctx, tb.ID, IdentityCaller{Node: 3}, false, nil); !errors.Is(err, ErrIdentityRange) {
		t.Fatalf("row 2001 of one statement: %v, want Msg 548", err)
	}
	if _, err := e.NextIdentity(ctx, tb.ID, IdentityCaller{Node: 2}, true, i64(1)); !errors.Is(err, ErrIdentityRange) {
		t.Fatalf("explicit value outside node 2's ranges: %v, want Msg 548", err)
	}
	// The next statement on a Subscriber runs the agent first: new ranges.
	if v, err := e.NextIdentity(ctx, tb.ID, IdentityCaller{Node: 3}, true, nil); err != nil || v != 8005 {
		t.Fatalf("node 3 next statement: %d, %v; want 8005", v, err)
	}
}

func nodeState(t *testing.T, e *Engine, tb *Table, node uint64) IdentityNodeState {
	t.Helper()
	st, err := e.IdentityStateOf(context.Background(), tb.ID)
	must(t, err)
	for _, n := range st.Nodes {
		if n.Node == node {
			return n
		}
	}
	t.Fatalf("no node %d", node)
	return IdentityNodeState{}
}

func equalRanges(a, b []IdentityRange) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Manual management: one counter per node, each reseeded to its own start
// (the document's 1..10000 / 10001..20000 / 20001..30000).
func TestIdentityManual(t *testing.T) {
	ctx := context.Background()
	e, _ := openIdent(t)
	tb := identTable(t, e, "t", "int", 1, 1)
	r := &rowsOf{e: e, t: tb}
	must(t, e.ManageIdentityRange(ctx, admin, "db", "t", IdentityManual, 0, 0, 0))
	for node, start := range map[uint64]int64{1: 1, 2: 10001, 3: 20001} {
		if _, err := e.CheckIdent(ctx, admin, "db", "t", node, CheckIdentReseed, i64(start), r.max); err != nil {
			t.Fatal(err)
		}
	}
	for node, want := range map[uint64]int64{1: 1, 2: 10001, 3: 20001} {
		if v := r.insert(t, node); v != want {
			t.Fatalf("node %d first value %d, want %d", node, v, want)
		}
	}
	// Back to one counter: above every value any node used.
	must(t, e.ManageIdentityRange(ctx, admin, "db", "t", IdentityNone, 0, 0, 0))
	if v := r.insert(t, 2); v != 20002 {
		t.Fatalf("after mode none: %d, want 20002", v)
	}
}

// The document's Publisher restore: the snapshot brings the Publisher's
// counter back; Subscribers and the pool keep theirs. Reseeding the
// Publisher to the highest IDENT_CURRENT + 1 and adjusting its range makes
// every node insert without a duplicate.
func TestIdentityPublisherRestore(t *testing.T) {
	ctx := context.Background()
	e, _ := openIdent(t)
	tb := identTable(t, e, "t", "int", 1, 1)
	r := &rowsOf{e: e, t: tb}
	must(t, e.ManageIdentityRange(ctx, admin, "db", "t", IdentityAuto, 100, 100, 100))
	for n := uint64(1); n <= 3; n++ {
		r.insert(t, n)
	}
	var snap bytes.Buffer
	if _, err := e.SaveSnapshot(ctx, &snap); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		for n := uint64(1); n <= 3; n++ {
			r.insert(t, n)
		}
	}
	if _, err := e.RestoreSnapshot(ctx, admin, &snap, true); err != nil {
		t.Fatal(err)
	}
	highest := int64(0)
	for n := uint64(1); n <= 3; n++ {
		info, err := e.IdentityOf(ctx, tb.ID, n)
		must(t, err)
		highest = max(highest, info.Current)
	}
	if pub, _ := e.IdentityOf(ctx, tb.ID, 1); pub.Current != 1 {
		t.Fatalf("publisher after restore: current %d, want 1 (the snapshot's)", pub.Current)
	}
	if highest != 411 { // node 3: (400,500], 11 rows
		t.Fatalf("highest IDENT_CURRENT %d, want 411", highest)
	}
	if _, err := e.CheckIdent(ctx, admin, "db", "t", 1, CheckIdentReseed, i64(highest+1), r.max); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AdjustIdentityRange(ctx, admin, "db", "t"); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, v := range r.vals {
		seen[v] = true
	}
	for i := 0; i < 50; i++ {
		for n := uint64(1); n <= 3; n++ {
			v := r.insert(t, n)
			if seen[v] {
				t.Fatalf("node %d handed out %d twice", n, v)
			}
			seen[v] = true
		}
	}
}
