package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/sysemu/sysemu/engine/store"
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
