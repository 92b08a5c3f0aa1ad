package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/sysemu/sysemu/seed"
	"github.com/sysemu/sysemu/server/servertest"
)

func openDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// conn is one connection, so USE and session state carry over.
func conn(t testing.TB, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func exec(t testing.TB, c *sql.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := c.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// rows runs a query and returns every row with values as strings (NULL: nil).
func rows(t testing.TB, c *sql.Conn, q string, args ...any) ([][]any, error) {
	t.Helper()
	rs, err := c.QueryContext(context.Background(), q, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out [][]any
	for rs.Next() {
		raw := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]any, len(cols))
		for i, b := range raw {
			if b != nil {
				row[i] = string(b)
			}
		}
		out = append(out, row)
	}
	return out, rs.Err()
}

func mustRows(t testing.TB, c *sql.Conn, q string, args ...any) [][]any {
	t.Helper()
	r, err := rows(t, c, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return r
}

func one(t testing.TB, c *sql.Conn, q string) string {
	t.Helper()
	r := mustRows(t, c, q)
	if len(r) != 1 || len(r[0]) != 1 {
		t.Fatalf("%s: want one value, got %v", q, r)
	}
	s, _ := r[0][0].(string)
	return s
}

// errno returns the MySQL error number and SQLSTATE of err.
func errno(err error) (uint16, string) {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number, string(me.SQLState[:])
	}
	return 0, ""
}

// scriptCase is one scenario over the wire: setup statements, then a query
// with its expected rows, or the MySQL error number (and SQLSTATE) it fails
// with, and optionally a fragment of the error message.
type scriptCase struct {
	Name      string
	Setup     []string
	Query     string
	Want      [][]any
	WantErrno uint16
	WantState string
	WantMsg   string
}

func runCases(t *testing.T, in *servertest.Instance, db string, cases []scriptCase) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			c := conn(t, openDB(t, in.RootDSN(db)))
			exec(t, c, tc.Setup...)
			got, err := rows(t, c, tc.Query)
			if tc.WantErrno != 0 {
				n, state := errno(err)
				if n != tc.WantErrno || (tc.WantState != "" && state != tc.WantState) || !strings.Contains(fmt.Sprint(err), tc.WantMsg) {
					t.Fatalf("%s: got error %v (%d/%s), want %d/%s containing %q", tc.Query, err, n, state, tc.WantErrno, tc.WantState, tc.WantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.Query, err)
			}
			if !reflect.DeepEqual(got, tc.Want) {
				t.Fatalf("%s:\n got %v\nwant %v", tc.Query, got, tc.Want)
			}
		})
	}
}

// The tour, over go-sql-driver, then a restart on the same data.
func TestTour(t *testing.T) {
	dir := t.TempDir()
	in := servertest.Start(t, servertest.Options{DataDir: dir})
	c := conn(t, openDB(t, in.RootDSN("")))
	exec(t, c,
		"CREATE DATABASE shop", "USE shop",
		"CREATE TABLE orders (id BIGINT PRIMARY KEY AUTO_INCREMENT, note VARCHAR(64))",
		"INSERT INTO orders (note) VALUES ('a'), ('b')")
	if got := one(t, c, "SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_ID DESC LIMIT 1"); got != "1024" {
		t.Fatalf("max TABLE_ID = %s, want 1024", got)
	}
	if got := one(t, c, "SELECT next_table_id()"); got != "1034" {
		t.Fatalf("next_table_id() = %s, want 1034", got)
	}
	if got := httpGet(t, in, "/admin/sequence/table/next-id"); got.body != `{"next_table_id":1034}` || got.status != 200 {
		t.Fatalf("next-id route: %d %s", got.status, got.body)
	}
	plan := mustRows(t, c, "EXPLAIN PLAN SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_ID DESC LIMIT 1")
	if !strings.Contains(fmt.Sprint(plan), "IndexedTableAccess(TABLES)") {
		t.Fatalf("top-1 TABLE_ID does not use the index:\n%v", plan)
	}
	in.Stop()

	in = servertest.Start(t, servertest.Options{DataDir: dir})
	c = conn(t, openDB(t, in.RootDSN("shop")))
	if got := mustRows(t, c, "SELECT id, note FROM orders ORDER BY id"); !reflect.DeepEqual(got, [][]any{{"1", "a"}, {"2", "b"}}) {
		t.Fatalf("rows after restart: %v", got)
	}
	exec(t, c, "INSERT INTO orders (note) VALUES ('c')", "CREATE TABLE later (id INT PRIMARY KEY)")
	if got := one(t, c, "SELECT MAX(id) FROM orders"); got != "3" {
		t.Fatalf("auto_increment after restart gave %s", got)
	}
	// The cached range 1024..1033 died with the process: never handed out again.
	if got := one(t, c, "SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = 'later'"); got != "1034" {
		t.Fatalf("table after restart got %s, want 1034", got)
	}
	if got := one(t, c, "SELECT next_table_id()"); got != "1044" {
		t.Fatalf("next_table_id() = %s, want 1044", got)
	}
}

