package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sysemu/sysemu/server/servertest"
)

// warnings returns SHOW WARNINGS as "Level Code Message" lines.
func warnings(t *testing.T, c *sql.Conn) []string {
	t.Helper()
	var out []string
	for _, r := range mustRows(t, c, "SHOW WARNINGS") {
		out = append(out, fmt.Sprintf("%v %v %v", r[0], r[1], r[2]))
	}
	return out
}

func wantErr(t *testing.T, c *sql.Conn, q string, code uint16, state, msg string) {
	t.Helper()
	_, err := rows(t, c, q)
	if n, st := errno(err); n != code || st != state || !strings.Contains(fmt.Sprint(err), msg) {
		t.Fatalf("%s: got %v (%d/%s), want %d/%s with %q", q, err, n, st, code, state, msg)
	}
}

// A SQL Server identity script, as written for SQL Server but for the
// connection string: T-SQL IDENTITY, the functions, DBCC CHECKIDENT with its
// messages, SET IDENTITY_INSERT and @@IDENTITY.
func TestIdentityTSQLScript(t *testing.T) {
	in := servertest.Start(t, servertest.Options{})
	c := conn(t, openDB(t, in.RootDSN("")))
	exec(t, c, "CREATE DATABASE shop", "USE shop",
		"CREATE TABLE orders (id INT IDENTITY(1000, 5) PRIMARY KEY, item VARCHAR(20) UNIQUE)",
		"CREATE TABLE plain (id INT PRIMARY KEY)")
	if got := one(t, c, "SELECT IDENT_CURRENT('orders')"); got != "1000" {
		t.Fatalf("IDENT_CURRENT of a never-used table = %s, want the seed 1000", got)
	}
	if got := mustRows(t, c, "SELECT SCOPE_IDENTITY(), @@IDENTITY"); got[0][0] != nil || got[0][1] != nil {
		t.Fatalf("before any insert SCOPE_IDENTITY/@@IDENTITY = %v, want NULL", got)
	}
	exec(t, c, "INSERT INTO orders (item) VALUES ('a')", "INSERT INTO orders (item) VALUES ('b'), ('c')")
	got := mustRows(t, c, "SELECT IDENT_CURRENT('orders'), IDENT_SEED('dbo.orders'), IDENT_INCR('[shop].[dbo].[orders]'), SCOPE_IDENTITY(), @@IDENTITY")
	if want := []any{"1010", "1000", "5", "1010", "1010"}; fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Fatalf("identity functions = %v, want %v", got[0], want)
	}
	// A failed INSERT still consumes its value (never rolled back).
	wantErr(t, c, "INSERT INTO orders (item) VALUES ('a')", 1062, "23000", "Duplicate entry")
	exec(t, c, "INSERT INTO orders (item) VALUES ('d')")
	if got := one(t, c, "SELECT id FROM orders WHERE item = 'd'"); got != "1020" {
		t.Fatalf("after a failed insert the next value is %s, want 1020 (1015 was consumed)", got)
	}
	// SHOW CREATE TABLE and INFORMATION_SCHEMA see an AUTO_INCREMENT column.
	if ddl := mustRows(t, c, "SHOW CREATE TABLE orders")[0][1].(string); !strings.Contains(ddl, "AUTO_INCREMENT") {
		t.Fatalf("SHOW CREATE TABLE: %s", ddl)
	}
	if got := one(t, c, "SELECT AUTO_INCREMENT FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = 'orders'"); got != "1025" {
		t.Fatalf("INFORMATION_SCHEMA.TABLES.AUTO_INCREMENT = %s, want 1025", got)
	}
	got = mustRows(t, c, "SELECT COLUMN_NAME, DATA_TYPE, SEED, INCREMENT, MANAGEMENT, NODE_ID, CURRENT_VALUE, NEXT_VALUE, MAX_VALUE, TABLE_ROWS FROM SYS_IDENTITIES WHERE TABLE_NAME = 'orders'")
	if want := "[[id int 1000 5 none 0 1020 1025 2147483647 4]]"; fmt.Sprint(got) != want {
		t.Fatalf("SYS_IDENTITIES = %v, want %s", got, want)
	}

	// DBCC CHECKIDENT: the result set and the notes the CLI shows.
	const done = "DBCC execution completed. If DBCC printed error messages, contact your system administrator."
	got = mustRows(t, c, "DBCC CHECKIDENT ('orders', NORESEED)")
	if want := fmt.Sprint([][]any{{"Checking identity information: current identity value '1020', current column value '1020'."}, {done}}); fmt.Sprint(got) != want {
		t.Fatalf("NORESEED = %v, want %s", got, want)
	}
	if w := warnings(t, c); len(w) != 2 || w[0] != "Note 7998 Checking identity information: current identity value '1020', current column value '1020'." || w[1] != "Note 2528 "+done {
		t.Fatalf("warnings %q", w)
	}
	got = mustRows(t, c, "DBCC CHECKIDENT ('orders', RESEED, 10)")
	if got[0][0] != "Checking identity information: current identity value '1020'." {
		t.Fatalf("RESEED 10 = %v", got)
	}
	exec(t, c, "INSERT INTO orders (item) VALUES ('e')")
	if got := one(t, c, "SELECT id FROM orders WHERE item = 'e'"); got != "15" {
		t.Fatalf("after RESEED 10 with rows the next value is %s, want 15 (10 + increment)", got)
	}
	if got := mustRows(t, c, "CALL checkident('orders')"); got[0][0] != "Checking identity information: current identity value '15', current column value '1020'." {
		t.Fatalf("checkident: %v", got)
	}
	if got := one(t, c, "SELECT IDENT_CURRENT('orders')"); got != "1020" {
		t.Fatalf("RESEED without a value did not raise to MAX: %s", got)
	}
	if got := mustRows(t, c, "DBCC CHECKIDENT ('orders', RESEED, 2000) WITH NO_INFOMSGS"); len(got) != 0 {
		t.Fatalf("NO_INFOMSGS answered %v", got)
	}
	if got := one(t, c, "SELECT IDENT_SEED('orders')"); got != "1000" {
		t.Fatalf("CHECKIDENT changed IDENT_SEED: %s", got)
	}
	// TRUNCATE, then RESEED 1: the next insert gets 1.
	exec(t, c, "TRUNCATE TABLE orders")
	if got := mustRows(t, c, "DBCC CHECKIDENT ('orders', NORESEED)"); got[0][0] != "Checking identity information: current identity value 'NULL', current column value 'NULL'." {
		t.Fatalf("after TRUNCATE: %v", got)
	}
	exec(t, c, "DBCC CHECKIDENT ('orders', RESEED, 1)", "SET IDENTITY_INSERT orders ON",
		"INSERT INTO orders (item) VALUES ('f')", "SET IDENTITY_INSERT orders OFF")
	if got := one(t, c, "SELECT id FROM orders"); got != "1" {
		t.Fatalf("TRUNCATE then RESEED 1: next value %s, want 1", got)
	}

	wantErr(t, c, "DBCC CHECKIDENT ('plain')", 30030, "HY000", "'plain' does not contain an identity column.")
	wantErr(t, c, "CALL checkident('orders', 'RESEED', 'x')", 1210, "HY000", "Incorrect arguments to checkident")
	wantErr(t, c, "CALL checkident('orders', 'SOMETIMES')", 1210, "HY000", "expected NORESEED or RESEED")
	wantErr(t, c, "CALL checkident('nosuch')", 1146, "42S02", "Table 'shop.nosuch' doesn't exist")
	if got := mustRows(t, c, "SELECT IDENT_CURRENT('nosuch'), IDENT_CURRENT('plain')"); got[0][0] != nil || got[0][1] != nil {
		t.Fatalf("IDENT_CURRENT of a missing or plain table = %v, want NULL", got)
	}

	// Reseeding needs SUPER or ownership (ALTER on the table: db_owner,
	// db_ddladmin); NORESEED only reads.
	exec(t, c, "CREATE USER app IDENTIFIED BY 'pw'", "GRANT SELECT, INSERT, EXECUTE ON shop.* TO app",
		"CREATE USER owner IDENTIFIED BY 'pw'", "GRANT ALL ON shop.* TO owner")
	app := conn(t, openDB(t, in.DSN("app", "pw", "shop")))
	wantErr(t, app, "DBCC CHECKIDENT ('orders', RESEED, 5)", 1227, "42000", "SUPER or ALTER")
	mustRows(t, app, "DBCC CHECKIDENT ('orders', NORESEED)")
	owner := conn(t, openDB(t, in.DSN("owner", "pw", "shop")))
	exec(t, owner, "DBCC CHECKIDENT ('orders', RESEED, 1)")

	// Every reseed is in the ID-event log.
	if n := one(t, c, "SELECT COUNT(*) FROM SYS_ID_EVENTS WHERE KIND = 'identity_reseed' AND SEQUENCE_NAME = 'identity:shop.orders'"); n != "5" {
		t.Fatalf("identity_reseed events: %s, want 5 (four by root, one by the owner)", n)
	}
}

