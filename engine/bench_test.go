package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/bolt"
	"github.com/sysemu/sysemu/engine/store/mem"
)

// benchTables is the catalog size of the State benchmarks: big enough for
// the B-tree depth to show, small enough that setup stays a few ms in CI
// (-benchtime=1x).
const benchTables = 20000

// benchState builds a State of benchTables tables in one database, every
// tenth with ten partitions and each table with one store per partition
// plus its own, without going through the store.
func benchState(b *testing.B) *State {
	b.Helper()
	s := newState(testProfile, nil, nil)
	db := &Database{ID: 1024, Name: "bench"}
	s.dbs.ReplaceOrInsert(db)
	gsto := uint32(201)
	for i := range benchTables {
		t := &Table{ID: uint64(1024 + i), DatabaseID: db.ID, Database: db.Name, Name: fmt.Sprintf("t%d", i), Type: BaseTable}
		parts := 0
		if i%10 == 0 {
			parts = 10
			t.Partition = &Partition{Type: "HASH", Count: parts}
		}
		for range parts + 1 {
			t.Stores = append(t.Stores, Store{No: gsto, Copies: 1})
			gsto++
		}
		s.putTable(t)
	}
	return s
}

// Handing out one table ID: the sequence's cached range, refilled in a
// store transaction every step IDs (GreptimeDB's Sequence::next).
func BenchmarkSequenceNext(b *testing.B) {
	st := mem.New()
	seq := newSequence(SeqTableID, 1024, 10)
	ctx := context.Background()
	for b.Loop() {
		var c seqCache
		if err := st.Update(ctx, func(tx store.Tx) error {
			var err error
			_, c, err = seq.next(tx)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		seq.cache = c
	}
}

// Publishing a change: clone the State (copy-on-write B-trees) and put one
// table, as every CREATE TABLE does before it publishes.
func BenchmarkStatePublish(b *testing.B) {
	s := benchState(b)
	id := uint64(1024 + benchTables)
	for b.Loop() {
		c := s.clone()
		c.putTable(&Table{ID: id, DatabaseID: 1024, Database: "bench", Name: fmt.Sprintf("t%d", id), Type: BaseTable,
			Stores: []Store{{No: uint32(id * 20), Copies: 1}}})
		s = c
		id++
	}
}

// A system-table scan: every table in ID order (what an unindexed
// INFORMATION_SCHEMA.TABLES or SYS_OBJECTS read walks).
func BenchmarkStateScan(b *testing.B) {
	s := benchState(b)
	for b.Loop() {
		n := 0
		s.RangeTables(0, 0, false, func(*Table) bool { n++; return true })
		if n < benchTables {
			b.Fatalf("scanned %d tables", n)
		}
	}
}

// The index lookups behind the ID checks: top-1 TABLE_ID, a table by ID, a
// table by name, a store by GSTO_NO.
func BenchmarkStateLookup(b *testing.B) {
	s := benchState(b)
	mid := uint64(1024 + benchTables/2)
	for b.Loop() {
		var top *Table
		s.RangeTables(0, 0, true, func(t *Table) bool { top = t; return false })
		if top == nil || s.TableByID(mid) == nil || s.Table("bench", "t10000") == nil {
			b.Fatal("lookup missed")
		}
		if t, _ := s.Gstore(5000); t == nil {
			b.Fatal("store lookup missed")
		}
	}
}

// Opening a catalog from disk: the State built from every stored table
// (cold start), with the heap it keeps. The catalog has
// $SYSEMU_BENCH_TABLES tables (default 2,000; every tenth with ten hash
// partitions, three replicas per store), created through the engine on a
// bbolt file without fsync. For the scale estimate:
//
//	SYSEMU_BENCH_TABLES=200000 go test -run - -bench ColdStart -benchtime 1x ./engine
func BenchmarkColdStart(b *testing.B) {
	n := 2000
	if v := os.Getenv("SYSEMU_BENCH_TABLES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	path := filepath.Join(b.TempDir(), "sysemu.db")
	ctx := context.Background()
	log, _ := logtest.NewNullLogger()
	st, err := bolt.Open(path, bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	e, err := Open(ctx, st, testProfile, log, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.CreateDatabase(ctx, "bench", ""); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	for i := range n {
		spec := TableSpec{Database: "bench", Name: "t" + strconv.Itoa(i),
			Columns: []Column{{Name: "id", Type: "bigint"}, {Name: "v", Type: "varchar(32)"}}, PrimaryKey: []string{"id"}}
		if i%10 == 0 {
			spec.Partition = &Partition{Type: "HASH", Expr: "id", Count: 10}
		}
		if _, err := e.CreateTable(ctx, spec); err != nil {
			b.Fatal(err)
		}
	}
	created := time.Since(t0)
	stores := e.State().GstoreCount()
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	e = nil
	var heap uint64
	for b.Loop() {
		st, err := bolt.Open(path, bolt.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		e, err := Open(ctx, st, testProfile, log, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if got := e.State().TableCount(); got < n {
			b.Fatalf("reopened with %d tables, want %d", got, n)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = ms.HeapAlloc
		runtime.KeepAlive(e)
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "tables")
	b.ReportMetric(float64(stores), "stores")
	b.ReportMetric(float64(n)/created.Seconds(), "creates/s")
	b.ReportMetric(float64(heap)/float64(n), "heap-B/table")
}
