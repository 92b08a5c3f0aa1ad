package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/sysemu/sysemu/engine/pgfiles"
	"github.com/sysemu/sysemu/engine/store/bolt"
)

// Concurrent metadata changes share transactions (group commit); a change
// that fails inside a group leaves no trace and does not take the others
// down; what was acknowledged survives a reopen, each table with its own ID
// and its relation file.
func TestGroupedChangesConcurrent(t *testing.T) {
	dir := t.TempDir()
	openAt := func() (*Engine, *bolt.Store) {
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
	e, st := openAt()
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
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	e, st = openAt()
	defer st.Close()
	check(e, "reopened")
	// New IDs come from above the stored high-water mark.
	before := e.State().NextTableID()
	if tb := mustCreate(t, e, "db", "after"); tb.ID != before {
		t.Fatalf("first table after reopen: ID %d, want %d", tb.ID, before)
	}
}