func TestScripts(t *testing.T) {
	in := servertest.Start(t, servertest.Options{})
	c := conn(t, openDB(t, in.RootDSN("")))
	exec(t, c, "CREATE DATABASE db", "USE db",
		"CREATE TABLE t (id INT PRIMARY KEY, u VARCHAR(10), UNIQUE KEY uk (u))",
		"INSERT INTO t VALUES (1, 'x'), (2, 'y')",
		"CREATE TABLE parts (id INT PRIMARY KEY, c2 INT) PARTITION BY HASH(c2) PARTITIONS 10")
	runCases(t, in, "db", []scriptCase{
		{Name: "fresh next id is the high-water mark", Query: "SELECT next_table_id()", Want: [][]any{{"1034"}}},
		{Name: "user table ids", Query: "SELECT TABLE_NAME, TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'db' ORDER BY TABLE_ID",
			Want: [][]any{{"t", "1024"}, {"parts", "1025"}}},
		{Name: "information_schema.tables is 3 as in GreptimeDB", Query: "SELECT TABLE_ID, TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_ID = 3",
			Want: [][]any{{"3", "SYSTEM VIEW"}}},
		{Name: "partitioned create option", Query: "SELECT CREATE_OPTIONS FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = 'parts'", Want: [][]any{{"partitioned"}}},
		{Name: "set next id outside recovery mode", Query: "CALL set_next_table_id(2000)", WantErrno: 30002,
			WantMsg: "Unexpected, violated: Setting next table id is only allowed in recovery mode"},
		{Name: "set next id equal is refused", Setup: []string{"CALL recovery_mode('on')"}, Query: "CALL set_next_table_id(1034)", WantErrno: 30003,
			WantMsg: "The next value 1034 is not greater than the current next value 1034"},
		{Name: "create refused in recovery mode", Query: "CREATE TABLE db.r (id INT)", WantErrno: 30004, WantMsg: "recovery mode is on"},
		{Name: "recovery mode reads", Query: "SELECT recovery_mode()", Want: [][]any{{"on"}}},
		{Name: "leave recovery", Setup: []string{"CALL recovery_mode('off')"}, Query: "SELECT recovery_mode()", Want: [][]any{{"off"}}},
		{Name: "create refused while paused", Setup: []string{"CALL procedure_manager('pause')"}, Query: "CREATE TABLE db.p (id INT)", WantErrno: 30005},
		{Name: "resume", Setup: []string{"CALL procedure_manager('resume')"}, Query: "SELECT procedure_manager()", Want: [][]any{{"running"}}},
		{Name: "bad switch argument", Query: "CALL recovery_mode('maybe')", WantErrno: 1210},
		{Name: "events are recorded", Query: "SELECT KIND, SEQUENCE_NAME, OLD_VALUE, NEW_VALUE FROM SYS_ID_EVENTS ORDER BY EVENT_ID",
			Want: [][]any{{"recovery_mode", nil, "0", "1"}, {"recovery_mode", nil, "1", "0"}, {"procedure_manager", nil, "0", "1"}, {"procedure_manager", nil, "1", "0"}}},
		{Name: "SYSTEM qualifier", Query: "SELECT COUNT(*) FROM SYSTEM.SYS_ID_EVENTS", Want: [][]any{{"4"}}},
		{Name: "duplicate primary key", Query: "INSERT INTO db.t VALUES (1, 'z')", WantErrno: 1062, WantState: "23000", WantMsg: "Duplicate entry '1' for key 't.PRIMARY'"},
		{Name: "duplicate unique key", Query: "INSERT INTO db.t VALUES (3, 'x')", WantErrno: 1062, WantState: "23000", WantMsg: "Duplicate entry 'x' for key 't.uk'"},
		{Name: "failed multi-row insert leaves nothing", Setup: []string{"INSERT IGNORE INTO db.t VALUES (9, 'q')"}, Query: "SELECT COUNT(*) FROM db.t WHERE id IN (9, 10)", Want: [][]any{{"1"}}},
		{Name: "multi-row all or nothing", Query: "INSERT INTO db.t VALUES (10, 'n'), (1, 'dup')", WantErrno: 1062},
		{Name: "nothing from the failed statement", Query: "SELECT COUNT(*) FROM db.t WHERE id = 10", Want: [][]any{{"0"}}},
		{Name: "on duplicate key update", Setup: []string{"INSERT INTO db.t VALUES (2, 'y') ON DUPLICATE KEY UPDATE u = 'y2'"}, Query: "SELECT u FROM db.t WHERE id = 2", Want: [][]any{{"y2"}}},
		{Name: "update and delete", Setup: []string{"UPDATE db.t SET u = 'w' WHERE id = 1", "DELETE FROM db.t WHERE id = 9"}, Query: "SELECT id, u FROM db.t ORDER BY id", Want: [][]any{{"1", "w"}, {"2", "y2"}}},
		{Name: "unique key freed by update", Setup: []string{"INSERT INTO db.t VALUES (5, 'x')"}, Query: "SELECT COUNT(*) FROM db.t", Want: [][]any{{"3"}}},
		{Name: "unknown table", Query: "SELECT * FROM db.nope", WantErrno: 1146, WantState: "42S02", WantMsg: "nope' doesn't exist"},
		{Name: "unknown database", Query: "SELECT * FROM nope.t", WantErrno: 1049, WantState: "42000"},
		{Name: "table exists", Query: "CREATE TABLE db.t (id INT)", WantErrno: 1050, WantState: "42S01", WantMsg: "Table 't' already exists"},
		{Name: "create table if not exists", Setup: []string{"CREATE TABLE IF NOT EXISTS db.t (id INT)"},
			Query: "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'db' AND TABLE_NAME = 't'", Want: [][]any{{"1"}}},
		{Name: "database exists", Query: "CREATE DATABASE db", WantErrno: 1007},
		{Name: "syntax error", Query: "SELEC 1", WantErrno: 1064, WantState: "42000"},
		{Name: "create table like keeps partitions", Setup: []string{"CREATE TABLE db.parts2 LIKE db.parts"},
			Query: "SELECT CREATE_OPTIONS, TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = 'parts2'", Want: [][]any{{"partitioned", "1026"}}},
		{Name: "rename keeps the id", Setup: []string{"RENAME TABLE db.parts2 TO db.parts3", "ALTER TABLE db.parts3 RENAME TO db.parts4"},
			Query: "SELECT TABLE_NAME, TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_ID = 1026", Want: [][]any{{"parts4", "1026"}}},
		{Name: "truncate keeps the id and resets auto_increment",
			Setup: []string{"CREATE TABLE db.ai (id INT PRIMARY KEY AUTO_INCREMENT, v INT)", "INSERT INTO db.ai (v) VALUES (1), (2)", "TRUNCATE TABLE db.ai", "INSERT INTO db.ai (v) VALUES (3)"},
			Query: "SELECT t.id, i.TABLE_ID FROM db.ai t, INFORMATION_SCHEMA.TABLES i WHERE i.TABLE_NAME = 'ai'", Want: [][]any{{"1", "1027"}}},
		{Name: "drop table", Setup: []string{"DROP TABLE db.parts4"}, Query: "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_ID = 1026", Want: [][]any{{"0"}}},
		// 1028 went to ai's new relfilenode at TRUNCATE (filenodes come from the OID counter).
		{Name: "dropped ids are not reused", Setup: []string{"CREATE TABLE db.after_drop (id INT)"},
			Query: "SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = 'after_drop'", Want: [][]any{{"1029"}}},
		{Name: "point lookup uses the primary key", Query: "EXPLAIN PLAN SELECT * FROM db.t WHERE id = 2",
			Want: [][]any{{"Filter"}, {" ├─ (t.id = 2)"}, {" └─ IndexedTableAccess(t)"}, {"     ├─ index: [t.id]"}, {"     └─ filters: [{[2, 2]}]"}}},
		{Name: "count is exact", Query: "SELECT COUNT(*) FROM db.t", Want: [][]any{{"3"}}},
		{Name: "range scan", Query: "SELECT id FROM db.t WHERE id > 1 AND id <= 5 ORDER BY id DESC", Want: [][]any{{"5"}, {"2"}}},
		{Name: "keyless table keeps duplicates", Setup: []string{"CREATE TABLE db.kl (a INT, b VARCHAR(5))", "INSERT INTO db.kl VALUES (1,'a'),(1,'a'),(2,'b')", "DELETE FROM db.kl WHERE a = 1 LIMIT 1"},
			Query: "SELECT a, b FROM db.kl ORDER BY a", Want: [][]any{{"1", "a"}, {"2", "b"}}},
		{Name: "drop database", Setup: []string{"CREATE DATABASE gone", "CREATE TABLE gone.t (id INT)", "DROP DATABASE gone"},
			Query: "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'gone'", Want: [][]any{{"0"}}},
	})
	if got := mustRows(t, c, "SHOW CREATE TABLE db.parts"); !strings.Contains(fmt.Sprint(got), "/*!50100 PARTITION BY HASH (`c2`)\nPARTITIONS 10 */") {
		t.Fatalf("SHOW CREATE TABLE lost the partition clause:\n%v", got)
	}
}