// Msg 8115 at the end of TINYINT (0..255, SQL Server's range) and INT.
func TestIdentityOverflow(t *testing.T) {
	in := servertest.Start(t, servertest.Options{})
	c := conn(t, openDB(t, in.RootDSN("")))
	exec(t, c, "CREATE DATABASE d", "USE d",
		"CREATE TABLE small (id TINYINT IDENTITY(250, 1) PRIMARY KEY, v INT)",
		"CREATE TABLE big (id INT NOT NULL IDENTITY(2147483646, 1) PRIMARY KEY, v INT)",
		"CREATE TABLE num (id NUMERIC(3,0) IDENTITY PRIMARY KEY)")
	exec(t, c, "INSERT INTO small (v) VALUES (1),(2),(3),(4),(5),(6)")
	if got := one(t, c, "SELECT MAX(id) FROM small"); got != "255" {
		t.Fatalf("TINYINT identity reached %s, want 255", got)
	}
	wantErr(t, c, "INSERT INTO small (v) VALUES (7)", 30031, "22003", "Arithmetic overflow error converting IDENTITY to data type tinyint.")
	exec(t, c, "INSERT INTO big (v) VALUES (1), (2)")
	wantErr(t, c, "INSERT INTO big (v) VALUES (3)", 30031, "22003", "Arithmetic overflow error converting IDENTITY to data type int.")
	if got := one(t, c, "SELECT MAX_VALUE FROM SYS_IDENTITIES WHERE TABLE_NAME = 'num'"); got != "999" {
		t.Fatalf("NUMERIC(3,0) identity max %s, want 999", got)
	}
	wantErr(t, c, "DBCC CHECKIDENT ('num', RESEED, 1000)", 30031, "22003", "data type numeric(3,0)")
	// Declarations sysemu cannot serve are refused, and leave no table.
	wantErr(t, c, "CREATE TABLE neg (id INT IDENTITY(-5, 1) PRIMARY KEY)", 1210, "HY000", "seed -5 is outside 0..2147483647")
	wantErr(t, c, "CREATE TABLE zero (id INT IDENTITY(1, 0) PRIMARY KEY)", 1210, "HY000", "increment 0 must be positive")
	if n := one(t, c, "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME IN ('neg', 'zero')"); n != "0" {
		t.Fatalf("refused tables exist: %s", n)
	}
	// ALTER TABLE ... AUTO_INCREMENT = n sets the next value.
	exec(t, c, "CREATE TABLE a (id INT AUTO_INCREMENT PRIMARY KEY, v INT) AUTO_INCREMENT = 50", "INSERT INTO a (v) VALUES (1)",
		"ALTER TABLE a AUTO_INCREMENT = 90", "INSERT INTO a (v) VALUES (2)")
	if got := fmt.Sprint(mustRows(t, c, "SELECT id FROM a ORDER BY id")); got != "[[50] [90]]" {
		t.Fatalf("AUTO_INCREMENT seed and ALTER: %s", got)
	}
}

