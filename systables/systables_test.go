package systables

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/dolthub/go-mysql-server/sql"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/engine/store/mem"
	"github.com/sysemu/sysemu/seed"
)

func testEngine(t *testing.T) *engine.Engine {
	t.Helper()
	ctx := context.Background()
	log, _ := logtest.NewNullLogger()
	e, err := engine.Open(ctx, mem.New(), seed.Greptime(), log, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateDatabase(ctx, "shop", ""); err != nil {
		t.Fatal(err)
	}
	_, err = e.CreateTable(ctx, engine.TableSpec{Database: "shop", Name: "orders",
		Columns:    []engine.Column{{Name: "id", Type: "bigint", AutoIncrement: true}},
		PrimaryKey: []string{"id"},
		Partition:  &engine.Partition{Type: "HASH", Expr: "id", Count: 4, Clause: "PARTITION BY HASH (id) PARTITIONS 4"},
		Identity:   &engine.Identity{Column: "id", Type: "bigint", Seed: 1, Incr: 1, Max: 1<<63 - 1}})
	if err != nil {
		t.Fatal(err)
	}
	// A replicated table: identity ranges on every node.
	_, err = e.CreateTable(ctx, engine.TableSpec{Database: "shop", Name: "items",
		Columns:    []engine.Column{{Name: "id", Type: "int", AutoIncrement: true}},
		PrimaryKey: []string{"id"},
		Identity:   &engine.Identity{Column: "id", Type: "int", Seed: 1, Incr: 1, Max: 1<<31 - 1}})
	if err != nil {
		t.Fatal(err)
	}
	a := engine.Actor{User: "root"}
	// A restore of the database into itself: an ID map, checkpoints and
	// progress to show.
	orders := e.State().Table("shop", "orders")
	k, _ := engine.AppendTuple(nil, int64(1))
	if err := e.ApplyEdits(ctx, orders.ID, false, []engine.RowEdit{{Op: engine.OpInsert, Key: k, Value: k, Part: 1}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() + "/bk"
	if _, err := e.Backup(ctx, dir, []string{"shop"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Restore(ctx, a, dir, engine.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.ManageIdentityRange(ctx, a, "shop", "items", engine.IdentityAuto, 1000, 100, 80); err != nil {
		t.Fatal(err)
	}
	if err := e.SetSwitch(ctx, a, engine.SwitchRecovery, true); err != nil {
		t.Fatal(err)
	}
	if err := e.SetNextTableID(ctx, a, 2000); err != nil {
		t.Fatal(err)
	}
	return e
}

// Every declared table's rows must fit its declared columns.
func TestRowsMatchColumns(t *testing.T) {
	e := testEngine(t)
	ctx := sql.NewEmptyContext()
	for _, d := range append([]*Def{InformationSchemaTables}, SystemTables...) {
		tbl := New(d, e, "db")
		n := 0
		err := d.Rows(ctx, e, All, func(row sql.Row) bool {
			n++
			if len(row) != len(d.Schema) {
				t.Fatalf("%s: row has %d values, schema %d columns", d.Name, len(row), len(d.Schema))
			}
			for i, c := range d.Schema {
				if row[i] == nil {
					if !c.Nullable {
						t.Errorf("%s.%s: NULL in a NOT NULL column (row %v)", d.Name, c.Name, row)
					}
					continue
				}
				if _, inRange, err := c.Type.Convert(ctx, row[i]); err != nil || inRange != sql.InRange {
					t.Errorf("%s.%s: value %#v does not fit %s: %v", d.Name, c.Name, row[i], c.Type, err)
				}
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("%s: no rows", d.Name)
		}
		if cnt, exact, _ := tbl.RowCount(ctx); !exact || cnt != uint64(n) {
			t.Errorf("%s: RowCount %d, rows %d", d.Name, cnt, n)
		}
	}
}

func TestTablesRangeAndOrder(t *testing.T) {
	e := testEngine(t)
	ctx := sql.NewEmptyContext()
	var ids []int64
	_ = InformationSchemaTables.Rows(ctx, e, KeyRange{Reverse: true}, func(r sql.Row) bool {
		ids = append(ids, r[len(r)-1].(int64))
		return len(ids) < 2
	})
	if len(ids) != 2 || ids[0] != 1025 || ids[1] != 1024 {
		t.Fatalf("top-2 by TABLE_ID desc = %v, want 1025, 1024", ids)
	}
	var only []int64
	_ = InformationSchemaTables.Rows(ctx, e, KeyRange{Lo: 3, Hi: 4}, func(r sql.Row) bool {
		only = append(only, r[len(r)-1].(int64))
		if r[2] != "tables" || r[1] != "information_schema" {
			t.Errorf("id 3 is %v.%v, want information_schema.tables", r[1], r[2])
		}
		return true
	})
	if len(only) != 1 {
		t.Fatalf("range [3,4) = %v", only)
	}
}

func TestKeyRange(t *testing.T) {
	cases := []struct {
		name  string
		expr  sql.MySQLRangeColumnExpr
		want  KeyRange
		empty bool
	}{
		{"=5", sql.MySQLRangeColumnExpr{LowerBound: sql.Below{Key: int64(5)}, UpperBound: sql.Above{Key: int64(5)}}, KeyRange{Lo: 5, Hi: 6}, false},
		{">5", sql.MySQLRangeColumnExpr{LowerBound: sql.Above{Key: int64(5)}, UpperBound: sql.AboveAll{}}, KeyRange{Lo: 6}, false},
		{"<5", sql.MySQLRangeColumnExpr{LowerBound: sql.AboveNull{}, UpperBound: sql.Below{Key: int64(5)}}, KeyRange{Hi: 5}, false},
		{"<=2.5", sql.MySQLRangeColumnExpr{LowerBound: sql.AboveNull{}, UpperBound: sql.Above{Key: 2.5}}, KeyRange{Hi: 3}, false},
		{"<-1", sql.MySQLRangeColumnExpr{LowerBound: sql.AboveNull{}, UpperBound: sql.Below{Key: int64(-1)}}, KeyRange{}, true},
		{"is null", sql.MySQLRangeColumnExpr{LowerBound: sql.BelowNull{}, UpperBound: sql.AboveNull{}}, KeyRange{}, true},
	}
	for _, c := range cases {
		got, empty := keyRange(c.expr)
		if empty != c.empty || (!empty && got != c.want) {
			t.Errorf("%s: got %+v empty=%v, want %+v empty=%v", c.name, got, empty, c.want, c.empty)
		}
	}
}

// A non-unique key read in batches: a batch never ends inside a key's run
// of rows, so resuming after the last key loses none.
func TestNonUniqueKeyBatches(t *testing.T) {
	e := testEngine(t)
	ctx := sql.NewEmptyContext()
	if err := e.SetSwitch(context.Background(), engine.Actor{User: "root"}, engine.SwitchRecovery, false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		_, err := e.CreateTable(context.Background(), engine.TableSpec{Database: "shop", Name: fmt.Sprintf("p%d", i),
			Columns: []engine.Column{{Name: "id", Type: "int"}}, Partition: &engine.Partition{Type: "HASH", Expr: "id", Count: 30}})
		if err != nil {
			t.Fatal(err)
		}
	}
	tbl := New(partis, e, "db")
	iter, err := tbl.PartitionRows(ctx, partition{r: All})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for {
		row, err := iter.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprint(row[1], "/", row[2])
		if seen[k] {
			t.Fatalf("row %s twice", k)
		}
		seen[k] = true
	}
	if want := 4 + 3*30; len(seen) != want {
		t.Fatalf("read %d partitions, want %d", len(seen), want)
	}
}
