package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/mem"
)

// codecTables are tables with every field of a record set, and edge cases:
// zero values, nil against empty slices, extreme numbers, non-ASCII text.
func codecTables() []*Table {
	def, empty := "CURRENT_TIMESTAMP", ""
	full := &Table{
		ID: 1234, DatabaseID: 1025, Database: "shop", Name: "orders", Type: BaseTable,
		Columns: []Column{
			{Name: "id", Type: "bigint", AutoIncrement: true},
			{Name: "at", Type: "datetime", Nullable: true, Default: &def, Comment: "when"},
			{Name: "note", Type: "text", Default: &empty},
		},
		PrimaryKey: []string{"id"},
		Indexes: []Index{{Name: "by_at", Columns: []IndexColumn{{Name: "at"}, {Name: "note", Length: 10}}, Unique: true, Comment: "c"},
			{Name: "empty", Columns: []IndexColumn{}}},
		Partition: &Partition{Type: "RANGE COLUMNS", Linear: true, Expr: "id", Columns: []string{"at", "id"}, Count: 2,
			Definitions: []PartitionDef{{Name: "p0", Values: "LESS THAN (10)"}, {Name: "p1"}},
			Clause:      "PARTITION BY RANGE COLUMNS(at,id) (PARTITION p0 VALUES LESS THAN (10), PARTITION p1)"},
		Comment: "copy_num=2", Collation: "utf8mb4_bin",
		Created: time.Date(2026, 11, 21, 5, 40, 1, 123456789, time.UTC), CopyNum: 2,
		Stores: []Store{
			{No: 201, Kind: StorePartition, Copies: 2, Nodes: [3]uint32{1, 2}, StoreNos: [3]uint32{7, 9}, Epoch: 3},
			{No: 202, Kind: StoreIndex, Part: 1, Head: 201, Next: math.MaxUint32, Copies: 3,
				Nodes: [3]uint32{3, 1, 2}, StoreNos: [3]uint32{math.MaxUint32, 1, 2}, Epoch: math.MaxUint32},
		},
		FileNode: 16384, IdentityGen: 7,
		Identity: &Identity{Column: "id", Type: "bigint", Seed: math.MinInt64, Incr: -1, Max: math.MaxInt64},
	}
	return []*Table{
		full,
		{},
		{ID: math.MaxUint64, DatabaseID: math.MaxUint64, Name: "名前", Columns: []Column{}, PrimaryKey: []string{},
			Indexes: []Index{}, Stores: []Store{}, Partition: &Partition{Columns: []string{}, Definitions: []PartitionDef{}, Count: -1},
			Created: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), CopyNum: math.MinInt64},
		{ID: 1, Created: time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)},
	}
}

