package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	crashDB         = "crash"
	crashWorkers    = 4
	crashRowsPerTbl = 5
	// Bounds on one worker's load in one cycle; the kill comes far earlier.
	crashMaxTablesPerWorker = 2000
)

// crashLedger records what the clients attempted and what the server
// acknowledged (statement returned a nil error).
type crashLedger struct {
	mu sync.Mutex
	// attempted: every table a CREATE was sent for, with every row an
	// INSERT was sent for (id -> value).
	attempted map[string]map[int64]string
	// ackTables / ackRows: acknowledged CREATEs and INSERTs.
	ackTables map[string]bool
	ackRows   map[string]map[int64]string
}

func (l *crashLedger) attemptTable(tbl string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempted[tbl] = map[int64]string{}
}

func (l *crashLedger) ackTable(tbl string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ackTables[tbl] = true
	l.ackRows[tbl] = map[int64]string{}
}

func (l *crashLedger) attemptRow(tbl string, id int64, v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempted[tbl][id] = v
}

func (l *crashLedger) ackRow(tbl string, id int64, v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ackRows[tbl][id] = v
}

// crashState is what the test has observed across all restarts.
type crashState struct {
	idOf   map[string]uint64 // "schema.table" -> TABLE_ID, as first observed
	nameOf map[uint64]string // TABLE_ID -> "schema.table", across the whole test
	maxID  uint64            // largest TABLE_ID ever observed
}

// TestCrashKill9 kills sysemu with SIGKILL in the middle of concurrent
// CREATE TABLE / INSERT load, restarts it on the same data directory and
// checks that acknowledged work survived and that table IDs are never
// reused.
func TestCrashKill9(t *testing.T) {
	cycles := 20
	if testing.Short() {
		cycles = 3
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("SYSEMU_CRASH_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("SYSEMU_CRASH_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (rerun with SYSEMU_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	// Every kill makes the driver log "unexpected EOF" per connection.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	t.Cleanup(func() {
		_ = mysql.SetLogger(log.New(os.Stderr, "[mysql] ", log.Ldate|log.Ltime|log.Lshortfile))
	})

	bin := binBuild(t)
	dataDir := t.TempDir()
	ledger := &crashLedger{
		attempted: map[string]map[int64]string{},
		ackTables: map[string]bool{},
		ackRows:   map[string]map[int64]string{},
	}
	state := &crashState{idOf: map[string]uint64{}, nameOf: map[uint64]string{}}
	start := time.Now()

	proc := binStart(t, bin, dataDir)
	for cycle := 0; cycle < cycles; cycle++ {
		db := crashOpen(t, proc.dsn(""))
		if _, err := db.Exec("CREATE DATABASE IF NOT EXISTS " + crashDB); err != nil {
			t.Fatalf("cycle %d: CREATE DATABASE: %v", cycle, err)
		}
		db.Close()

		delay := 200*time.Millisecond + time.Duration(rng.Int63n(int64(time.Second)))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var wg sync.WaitGroup
		for w := 0; w < crashWorkers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				crashWorker(ctx, proc.dsn(crashDB), cycle, w, ledger)
			}()
		}
		time.Sleep(delay)
		proc.Kill()
		wg.Wait()
		cancel()

		proc = binStart(t, bin, dataDir)
		n := crashVerify(t, proc, cycle, ledger, state)
		crashCheckFiles(t, proc, cycle)
		t.Logf("cycle %d: killed after %v; %d acknowledged tables so far, %d user tables, max TABLE_ID %d",
			cycle, delay.Round(time.Millisecond), len(ledger.ackTables), n, state.maxID)
		if t.Failed() {
			break
		}
	}
	proc.Stop()
	t.Logf("%d cycles in %v", cycles, time.Since(start).Round(time.Millisecond))
}

