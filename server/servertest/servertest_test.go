package servertest_test

import (
	"database/sql"
	"testing"

	"github.com/sysemu/sysemu/server/servertest"
)

// BenchmarkStart measures start to ready: Start returns once the listeners
// are bound, and the first query is answered (stopping is not timed).
func BenchmarkStart(b *testing.B) {
	for i := 0; i < b.N; i++ {
		in := servertest.Start(b)
		db, err := sql.Open("mysql", in.RootDSN(""))
		if err != nil {
			b.Fatal(err)
		}
		var one int
		if err := db.QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
			b.Fatal(one, err)
		}
		b.StopTimer()
		db.Close()
		in.Stop()
		b.StartTimer()
	}
}

func TestDSNWithScenario(t *testing.T) {
	db, err := sql.Open("mysql", servertest.DSN(t, servertest.WithScenario("stale-next-table-id")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var next int
	if err := db.QueryRow("SELECT next_table_id()").Scan(&next); err != nil || next != 1026 {
		t.Fatalf("after the scenario next_table_id() = %d, %v; want 1026", next, err)
	}
}
