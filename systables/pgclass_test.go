package systables

import (
	"io"
	"testing"

	"github.com/dolthub/go-mysql-server/sql"
)

// PG_CLASS from a database: one row per OID in ascending order (the
// adapter's batched reads resume after the last key, so a duplicate OID
// would be lost), its catalogs, the shared ones and its tables; the
// batched scan sees every row.
func TestPGClassFromADatabase(t *testing.T) {
	e := testEngine(t)
	ctx := sql.NewEmptyContext()
	ctx.SetCurrentDatabase("shop")
	var oids []uint64
	byName := map[string]sql.Row{}
	if err := pgClass.Rows(ctx, e, All, func(r sql.Row) bool {
		oids = append(oids, r[0].(uint64))
		byName[r[1].(string)] = r
		return true
	}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(oids); i++ {
		if oids[i] <= oids[i-1] {
			t.Fatalf("OIDs not strictly ascending at %d: %d after %d", i, oids[i], oids[i-1])
		}
	}
	shop := e.State().Database("shop").ID
	for name, want := range map[string]sql.Row{
		"pg_class":    {uint64(600), "pg_class", uint64(11), "r", uint64(0), uint64(0), shop},
		"pg_database": {uint64(630), "pg_database", uint64(11), "r", uint64(0), uint64(1664), uint64(0)},
		"orders":      {uint64(1024), "orders", uint64(2200), "r", uint64(1024), uint64(0), shop},
	} {
		if got := byName[name]; len(got) != len(want) || sql.FormatRow(got) != sql.FormatRow(want) {
			t.Errorf("%s: got %v want %v", name, got, want)
		}
	}
	it, _ := New(pgClass, e, "SYSTEM").PartitionRows(ctx, partition{r: All})
	n := 0
	for {
		if _, err := it.Next(ctx); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != len(oids) || n <= readBatch {
		t.Fatalf("batched scan read %d rows, direct %d (batch %d)", n, len(oids), readBatch)
	}
}