func crashOpen(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

// crashWorker creates tables and fills them on one connection until a
// statement fails (the server was killed) or its bounds are reached.
func crashWorker(ctx context.Context, dsn string, cycle, worker int, l *crashLedger) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	for n := 0; n < crashMaxTablesPerWorker; n++ {
		tbl := fmt.Sprintf("c%d_%d_%d", cycle, worker, n)
		l.attemptTable(tbl)
		if _, err := conn.ExecContext(ctx, "CREATE TABLE "+tbl+" (id BIGINT PRIMARY KEY, v VARCHAR(32))"); err != nil {
			return
		}
		l.ackTable(tbl)
		for i := 0; i < crashRowsPerTbl; i++ {
			id := int64(i*7 + 1)
			v := fmt.Sprintf("v%d_%d_%d_%d", cycle, worker, n, i)
			l.attemptRow(tbl, id, v)
			if _, err := conn.ExecContext(ctx, "INSERT INTO "+tbl+" (id, v) VALUES (?, ?)", id, v); err != nil {
				return
			}
			l.ackRow(tbl, id, v)
		}
	}
}

// crashVerify checks the restarted server against the ledger and the IDs
// observed so far; it returns the number of user tables.
func crashVerify(t *testing.T, proc *binProc, cycle int, l *crashLedger, st *crashState) int {
	t.Helper()
	db := crashOpen(t, proc.dsn(""))
	defer db.Close()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("after kill in cycle %d: "+format, append([]any{cycle}, args...)...)
	}

	// User tables and their IDs.
	tables, err := crashUserTables(db)
	if err != nil {
		t.Fatalf("cycle %d: listing user tables: %v", cycle, err)
	}
	seenID := map[uint64]string{}
	present := map[string]bool{}
	var maxInUse uint64
	for _, tb := range tables {
		full := tb.schema + "." + tb.name
		present[full] = true
		if other, dup := seenID[tb.id]; dup {
			fail("TABLE_ID %d appears twice: %s and %s", tb.id, other, full)
		}
		seenID[tb.id] = full
		if prev, ok := st.idOf[full]; ok && prev != tb.id {
			fail("table %s changed TABLE_ID from %d to %d", full, prev, tb.id)
		}
		if owner, ok := st.nameOf[tb.id]; ok && owner != full {
			fail("TABLE_ID %d reused: was %s, now %s", tb.id, owner, full)
		}
		st.idOf[full] = tb.id
		if _, ok := st.nameOf[tb.id]; !ok {
			st.nameOf[tb.id] = full
		}
		maxInUse = max(maxInUse, tb.id)
		st.maxID = max(st.maxID, tb.id)
	}
	// A table observed after an earlier restart was durable: it must stay.
	for full := range st.idOf {
		if !present[full] {
			fail("table %s (TABLE_ID %d) seen after an earlier restart has disappeared", full, st.idOf[full])
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	for full := range present {
		if len(full) > len(crashDB)+1 && full[:len(crashDB)+1] == crashDB+"." {
			name := full[len(crashDB)+1:]
			if _, ok := l.attempted[name]; !ok && !crashIsProbe(name) {
				fail("table %s exists but no CREATE was ever sent for it", full)
			}
		}
	}
	// Acknowledged tables exist; acknowledged rows are present with their
	// values; no row exists that was never sent.
	var ackNames []string
	for name := range l.ackTables {
		ackNames = append(ackNames, name)
	}
	sort.Strings(ackNames)
	for _, name := range ackNames {
		full := crashDB + "." + name
		if !present[full] {
			fail("acknowledged table %s is missing from INFORMATION_SCHEMA.TABLES", full)
			continue
		}
		rows, err := crashRows(db, full)
		if err != nil {
			fail("reading %s: %v", full, err)
			continue
		}
		for id, v := range l.ackRows[name] {
			got, ok := rows[id]
			if !ok {
				fail("acknowledged row %s id=%d is missing", full, id)
			} else if got != v {
				fail("acknowledged row %s id=%d: v=%q, want %q", full, id, got, v)
			}
		}
		for id, got := range rows {
			if want, ok := l.attempted[name][id]; !ok {
				fail("row %s id=%d v=%q was never inserted", full, id, got)
			} else if got != want {
				fail("row %s id=%d: v=%q, the only INSERT sent had %q", full, id, got, want)
			}
		}
	}
	// Unacknowledged tables that exist must be readable too.
	for name := range l.attempted {
		if full := crashDB + "." + name; present[full] && !l.ackTables[name] {
			if _, err := crashRows(db, full); err != nil {
				fail("reading unacknowledged but existing table %s: %v", full, err)
			}
		}
	}

	// The top-1 query agrees with the listing.
	var top uint64
	if err := db.QueryRow("SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_ID DESC LIMIT 1").Scan(&top); err != nil {
		fail("top TABLE_ID: %v", err)
	} else if len(tables) > 0 && top != maxInUse {
		fail("SELECT TABLE_ID ... ORDER BY TABLE_ID DESC LIMIT 1 = %d, but the largest user TABLE_ID is %d", top, maxInUse)
	}

	// The durable high-water mark is beyond every ID in use.
	next, err := crashNextTableID(db)
	if err != nil {
		t.Fatalf("cycle %d: next_table_id(): %v", cycle, err)
	}
	if next <= maxInUse {
		fail("next_table_id() = %d, not greater than the largest TABLE_ID in use %d", next, maxInUse)
	}

	// A new table gets an ID above every ID seen before and at least the
	// durable high-water mark (IDs below it may have been handed out
	// before the crash).
	probe := fmt.Sprintf("probe_%d", cycle)
	if _, err := db.Exec("CREATE TABLE " + crashDB + "." + probe + " (id BIGINT PRIMARY KEY)"); err != nil {
		t.Fatalf("cycle %d: CREATE TABLE %s after restart: %v", cycle, probe, err)
	}
	var pid uint64
	if err := db.QueryRow("SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
		crashDB, probe).Scan(&pid); err != nil {
		t.Fatalf("cycle %d: TABLE_ID of %s: %v", cycle, probe, err)
	}
	if pid <= st.maxID {
		fail("new table %s got TABLE_ID %d, not greater than %d seen before", probe, pid, st.maxID)
	}
	if pid < next {
		fail("new table %s got TABLE_ID %d, below the durable next_table_id() %d read just before", probe, pid, next)
	}
	if owner, ok := st.nameOf[pid]; ok {
		fail("new table %s got TABLE_ID %d, already used by %s", probe, pid, owner)
	}
	full := crashDB + "." + probe
	st.idOf[full], st.nameOf[pid] = pid, full
	st.maxID = max(st.maxID, pid)
	if after, err := crashNextTableID(db); err != nil {
		fail("next_table_id() after %s: %v", probe, err)
	} else if after <= pid {
		fail("next_table_id() = %d after creating %s with TABLE_ID %d", after, probe, pid)
	}
	return len(tables) + 1
}

func crashIsProbe(name string) bool {
	return len(name) > 6 && name[:6] == "probe_"
}

type crashTable struct {
	schema, name string
	id           uint64
}

func crashUserTables(db *sql.DB) ([]crashTable, error) {
	rows, err := db.Query("SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_ID >= 1024")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []crashTable
	for rows.Next() {
		var tb crashTable
		if err := rows.Scan(&tb.schema, &tb.name, &tb.id); err != nil {
			return nil, err
		}
		out = append(out, tb)
	}
	return out, rows.Err()
}

func crashRows(db *sql.DB, full string) (map[int64]string, error) {
	rows, err := db.Query("SELECT id, v FROM " + full)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var v sql.NullString
		if err := rows.Scan(&id, &v); err != nil {
			return nil, err
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("primary key %d returned twice", id)
		}
		out[id] = v.String
	}
	return out, rows.Err()
}

func crashNextTableID(db *sql.DB) (uint64, error) {
	var next uint64
	err := db.QueryRow("SELECT next_table_id()").Scan(&next)
	return next, err
}
