package engine

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/mem"
)

// nodes opens n engines (cluster nodes 1..n) on one store.
func nodes(t *testing.T, st store.Store, n int) []*Engine {
	t.Helper()
	var es []*Engine
	for i := 1; i <= n; i++ {
		log, _ := logtest.NewNullLogger()
		e, err := Open(context.Background(), st, testProfile, log, Options{NodeID: uint64(i), IdentityCache: 10})
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return es
}

// A node with a stale State notices it inside its own change, reloads and
// runs the change on the current metadata; Refresh brings another node's
// changes without a change of its own.
func TestStaleStateReloads(t *testing.T) {
	ctx := context.Background()
	es := nodes(t, mem.New(), 2)
	a, b := es[0], es[1]
	mustDB(t, a, "db")
	ta := mustCreate(t, a, "db", "t1")
	if b.State().Table("db", "t1") != nil {
		t.Fatal("node 2 saw t1 before any refresh")
	}
	// b's State lacks db and t1: creating db again must fail, t2 must work.
	if _, err := b.CreateDatabase(ctx, "db", ""); err == nil {
		t.Error("node 2 created db a second time")
	}
	tb := mustCreate(t, b, "db", "t2")
	if tb.ID == ta.ID {
		t.Errorf("both nodes gave table ID %d", ta.ID)
	}
	// GreptimeDB's cached steps per node: node 1 holds [1024,1034), node 2
	// reserved the next range.
	if ta.ID != 1024 || tb.ID != 1034 {
		t.Errorf("table IDs %d and %d, want 1024 and 1034 (one step-10 range per node)", ta.ID, tb.ID)
	}
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if a.State().Table("db", "t2") == nil || a.NextTableID() != 1044 {
		t.Errorf("after Refresh node 1: t2 %v, next-id %d; want t2 and 1044", a.State().Table("db", "t2"), a.NextTableID())
	}
}

// Concurrent creates on three nodes: every table ID unique.
func TestClusterTableIDsUnique(t *testing.T) {
	es := nodes(t, mem.New(), 3)
	mustDB(t, es[0], "db")
	var mu sync.Mutex
	seen := map[uint64]string{}
	var wg sync.WaitGroup
	for i, e := range es {
		wg.Go(func() {
			for j := range 30 {
				name := string(rune('a'+i)) + string(rune('a'+j/26)) + string(rune('a'+j%26))
				tb, err := create(e, "db", name)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if other, dup := seen[tb.ID]; dup {
					t.Errorf("table ID %d given to %s and %s", tb.ID, other, name)
				}
				seen[tb.ID] = name
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 90 {
		t.Errorf("%d tables, want 90", len(seen))
	}
}

// set_next_table_id on one node makes the others drop their cached ranges
// when they refresh (the watch calls Refresh in cluster mode).
func TestJumpDropsOtherNodesRanges(t *testing.T) {
	ctx := context.Background()
	es := nodes(t, mem.New(), 2)
	a, b := es[0], es[1]
	mustDB(t, a, "db")
	mustCreate(t, a, "db", "a1") // node 1: [1024,1034)
	mustCreate(t, b, "db", "b1") // node 2: [1034,1044)
	if err := a.SetSwitch(ctx, admin, SwitchRecovery, true); err != nil {
		t.Fatal(err)
	}
	if err := a.SetNextTableID(ctx, admin, 5000); err != nil {
		t.Fatal(err)
	}
	if err := a.SetSwitch(ctx, admin, SwitchRecovery, false); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustCreate(t, b, "db", "b2").ID; got != 5000 {
		t.Errorf("node 2 after the jump and a refresh: table ID %d, want 5000", got)
	}
	if got := mustCreate(t, a, "db", "a2").ID; got != 5010 {
		t.Errorf("node 1 after the jump: table ID %d, want 5010 (node 2 holds [5000,5010))", got)
	}
}

// Identity values from several nodes sharing a table's counter (mode none)
// are unique: each node's block starts above every other node's.
func TestClusterIdentityUnique(t *testing.T) {
	es := nodes(t, mem.New(), 3)
	mustDB(t, es[0], "db")
	tb := identTable(t, es[0], "t", "bigint", 1, 1)
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for i, e := range es {
		if err := e.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for range 200 {
				v, err := e.NextIdentity(context.Background(), tb.ID, IdentityCaller{Node: 1, Admin: func() bool { return true }}, true, nil)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if other, dup := seen[v]; dup {
					t.Errorf("identity %d handed out by nodes %d and %d", v, other+1, i+1)
				}
				seen[v] = i
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// A reseed on node 1 moves node 2's cached block away once it refreshes.
	a, b := es[0], es[1]
	if _, err := a.CheckIdent(context.Background(), admin, "db", "t", 1, "RESEED", i64(100000), func() (*int64, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	v, err := b.NextIdentity(context.Background(), tb.ID, IdentityCaller{Node: 1, Admin: func() bool { return true }}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v <= 100000 {
		t.Errorf("node 2 after node 1's RESEED to 100000 and a refresh: %d, want above 100000", v)
	}
}

// SyncNode follows the liveness key: absent, the node goes offline and its
// store versions invalid; present again, online, with its address.
func TestSyncNode(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	es := nodes(t, st, 2)
	a := es[0]
	mustDB(t, a, "db")
	tb := mustCreate(t, a, "db", "t")
	live := func(id uint64, addr string) {
		err := st.Update(ctx, func(tx store.Tx) error {
			if addr == "" {
				return tx.Delete(LiveKey(id))
			}
			b, _ := json.Marshal(NodeAddrs{MySQL: addr, HTTP: "127.0.0.1:4001"})
			return tx.Put(LiveKey(id), b)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sta := func() uint8 {
		s := a.State()
		return StoreSta(s.Versions(&s.TableByID(tb.ID).Stores[0]))
	}
	before := sta()
	live(2, "")
	if err := a.SyncNode(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if a.State().Node(2).Online || sta() == before {
		t.Errorf("node 2 without liveness key: online %v, STORE_STA %d (was %d)", a.State().Node(2).Online, sta(), before)
	}
	live(2, "10.0.0.2:3307")
	if err := a.SyncNode(ctx, 2); err != nil {
		t.Fatal(err)
	}
	n := a.State().Node(2)
	if !n.Online || n.Addr != "10.0.0.2" || n.Port != 3307 {
		t.Errorf("node 2 back: %+v, want online at 10.0.0.2:3307", n)
	}
	// The last online node stays online (node 3 of the default three has
	// no liveness key either).
	live(1, "")
	live(2, "")
	for _, id := range []uint64{2, 3, 1} {
		if err := a.SyncNode(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	s := a.State()
	if !s.Node(1).Online || s.Node(2).Online || s.Node(3).Online {
		t.Errorf("online: node 1 %v, 2 %v, 3 %v; want the last one synced (1) left online", s.Node(1).Online, s.Node(2).Online, s.Node(3).Online)
	}
}

// A State caught up from the change log is the State a full load gives, after
// changes of every kind the log carries: databases, tables (partitioned,
// indexed, renamed, dropped), switches, sequence jumps and faults, events.
func TestCatchUpMatchesLoad(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	es := nodes(t, st, 2)
	a, b := es[0], es[1]
	mustDB(t, a, "db")
	if err := b.Refresh(ctx); err != nil { // node 2's Open logged nothing: one reload
		t.Fatal(err)
	}
	rev := b.State().meta.rev
	mustDB(t, a, "gone")
	mustCreate(t, a, "db", "t1")
	mustCreate(t, a, "gone", "t2")
	_, err := a.CreateTable(ctx, TableSpec{Database: "db", Name: "parts",
		Columns:    []Column{{Name: "id", Type: "bigint"}, {Name: "doc", Type: "longtext"}},
		PrimaryKey: []string{"id"}, Partition: &Partition{Type: "HASH", Expr: "id", Count: 4}})
	must(t, err)
	must(t, a.AddIndex(ctx, "db", "t1", Index{Name: "ix", Columns: []IndexColumn{{Name: "id"}}}))
	must(t, a.RenameTable(ctx, "db", "t1", "db", "t1r"))
	must(t, a.DropTable(ctx, "gone", "t2"))
	must(t, a.DropDatabase(ctx, "gone"))
	must(t, a.SetSwitch(ctx, admin, SwitchRecovery, true))
	must(t, a.SetNextTableID(ctx, admin, 3000))
	must(t, a.SetSwitch(ctx, admin, SwitchRecovery, false))
	must(t, a.SetSwitch(ctx, admin, SwitchMaintenance, true))
	must(t, a.FaultSetSequence(ctx, admin, SeqDatabaseID, 77))
	mustCreate(t, a, "db", "t3")

	base := b.State()
	var caught, loaded *State
	err = st.View(ctx, func(tx store.Tx) error {
		m, err := readMeta(tx)
		if err != nil {
			return err
		}
		if caught, err = b.catchUp(tx, base, m); err != nil {
			return err
		}
		loaded, err = b.load(tx, base.Profile)
		return err
	})
	must(t, err)
	if caught == nil {
		t.Fatalf("no catch-up from revision %d to %d", rev, loaded.meta.rev)
	}
	if got, want := stateDump(t, caught), stateDump(t, loaded); got != want {
		t.Errorf("caught-up State differs from the loaded one:\ncaught: %s\nloaded: %s", got, want)
	}
	// And Refresh takes it, dropping node 2's cached range (the jump).
	must(t, b.Refresh(ctx))
	if got := stateDump(t, b.State()); got != stateDump(t, loaded) {
		t.Errorf("after Refresh: %s", got)
	}
	if tb := mustCreate(t, b, "db", "t4"); tb.ID < 3000 {
		t.Errorf("node 2 after the jump: table ID %d, want at least 3000", tb.ID)
	}
}

// stateDump is everything a State holds, as JSON.
func stateDump(t *testing.T, s *State) string {
	t.Helper()
	var tables []*Table
	s.RangeTables(0, 0, false, func(tb *Table) bool { tables = append(tables, tb); return true })
	var byName []string
	s.byName.Ascend(func(tb *Table) bool { byName = append(byName, tb.Name); return true })
	var events []*Event
	s.events.Ascend(func(ev *Event) bool { events = append(events, ev); return true })
	var gstos []uint32
	s.RangeGstores(0, 1<<32, false, func(_ *Table, st *Store) bool { gstos = append(gstos, st.No); return true })
	b, err := json.Marshal(map[string]any{
		"meta": []uint64{s.meta.rev, s.meta.seqEpoch}, "seqs": s.Sequences, "switches": s.Switches,
		"dbs": s.Databases(), "tables": tables, "byName": byName, "events": events, "gstos": gstos,
		"load": s.nodeLoad, "partitions": s.partitions, "relmaps": s.relmaps, "nodes": s.nodes, "nodeEvents": s.nodeEvents,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A change whose writes are too big to log leaves a marker: a node behind
// it reloads in full, and ends on the same State.
func TestCatchUpReloadsPastBigEntry(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	es := nodes(t, st, 2)
	a, b := es[0], es[1]
	mustDB(t, a, "db")
	must(t, b.Refresh(ctx))
	_, err := a.CreateTable(ctx, TableSpec{Database: "db", Name: "big", Comment: strings.Repeat("x", logMaxBytes),
		Columns: []Column{{Name: "id", Type: "bigint"}}, PrimaryKey: []string{"id"}})
	must(t, err)
	err = st.View(ctx, func(tx store.Tx) error {
		m, err := readMeta(tx)
		if err != nil {
			return err
		}
		if s, err := b.catchUp(tx, b.State(), m); err != nil || s != nil {
			t.Errorf("catch-up past a %d-byte change: %v, %v; want a reload", logMaxBytes, s != nil, err)
		}
		return nil
	})
	must(t, err)
	must(t, b.Refresh(ctx))
	if tb := b.State().Table("db", "big"); tb == nil || len(tb.Comment) != logMaxBytes {
		t.Fatalf("node 2 after Refresh: %v", tb)
	}
	mustCreate(t, a, "db", "small") // logged again
	must(t, b.Refresh(ctx))
	if b.State().Table("db", "small") == nil {
		t.Error("node 2 missed the next change")
	}
}
