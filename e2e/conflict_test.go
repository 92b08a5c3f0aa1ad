package e2e

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sysemu/sysemu/server/servertest"
)

var flagConflictTime = flag.Duration("conflict-time", 4*time.Second, "TestConflictingAdminChanges: how long the 32 connections run")

// conflictRole is what one connection of TestConflictingAdminChanges does,
// and the MySQL errors it may get: anything else (or a dropped connection)
// fails the test.
type conflictRole struct {
	name     string
	conns    int
	expected []uint16
	op       func(ctx context.Context, c *sql.Conn, rng *rand.Rand, l *conflictLedger) error
}

type conflictLedger struct {
	mu       sync.Mutex
	reseedMu sync.Mutex                  // serializes the test's read-then-RESEED steps
	setNext  uint64                      // largest accepted set_next_table_id
	idents   map[string]map[int64]string // identity table -> acknowledged value -> row
	counts   map[string]int              // role -> statements acknowledged
	errs     map[string]map[uint16]int   // role -> expected error -> count
}

const conflictIdentTables = 3

// TestConflictingAdminChanges runs 32 connections of conflicting admin
// changes at once: set_next_table_id from four connections, reseeds during
// identity inserts, DROP/TRUNCATE/vacuum_full during INSERT, nodes going
// offline and online, readers. Every statement succeeds or fails with an
// expected MySQL error on a connection that stays usable; afterwards
// every acknowledged identity value is present once, and the invariants
// of the crash loop hold.
func TestConflictingAdminChanges(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	in := servertest.Start(t)
	setup := openDB(t, in.RootDSN(""))
	clMustExec(t, setup, "CREATE DATABASE cf")
	for i := 0; i < conflictIdentTables; i++ {
		clMustExec(t, setup, fmt.Sprintf("CREATE TABLE cf.id%d (id BIGINT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(40)) COMMENT 'copy_num=1'", i))
	}
	l := &conflictLedger{idents: map[string]map[int64]string{}, counts: map[string]int{}, errs: map[string]map[uint16]int{}}
	for i := 0; i < conflictIdentTables; i++ {
		l.idents[fmt.Sprintf("id%d", i)] = map[int64]string{}
	}

	ddl := []uint16{30004} // DDL while another connection holds recovery mode on
	roles := []conflictRole{
		// Two (here four) set_next_table_id at once: the loser finds recovery
		// mode already off (30002) or the value already passed (30003).
		{name: "set_next_table_id", conns: 4, expected: []uint16{30002, 30003}, op: conflictSetNext},
		{name: "identity insert", conns: 8, op: conflictInsert},
		{name: "checkident", conns: 4, op: conflictReseed},
		// DROP during INSERT: 1146 unknown table, 1050 exists, 1051 unknown table on DROP.
		{name: "create/insert/drop", conns: 8, expected: append([]uint16{1146, 1050, 1051}, ddl...), op: conflictDDL},
		{name: "node offline/online", conns: 4, op: conflictNodes},
		{name: "reader", conns: 4, op: conflictRead},
	}
	ctx, cancel := context.WithTimeout(context.Background(), *flagConflictTime)
	defer cancel()
	var wg sync.WaitGroup
	var failMu sync.Mutex
	var failures []string
	total := 0
	for _, r := range roles {
		l.errs[r.name] = map[uint16]int{}
		for i := 0; i < r.conns; i++ {
			total++
			crng := rand.New(rand.NewSource(rng.Int63()))
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := sql.Open("mysql", in.RootDSN("cf"))
				if err != nil {
					return
				}
				defer db.Close()
				c, err := db.Conn(context.Background())
				if err != nil {
					failMu.Lock()
					failures = append(failures, fmt.Sprintf("%s: connect: %v", r.name, err))
					failMu.Unlock()
					return
				}
				defer c.Close()
				for ctx.Err() == nil {
					err := r.op(context.Background(), c, crng, l)
					if err == nil {
						l.mu.Lock()
						l.counts[r.name]++
						l.mu.Unlock()
						continue
					}
					n, _ := errno(err)
					expected := false
					for _, e := range r.expected {
						expected = expected || n == e
					}
					if !expected {
						failMu.Lock()
						failures = append(failures, fmt.Sprintf("%s: %v", r.name, err))
						failMu.Unlock()
						return
					}
					l.mu.Lock()
					l.errs[r.name][n]++
					l.mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if total != 32 {
		t.Fatalf("%d connections, want 32", total)
	}
	for _, r := range roles {
		t.Logf("%-20s %5d acknowledged, expected errors %v", r.name, l.counts[r.name], l.errs[r.name])
		if l.counts[r.name] == 0 {
			t.Errorf("%s: nothing acknowledged", r.name)
		}
	}

	// Afterwards: switches off, nodes back, and every invariant.
	db := openDB(t, in.RootDSN("cf"))
	clMustExec(t, db, "CALL recovery_mode('off')")
	clMustExec(t, db, "CALL node_online(2)")
	clMustExec(t, db, "CALL node_online(3)")
	for table, acked := range l.idents {
		got, err := clTableRows(db, table)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		byID := map[int64]string{}
		for v, id := range got {
			byID[id] = v
		}
		for id, v := range acked {
			if byID[id] != v {
				t.Errorf("%s: acknowledged identity %d (%s) is %q", table, id, v, byID[id])
			}
		}
	}
	tables, err := crashUserTables(db)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[uint64]string{}
	var maxID uint64
	for _, tb := range tables {
		if other, dup := ids[tb.id]; dup {
			t.Errorf("TABLE_ID %d held by %s and %s.%s", tb.id, other, tb.schema, tb.name)
		}
		ids[tb.id] = tb.schema + "." + tb.name
		maxID = max(maxID, tb.id)
	}
	next, err := crashNextTableID(db)
	if err != nil || next <= maxID || next < l.setNext {
		t.Errorf("next_table_id() = %d (%v); largest TABLE_ID %d, largest accepted set_next_table_id %d", next, err, maxID, l.setNext)
	}
	h := &clHistory{gstoOwner: map[uint64]uint64{}, storeOwner: map[[2]uint64]uint64{}, maxStore: map[uint64]uint64{},
		fnOwner: map[[2]uint64]uint64{}, fnRetired: map[[2]uint64]bool{}}
	clCheckStores(t, db, 0, h)
	clCheckFilenodes(t, db, 0, &clLedger{tables: map[string]*clTable{}}, h)
	conflictCheckClean(t, db)
}

// conflictCheckClean: check_ids() finds nothing and every map file is ok.
func conflictCheckClean(t *testing.T, db *sql.DB) {
	t.Helper()
	problems, err := clQueryStrings(db, "CALL check_ids()")
	if err != nil {
		t.Fatalf("check_ids(): %v", err)
	}
	for _, p := range problems {
		t.Errorf("check_ids(): %s", strings.Join(p, " | "))
	}
	maps, err := clQueryStrings(db, "CALL verify_filenode_maps()")
	if err != nil {
		t.Fatalf("verify_filenode_maps(): %v", err)
	}
	for _, m := range maps {
		if m[len(m)-1] != "ok" {
			t.Errorf("verify_filenode_maps(): %s", strings.Join(m, " | "))
		}
	}
}

func conflictSetNext(ctx context.Context, c *sql.Conn, rng *rand.Rand, l *conflictLedger) error {
	if err := clExec(ctx, c, "CALL recovery_mode('on')"); err != nil {
		return err
	}
	defer clExec(ctx, c, "CALL recovery_mode('off')")
	var cur uint64
	if err := c.QueryRowContext(ctx, "SELECT next_table_id()").Scan(&cur); err != nil {
		return err
	}
	n := cur + 1 + uint64(rng.Intn(3))
	if err := clExec(ctx, c, fmt.Sprintf("CALL set_next_table_id(%d)", n)); err != nil {
		return err
	}
	l.mu.Lock()
	l.setNext = max(l.setNext, n)
	l.mu.Unlock()
	return nil
}

func conflictInsert(ctx context.Context, c *sql.Conn, rng *rand.Rand, l *conflictLedger) error {
	table := fmt.Sprintf("id%d", rng.Intn(conflictIdentTables))
	v := fmt.Sprintf("r%d", rng.Int63())
	res, err := c.ExecContext(ctx, "INSERT INTO "+table+" (v) VALUES (?)", v)
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, dup := l.idents[table][id]; dup {
		return fmt.Errorf("%s: identity %d acknowledged twice (%s and %s)", table, id, old, v)
	}
	l.idents[table][id] = v
	return nil
}

// conflictReseed reseeds during the inserts, only upwards (a lower RESEED
// makes duplicates by design, as in SQL Server).
func conflictReseed(ctx context.Context, c *sql.Conn, rng *rand.Rand, l *conflictLedger) error {
	table := fmt.Sprintf("id%d", rng.Intn(conflictIdentTables))
	switch rng.Intn(3) {
	case 0:
		return clExec(ctx, c, "CALL checkident('"+table+"')")
	case 1:
		return clExec(ctx, c, "DBCC CHECKIDENT ('"+table+"', RESEED)")
	default:
		// The read and the RESEED are one step for the test (two of them
		// interleaved would lower the value); inserts still run between.
		l.reseedMu.Lock()
		defer l.reseedMu.Unlock()
		var cur int64
		if err := c.QueryRowContext(ctx, "SELECT IDENT_CURRENT('"+table+"')").Scan(&cur); err != nil {
			return err
		}
		return clExec(ctx, c, fmt.Sprintf("CALL checkident('%s', 'RESEED', %d)", table, cur+100000))
	}
}

func conflictDDL(ctx context.Context, c *sql.Conn, rng *rand.Rand, _ *conflictLedger) error {
	table := fmt.Sprintf("d%d", rng.Intn(4))
	switch r := rng.Intn(10); {
	case r < 3:
		return clExec(ctx, c, "CREATE TABLE "+table+" (id BIGINT PRIMARY KEY, v INT) COMMENT 'copy_num=1'")
	case r < 4:
		return clExec(ctx, c, "DROP TABLE "+table)
	case r < 5:
		return clExec(ctx, c, "TRUNCATE TABLE "+table)
	case r < 6:
		return clExec(ctx, c, "CALL vacuum_full('"+table+"')")
	default:
		_, err := c.ExecContext(ctx, "INSERT INTO "+table+" (id, v) VALUES (?, 1)", rng.Int63())
		return err
	}
}

func conflictNodes(ctx context.Context, c *sql.Conn, rng *rand.Rand, _ *conflictLedger) error {
	node := 2 + rng.Intn(2)
	if rng.Intn(2) == 0 {
		return clExec(ctx, c, fmt.Sprintf("CALL node_offline(%d)", node))
	}
	return clExec(ctx, c, fmt.Sprintf("CALL node_online(%d)", node))
}

func conflictRead(ctx context.Context, c *sql.Conn, rng *rand.Rand, _ *conflictLedger) error {
	q := []string{
		"SELECT next_table_id()",
		"SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_ID DESC LIMIT 1",
		"SELECT COUNT(*) FROM SYS_GSTORES",
		"SELECT IDENT_CURRENT('id0')",
		"SELECT TABLE_NAME, TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'cf'",
		"SELECT * FROM SYS_IDENTITIES",
	}[rng.Intn(6)]
	return clExec(ctx, c, q)
}

// REPLACE never fails with a duplicate key, also when other connections
// replace the same keys at the same moment (MySQL locks the row; sysemu
// checks for the row before its commit, and a row committed in between
// made the commit fail with 1062; found by TestLoadHeld).
func TestConcurrentReplace(t *testing.T) {
	in := servertest.Start(t)
	setup := openDB(t, in.RootDSN(""))
	clMustExec(t, setup, "CREATE DATABASE rp")
	clMustExec(t, setup, "CREATE TABLE rp.kv (k INT PRIMARY KEY, v VARCHAR(20), p INT) PARTITION BY HASH(p) PARTITIONS 3")
	concurrently(t, in.RootDSN("rp"), 16, func(db *sql.DB, w int) error {
		for i := 0; i < 150; i++ {
			if _, err := db.Exec("REPLACE INTO kv (k, v, p) VALUES (?, ?, ?)", i%3, fmt.Sprintf("w%d-%d", w, i), w+i); err != nil {
				return err
			}
		}
		return nil
	})
	db := openDB(t, in.RootDSN("rp"))
	var n, rows int64
	if err := db.QueryRow("SELECT COUNT(*) FROM kv").Scan(&n); err != nil || n != 3 {
		t.Fatalf("COUNT(*) = %d (%v), want 3", n, err)
	}
	if err := db.QueryRow("SELECT RECORD_NUM FROM SYS_TABLES WHERE TABLE_ID = (SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = 'kv')").Scan(&rows); err != nil || rows != 3 {
		t.Errorf("SYS_TABLES.RECORD_NUM = %d (%v), want 3", rows, err)
	}
}

// INSERT ... ON DUPLICATE KEY UPDATE and INSERT IGNORE never fail with a
// duplicate key when other connections insert the same keys at the same
// moment: a statement whose commit finds a key committed since its look-up
// runs again (MySQL's would have waited for the row lock), and sees the row.
func TestConcurrentUpsert(t *testing.T) {
	in := servertest.Start(t)
	setup := openDB(t, in.RootDSN(""))
	clMustExec(t, setup, "CREATE DATABASE up")
	clMustExec(t, setup, "CREATE TABLE up.kv (k INT PRIMARY KEY, n INT)")
	const workers, rounds = 12, 60
	concurrently(t, in.RootDSN("up"), workers, func(db *sql.DB, w int) error {
		for i := 0; i < rounds; i++ {
			// A fresh key each round, so every worker races for its insert.
			stmt := "INSERT INTO kv (k, n) VALUES (?, 1) ON DUPLICATE KEY UPDATE n = n + 1"
			if w%3 == 0 {
				stmt = "INSERT IGNORE INTO kv (k, n) VALUES (?, 1)"
			}
			if _, err := db.Exec(stmt, i); err != nil {
				return fmt.Errorf("round %d: %w", i, err)
			}
		}
		return nil
	})
	db := openDB(t, in.RootDSN("up"))
	var keys int64
	if err := db.QueryRow("SELECT COUNT(*) FROM kv").Scan(&keys); err != nil || keys != rounds {
		t.Fatalf("COUNT(*) = %d (%v), want %d", keys, err, rounds)
	}
}

// Concurrent read-modify-write statements on one row lose nothing, and an
// UPDATE never brings back a row another connection deleted: a statement
// whose row changed between its read and its commit runs again, as MySQL's
// would have waited for the row lock. Before, n ended near 265 of 960.
func TestConcurrentUpdatesNotLost(t *testing.T) {
	in := servertest.Start(t)
	setup := openDB(t, in.RootDSN(""))
	clMustExec(t, setup, "CREATE DATABASE lu")
	clMustExec(t, setup, "CREATE TABLE lu.kv (k INT PRIMARY KEY, n INT, note VARCHAR(10))")
	clMustExec(t, setup, "CREATE TABLE lu.bag (n INT)") // no primary key
	clMustExec(t, setup, "INSERT INTO lu.kv VALUES (5, 0, 'doomed')")
	clMustExec(t, setup, "INSERT INTO lu.bag VALUES (0)")
	const workers, rounds = 8, 60
	concurrently(t, in.RootDSN("lu"), workers, func(db *sql.DB, w int) error {
		for i := 0; i < rounds; i++ {
			stmts := []string{
				"INSERT INTO kv (k, n) VALUES (0, 1) ON DUPLICATE KEY UPDATE n = n + 1",
				"UPDATE kv SET n = n + 1 WHERE k = 0",
				"UPDATE bag SET n = n + 1",
				"UPDATE kv SET n = n + 1 WHERE k = 5",
			}
			if w == 0 && i == rounds/2 {
				stmts = append(stmts, "DELETE FROM kv WHERE k = 5")
			}
			for _, s := range stmts {
				if _, err := db.Exec(s); err != nil {
					return fmt.Errorf("round %d: %s: %w", i, s, err)
				}
			}
		}
		return nil
	})
	var n, bag, doomed int
	if err := setup.QueryRow("SELECT n FROM lu.kv WHERE k = 0").Scan(&n); err != nil || n != 2*workers*rounds {
		t.Errorf("n = %d (%v), want %d", n, err, 2*workers*rounds)
	}
	if err := setup.QueryRow("SELECT n FROM lu.bag").Scan(&bag); err != nil || bag != workers*rounds {
		t.Errorf("bag n = %d (%v), want %d", bag, err, workers*rounds)
	}
	if err := setup.QueryRow("SELECT COUNT(*) FROM lu.kv WHERE k = 5").Scan(&doomed); err != nil || doomed != 0 {
		t.Errorf("deleted row k = 5: %d rows (%v), want 0", doomed, err)
	}
}

// A row read back and written again encodes to the same bytes for every
// column type, so an UPDATE of an untouched row never looks like a
// concurrent change (which would end in 1213).
func TestUpdateEveryTypeNoConflict(t *testing.T) {
	in := servertest.Start(t)
	db := openDB(t, in.RootDSN(""))
	clMustExec(t, db, "CREATE DATABASE ty")
	clMustExec(t, db, `CREATE TABLE ty.t (id INT PRIMARY KEY, n INT, ti TINYINT, si SMALLINT UNSIGNED, mi MEDIUMINT,
		bi BIGINT UNSIGNED, f FLOAT, d DOUBLE, de DECIMAL(10,2), ch CHAR(3), vc VARCHAR(20), tx TEXT, bl BLOB,
		vb VARBINARY(8), dt DATE, dtm DATETIME(6), ts TIMESTAMP, tm TIME, yr YEAR, en ENUM('a','b'), st SET('x','y'),
		js JSON, bt BIT(8))`)
	clMustExec(t, db, `INSERT INTO ty.t VALUES (1, 0, -7, 65535, -8388608, 18446744073709551615, 1.5, 2.25, 12.5, 'ab',
		'héllo', 'long text', x'00ff', x'0102', '2024-02-29', '2024-02-29 12:34:56.123456', '2024-01-01 00:00:01',
		'-838:59:59', 2024, 'b', 'x,y', '{"b": [1, 2.5, "z"], "a": null}', b'10100101')`)
	clMustExec(t, db, "INSERT INTO ty.t (id, n) VALUES (2, 0)")
	for i := 0; i < 3; i++ {
		if _, err := db.Exec("UPDATE ty.t SET n = n + 1"); err != nil {
			t.Fatalf("UPDATE %d: %v", i, err)
		}
	}
	var n int
	if err := db.QueryRow("SELECT SUM(n) FROM ty.t").Scan(&n); err != nil || n != 6 {
		t.Fatalf("SUM(n) = %d (%v), want 6", n, err)
	}
}

// concurrently runs work on n connections to dsn at once, each with its
// own *sql.DB, and fails t with every error they return.
func concurrently(t *testing.T, dsn string, n int, work func(db *sql.DB, w int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := sql.Open("mysql", dsn)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			if err := work(db, w); err != nil {
				errs <- fmt.Errorf("connection %d: %w", w, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
