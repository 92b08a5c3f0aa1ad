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
)

// insertOutcome is what a client sees of an INSERT and right after it.
type insertOutcome struct {
	err                string // MySQL error: number, state, message
	affected, insertID uint64
	info               string
	lastID, rowCount   string
	warnings           uint16
}

func (o insertOutcome) String() string {
	return fmt.Sprintf("err=%q affected=%d insert_id=%d info=%q LAST_INSERT_ID()=%s ROW_COUNT()=%s warnings=%d",
		o.err, o.affected, o.insertID, o.info, o.lastID, o.rowCount, o.warnings)
}

func runInsert(t *testing.T, c *mysql.Conn, q string) insertOutcome {
	t.Helper()
	var o insertOutcome
	r, w, err := c.ExecuteFetchWithWarningCount(q, 10, false)
	o.warnings = w
	if err != nil {
		se, ok := err.(*mysql.SQLError)
		if !ok {
			t.Fatalf("%s: %v", q, err)
		}
		o.err = fmt.Sprintf("%d (%s) %s", se.Num, se.State, se.Message)
	} else {
		o.affected, o.insertID, o.info = r.RowsAffected, r.InsertID, r.Info
	}
	// ROW_COUNT() first: the SELECT itself resets it.
	after, err := c.ExecuteFetch("SELECT ROW_COUNT(), LAST_INSERT_ID()", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	o.rowCount, o.lastID = after.Rows[0][0].ToString(), after.Rows[0][1].ToString()
	return o
}

func dumpRows(t *testing.T, c *mysql.Conn, table string) string {
	t.Helper()
	r, err := c.ExecuteFetch("SELECT * FROM "+table+" ORDER BY 1", 1000, false)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(r.Rows)
}

// The INSERT fast path answers exactly what the planner answers: OK packet
// (affected rows, insert id), LAST_INSERT_ID(), ROW_COUNT(), warnings,
// errors and the rows stored, statement after statement on two identical
// databases: fa through the fast path, pl through the planner (a comment
// keeps a statement off the fast path).
func TestFastInsertMatchesPlanner(t *testing.T) {
	in, root := startRoot(t)
	schema := []string{
		"CREATE TABLE t (id BIGINT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(5) NOT NULL, n INT DEFAULT 7, d DECIMAL(6,2), u TINYINT UNSIGNED, s VARCHAR(3) NOT NULL DEFAULT 'dft')",
		"CREATE TABLE k (a INT PRIMARY KEY, b VARCHAR(10), UNIQUE KEY kb (b))",
		"CREATE TABLE small (id TINYINT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(5))",
		"CREATE TABLE nokey (x INT, y VARCHAR(5))",
		"CREATE TABLE nn (a INT PRIMARY KEY, b INT NOT NULL)",
		"CREATE TABLE dt (a INT PRIMARY KEY, ts DATETIME, dd DATE, f DOUBLE, e ENUM('x','y'))",
		"CREATE TABLE en (a INT PRIMARY KEY, e ENUM('x','y') NOT NULL, s SET('p','q') NOT NULL DEFAULT 'q')",
		"CREATE TABLE pt (id BIGINT PRIMARY KEY AUTO_INCREMENT, v INT) PARTITION BY HASH(id) PARTITIONS 4",
	}
	for _, db := range []string{"fa", "pl"} {
		if _, err := root.Exec("CREATE DATABASE " + db); err != nil {
			t.Fatal(err)
		}
		for _, q := range schema {
			if _, err := root.Exec(strings.Replace(q, "CREATE TABLE ", "CREATE TABLE "+db+".", 1)); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	host, port, _ := net.SplitHostPort(in.MySQLAddr)
	p, _ := strconv.Atoi(port)
	connect := func(db string) *mysql.Conn {
		c, err := mysql.Connect(context.Background(), &mysql.ConnParams{Host: host, Port: p, Uname: "root", DbName: db})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	fa, pl := connect("fa"), connect("pl")

	for _, c := range []struct {
		q    string
		fast bool // taken by the fast path (else left to the planner)
	}{
		{"INSERT INTO t (v) VALUES ('a')", true},
		{"insert into t (v, n) values ('b', 5), ('c', NULL)", true},
		{"INSERT INTO t (id, v) VALUES (100, 'x')", true},
		{"INSERT INTO t (id, v) VALUES (NULL, 'y'), (0, 'z')", true},
		{"INSERT INTO t (id, v) VALUES (50, 'p'), (NULL, 'q'), (NULL, 'r')", true},
		{"INSERT INTO t (id, v) VALUES ('0', 's')", true},
		{"INSERT INTO t (id, v) VALUES (100, 'dup')", true},
		{"INSERT INTO t (id, v) VALUES (300, 'ok'), (300, 'dup')", true},
		{"INSERT INTO t (v) VALUES ('toolong')", false},
		{"INSERT INTO t (v) VALUES (NULL)", false},
		{"INSERT INTO t (v, u) VALUES ('a', 300)", false},
		{"INSERT INTO t (v, u) VALUES ('a', -1)", false},
		{"INSERT INTO t (v, n) VALUES ('a', 'abc')", false},
		{"INSERT INTO t (v, n) VALUES ('a', '12')", true},
		{"INSERT INTO t (v, d) VALUES ('a', 1.5), ('b', '2.25'), ('c', 3)", true},
		{"INSERT INTO t (v, d) VALUES ('a', 1.555)", true},
		{"INSERT INTO t (v, d) VALUES ('a', 12345.5)", false},
		{"INSERT INTO t VALUES (200, 'all', 1, 2.5, 3, 'abc')", true},
		{"INSERT INTO t VALUES (201, 'all')", false},
		{"INSERT INTO t (id, v) VALUES (-5, 'neg')", true},
		{"INSERT INTO t (V, N) VALUES ('case', 1)", true},
		{"INSERT INTO t (v, v) VALUES ('a', 'b')", false},
		{"INSERT INTO t (nosuch) VALUES (1)", false},
		{"INSERT INTO t (v) VALUES ('a', 'b')", false},
		{"INSERT INTO t (v) VALUES (DEFAULT)", false},
		{"INSERT INTO t (v, n) VALUES ('e', 1 + 1)", false},
		{"INSERT INTO t (v, s) VALUES ('a', 'long')", false},
		{"INSERT IGNORE INTO t (id, v) VALUES (100, 'ign')", false},
		{"INSERT INTO t (id, v) VALUES (100, 'odk') ON DUPLICATE KEY UPDATE v = 'odk'", false},
		{"INSERT INTO nosuch (v) VALUES (1)", false},
		{"INSERT INTO T (v) VALUES ('upper')", false},
		{"INSERT INTO k (a, b) VALUES (1, 'one')", true},
		{"INSERT INTO k (a, b) VALUES (2, 'one')", true},
		{"INSERT INTO k (a, b) VALUES (3, NULL), (4, NULL)", true},
		{"INSERT INTO k (a) VALUES (5), (5)", true},
		{"INSERT INTO k (a, b) VALUES (6, 'six'), (7, 'six')", true},
		{"INSERT INTO k VALUES (8, 'eight')", true},
		{"INSERT INTO nokey VALUES (1, 'a'), (1, 'a')", true},
		{"INSERT INTO nn (a) VALUES (1)", false},
		{"INSERT INTO nn (a, b) VALUES (1, 2)", true},
		{"INSERT INTO small (id, v) VALUES (126, 'a')", true},
		{"INSERT INTO small (v) VALUES ('b')", true},
		{"INSERT INTO small (v) VALUES ('c')", true},
		{"INSERT INTO small (v) VALUES ('d'), ('e')", true},
		{"INSERT INTO dt VALUES (1, '2026-01-02 03:04:05', '2026-02-03', 1.25, 'y')", true},
		{"INSERT INTO dt VALUES (2, 'bad', NULL, NULL, NULL)", false},
		{"INSERT INTO dt VALUES (3, NULL, NULL, 1e3, 2)", true},
		{"INSERT INTO dt VALUES (4, NULL, NULL, NULL, 'z')", false},
		{"INSERT INTO en (a) VALUES (1)", false},
		{"INSERT INTO en (a, e) VALUES (2, 'y'), (3, 1)", true},
		{"INSERT INTO en (a, e, s) VALUES (4, 'x', 'p,q')", true},
		{"INSERT INTO pt (v) VALUES (1), (2), (3), (4), (5)", true},
		{"INSERT INTO pt (id, v) VALUES (10, 10), (NULL, 11)", true},
		{"INSERT INTO fa.t (v) VALUES ('qual')", true},
		{`INSERT INTO t (v) VALUES ("dq")`, true},
		{"SET sql_mode = concat(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO')", false},
		{"INSERT INTO t (id, v) VALUES (0, 'zero')", true},
		{"INSERT INTO t (id, v) VALUES (0, 'zero2')", true},
		{"SET sql_mode = concat(@@sql_mode, ',ANSI_QUOTES')", false},
		{`INSERT INTO t (v) VALUES ("dq")`, false},
		{"SET sql_mode = DEFAULT", false},
		{"INSERT INTO t (v) VALUES ('last')", true},
		{"TRUNCATE TABLE small", false},
		{"INSERT INTO small (v) VALUES ('again')", true},
		{"INSERT INTO small (v) VALUES ('more')", true},
		{"ALTER TABLE small AUTO_INCREMENT = 1", false},
		{"INSERT INTO small (v) VALUES ('dup')", true},
		{"INSERT INTO small (v) VALUES ('aft')", true},
		{"DROP TABLE nn", false},
		{"CREATE TABLE nn (a INT PRIMARY KEY AUTO_INCREMENT, b VARCHAR(3) DEFAULT 'new')", false},
		{"INSERT INTO nn () VALUES ()", false},
		{"INSERT INTO nn (a) VALUES (NULL)", true},
		{"INSERT INTO t (v) VALUES " + strings.Repeat("('many'), ", 149) + "('many')", true},
		{"INSERT INTO t (id, v) VALUES " + strings.Repeat("(NULL, 'dup'), ", 149) + "(1, 'dup')", true},
	} {
		if !strings.HasPrefix(c.q, "INSERT") && !strings.HasPrefix(c.q, "insert") {
			for _, conn := range []*mysql.Conn{fa, pl} {
				if _, err := conn.ExecuteFetch(c.q, 1, false); err != nil {
					t.Fatalf("%s: %v", c.q, err)
				}
			}
			continue
		}
		planner := strings.Replace(c.q, "INSERT", "INSERT /* planner */", 1)
		planner = strings.Replace(planner, "insert", "insert /* planner */", 1)
		planner = strings.Replace(planner, "INTO fa.", "INTO pl.", 1)
		before := fastCount(t, in)
		want := runInsert(t, pl, planner)
		if n := fastCount(t, in); n != before {
			t.Errorf("%s: answered by the fast path", planner)
		}
		want.err = strings.ReplaceAll(want.err, "'pl.", "'fa.")
		got := runInsert(t, fa, c.q)
		if n := fastCount(t, in) - before; n != btoi(c.fast) {
			t.Errorf("%s: %d fast-path statements, want %d", c.q, n, btoi(c.fast))
		}
		if got != want {
			t.Errorf("%s\n fast:    %v\n planner: %v", c.q, got, want)
		}
		t.Logf("%s: %v", c.q, got)
	}
	for _, table := range []string{"t", "k", "small", "nokey", "nn", "dt", "en", "pt"} {
		if got, want := dumpRows(t, fa, table), dumpRows(t, pl, table); got != want {
			t.Errorf("%s rows:\n fast:    %s\n planner: %s", table, got, want)
		}
	}

	// Prepared statements (binary protocol): bound values, typed by the client.
	for _, db := range []string{"fa", "pl"} {
		dsn := strings.Replace(in.RootDSN(db), "?", "?interpolateParams=false&", 1)
		if !strings.Contains(dsn, "interpolateParams") {
			dsn += "?interpolateParams=false"
		}
		h, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		h.SetMaxOpenConns(1)
		q := "INSERT INTO t (v, n, d) VALUES (?, ?, ?)"
		if db == "pl" {
			q = "INSERT /* planner */ INTO t (v, n, d) VALUES (?, ?, ?)"
		}
		stmt, err := h.Prepare(q)
		if err != nil {
			t.Fatal(err)
		}
		before := fastCount(t, in)
		var out []string
		for _, args := range [][]any{{"p1", 1, 1.5}, {"p2", nil, "2.5"}, {"p3", int64(-3), nil}, {"toolong", 1, 1}, {nil, 1, 1}, {[]byte("bin"), uint64(9), 0.25}} {
			r, err := stmt.Exec(args...)
			if err != nil {
				out = append(out, err.Error())
				continue
			}
			id, _ := r.LastInsertId()
			n, _ := r.RowsAffected()
			out = append(out, fmt.Sprintf("id=%d n=%d", id, n))
		}
		stmt.Close()
		fast := fastCount(t, in) - before
		if db == "fa" && fast != 4 {
			t.Errorf("prepared: %d of 4 executions took the fast path (%v)", fast, out)
		}
		if db == "pl" && fast != 0 {
			t.Errorf("prepared with a comment: %d executions took the fast path", fast)
		}
		t.Logf("%s: %v", db, out)
		if db == "pl" {
			if got, want := dumpRows(t, fa, "t"), dumpRows(t, pl, "t"); got != want {
				t.Errorf("rows after prepared inserts:\n fast:    %s\n planner: %s", got, want)
			}
		}
	}

	// Privileges: a user without INSERT gets the planner's refusal; one with
	// INSERT on the database takes the fast path.
	for _, q := range []string{"CREATE USER ro IDENTIFIED BY 'pw'", "GRANT SELECT ON fa.* TO ro",
		"CREATE USER rw IDENTIFIED BY 'pw'", "GRANT SELECT, INSERT ON fa.* TO rw"} {
		if _, err := root.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []struct {
		user string
		fast int
		err  string
	}{{"ro", 0, "command denied"}, {"rw", 1, ""}} {
		h, err := sql.Open("mysql", strings.Replace(in.RootDSN("fa"), "root", u.user+":pw", 1))
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		before := fastCount(t, in)
		_, err = h.Exec("INSERT INTO t (v) VALUES ('priv')")
		if (err == nil) != (u.err == "") || (err != nil && !strings.Contains(err.Error(), u.err)) {
			t.Errorf("%s: %v, want %q", u.user, err, u.err)
		}
		if n := fastCount(t, in) - before; n != u.fast {
			t.Errorf("%s: %d fast-path statements, want %d", u.user, n, u.fast)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Autocommit identity INSERTs over the wire, one connection: text protocol
// through the fast path, the same with a comment (the planner), and
// prepared through the fast path. Each INSERT commits (two fdatasyncs), so
// the difference is the per-statement CPU.
func BenchmarkInsert(b *testing.B) {
	_, db := startRoot(b, "CREATE DATABASE shop", "CREATE TABLE shop.t (id BIGINT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(32))")
	for _, c := range []struct{ name, query string }{
		{"fast", "INSERT INTO shop.t (v) VALUES ('row')"},
		{"planner", "INSERT /* planner */ INTO shop.t (v) VALUES ('row')"},
		{"prepared", "INSERT INTO shop.t (v) VALUES (?)"},
	} {
		b.Run(c.name, func(b *testing.B) {
			conn, err := db.Conn(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			exec := func() error { _, err := conn.ExecContext(context.Background(), c.query); return err }
			if strings.Contains(c.query, "?") {
				stmt, err := conn.PrepareContext(context.Background(), c.query)
				if err != nil {
					b.Fatal(err)
				}
				defer stmt.Close()
				exec = func() error { _, err := stmt.Exec("row"); return err }
			}
			for b.Loop() {
				if err := exec(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
