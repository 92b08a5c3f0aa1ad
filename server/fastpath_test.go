package server_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/dolthub/vitess/go/mysql"
	_ "github.com/go-sql-driver/mysql"

	"github.com/sysemu/sysemu/server/servertest"
)

// fastCount reads sysemu_fast_path_statements_total from /metrics.
func fastCount(t *testing.T, in *servertest.Instance) int {
	return int(servertest.Metric(t, in.HTTPAddr, "sysemu_fast_path_statements_total"))
}

// The fast path answers exactly what the planner answers: the same fields
// (names, types, flags, lengths, charsets, tables) and rows; what it does not
// recognize goes to the planner.
func TestFastPathMatchesPlanner(t *testing.T) {
	in := servertest.Start(t)
	db, err := sql.Open("mysql", in.RootDSN("shop"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	root, err := sql.Open("mysql", in.RootDSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, q := range []string{
		"CREATE DATABASE shop",
		"CREATE TABLE shop.t (id BIGINT PRIMARY KEY AUTO_INCREMENT, c VARCHAR(20) NOT NULL, n INT, d DECIMAL(8,2), ts DATETIME(3))",
		"INSERT INTO shop.t VALUES (1, 'one', 10, 1.50, '2026-01-02 03:04:05.678'), (2, 'two', NULL, NULL, NULL), (-3, 'minus', 3, 0, NULL)",
		"CREATE TABLE shop.s (k VARCHAR(10) PRIMARY KEY, v INT)",
		"INSERT INTO shop.s VALUES ('a', 1)",
		"CREATE TABLE shop.small (id TINYINT PRIMARY KEY, c VARCHAR(5))",
		"INSERT INTO shop.small VALUES (127, 'max')",
		"CREATE USER other IDENTIFIED BY 'pw'",
		"GRANT SELECT ON mysql.* TO other",
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	host, port, _ := net.SplitHostPort(in.MySQLAddr)
	p, _ := strconv.Atoi(port)
	ctx := context.Background()
	conn, err := mysql.Connect(ctx, &mysql.ConnParams{Host: host, Port: p, Uname: "root", DbName: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// Each fast statement and a planner statement with the same answer
	// (LIMIT or parentheses keep it off the fast path); SET changes the
	// charset the fields report.
	for _, c := range []struct{ fast, planner string }{
		{"SELECT next_table_id()", "SELECT next_table_id() LIMIT 1"},
		{"select next_table_id(), recovery_mode(), maintenance_mode()", "select next_table_id(), recovery_mode(), maintenance_mode() limit 1"},
		{"SELECT next_table_id() FROM dual", "SELECT next_table_id() FROM dual LIMIT 1"},
		{"SELECT c FROM t WHERE id = 1", "SELECT c FROM t WHERE (id = 1)"},
		{"SELECT * FROM t WHERE id = 1", "SELECT * FROM t WHERE (id = 1)"},
		{"SELECT * FROM t WHERE id = 2", "SELECT * FROM t WHERE (id = 2)"},
		{"SELECT id, n, ts FROM shop.t WHERE t.id = 2", "SELECT id, n, ts FROM shop.t WHERE (t.id = 2)"},
		{"SELECT c FROM t WHERE id = 99", "SELECT c FROM t WHERE (id = 99)"},
		{"SELECT c FROM small WHERE id = 127", "SELECT c FROM small WHERE (id = 127)"},
		{"SELECT t.c, d FROM t WHERE id = 1;", "SELECT t.c, d FROM t WHERE (id = 1)"},
		{"SET", "SET character_set_results = 'latin1'"},
		{"SELECT next_table_id()", "SELECT next_table_id() LIMIT 1"},
		{"SELECT * FROM t WHERE id = 1", "SELECT * FROM t WHERE (id = 1)"},
	} {
		if c.fast == "SET" {
			if _, err := conn.ExecuteFetch(c.planner, 1, false); err != nil {
				t.Fatal(err)
			}
			continue
		}
		before := fastCount(t, in)
		want, err := conn.ExecuteFetch(c.planner, 100, true)
		if err != nil {
			t.Fatalf("%s: %v", c.planner, err)
		}
		if n := fastCount(t, in); n != before {
			t.Errorf("%s: answered by the fast path", c.planner)
		}
		// The first execution learns the fields through the handler, the
		// second sends them itself.
		for run := 1; run <= 2; run++ {
			got, err := conn.ExecuteFetch(c.fast, 100, true)
			if err != nil {
				t.Fatalf("%s: %v", c.fast, err)
			}
			if n := fastCount(t, in); n != before+run {
				t.Errorf("%s (run %d): not answered by the fast path (%d -> %d)", c.fast, run, before, n)
			}
			if len(got.Fields) != len(want.Fields) {
				t.Fatalf("%s (run %d): %d fields, planner %d", c.fast, run, len(got.Fields), len(want.Fields))
			}
			for i := range got.Fields {
				if got.Fields[i].String() != want.Fields[i].String() {
					t.Errorf("%s (run %d): field %d\n got %v\nwant %v", c.fast, run, i, got.Fields[i], want.Fields[i])
				}
			}
			if fmt.Sprint(got.Rows) != fmt.Sprint(want.Rows) {
				t.Errorf("%s (run %d): rows %v, planner %v", c.fast, run, got.Rows, want.Rows)
			}
		}
	}

	// Statements the fast path leaves to the planner, which answers them.
	before := fastCount(t, in)
	for _, q := range []string{
		"SELECT C FROM t WHERE id = 1",      // column written in another case
		"SELECT c FROM T WHERE id = 1",      // table written in another case
		"SELECT c FROM t WHERE c = 'one'",   // not the primary key
		"SELECT c FROM t WHERE id = '1'",    // not an integer literal
		"SELECT c AS x FROM t WHERE id = 1", // alias
		"SELECT k FROM s WHERE k = 1",       // string primary key
		"SELECT next_table_id() + 1",        // an expression
		"SELECT NOW()",                      // not an admin function
		"SELECT * FROM t WHERE id = 1 FOR UPDATE",
		"SELECT COUNT(*) FROM t WHERE id = 1",
		"SELECT * FROM SYS_OBJECTS WHERE OBJ_ID = 1024",
		"SELECT c FROM SHOP.t WHERE id = 1",  // database written in another case
		"SELECT c FROM small WHERE id = 300", // out of the key's range: no row, not 127's
	} {
		if _, err := conn.ExecuteFetch(q, 100, true); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	if n := fastCount(t, in); n != before {
		t.Errorf("%d of the planner's statements took the fast path", n-before)
	}
	if r, err := conn.ExecuteFetch("SELECT c FROM small WHERE id = 300", 10, false); err != nil || len(r.Rows) != 0 {
		t.Errorf("a key beyond TINYINT: %v, %v; want no row", r, err)
	}

	// Prepared statements (binary protocol) with a bound key.
	stmt, err := db.Prepare("SELECT c FROM t WHERE id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	before = fastCount(t, in)
	for id, want := range map[int64]string{1: "one", -3: "minus", 2: "two"} {
		var c string
		if err := stmt.QueryRow(id).Scan(&c); err != nil || c != want {
			t.Errorf("prepared id %d: %q, %v; want %q", id, c, err, want)
		}
	}
	if err := stmt.QueryRow(7).Scan(new(string)); err != sql.ErrNoRows {
		t.Errorf("prepared id 7: %v, want no rows", err)
	}
	if n := fastCount(t, in); n != before+4 {
		t.Errorf("prepared: %d of 4 executions took the fast path", n-before)
	}

	// A user without SELECT on shop gets the planner's refusal.
	other, err := sql.Open("mysql", strings.Replace(in.RootDSN(""), "root", "other:pw", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	before = fastCount(t, in)
	if err := other.QueryRow("SELECT c FROM shop.t WHERE id = 1").Scan(new(string)); err == nil || !strings.Contains(err.Error(), "Access denied") {
		t.Errorf("user without privileges: %v, want access denied", err)
	}
	if n := fastCount(t, in); n != before {
		t.Error("a refused statement took the fast path")
	}
}

// Point selects by primary key over the wire, prepared, through the fast
// path and (with parentheses) through the planner; next_table_id() reads.
func BenchmarkPointSelect(b *testing.B) {
	_, db := startRoot(b, "CREATE DATABASE shop", "CREATE TABLE shop.t (id BIGINT PRIMARY KEY, c VARCHAR(20))",
		"INSERT INTO shop.t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
	db.SetMaxOpenConns(1)
	for _, c := range []struct{ name, query string }{
		{"fast", "SELECT c FROM shop.t WHERE id = ?"},
		{"planner", "SELECT c FROM shop.t WHERE (id = ?)"},
		{"next_table_id", "SELECT next_table_id()"},
	} {
		b.Run(c.name, func(b *testing.B) {
			stmt, err := db.Prepare(c.query)
			if err != nil {
				b.Fatal(err)
			}
			defer stmt.Close()
			var args []any
			for i := 0; b.Loop(); i++ {
				if strings.Contains(c.query, "?") {
					args = []any{i%3 + 1}
				}
				if err := stmt.QueryRow(args...).Scan(new(string)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// startRoot starts a server, runs stmts as root and returns the server and
// root's connection pool, closed when tb ends.
func startRoot(tb testing.TB, stmts ...string) (*servertest.Instance, *sql.DB) {
	tb.Helper()
	in := servertest.Start(tb)
	db, err := sql.Open("mysql", in.RootDSN(""))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
	return in, db
}
