package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Flags of the crash loop (and the other randomized tests of this package):
// go test ./e2e -run TestCrashLoop -cycles 500 -seed 42
var (
	flagCycles = flag.Int("cycles", 20, "TestCrashLoop: kill -9 cycles")
	flagSeed   = flag.Int64("seed", 0, "seed of the randomized tests (0: time-based; printed for replay)")
)

// testSeed returns -seed or a time-based seed, and logs how to replay it.
func testSeed(t *testing.T) int64 {
	seed := *flagSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (replay: go test ./e2e -run '^%s$' -seed %d)", seed, t.Name(), seed)
	return seed
}

// quietMySQLDriver silences the driver's "unexpected EOF" lines that every
// kill produces, for the rest of the test.
func quietMySQLDriver(t *testing.T) {
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	t.Cleanup(func() {
		_ = mysql.SetLogger(log.New(os.Stderr, "[mysql] ", log.Ldate|log.Ltime|log.Lshortfile))
	})
}

// connLost: err is not a MySQL error, so the statement's fate is unknown
// (the server was killed, the connection cut, or the context ended).
func connLost(err error) bool {
	n, _ := errno(err)
	return n == 0
}

// The crash loop's workload. Each table belongs to one worker, which runs
// its statements one at a time, so a table has at most one statement in
// flight when the server is killed: after a restart each table must be in
// its acknowledged state, or in that state with the in-flight statement
// applied.
const (
	clWorkers         = 8
	clLiveTablesCap   = 6 // per worker; above it a worker drops tables
	clOpsPerWorkerMax = 5000
)

type clKind int

const (
	clPlain clKind = iota
	clPartitioned
	clIdentity
)

type clOpKind int

const (
	clCreate clOpKind = iota
	clInsert
	clTruncate
	clDrop
	clVacuum
	clReseed
)

type clOp struct {
	kind clOpKind
	v    string // clInsert: the row's value (unique in the test)
	id   int64  // clInsert: the explicit id (plain tables), or the acknowledged identity value
	n    int64  // clReseed: the new value
}

// clTable is the ledger of one table: its acknowledged state, and the one
// statement in flight when the server was killed, if any.
type clTable struct {
	name    string
	kind    clKind
	exists  bool
	rows    map[string]int64 // v -> id
	nextID  int64            // plain tables: the next explicit id
	lowNext int64            // identity: the next generated value is at least this
	oldFN   []uint64         // filenodes this table left behind (vacuum_full acknowledged)
	pending *clOp
}

// clLedger is what the clients sent and what the server acknowledged.
type clLedger struct {
	mu      sync.Mutex
	tables  map[string]*clTable
	owned   [clWorkers][]string // live (or possibly live) tables per worker
	seq     int                 // table name counter
	setNext uint64              // largest acknowledged set_next_table_id
	// Switches and nodes: acknowledged value and the one change in flight.
	recovery, recoveryPending     bool
	recoveryWant                  bool
	offline                       map[int]bool
	nodePending                   int // node with a change in flight (0: none)
	nodePendingWant               bool
	snapshots                     int
	acks, expectedErrs, ambiguous int
	failures                      []string
}

func (l *clLedger) failf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
}

// clHistory is what verification observed across all restarts.
type clHistory struct {
	tableName  map[uint64]string // TABLE_ID -> table, ever
	tableID    map[string]uint64 // table -> TABLE_ID
	maxTableID uint64
	gstoOwner  map[uint64]uint64    // GSTO_NO -> OBJ_ID, ever
	maxGsto    uint64               // largest GSTO_NO ever seen
	storeOwner map[[2]uint64]uint64 // (node, STORE_NO) -> GSTO_NO, ever
	maxStore   map[uint64]uint64    // node -> largest STORE_NO ever seen
	fnOwner    map[[2]uint64]uint64 // (database OID, filenode) -> OID, ever
	fnRetired  map[[2]uint64]bool   // filenodes no relation may hold again
}

