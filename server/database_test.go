package server

import (
	"context"
	"testing"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
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
	ctx := context.Background()
	s, eng := newDBServer(t)
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

// go-mysql-server looks a table up right after creating it, and answered
// 1105 "table was created but could not be found" when another connection
// dropped it in between (found by TestConflictingAdminChanges once DDL was
// group-committed). The creating statement keeps seeing its table.
func TestCreatedTableSurvivesConcurrentDrop(t *testing.T) {
	ctx := context.Background()
	s, eng := newDBServer(t)
	d := &userDatabase{s: s, name: "db"}
	sess := newSession(sql.NewBaseSession())
	stmt := sql.NewContext(ctx, sql.WithSession(sess), sql.WithPid(7))
	sch := sql.NewPrimaryKeySchema(sql.Schema{{Name: "id", Type: types.Int64, PrimaryKey: true, Source: "c"}})
	if err := d.CreateTable(stmt, "c", sch, sql.Collation_Unspecified, ""); err != nil {
		t.Fatal(err)
	}
	if err := eng.DropTable(ctx, "db", "c"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := d.GetTableInsensitive(stmt, "C"); !ok || err != nil {
		t.Fatalf("created table after a concurrent DROP: ok=%v err=%v", ok, err)
	}
	if _, ok, _ := d.GetTableInsensitive(stmt, "other"); ok {
		t.Fatal("a table the statement did not create resolved")
	}
	next := sql.NewContext(ctx, sql.WithSession(sess), sql.WithPid(8))
	if _, ok, err := d.GetTableInsensitive(next, "c"); ok || err != nil {
		t.Fatalf("dropped table in the next statement: ok=%v err=%v", ok, err)
	}
}

// newDBServer is a server over an in-memory engine with an empty database db.
func newDBServer(t *testing.T) (*Server, *engine.Engine) {
	t.Helper()
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
	return s, eng
}