// Every table survives encoding and decoding exactly, through a fresh
// decoder and through one that already memoized its strings and schema.
func TestTableCodecRoundTrip(t *testing.T) {
	shared := newTableDecoder()
	for i, want := range codecTables() {
		b := appendTable(nil, want)
		for _, d := range []*tableDecoder{newTableDecoder(), shared, shared} {
			got, err := d.decodeTable(b)
			if err != nil {
				t.Fatalf("table %d: %v", i, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("table %d:\n got %+v\nwant %+v", i, got, want)
			}
		}
	}
	// A JSON record (the form before format 1) decodes as json does.
	full := codecTables()[0]
	js, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	got, err := newTableDecoder().decodeTable(js)
	if err != nil || !reflect.DeepEqual(got, full) {
		t.Fatalf("from JSON: %v\n got %+v\nwant %+v", err, got, full)
	}
	// The decoder shares equal schemas and strings between tables.
	a, _ := shared.decodeTable(appendTable(nil, full))
	c, _ := shared.decodeTable(appendTable(nil, full))
	if &a.Columns[0] != &c.Columns[0] || &a.PrimaryKey[0] != &c.PrimaryKey[0] || a.Database != c.Database {
		t.Fatal("equal schemas were not shared")
	}
}

// Truncated, extended or altered records fail with errTableRecord (or a
// JSON error for JSON): never a panic, never a wrong table.
func TestTableCodecRejects(t *testing.T) {
	b := appendTable(nil, codecTables()[0])
	for n := range len(b) {
		if _, err := newTableDecoder().decodeTable(b[:n]); !errors.Is(err, errTableRecord) {
			t.Fatalf("%d of %d bytes: %v", n, len(b), err)
		}
	}
	bad := [][]byte{
		append(bytes.Clone(b), 0),                    // a byte after the last field
		append([]byte{0x02}, b[1:]...),               // an unknown format
		{tableFormat1, 1, 1, 0, 0, 0, 0, 2},          // a bool that is 2
		{tableFormat1, 1, 1, 0, 0, 0, 1, 0xff},       // a schema longer than the record
		{tableFormat1, 1, 1, 0, 0, 0, 2, 0xf0, 0xff}, // a column count beyond the schema
	}
	for i, v := range bad {
		if _, err := newTableDecoder().decodeTable(v); !errors.Is(err, errTableRecord) {
			t.Fatalf("bad record %d: %v", i, err)
		}
	}
	if _, err := newTableDecoder().decodeTable([]byte(`{"id":`)); err == nil {
		t.Fatal("truncated JSON decoded")
	}
}

func TestLessFold(t *testing.T) {
	words := []string{"", "a", "A", "ab", "aB", "Ab", "b", "B", "t1", "T10", "t2", "_x", "[", "`", "z", "Z",
		"é", "É", "Ä", "ä", "aé", "aÉ", "İ", "i", "I", "K", "K", "ß", "\xff", "a\xff", "A\xfe"}
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		var sb strings.Builder
		for range rnd.IntN(4) {
			sb.WriteByte("aAzZ_é\xc3"[rnd.IntN(8)])
		}
		words = append(words, sb.String())
	}
	for _, a := range words {
		for _, b := range words[:40] {
			if got, want := lessFold(a, b), strings.ToLower(a) < strings.ToLower(b); got != want {
				t.Fatalf("lessFold(%q, %q) = %v, want %v", a, b, got, want)
			}
			if got, want := lessFold(b, a), strings.ToLower(b) < strings.ToLower(a); got != want {
				t.Fatalf("lessFold(%q, %q) = %v, want %v", b, a, got, want)
			}
		}
	}
}