// rangeEvents returns the ranges each node of table db.t was ever assigned.
func rangeEvents(t *testing.T, c *sql.Conn, db, tbl string) map[int][][2]int64 {
	t.Helper()
	out := map[int][][2]int64{}
	q := "SELECT SEQUENCE_NAME, OLD_VALUE, NEW_VALUE FROM SYSTEM.SYS_ID_EVENTS WHERE KIND = 'identity_range' AND SEQUENCE_NAME LIKE 'identity:" + db + "." + tbl + "@node%'"
	for _, r := range mustRows(t, c, q) {
		name := r[0].(string)
		node, _ := strconv.Atoi(name[strings.LastIndex(name, "@node")+5:])
		lo, _ := strconv.ParseInt(r[1].(string), 10, 64)
		hi, _ := strconv.ParseInt(r[2].(string), 10, 64)
		out[node] = append(out[node], [2]int64{lo, hi})
	}
	return out
}

// Automatic ranges across nodes: the threshold, the batch that crosses a
// range, the Publisher's admin rule, and sp_adjustpublisheridentityrange.
func TestIdentityRangesOverTheWire(t *testing.T) {
	in := servertest.Start(t, servertest.Options{})
	c := conn(t, openDB(t, in.RootDSN("")))
	exec(t, c, "CREATE DATABASE r", "USE r", "CREATE TABLE t (id INT IDENTITY(1,1) PRIMARY KEY, node INT)",
		"INSERT INTO t (node) VALUES (0), (0), (0), (0)")
	got := mustRows(t, c, "CALL identity_range_manage('t', 'auto', 1000, 1000, 80)")
	if want := "[[1 primary 5 1004] [1 secondary 1005 2004] [2 primary 2005 3004] [2 secondary 3005 4004] [3 primary 4005 5004] [3 secondary 5005 6004]]"; fmt.Sprint(got) != want {
		t.Fatalf("ranges = %v, want %s", got, want)
	}
	// The threshold: 1000 and 80 %, a new range after 800 inserts.
	exec(t, c, "SET @@session.node_id = 2")
	for i := 0; i < 799; i++ {
		exec(t, c, "INSERT INTO t (node) VALUES (2)")
	}
	if n := one(t, c, "SELECT COUNT(*) FROM SYS_IDENTITY_RANGES WHERE TABLE_NAME = 't' AND NODE_ID = 2 AND RANGE_START = 6005"); n != "0" {
		t.Fatal("a new range before the threshold")
	}
	exec(t, c, "INSERT INTO t (node) VALUES (2)")
	got = mustRows(t, c, "SELECT RANGE_KIND, RANGE_START, RANGE_END, NEXT_VALUE, USAGE_PCT, IDENTITY_RANGE, PUB_IDENTITY_RANGE, THRESHOLD, NEXT_SEED FROM SYS_IDENTITY_RANGES WHERE TABLE_NAME = 't' AND NODE_ID = 2")
	if want := "[[primary 3005 4004 3005 0 1000 1000 80 7004] [secondary 6005 7004 <nil> 0 1000 1000 80 7004]]"; fmt.Sprint(got) != want {
		t.Fatalf("node 2 after 800 inserts: %v, want %s", got, want)
	}
	// A batch that crosses the end of node 3's ranges fails as a whole.
	exec(t, c, "SET @@session.node_id = 3")
	batch := "INSERT INTO t (node) VALUES " + strings.TrimSuffix(strings.Repeat("(3),", 2001), ",")
	wantErr(t, c, batch, 30032, "23000", "The insert failed. It conflicted with an identity range check constraint in database 'r', replicated table 't', column 'id'.")
	if n := one(t, c, "SELECT COUNT(*) FROM t WHERE node = 3"); n != "0" {
		t.Fatalf("the failed batch stored %s rows", n)
	}
	wantErr(t, c, "INSERT INTO t (id, node) VALUES (1, 3)", 30032, "23000", "sp_adjustpublisheridentityrange")

	// The Publisher with a user who is not the owner: no new range.
	exec(t, c, "CREATE USER app IDENTIFIED BY 'pw'", "GRANT SELECT, INSERT, EXECUTE ON r.* TO app")
	app := conn(t, openDB(t, in.DSN("app", "pw", "r")))
	exec(t, app, "SET @@session.node_id = 1", "INSERT INTO t (node) VALUES "+strings.TrimSuffix(strings.Repeat("(1),", 2000), ","))
	wantErr(t, app, "INSERT INTO t (node) VALUES (1)", 30032, "23000", "for the Publisher, execute sp_adjustpublisheridentityrange")
	wantErr(t, app, "CALL adjust_identity_range('t')", 1227, "42000", "SUPER or ALTER")
	got = mustRows(t, c, "CALL adjust_identity_range('t')")
	if len(got) != 2 || got[1][2] == "1005" {
		t.Fatalf("adjust_identity_range: %v", got)
	}
	exec(t, app, "INSERT INTO t (node) VALUES (1)")

	// Every row lies inside a range its node was assigned.
	assertInRanges(t, c, "r", "t")
}