// 4 connections x 250 concurrent autocommit INSERTs keep all 1000 rows.
func TestConcurrentInserts(t *testing.T) {
	in := servertest.Start(t, servertest.Options{})
	db := openDB(t, in.RootDSN(""))
	c := conn(t, db)
	exec(t, c, "CREATE DATABASE db", "CREATE TABLE db.t (id BIGINT PRIMARY KEY AUTO_INCREMENT, w INT, n INT)")
	db.SetMaxOpenConns(4)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := 0; n < 250; n++ {
				if _, err := db.Exec("INSERT INTO db.t (w, n) VALUES (?, ?)", w, n); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := one(t, c, "SELECT COUNT(*) FROM db.t"); got != "1000" {
		t.Fatalf("COUNT(*) = %s, want 1000", got)
	}
	if got := one(t, c, "SELECT COUNT(DISTINCT id) FROM db.t"); got != "1000" {
		t.Fatalf("distinct ids = %s, want 1000", got)
	}
	if got := one(t, c, "SELECT COUNT(*) FROM (SELECT * FROM db.t) x"); got != "1000" {
		t.Fatalf("scanned rows = %s, want 1000", got)
	}
}

// The seed document's procedure, from detection to fix.
func TestStaleNextTableIDScenario(t *testing.T) {
	in := servertest.Start(t, servertest.Options{})
	c := conn(t, openDB(t, in.RootDSN("")))
	stmts, err := seed.Scenario("stale-next-table-id")
	if err != nil {
		t.Fatal(err)
	}
	exec(t, c, stmts...)
	maxID := one(t, c, "SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_ID DESC LIMIT 1")
	next := one(t, c, "SELECT next_table_id()")
	if maxID != "1030" || next != "1026" {
		t.Fatalf("scenario: max %s next %s, want 1030 and 1026", maxID, next)
	}
	_, err = rows(t, c, "CREATE TABLE stale.fresh (id INT)")
	if n, _ := errno(err); n != 30001 || !strings.Contains(err.Error(), "table id 1026 is already in use by table stale.t1026") ||
		!strings.Contains(err.Error(), "CALL set_next_table_id(1031)") {
		t.Fatalf("create over a used id: %v", err)
	}
	if got := one(t, c, "SELECT note FROM stale.t1026"); got != "rows that must survive the fix" {
		t.Fatalf("existing rows touched: %q", got)
	}
	exec(t, c, "CALL recovery_mode('on')", "CALL set_next_table_id(1031)", "CALL recovery_mode('off')",
		"CREATE TABLE stale.fresh (id INT)")
	if got := one(t, c, "SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = 'fresh'"); got != "1031" {
		t.Fatalf("fixed create got %s, want 1031", got)
	}
	ev := mustRows(t, c, "SELECT KIND, OLD_VALUE, NEW_VALUE, USER, STATEMENT FROM stale.SYS_ID_EVENTS ORDER BY EVENT_ID")
	want := [][]any{
		{"fault", "1034", "1026", "root@localhost", "CALL fault_set_sequence('table_id', 1026)"},
		{"recovery_mode", "0", "1", "root@localhost", "CALL recovery_mode('on')"},
		{"sequence_jump", "1026", "1031", "root@localhost", "CALL set_next_table_id(1031)"},
		{"recovery_mode", "1", "0", "root@localhost", "CALL recovery_mode('off')"},
	}
	for i := range ev {
		ev[i][3] = strings.Split(ev[i][3].(string), "@")[0] + "@localhost"
	}
	if !reflect.DeepEqual(ev, want) {
		t.Fatalf("events:\n got %v\nwant %v", ev, want)
	}
}

func TestPrivileges(t *testing.T) {
	in := servertest.Start(t, servertest.Options{Password: "s3cret"})
	c := conn(t, openDB(t, in.RootDSN("")))
	exec(t, c, "CREATE DATABASE db", "CREATE USER 'bob'@'%' IDENTIFIED BY 'pw'", "GRANT SELECT, EXECUTE ON *.* TO 'bob'@'%'")
	bob := conn(t, openDB(t, in.DSN("bob", "pw", "db")))
	if got := one(t, bob, "SELECT next_table_id()"); got != "1024" {
		t.Fatalf("reading needs no privilege: %s", got)
	}
	for _, q := range []string{"CALL recovery_mode('on')", "CALL set_next_table_id(5000)", "CALL procedure_manager('pause')", "CALL fault_set_sequence('table_id', 1)",
		"CALL node_offline(2)", "CALL node_online(2)", "CALL node_drop(2)"} {
		_, err := rows(t, bob, q)
		if n, state := errno(err); n != 1227 || state != "42000" {
			t.Fatalf("%s as bob: %v", q, err)
		}
	}
	if got := one(t, c, "SELECT COUNT(*) FROM `SYSTEM`.SYS_ID_EVENTS"); got != "0" {
		t.Fatalf("refused calls left events: %s", got)
	}
	// The account survives a restart.
	in.Stop()
	in = servertest.Start(t, servertest.Options{DataDir: in.DataDir, Password: "s3cret"})
	bob = conn(t, openDB(t, in.DSN("bob", "pw", "db")))
	if got := one(t, bob, "SELECT 1"); got != "1" {
		t.Fatal("bob lost after restart")
	}
	if _, err := sql.Open("mysql", in.DSN("root", "wrong", "")); err == nil {
		if err := openDB(t, in.DSN("root", "wrong", "")).Ping(); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
}