// codecCatalog fills e with tables of every shape a record holds:
// partitions (hash and range), indexes, an identity, replicas, a rename, a
// store split and a rewritten relfilenode.
func codecCatalog(t *testing.T, e *Engine) {
	t.Helper()
	ctx := context.Background()
	for _, db := range []string{"shop", "Üdb"} {
		if _, err := e.CreateDatabase(ctx, db, ""); err != nil {
			t.Fatal(err)
		}
	}
	def := "0"
	specs := []TableSpec{
		{Database: "shop", Name: "plain", Columns: []Column{{Name: "id", Type: "bigint"}}, PrimaryKey: []string{"id"}},
		{Database: "shop", Name: "Hashed", Columns: []Column{{Name: "id", Type: "int"}, {Name: "v", Type: "varchar(20)", Nullable: true, Default: &def}},
			PrimaryKey: []string{"id"}, Partition: &Partition{Type: "HASH", Expr: "id", Count: 4, Clause: "PARTITION BY HASH (id) PARTITIONS 4"}},
		{Database: "shop", Name: "ranged", Columns: []Column{{Name: "id", Type: "int"}, {Name: "doc", Type: "longtext", Comment: "lob"}},
			PrimaryKey: []string{"id"}, Comment: "copy_num=2",
			Indexes:   []Index{{Name: "d", Columns: []IndexColumn{{Name: "doc", Length: 8}}}},
			Partition: &Partition{Type: "RANGE", Expr: "id", Count: 2, Definitions: []PartitionDef{{Name: "p0", Values: "LESS THAN (10)"}, {Name: "p1", Values: "LESS THAN MAXVALUE"}}}},
		{Database: "Üdb", Name: "ident", Columns: []Column{{Name: "id", Type: "int", AutoIncrement: true}}, PrimaryKey: []string{"id"},
			Identity: &Identity{Column: "id", Type: "int", Seed: 1, Incr: 1, Max: math.MaxInt32}},
	}
	for _, s := range specs {
		if _, err := e.CreateTable(ctx, s); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
	}
	if err := e.AddIndex(ctx, "shop", "plain", Index{Name: "u", Unique: true, Columns: []IndexColumn{{Name: "id"}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.RenameTable(ctx, "shop", "plain", "Üdb", "Moved"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.TruncateTableAs(ctx, Actor{User: "root"}, "shop", "ranged"); err != nil {
		t.Fatal(err)
	}
}

// stateTables is every table of s in ID order, and the indexes' view of them.
func stateTables(s *State) (tables []*Table, gstos []uint64, byName []string) {
	s.RangeTables(0, 0, false, func(t *Table) bool { tables = append(tables, t); return true })
	s.RangeGstores(0, 0, false, func(t *Table, st *Store) bool {
		gstos = append(gstos, uint64(st.No)<<32|t.ID)
		return true
	})
	for _, d := range s.Databases() {
		for _, t := range s.Tables(d.Name) {
			byName = append(byName, d.Name+"."+t.Name)
		}
	}
	return tables, gstos, byName
}

// rewriteTables stores every table record whose index passes keep as JSON,
// exactly as the engine wrote them before format 1 (json.Marshal of the
// Table: its field tags are unchanged).
func rewriteTables(t *testing.T, st store.Store, keep func(i int) bool) int {
	t.Helper()
	n := 0
	err := st.Update(context.Background(), func(tx store.Tx) error {
		var keys, vals [][]byte
		i := 0
		err := tx.Scan(tablePrefix, store.PrefixEnd(tablePrefix), false, func(k, v []byte) (bool, error) {
			if keep(i) {
				tb, err := newTableDecoder().decodeTable(v)
				if err != nil {
					return false, err
				}
				js, err := json.Marshal(tb)
				if err != nil {
					return false, err
				}
				keys, vals = append(keys, bytes.Clone(k)), append(vals, js)
			}
			i++
			return true, nil
		})
		for i := range keys {
			if err == nil {
				err = tx.Put(keys[i], vals[i])
			}
		}
		n = len(keys)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A store whose table records are JSON (written before format 1) opens with
// the same State as the binary one, and Open rewrites every record in the
// binary form, byte for byte what the engine writes itself. A store left
// half converted (a crash between two conversion batches) opens the same.
func TestOpenJSONTables(t *testing.T) {
	st := mem.New()
	codecCatalog(t, fuzzEngine(t, st))
	binary := metadata(t, fuzzEngine(t, st))
	want := fuzzEngine(t, st).State()
	wantTables, wantGstos, wantNames := stateTables(want)
	if len(wantTables) < 5 || len(wantGstos) < 13 {
		t.Fatalf("catalog too small: %d tables, %d stores", len(wantTables), len(wantGstos))
	}
	for _, keep := range []func(int) bool{
		func(int) bool { return true },
		func(i int) bool { return i%2 == 0 },
	} {
		if n := rewriteTables(t, st, keep); n < 2 {
			t.Fatalf("rewrote %d records", n)
		}
		e := fuzzEngine(t, st)
		got := e.State()
		gotTables, gotGstos, gotNames := stateTables(got)
		if !reflect.DeepEqual(gotTables, wantTables) {
			t.Fatalf("tables from JSON differ:\n got %+v\nwant %+v", gotTables, wantTables)
		}
		if !reflect.DeepEqual(gotGstos, wantGstos) || !reflect.DeepEqual(gotNames, wantNames) ||
			got.PartitionCount() != want.PartitionCount() || !reflect.DeepEqual(got.nodeLoad, want.nodeLoad) ||
			!reflect.DeepEqual(got.Sequences, want.Sequences) {
			t.Fatal("indexes from JSON differ")
		}
		if m := metadata(t, e); m != binary {
			t.Fatalf("after conversion the metadata differs:\n got %s\nwant %s", m, binary)
		}
		if again, _, _ := stateTables(fuzzEngine(t, st).State()); !reflect.DeepEqual(again, wantTables) {
			t.Fatal("tables after conversion differ")
		}
	}
}

// FuzzTableCodec decodes any bytes as a table record: an error or a table
// whose binary form decodes to the same table again.
func FuzzTableCodec(f *testing.F) {
	for _, tb := range codecTables() {
		f.Add(appendTable(nil, tb))
		js, err := json.Marshal(tb)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(js)
	}
	f.Add([]byte{tableFormat1})
	f.Fuzz(func(t *testing.T, b []byte) {
		tb, err := newTableDecoder().decodeTable(b)
		if err != nil {
			if len(b) > 0 && b[0] != '{' && !errors.Is(err, errTableRecord) {
				t.Fatalf("error without errTableRecord: %v", err)
			}
			return
		}
		again, err := newTableDecoder().decodeTable(appendTable(nil, tb))
		if err != nil {
			t.Fatalf("re-encoded table does not decode: %v", err)
		}
		if !reflect.DeepEqual(again, tb) && !sameButLocation(again, tb) {
			t.Fatalf("round trip changed the table:\n got %+v\nwant %+v", again, tb)
		}
	})
}

// sameButLocation reports whether a and b differ at most in Created's time
// zone (a JSON record may carry any offset; the binary form keeps the
// instant, in UTC).
func sameButLocation(a, b *Table) bool {
	if !a.Created.Equal(b.Created) {
		return false
	}
	x, y := *a, *b
	x.Created, y.Created = time.Time{}, time.Time{}
	return reflect.DeepEqual(&x, &y)
}

// A table record must hold the table its key names, and never a system
// table: Open refuses such a store rather than index a table twice.
func TestOpenRejectsMisplacedRecords(t *testing.T) {
	for _, id := range []uint64{2000, testProfile.SystemTables[0].ID} {
		st := mem.New()
		e := fuzzEngine(t, st)
		if _, err := e.CreateDatabase(context.Background(), "shop", ""); err != nil {
			t.Fatal(err)
		}
		tb := mustCreate(t, e, "shop", "a")
		moved := *tb
		moved.ID = id
		err := st.Update(context.Background(), func(tx store.Tx) error {
			if id == 2000 { // the record of table 2000 under table a's key
				return tx.Put(idKey(tablePrefix, tb.ID), appendTable(nil, &moved))
			}
			return putTableRecord(tx, &moved)
		})
		if err != nil {
			t.Fatal(err)
		}
		log, _ := logtest.NewNullLogger()
		if _, err := Open(context.Background(), st, testProfile, log, Options{}); !errors.Is(err, errTableRecord) {
			t.Fatalf("table %d: open gave %v", id, err)
		}
	}
}

// engine/testdata/tables-json.snapshot is a metadata snapshot saved by the
// engine before format 1 (codecCatalog, the clock fixed as below), so
// its table records are JSON as that engine wrote them. Restored and opened,
// it gives the tables the current engine builds from the same steps, and
// the open leaves every record in the binary form.
func TestOpenSnapshotOfJSONTables(t *testing.T) {
	ctx := context.Background()
	log, _ := logtest.NewNullLogger()
	opts := Options{Now: func() time.Time { return time.Date(2026, 11, 21, 6, 0, 0, 123456789, time.UTC) }}
	open := func(st store.Store) *Engine {
		e, err := Open(ctx, st, testProfile, log, opts)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	snap, err := os.ReadFile("testdata/tables-json.snapshot")
	if err != nil {
		t.Fatal(err)
	}
	st := mem.New()
	if _, err := open(st).RestoreSnapshot(ctx, Actor{User: "test"}, bytes.NewReader(snap), false); err != nil {
		t.Fatal(err)
	}
	forms := func() (json, binary int) {
		err := st.View(ctx, func(tx store.Tx) error {
			return tx.Scan(tablePrefix, store.PrefixEnd(tablePrefix), false, func(k, v []byte) (bool, error) {
				if v[0] == '{' {
					json++
				} else if v[0] == tableFormat1 {
					binary++
				}
				return true, nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return json, binary
	}
	if j, b := forms(); j != 4 || b != 0 {
		t.Fatalf("the snapshot restored %d JSON and %d binary records, want 4 JSON", j, b)
	}
	got, gotGstos, gotNames := stateTables(open(st).State())
	if j, b := forms(); j != 0 || b != 4 {
		t.Fatalf("after open: %d JSON and %d binary records", j, b)
	}
	fresh := mem.New()
	codecCatalog(t, open(fresh))
	want, wantGstos, wantNames := stateTables(open(fresh).State())
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotGstos, wantGstos) || !reflect.DeepEqual(gotNames, wantNames) {
		t.Fatalf("tables from the old snapshot differ:\n got %+v\nwant %+v", got, want)
	}
}