// assertInRanges checks every row of db.tbl (columns id, node) against the
// ranges SYS_ID_EVENTS says its node held, and that no id repeats.
func assertInRanges(t *testing.T, c *sql.Conn, db, tbl string) int {
	t.Helper()
	ranges := rangeEvents(t, c, db, tbl)
	n := 0
	for _, r := range mustRows(t, c, fmt.Sprintf("SELECT id, node FROM %s.%s WHERE node > 0", db, tbl)) {
		id, _ := strconv.ParseInt(r[0].(string), 10, 64)
		node, _ := strconv.Atoi(r[1].(string))
		ok := false
		for _, rg := range ranges[node] {
			ok = ok || id > rg[0] && id <= rg[1]
		}
		if !ok {
			t.Fatalf("id %d of node %d is outside its ranges %v", id, node, ranges[node])
		}
		n++
	}
	if dup := one(t, c, fmt.Sprintf("SELECT COUNT(*) - COUNT(DISTINCT id) FROM %s.%s", db, tbl)); dup != "0" {
		t.Fatalf("%s duplicate ids", dup)
	}
	return n
}

// Manual ranges: the document's 1..10000 / 10001..20000 / 20001..30000,
// each node reseeded with CHECKIDENT.
func TestIdentityManualRanges(t *testing.T) {
	in := servertest.Start(t, servertest.Options{})
	c := conn(t, openDB(t, in.RootDSN("")))
	exec(t, c, "CREATE DATABASE m", "USE m", "CREATE TABLE t (id INT IDENTITY(1,1) PRIMARY KEY, node INT)",
		"CALL identity_range_manage('t', 'manual')")
	for node, start := range []int{1, 10001, 20001} {
		exec(t, c, fmt.Sprintf("SET @@session.node_id = %d", node+1), fmt.Sprintf("DBCC CHECKIDENT('t', 'reseed', %d)", start))
	}
	for node := 1; node <= 3; node++ {
		exec(t, c, fmt.Sprintf("SET @@session.node_id = %d", node), fmt.Sprintf("INSERT INTO t (node) VALUES (%d), (%d)", node, node))
	}
	if got := fmt.Sprint(mustRows(t, c, "SELECT node, MIN(id), MAX(id) FROM t GROUP BY node ORDER BY node")); got != "[[1 1 2] [2 10001 10002] [3 20001 20002]]" {
		t.Fatalf("manual ranges: %s", got)
	}
	if got := fmt.Sprint(mustRows(t, c, "SELECT NODE_ID, CURRENT_VALUE FROM SYS_IDENTITIES WHERE TABLE_NAME = 't' ORDER BY NODE_ID")); got != "[[1 2] [2 10002] [3 20002]]" {
		t.Fatalf("SYS_IDENTITIES: %s", got)
	}
	exec(t, c, "SET @@session.node_id = 9")
	wantErr(t, c, "INSERT INTO t (node) VALUES (9)", 30011, "HY000", "9")
}