// TestCrashLoop is the crash driver of issue 10: the real binary, 8
// connections of mixed DDL, DML and admin work, kill -9 at a random moment,
// restart, and every invariant checked; -cycles (20) times, seed printed.
func TestCrashLoop(t *testing.T) {
	cycles := *flagCycles
	if testing.Short() {
		cycles = min(cycles, 3)
	}
	rng := rand.New(rand.NewSource(testSeed(t)))
	quietMySQLDriver(t)

	bin := binBuild(t)
	dataDir := t.TempDir()
	l := &clLedger{tables: map[string]*clTable{}, offline: map[int]bool{}}
	h := &clHistory{
		tableName: map[uint64]string{}, tableID: map[string]uint64{},
		gstoOwner: map[uint64]uint64{}, storeOwner: map[[2]uint64]uint64{}, maxStore: map[uint64]uint64{},
		fnOwner: map[[2]uint64]uint64{}, fnRetired: map[[2]uint64]bool{},
	}
	start := time.Now()
	proc := binStart(t, bin, dataDir)
	passed := 0
	for cycle := 0; cycle < cycles; cycle++ {
		db := crashOpen(t, proc.dsn(""))
		if _, err := db.Exec("CREATE DATABASE IF NOT EXISTS " + crashDB); err != nil {
			t.Fatalf("cycle %d: CREATE DATABASE: %v", cycle, err)
		}
		db.Close()

		delay := 100*time.Millisecond + time.Duration(rng.Int63n(int64(1200*time.Millisecond)))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var wg sync.WaitGroup
		for w := 0; w < clWorkers; w++ {
			wrng := rand.New(rand.NewSource(rng.Int63()))
			wg.Add(1)
			go func() {
				defer wg.Done()
				clWorker(ctx, proc, w, wrng, l)
			}()
		}
		time.Sleep(delay)
		proc.Kill()
		wg.Wait()
		cancel()
		for _, f := range l.failures {
			t.Errorf("cycle %d: %s", cycle, f)
		}
		l.failures = nil

		proc = binStart(t, bin, dataDir)
		clVerify(t, proc, cycle, l, h)
		if t.Failed() {
			t.Logf("cycle %d failed", cycle)
			break
		}
		passed++
		t.Logf("cycle %d: killed after %v; %d tables in the ledger, max TABLE_ID %d, max GSTO_NO %d; %d acks, %d expected errors so far",
			cycle, delay.Round(time.Millisecond), len(l.tables), h.maxTableID, h.maxGsto, l.acks, l.expectedErrs)
	}
	proc.Stop()
	t.Logf("%d of %d cycles passed in %v (%d acknowledged statements, %d expected errors, %d snapshots)",
		passed, cycles, time.Since(start).Round(time.Millisecond), l.acks, l.expectedErrs, l.snapshots)
}

// clWorker runs random operations until a statement's fate is unknown
// (the server was killed). Worker 0 also runs the admin operations.
func clWorker(ctx context.Context, proc *binProc, w int, rng *rand.Rand, l *clLedger) {
	db, err := sql.Open("mysql", proc.dsn(crashDB))
	if err != nil {
		return
	}
	defer db.Close()
	c, err := db.Conn(ctx)
	if err != nil {
		return
	}
	defer c.Close()
	for i := 0; i < clOpsPerWorkerMax; i++ {
		var ok bool
		if w == 0 && rng.Intn(10) < 5 {
			ok = clAdminOp(ctx, c, proc, rng, l)
		} else {
			ok = clTableOp(ctx, c, w, rng, l)
		}
		if !ok {
			return
		}
	}
}

// clExpected reports whether err is one of the errors the op may get:
// 30004 while worker 0 holds recovery mode on (any DDL and rewrite).
func clExpected(err error, k clOpKind) bool {
	n, _ := errno(err)
	return n == 30004 && k != clInsert
}

