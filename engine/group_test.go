package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/sysemu/sysemu/engine/pgfiles"
	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/bolt"
)

// Concurrent metadata changes share transactions (group commit); a change
// that fails inside a group leaves no trace and does not take the others
// down; what was acknowledged survives a reopen, each table with its own ID
// and its relation file.
func TestGroupedChangesConcurrent(t *testing.T) {
	dir := t.TempDir()
	e, st := openBoltAt(t, dir)
	mustDB(t, e, "db")
	const workers, each = 8, 25
	var mu sync.Mutex
	made := map[string]uint64{}
	dups := 0
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("t%d_%d", w, i)
				if i == each/2 {
					name = "dup" // every worker tries it; one wins
				}
				tb, err := create(e, "db", name)
				mu.Lock()
				switch {
				case errors.Is(err, ErrTableExists) && name == "dup":
					dups++
				case err != nil:
					t.Errorf("%s: %v", name, err)
				default:
					made[name] = tb.ID
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if dups != workers-1 || len(made) != workers*(each-1)+1 {
		t.Fatalf("%d tables, %d refused duplicates; want %d and %d", len(made), dups, workers*(each-1)+1, workers-1)
	}
	check := func(e *Engine, when string) {
		s := e.State()
		seen := map[uint64]string{}
		var top uint64
		for name, id := range made {
			tb := s.Table("db", name)
			if tb == nil || tb.ID != id {
				t.Fatalf("%s: table %s: %+v, want ID %d", when, name, tb, id)
			}
			if other, ok := seen[id]; ok {
				t.Fatalf("%s: ID %d handed out to %s and %s", when, id, other, name)
			}
			seen[id] = name
			top = max(top, id)
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(pgfiles.RelationPath(tb.DatabaseID, id)))); err != nil {
				t.Fatalf("%s: relation file of %s: %v", when, name, err)
			}
		}
		if n := len(s.Tables("db")); n != len(made) {
			t.Fatalf("%s: %d tables in the catalog, want %d", when, n, len(made))
		}
		if next := s.NextTableID(); next <= top || (next-1024)%10 != 0 {
			t.Fatalf("%s: next_table_id %d, highest ID %d", when, next, top)
		}
	}
	check(e, "running")
	// The background sync catches up and deletes the records.
	for i := 0; pendingFiles(t, st) > 0; i++ {
		if i == 100 {
			t.Fatalf("%d relation file records left after 5s", pendingFiles(t, st))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	e, st = openBoltAt(t, dir)
	defer st.Close()
	check(e, "reopened")
	// New IDs come from above the stored high-water mark.
	before := e.State().NextTableID()
	if tb := mustCreate(t, e, "db", "after"); tb.ID != before {
		t.Fatalf("first table after reopen: ID %d, want %d", tb.ID, before)
	}
}

// A crash before the background sync of new relation files is redone at
// Open, as PostgreSQL's recovery replays XLOG_SMGR_CREATE: a recorded file
// its table still uses is created again if it is missing; a record of a
// file no table uses creates nothing; the records are then gone.
func TestRelationFileRedo(t *testing.T) {
	dir := t.TempDir()
	e, st := openBoltAt(t, dir)
	mustDB(t, e, "db")
	kept := mustCreate(t, e, "db", "kept")
	gone := mustCreate(t, e, "db", "gone")
	if err := e.DropTable(context.Background(), "db", "gone"); err != nil {
		t.Fatal(err)
	}
	path := func(tb *Table) string {
		return filepath.Join(dir, filepath.FromSlash(pgfiles.RelationPath(tb.DatabaseID, tb.RelFileNode())))
	}
	// What a power loss before the sync can leave: records, and the file lost.
	err := st.Update(context.Background(), func(tx store.Tx) error {
		for _, tb := range []*Table{kept, gone} {
			if err := tx.Put(pendingFileKey(tb.DatabaseID, tb.RelFileNode()), binary.BigEndian.AppendUint64(nil, tb.ID)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range []*Table{kept, gone} {
		if err := os.Remove(path(tb)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	st.Close()
	_, st = openBoltAt(t, dir)
	defer st.Close()
	if _, err := os.Stat(path(kept)); err != nil {
		t.Fatalf("relation file of kept table not redone: %v", err)
	}
	if _, err := os.Stat(path(gone)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("relation file of a dropped table created: %v", err)
	}
	err = st.View(context.Background(), func(tx store.Tx) error {
		return tx.Scan(pendingFilePrefix, store.PrefixEnd(pendingFilePrefix), false, func(k, _ []byte) (bool, error) {
			t.Errorf("record %x left after redo", k)
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// pendingFiles counts the relation file records of st.
func pendingFiles(t *testing.T, st store.Store) int {
	n := 0
	err := st.View(context.Background(), func(tx store.Tx) error {
		return tx.Scan(pendingFilePrefix, store.PrefixEnd(pendingFilePrefix), false, func(_, _ []byte) (bool, error) {
			n++
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// BenchmarkCreateTable: CREATE TABLE in the engine over bbolt with fsync and
// relation files, from 1 and 8 goroutines (group commit); with 10 hash
// partitions too.
func BenchmarkCreateTable(b *testing.B) {
	for _, conns := range []int{1, 8} {
		for _, parts := range []int{0, 10} {
			b.Run(fmt.Sprintf("conns=%d/partitions=%d", conns, parts), func(b *testing.B) {
				dir := b.TempDir()
				st, err := bolt.Open(filepath.Join(dir, "db"), bolt.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				log, _ := logtest.NewNullLogger()
				e, err := Open(context.Background(), st, testProfile, log, Options{Dir: dir})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := e.CreateDatabase(context.Background(), "db", ""); err != nil {
					b.Fatal(err)
				}
				var part *Partition
				if parts > 0 {
					part = &Partition{Type: "HASH", Expr: "id", Count: parts, Clause: fmt.Sprintf("PARTITION BY HASH (id) PARTITIONS %d", parts)}
				}
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for range conns {
					wg.Go(func() {
						for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
							_, err := e.CreateTable(context.Background(), TableSpec{Database: "db", Name: fmt.Sprintf("t%d", i),
								Columns: []Column{{Name: "id", Type: "bigint"}}, PrimaryKey: []string{"id"}, Partition: part})
							if err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tables/s")
			})
		}
	}
}

// openBoltAt opens an engine on a bolt store and relation files in dir.
func openBoltAt(t *testing.T, dir string) (*Engine, *bolt.Store) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(dir, "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log, _ := logtest.NewNullLogger()
	e, err := Open(context.Background(), st, testProfile, log, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return e, st
}