// The document's restore procedure: back up the Publisher, insert on every
// node, restore the Publisher, reseed it to the highest IDENT_CURRENT + 1,
// adjust its range — then every node inserts with no duplicate.
func TestIdentityPublisherRestoreProcedure(t *testing.T) {
	in := servertest.Start(t, servertest.Options{})
	c := conn(t, openDB(t, in.RootDSN("")))
	exec(t, c, "CREATE DATABASE p", "USE p", "CREATE TABLE t (id INT IDENTITY(1,1) PRIMARY KEY, node INT)",
		"CALL identity_range_manage('t', 'auto', 100, 100, 100)")
	insert := func(node int) error {
		exec(t, c, fmt.Sprintf("SET @@session.node_id = %d", node))
		_, err := c.ExecContext(context.Background(), fmt.Sprintf("INSERT INTO t (node) VALUES (%d)", node))
		return err
	}
	for n := 1; n <= 3; n++ {
		if err := insert(n); err != nil {
			t.Fatal(err)
		}
	}
	snap := httpGet(t, in, "/admin/snapshot")
	if snap.status != 200 {
		t.Fatalf("backup: %d %s", snap.status, snap.body)
	}
	for i := 0; i < 10; i++ {
		for n := 1; n <= 3; n++ {
			if err := insert(n); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := httpDo(t, in, "POST", "/admin/snapshot/restore?force=true", jsonType, snap.body); got.status != 200 {
		t.Fatalf("restore: %d %s", got.status, got.body)
	}
	// Without the procedure the restored Publisher collides with its own rows.
	if err := insert(1); err == nil {
		t.Fatal("the restored Publisher inserted without a duplicate: the restore did not bring its counter back")
	} else if n, _ := errno(err); n != 1062 {
		t.Fatalf("restored Publisher: %v, want 1062", err)
	}
	highest := int64(0)
	for n := 1; n <= 3; n++ {
		exec(t, c, fmt.Sprintf("SET @@session.node_id = %d", n))
		v, _ := strconv.ParseInt(one(t, c, "SELECT IDENT_CURRENT('t')"), 10, 64)
		highest = max(highest, v)
	}
	exec(t, c, "SET @@session.node_id = 1", fmt.Sprintf("CALL checkident('t', 'RESEED', %d)", highest+1), "CALL adjust_identity_range('t')")
	for i := 0; i < 50; i++ {
		for n := 1; n <= 3; n++ {
			if err := insert(n); err != nil {
				t.Fatalf("node %d after the procedure: %v", n, err)
			}
		}
	}
	assertInRanges(t, c, "p", "t")
}

// 8 connections on 3 nodes insert 10,000 rows each into one managed table:
// every value unique and inside the ranges its node held.
func TestIdentityRangesConcurrent(t *testing.T) {
	in := servertest.Start(t, servertest.Options{})
	db := openDB(t, in.RootDSN(""))
	c := conn(t, db)
	exec(t, c, "CREATE DATABASE cc", "USE cc", "CREATE TABLE t (id INT IDENTITY(1,1) PRIMARY KEY, node INT)",
		"CALL identity_range_manage('t', 'auto', 1000, 2000, 80)")
	const conns, rowsEach, batch = 8, 10000, 100
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			node := w%3 + 1
			wc, err := db.Conn(context.Background())
			if err != nil {
				errs <- err
				return
			}
			defer wc.Close()
			if _, err := wc.ExecContext(context.Background(), fmt.Sprintf("SET @@session.node_id = %d", node)); err != nil {
				errs <- err
				return
			}
			values := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("(%d),", node), batch), ",")
			for i := 0; i < rowsEach/batch; i++ {
				if _, err := wc.ExecContext(context.Background(), "INSERT INTO cc.t (node) VALUES "+values); err != nil {
					errs <- fmt.Errorf("worker %d batch %d: %w", w, i, err)
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
	if n := assertInRanges(t, c, "cc", "t"); n != conns*rowsEach {
		t.Fatalf("%d rows, want %d", n, conns*rowsEach)
	}
}

// kill -9 during identity inserts on 4 connections, 5 times: every
// acknowledged row survives, and no identity value is handed out twice —
// the restarted server resumes above each reserved block (a gap).
func TestIdentityKill9(t *testing.T) {
	bin := binBuild(t)
	dir := t.TempDir()
	acked := map[int64]string{}
	var mu sync.Mutex
	for cycle := 0; cycle < 5; cycle++ {
		p := binStart(t, bin, dir)
		db := crashOpen(t, p.dsn(""))
		if _, err := db.Exec("CREATE DATABASE IF NOT EXISTS k"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("CREATE TABLE IF NOT EXISTS k.t (id INT IDENTITY(1,1) PRIMARY KEY, v VARCHAR(32))"); err != nil {
			t.Fatal(err)
		}
		// Everything acknowledged before is there, with its value.
		rs, err := db.Query("SELECT id, v FROM k.t")
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]string{}
		for rs.Next() {
			var id int64
			var v string
			if err := rs.Scan(&id, &v); err != nil {
				t.Fatal(err)
			}
			got[id] = v
		}
		rs.Close()
		for id, v := range acked {
			if got[id] != v {
				t.Fatalf("cycle %d: acknowledged row %d=%q is %q after kill -9", cycle, id, v, got[id])
			}
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					v := fmt.Sprintf("c%d-w%d-%d", cycle, w, i)
					res, err := db.Exec("INSERT INTO k.t (v) VALUES (?)", v)
					if err != nil {
						return
					}
					id, err := res.LastInsertId()
					if err != nil {
						return
					}
					mu.Lock()
					if old, dup := acked[id]; dup {
						t.Errorf("identity %d handed out twice: %q and %q", id, old, v)
					}
					acked[id] = v
					mu.Unlock()
				}
			}(w)
		}
		// Kill once this cycle's 50 rows are in (however slow the machine:
		// bounded at 30 s) and a little later, while the workers still insert.
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= (cycle+1)*50 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(cycle*37) * time.Millisecond)
		p.Kill()
		close(stop)
		wg.Wait()
		db.Close()
	}
	if len(acked) < 5*50 {
		t.Fatalf("only %d rows acknowledged over 5 cycles", len(acked))
	}
}

// The mariadb CLI prints CHECKIDENT's messages as a result and, with
// --show-warnings, as notes; a T-SQL script runs as written.
func TestIdentityCLI(t *testing.T) {
	client := cliClient(t)
	p := binStart(t, binBuild(t), t.TempDir())
	const done = "DBCC execution completed. If DBCC printed error messages, contact your system administrator."
	cliMust(t, client, p, `CREATE DATABASE s;
USE s;
CREATE TABLE t (id INT IDENTITY(100, 10) PRIMARY KEY, v VARCHAR(8));
INSERT INTO t (v) VALUES ('a'), ('b');
SELECT IDENT_CURRENT('t'), IDENT_SEED('t'), IDENT_INCR('t'), SCOPE_IDENTITY();
DBCC CHECKIDENT ('t', RESEED, 500);
INSERT INTO t (v) VALUES ('c');
SELECT id FROM t WHERE v = 'c';
`, "110\t100\t10\t110\n"+
		"Checking identity information: current identity value '110'.\n"+done+"\n"+
		"Note (Code 7998): Checking identity information: current identity value '110'.\n"+
		"Note (Code 2528): "+done+"\n"+
		"510\n", "--show-warnings")
}