// clTableOp runs one table operation of worker w; false: the connection is gone.
func clTableOp(ctx context.Context, c *sql.Conn, w int, rng *rand.Rand, l *clLedger) bool {
	l.mu.Lock()
	live := l.owned[w]
	var tb *clTable
	var op clOp
	switch r := rng.Intn(100); {
	case len(live) < 2 || r < 12:
		l.seq++
		tb = &clTable{name: fmt.Sprintf("t%d_%d", w, l.seq), kind: clKind(rng.Intn(3)), rows: map[string]int64{}, nextID: 1}
		l.tables[tb.name] = tb
		l.owned[w] = append(l.owned[w], tb.name)
		op.kind = clCreate
	default:
		tb = l.tables[live[rng.Intn(len(live))]]
		switch {
		case len(live) > clLiveTablesCap && r < 40, r < 18:
			op.kind = clDrop
		case r < 22:
			op.kind = clTruncate
		case r < 28:
			op.kind = clVacuum
		case r < 34 && tb.kind == clIdentity:
			op.kind, op.n = clReseed, max(tb.lowNext, 1)+1+rng.Int63n(50)
		default:
			op.kind = clInsert
			op.v = fmt.Sprintf("%s_v%d", tb.name, len(tb.rows)+rng.Intn(1<<30))
			if tb.kind != clIdentity {
				op.id = tb.nextID
				tb.nextID += 1 + rng.Int63n(3)
			}
		}
	}
	tb.pending = &op
	name := tb.name
	kind := tb.kind
	l.mu.Unlock()

	var stmt string
	var args []any
	switch op.kind {
	case clCreate:
		// Two copies: with at most one of the three nodes offline, every
		// version finds a node (a third would be left invalid, as designed).
		const copies = " COMMENT 'copy_num=2'"
		switch kind {
		case clPlain:
			stmt = "CREATE TABLE " + name + " (id BIGINT PRIMARY KEY, v VARCHAR(64))" + copies
		case clPartitioned:
			stmt = fmt.Sprintf("CREATE TABLE %s (id BIGINT PRIMARY KEY, v VARCHAR(64))%s PARTITION BY HASH(id) PARTITIONS %d", name, copies, 2+rng.Intn(5))
		case clIdentity:
			if rng.Intn(2) == 0 {
				stmt = "CREATE TABLE " + name + " (id BIGINT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(64))" + copies
			} else {
				stmt = "CREATE TABLE " + name + " (id INT IDENTITY(100, 5) PRIMARY KEY, v VARCHAR(64))" + copies
			}
		}
	case clInsert:
		if kind == clIdentity {
			stmt, args = "INSERT INTO "+name+" (v) VALUES (?)", []any{op.v}
		} else {
			stmt, args = "INSERT INTO "+name+" (id, v) VALUES (?, ?)", []any{op.id, op.v}
		}
	case clTruncate:
		stmt = "TRUNCATE TABLE " + name
	case clDrop:
		stmt = "DROP TABLE " + name
	case clVacuum:
		stmt = "CALL vacuum_full('" + name + "')"
	case clReseed:
		stmt = fmt.Sprintf("CALL checkident('%s', 'RESEED', %d)", name, op.n)
	}
	var oldFN uint64
	if op.kind == clVacuum {
		if err := c.QueryRowContext(ctx, "SELECT pg_relation_filenode('"+name+"')").Scan(&oldFN); err != nil {
			if !connLost(err) {
				l.failf("%s: pg_relation_filenode: %v", name, err)
			}
			l.mu.Lock()
			tb.pending = nil
			l.mu.Unlock()
			return false
		}
	}
	var res sql.Result
	var err error
	if op.kind == clVacuum || op.kind == clReseed {
		var rs *sql.Rows
		if rs, err = c.QueryContext(ctx, stmt); err == nil {
			for rs.Next() {
			}
			err = rs.Err()
			rs.Close()
		}
	} else {
		res, err = c.ExecContext(ctx, stmt, args...)
	}
	if err == nil && op.kind == clInsert && kind == clIdentity {
		op.id, err = res.LastInsertId()
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil && connLost(err):
		l.ambiguous++
		return false // tb.pending stays: its fate is decided after the restart
	case err != nil && clExpected(err, op.kind):
		l.expectedErrs++
		tb.pending = nil
		if op.kind == clCreate {
			delete(l.tables, name)
			l.owned[w] = l.owned[w][:len(l.owned[w])-1]
		}
		return true
	case err != nil:
		l.failures = append(l.failures, fmt.Sprintf("%s: %v", stmt, err))
		tb.pending = nil
		return false
	}
	l.acks++
	tb.pending = nil
	clApply(tb, &op)
	switch op.kind {
	case clDrop:
		l.owned[w] = slicesDelete(l.owned[w], name)
	case clVacuum:
		tb.oldFN = append(tb.oldFN, oldFN)
	}
	return true
}

