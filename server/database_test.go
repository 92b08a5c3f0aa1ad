package server

import (
	"context"
	"testing"

	"github.com/dolthub/go-mysql-server/sql"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/engine/store/mem"
	"github.com/sysemu/sysemu/seed"
)

// A table a statement listed stays resolvable for that statement after a
// concurrent DROP: go-mysql-server's TRUNCATE looks every listed name up
// again for foreign keys, and failed with 1146 naming the dropped table
// (found by the crash loop: "TRUNCATE TABLE t1_151: Table 'crash.t4_187'
// doesn't exist"). The next statement no longer sees it.
func TestListedTableSurvivesConcurrentDrop(t *testing.T) {
	log, _ := logtest.NewNullLogger()
	ctx := context.Background()
	eng, err := engine.Open(ctx, mem.New(), seed.Greptime(), log, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{}, eng, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.CreateDatabase(ctx, "db", ""); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if _, err := eng.CreateTable(ctx, engine.TableSpec{Database: "db", Name: name,
			Columns: []engine.Column{{Name: "id", Type: "BIGINT"}}, PrimaryKey: []string{"id"}}); err != nil {
			t.Fatal(err)
		}
	}
	d := &userDatabase{s: s, name: "db"}
	sess := newSession(sql.NewBaseSession())
	stmt := sql.NewContext(ctx, sql.WithSession(sess), sql.WithPid(41))
	names, err := d.GetTableNames(stmt)
	if err != nil || len(names) != 2 {
		t.Fatalf("GetTableNames: %v %v", names, err)
	}
	if err := eng.DropTable(ctx, "db", "b"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := d.GetTableInsensitive(stmt, "b"); !ok || err != nil {
		t.Fatalf("listed table b after a concurrent DROP: ok=%v err=%v", ok, err)
	}
	// The statement's own DROP is seen at once.
	if err := d.DropTable(stmt, "a"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := d.GetTableInsensitive(stmt, "a"); ok || err != nil {
		t.Fatalf("table a after the statement dropped it: ok=%v err=%v", ok, err)
	}
	next := sql.NewContext(ctx, sql.WithSession(sess), sql.WithPid(42))
	if _, ok, err := d.GetTableInsensitive(next, "b"); ok || err != nil {
		t.Fatalf("dropped table b in the next statement: ok=%v err=%v", ok, err)
	}
}