func slicesDelete(s []string, v string) []string {
	out := s[:0]
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// clApply applies an acknowledged (or, in verification, a happened) op to
// a table's ledger state.
func clApply(tb *clTable, op *clOp) {
	switch op.kind {
	case clCreate:
		tb.exists = true
	case clInsert:
		tb.rows[op.v] = op.id
		if tb.kind == clIdentity {
			tb.lowNext = max(tb.lowNext, op.id+1)
		}
	case clTruncate:
		clear(tb.rows)
		tb.lowNext = 0 // the identity restarts at its seed
	case clDrop:
		tb.exists = false
		clear(tb.rows)
	case clReseed:
		tb.lowNext = max(tb.lowNext, op.n)
	}
}

// clAdminOp runs one admin operation on worker 0's connection.
func clAdminOp(ctx context.Context, c *sql.Conn, proc *binProc, rng *rand.Rand, l *clLedger) bool {
	run := func(stmt string) error {
		rs, err := c.QueryContext(ctx, stmt)
		if err == nil {
			for rs.Next() {
			}
			err = rs.Err()
			rs.Close()
		}
		if err != nil && !connLost(err) {
			l.failf("%s: %v", stmt, err)
		}
		return err
	}
	setRecovery := func(on bool) bool {
		l.mu.Lock()
		l.recoveryPending, l.recoveryWant = true, on
		l.mu.Unlock()
		err := run(map[bool]string{true: "CALL recovery_mode('on')", false: "CALL recovery_mode('off')"}[on])
		l.mu.Lock()
		defer l.mu.Unlock()
		if err != nil {
			return false
		}
		l.recoveryPending, l.recovery = false, on
		l.acks++
		return true
	}
	switch r := rng.Intn(10); {
	case r < 4: // GreptimeDB's fix: recovery mode, jump the sequence, leave recovery mode
		if !setRecovery(true) {
			return false
		}
		var cur uint64
		if err := c.QueryRowContext(ctx, "SELECT next_table_id()").Scan(&cur); err != nil {
			if !connLost(err) {
				l.failf("next_table_id(): %v", err)
			}
			return false
		}
		n := cur + 1 + uint64(rng.Intn(20))
		if err := run(fmt.Sprintf("CALL set_next_table_id(%d)", n)); err != nil {
			return false
		}
		l.mu.Lock()
		l.setNext = max(l.setNext, n)
		l.acks++
		l.mu.Unlock()
		time.Sleep(time.Duration(rng.Intn(20)) * time.Millisecond) // let DDL of others hit 30004
		return setRecovery(false)
	case r < 7: // take node 2 or 3 offline, or bring the offline one back
		l.mu.Lock()
		node, on := 2+rng.Intn(2), false
		for n, off := range l.offline {
			if off {
				node, on = n, true
			}
		}
		l.nodePending, l.nodePendingWant = node, !on
		l.mu.Unlock()
		stmt := fmt.Sprintf("CALL node_offline(%d)", node)
		if on {
			stmt = fmt.Sprintf("CALL node_online(%d)", node)
		}
		err := run(stmt)
		l.mu.Lock()
		defer l.mu.Unlock()
		if err != nil {
			return false
		}
		l.offline[node], l.nodePending = !on, 0
		l.acks++
		return true
	default: // metadata snapshot over the admin HTTP API
		req, err := http.NewRequestWithContext(ctx, "GET", "http://"+proc.httpAddr+"/admin/snapshot", nil)
		if err != nil {
			l.failf("snapshot request: %v", err)
			return false
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var snap struct {
			Format  string            `json:"format"`
			Entries []json.RawMessage `json:"entries"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
			return false // cut by the kill
		}
		if resp.StatusCode != 200 || !strings.HasPrefix(snap.Format, "sysemu-metadata-snapshot/") || len(snap.Entries) == 0 {
			l.failf("snapshot save: status %d, format %q, %d entries", resp.StatusCode, snap.Format, len(snap.Entries))
			return false
		}
		l.mu.Lock()
		l.snapshots++
		l.acks++
		l.mu.Unlock()
		return true
	}
}

// clObserved is one table as found after a restart.
type clObserved struct {
	rows map[string]int64
}

// clVerify checks the restarted server against the ledger and the
// history, then resolves every in-flight op from what it found.
func clVerify(t *testing.T, proc *binProc, cycle int, l *clLedger, h *clHistory) {
	t.Helper()
	db := crashOpen(t, proc.dsn(crashDB))
	defer db.Close()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("after kill in cycle %d: "+format, append([]any{cycle}, args...)...)
	}

	// Switches and nodes.
	var rec string
	if err := db.QueryRow("SELECT recovery_mode()").Scan(&rec); err != nil {
		t.Fatalf("cycle %d: recovery_mode(): %v", cycle, err)
	}
	if on := rec == "on"; on != l.recovery && !(l.recoveryPending && on == l.recoveryWant) {
		fail("recovery mode is %s; acknowledged %v (in flight: %v)", rec, l.recovery, l.recoveryPending)
	}
	l.recovery, l.recoveryPending = false, false
	if rec == "on" {
		clMustExec(t, db, "CALL recovery_mode('off')")
	}
	states, err := clQueryInts(db, "SELECT NODE_ID, NODE_STATE FROM SYS_CLUSTERS")
	if err != nil {
		t.Fatalf("cycle %d: SYS_CLUSTERS: %v", cycle, err)
	}
	for _, s := range states {
		node, off := int(s[0]), s[1] == 0
		if off != l.offline[node] && !(l.nodePending == node && off == l.nodePendingWant) {
			fail("node %d NODE_STATE %d; acknowledged offline=%v (change in flight: %v)", node, s[1], l.offline[node], l.nodePending == node)
		}
		if off {
			clMustExec(t, db, fmt.Sprintf("CALL node_online(%d)", node))
		}
	}
	l.offline, l.nodePending = map[int]bool{}, 0

	// Tables: each in its acknowledged state, or with its op in flight applied.
	present := map[string]bool{}
	tables, err := crashUserTables(db)
	if err != nil {
		t.Fatalf("cycle %d: listing tables: %v", cycle, err)
	}
	var maxInUse uint64
	seenID := map[uint64]string{}
	for _, tb := range tables {
		full := tb.schema + "." + tb.name
		if other, dup := seenID[tb.id]; dup {
			fail("TABLE_ID %d appears twice: %s and %s", tb.id, other, full)
		}
		seenID[tb.id] = full
		if owner, ok := h.tableName[tb.id]; ok && owner != full {
			fail("TABLE_ID %d reused: was %s, now %s", tb.id, owner, full)
		}
		if prev, ok := h.tableID[full]; ok && prev != tb.id {
			fail("table %s changed TABLE_ID from %d to %d", full, prev, tb.id)
		}
		h.tableName[tb.id], h.tableID[full] = full, tb.id
		maxInUse, h.maxTableID = max(maxInUse, tb.id), max(h.maxTableID, tb.id)
		if tb.schema != crashDB {
			continue
		}
		present[tb.name] = true
		if _, ok := l.tables[tb.name]; !ok && !crashIsProbe(tb.name) {
			fail("table %s exists but no CREATE was ever sent for it", full)
		}
	}
	names := make([]string, 0, len(l.tables))
	for n := range l.tables {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		tb := l.tables[name]
		var got map[string]int64
		if present[name] {
			if got, err = clTableRows(db, name); err != nil {
				fail("reading %s: %v", name, err)
				continue
			}
		}
		clResolve(tb, got, present[name], fail)
		if !tb.exists {
			delete(l.tables, name)
			for w := range l.owned {
				l.owned[w] = slicesDelete(l.owned[w], name)
			}
		}
	}

	// The table-ID sequence: above every ID in use and every acknowledged jump.
	next, err := crashNextTableID(db)
	if err != nil {
		t.Fatalf("cycle %d: next_table_id(): %v", cycle, err)
	}
	if next <= maxInUse || next < l.setNext {
		fail("next_table_id() = %d; largest TABLE_ID in use %d, largest acknowledged set_next_table_id %d", next, maxInUse, l.setNext)
	}

	// Stores and filenodes: unique now, never reused across the history.
	clCheckStores(t, db, cycle, h)
	clCheckFilenodes(t, db, cycle, l, h)

	// Probes: a new table gets IDs above everything seen; every identity
	// table's next value is above its acknowledged ones.
	probe := fmt.Sprintf("probe_%d", cycle)
	clMustExec(t, db, "CREATE TABLE "+probe+" (id BIGINT PRIMARY KEY, v VARCHAR(64)) PARTITION BY HASH(id) PARTITIONS 2")
	var pid uint64
	if err := db.QueryRow("SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", crashDB, probe).Scan(&pid); err != nil {
		t.Fatalf("cycle %d: TABLE_ID of %s: %v", cycle, probe, err)
	}
	if pid <= h.maxTableID || pid < next {
		fail("new table %s got TABLE_ID %d; seen before up to %d, next_table_id() was %d", probe, pid, h.maxTableID, next)
	}
	maxGsto, maxStore := h.maxGsto, map[uint64]uint64{}
	for k, v := range h.maxStore {
		maxStore[k] = v
	}
	gs, err := clQueryInts(db, "SELECT GSTO_NO, NODE_ID1, STORE_NO1, NODE_ID2, STORE_NO2, NODE_ID3, STORE_NO3 FROM SYS_GSTORES WHERE OBJ_ID = "+fmt.Sprint(pid))
	if err != nil || len(gs) == 0 {
		fail("stores of %s: %v (%d rows)", probe, err, len(gs))
	}
	for _, g := range gs {
		if g[0] <= maxGsto {
			fail("new table %s got GSTO_NO %d; seen before up to %d", probe, g[0], maxGsto)
		}
		for k := 1; k < 7; k += 2 {
			if g[k] != 0 && g[k+1] <= maxStore[g[k]] {
				fail("new table %s got STORE_NO %d on node %d; seen before up to %d", probe, g[k+1], g[k], maxStore[g[k]])
			}
		}
	}
	for _, name := range names {
		tb := l.tables[name]
		if tb == nil || tb.kind != clIdentity {
			continue
		}
		v := fmt.Sprintf("%s_probe%d", name, cycle)
		res, err := db.Exec("INSERT INTO "+name+" (v) VALUES (?)", v)
		if err != nil {
			fail("identity insert into %s after restart: %v (rows %v, next at least %d)", name, err, tb.rows, tb.lowNext)
			continue
		}
		id, _ := res.LastInsertId()
		if id < tb.lowNext {
			fail("identity insert into %s after restart got %d; values up to %d were acknowledged", name, id, tb.lowNext-1)
		}
		clApply(tb, &clOp{kind: clInsert, v: v, id: id})
	}

	// check_ids() across every ID space, and the map files.
	crashCheckFiles(t, proc, cycle)
	problems, err := clQueryStrings(db, "CALL check_ids()")
	if err != nil {
		fail("check_ids(): %v", err)
	}
	for _, p := range problems {
		fail("check_ids(): %s", strings.Join(p, " | "))
	}
	// The probe's IDs join the history.
	clCheckStores(t, db, cycle, h)
	h.tableName[pid], h.tableID[crashDB+"."+probe] = crashDB+"."+probe, pid
	h.maxTableID = max(h.maxTableID, pid)
}

// clResolve checks one table against its ledger and adopts what was found.
func clResolve(tb *clTable, got map[string]int64, present bool, fail func(string, ...any)) {
	match := func(exists bool, rows map[string]int64, anyID string) bool {
		if present != exists || len(got) != len(rows) {
			return false
		}
		for v, id := range rows {
			g, ok := got[v]
			if !ok || (g != id && v != anyID) {
				return false
			}
		}
		return true
	}
	if match(tb.exists, tb.rows, "") {
		if op := tb.pending; op != nil {
			// Both outcomes look alike (vacuum, reseed, truncate of an
			// empty table): keep only what holds either way.
			if op.kind == clTruncate {
				tb.lowNext = 0
			}
			if op.kind == clCreate || op.kind == clDrop {
				tb.exists = present
			}
		}
		tb.pending = nil
		return
	}
	if op := tb.pending; op != nil {
		after := &clTable{kind: tb.kind, exists: tb.exists, rows: map[string]int64{}, lowNext: tb.lowNext}
		for v, id := range tb.rows {
			after.rows[v] = id
		}
		anyID := ""
		if op.kind == clInsert && tb.kind == clIdentity {
			anyID = op.v
		}
		clApply(after, op)
		if match(after.exists, after.rows, anyID) {
			if anyID != "" {
				op.id = got[op.v]
				clApply(tb, op)
			} else {
				clApply(tb, op)
			}
			tb.pending = nil
			return
		}
	}
	fail("table %s: found exists=%v rows=%v; acknowledged exists=%v rows=%v, in flight %+v",
		tb.name, present, got, tb.exists, tb.rows, tb.pending)
	// Adopt what was found so one failure is reported once.
	tb.exists, tb.rows, tb.pending = present, got, nil
	if tb.rows == nil {
		tb.rows = map[string]int64{}
	}
}

func clTableRows(db *sql.DB, name string) (map[string]int64, error) {
	rs, err := db.Query("SELECT id, v FROM " + name)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := map[string]int64{}
	seen := map[int64]bool{}
	for rs.Next() {
		var id int64
		var v string
		if err := rs.Scan(&id, &v); err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, fmt.Errorf("id %d returned twice", id)
		}
		if _, dup := out[v]; dup {
			return nil, fmt.Errorf("value %q stored twice", v)
		}
		seen[id], out[v] = true, id
	}
	return out, rs.Err()
}

// clCheckStores: GSTO_NO and per-node STORE_NO unique, never reused.
func clCheckStores(t *testing.T, db *sql.DB, cycle int, h *clHistory) {
	t.Helper()
	gs, err := clQueryInts(db, "SELECT GSTO_NO, OBJ_ID, NODE_ID1, STORE_NO1, NODE_ID2, STORE_NO2, NODE_ID3, STORE_NO3 FROM SYS_GSTORES")
	if err != nil {
		t.Fatalf("cycle %d: SYS_GSTORES: %v", cycle, err)
	}
	gsto := map[uint64]bool{}
	store := map[[2]uint64]uint64{}
	for _, g := range gs {
		if gsto[g[0]] {
			t.Errorf("after kill in cycle %d: GSTO_NO %d appears twice", cycle, g[0])
		}
		gsto[g[0]] = true
		if owner, ok := h.gstoOwner[g[0]]; ok && owner != g[1] {
			t.Errorf("after kill in cycle %d: GSTO_NO %d reused: was table %d, now %d", cycle, g[0], owner, g[1])
		}
		h.gstoOwner[g[0]] = g[1]
		h.maxGsto = max(h.maxGsto, g[0])
		for k := 2; k < 8; k += 2 {
			if g[k] == 0 {
				continue
			}
			key := [2]uint64{g[k], g[k+1]}
			if other, dup := store[key]; dup {
				t.Errorf("after kill in cycle %d: STORE_NO %d on node %d held by GSTO_NO %d and %d", cycle, g[k+1], g[k], other, g[0])
			}
			store[key] = g[0]
			if owner, ok := h.storeOwner[key]; ok && owner != g[0] {
				t.Errorf("after kill in cycle %d: STORE_NO %d on node %d reused: was GSTO_NO %d, now %d", cycle, g[k+1], g[k], owner, g[0])
			}
			h.storeOwner[key] = g[0]
			h.maxStore[g[k]] = max(h.maxStore[g[k]], g[k+1])
		}
	}
}

// clCheckFilenodes: no two relations share a filenode, no filenode moves
// to another relation, and none left behind by a rewrite comes back.
func clCheckFilenodes(t *testing.T, db *sql.DB, cycle int, l *clLedger, h *clHistory) {
	t.Helper()
	rels, err := clQueryStrings(db, "SELECT OID, RELNAME, RELFILENODE, DATABASE_OID FROM PG_CLASS WHERE RELKIND = 'r' AND RELNAMESPACE = 2200")
	if err != nil {
		t.Fatalf("cycle %d: PG_CLASS: %v", cycle, err)
	}
	cur := map[[2]uint64]uint64{}
	for _, r := range rels {
		var oid, fn, dbOID uint64
		fmt.Sscan(r[0], &oid)
		fmt.Sscan(r[2], &fn)
		fmt.Sscan(r[3], &dbOID)
		key := [2]uint64{dbOID, fn}
		if other, dup := cur[key]; dup {
			t.Errorf("after kill in cycle %d: filenode %d in database %d held by OIDs %d and %d", cycle, fn, dbOID, other, oid)
		}
		cur[key] = oid
		if owner, ok := h.fnOwner[key]; ok && owner != oid {
			t.Errorf("after kill in cycle %d: filenode %d reused: was OID %d, now %s (OID %d)", cycle, fn, owner, r[1], oid)
		}
		if h.fnRetired[key] {
			t.Errorf("after kill in cycle %d: %s holds filenode %d again after a rewrite left it", cycle, r[1], fn)
		}
		if tb := l.tables[r[1]]; tb != nil {
			for _, old := range tb.oldFN {
				if old == fn {
					t.Errorf("after kill in cycle %d: %s has filenode %d, which an acknowledged vacuum_full replaced", cycle, r[1], fn)
				}
				h.fnRetired[[2]uint64{dbOID, old}] = true
			}
			tb.oldFN = nil
		}
	}
	for key := range h.fnOwner {
		if _, ok := cur[key]; !ok {
			h.fnRetired[key] = true
		}
	}
	for key, oid := range cur {
		h.fnOwner[key] = oid
	}
}

func clMustExec(t *testing.T, db *sql.DB, stmt string) {
	t.Helper()
	if _, err := clQueryStrings(db, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// clQueryStrings runs a query (or CALL) and returns its rows as strings.
func clQueryStrings(db *sql.DB, q string) ([][]string, error) {
	rs, err := db.Query(q)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]string
	for rs.Next() {
		raw := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
		for i, s := range raw {
			row[i] = s.String
		}
		out = append(out, row)
	}
	return out, rs.Err()
}

// clQueryInts runs a query whose columns are all unsigned integers.
func clQueryInts(db *sql.DB, q string) ([][]uint64, error) {
	rows, err := clQueryStrings(db, q)
	if err != nil {
		return nil, err
	}
	out := make([][]uint64, len(rows))
	for i, r := range rows {
		out[i] = make([]uint64, len(r))
		for j, s := range r {
			if _, err := fmt.Sscan(s, &out[i][j]); err != nil {
				return nil, fmt.Errorf("%s: row %d column %d: %q: %v", q, i, j, s, err)
			}
		}
	}
	return out, nil
}
