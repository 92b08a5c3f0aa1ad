package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sysemu/sysemu/server/servertest"
)

var flagLoadTime = flag.Duration("load-time", 10*time.Second, "TestLoadHeld: how long the 64 connections run (issue 10 asks for 60s)")

const loadConns = 64

// TestLoadHeld holds 64 connections of mixed reads and writes on the real
// binary for -load-time (10s; 60s on demand): no error at all (nothing
// here conflicts), latency percentiles reported, every connection closed
// afterwards, and the server's RSS flat once the load has ended.
func TestLoadHeld(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	proc := binStart(t, binBuild(t), t.TempDir())
	db := crashOpen(t, proc.dsn(""))
	clMustExec(t, db, "CREATE DATABASE loadt")
	for i := 0; i < 8; i++ {
		clMustExec(t, db, fmt.Sprintf("CREATE TABLE loadt.ident%d (id BIGINT PRIMARY KEY AUTO_INCREMENT, c INT, v VARCHAR(64))", i))
		clMustExec(t, db, fmt.Sprintf("CREATE TABLE loadt.kv%d (k BIGINT PRIMARY KEY, v VARCHAR(64)) PARTITION BY HASH(k) PARTITIONS 4", i))
	}
	db.Close()
	rssBefore := procRSS(t, proc)

	type sample struct {
		kind string
		d    time.Duration
	}
	var mu sync.Mutex
	var samples []sample
	var failures []string
	ctx, cancel := context.WithTimeout(context.Background(), *flagLoadTime)
	defer cancel()
	var wg sync.WaitGroup
	began := time.Now()
	for w := 0; w < loadConns; w++ {
		wrng := rand.New(rand.NewSource(rng.Int63()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := sql.Open("mysql", proc.dsn("loadt"))
			if err != nil {
				return
			}
			defer db.Close()
			c, err := db.Conn(context.Background())
			if err != nil {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("conn %d: %v", w, err))
				mu.Unlock()
				return
			}
			defer c.Close()
			var local []sample
			for i := 0; ctx.Err() == nil; i++ {
				kind, stmt, args := loadOp(w, i, wrng)
				start := time.Now()
				err := clExec(context.Background(), c, stmt, args...)
				local = append(local, sample{kind, time.Since(start)})
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("conn %d: %s: %v", w, stmt, err))
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			samples = append(samples, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(began)
	rssEnd := procRSS(t, proc)
	for _, f := range failures {
		t.Error(f)
	}

	byKind := map[string][]time.Duration{}
	var all []time.Duration
	for _, s := range samples {
		byKind[s.kind] = append(byKind[s.kind], s.d)
		all = append(all, s.d)
	}
	pct := func(d []time.Duration, p float64) time.Duration {
		slices.Sort(d)
		return d[min(len(d)-1, int(float64(len(d))*p))]
	}
	if len(all) == 0 {
		t.Fatal("no statement completed")
	}
	t.Logf("%d connections for %v: %d statements, %.0f/s; p50 %v p99 %v max %v",
		loadConns, elapsed.Round(time.Millisecond), len(all), float64(len(all))/elapsed.Seconds(),
		pct(all, 0.50), pct(all, 0.99), pct(all, 1))
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		d := byKind[k]
		t.Logf("  %-12s %7d  p50 %-10v p99 %-10v max %v", k, len(d), pct(d, 0.5), pct(d, 0.99), pct(d, 1))
	}

	// After the load: every connection is gone and the RSS stays flat.
	deadline := time.Now().Add(10 * time.Second)
	for open := loadOpenConnections(t, proc); open != 0; open = loadOpenConnections(t, proc) {
		if time.Now().After(deadline) {
			t.Fatalf("%d MySQL connections still open 10s after the clients closed theirs", open)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var after []int64
	for i := 0; i < 10; i++ {
		time.Sleep(500 * time.Millisecond)
		after = append(after, procRSS(t, proc))
	}
	t.Logf("server RSS: %d MiB before, %d MiB at the end of the load, after it (every 0.5s): %v MiB",
		rssBefore>>20, rssEnd>>20, loadMiB(after))
	// Flat: no growth once the load has stopped (a leak of goroutines or
	// buffers per connection would keep it climbing). Go returns memory to
	// the OS lazily, so it need not shrink.
	if first, last := after[0], after[len(after)-1]; last > first+first/10+(8<<20) {
		t.Errorf("server RSS grew from %d MiB to %d MiB in the 5s after the load ended", first>>20, last>>20)
	}
	proc.Stop()
}

// loadOp picks one statement of connection w: point reads, the ID
// functions, system-table lookups, identity inserts, keyed upserts, and a
// table of its own created and dropped now and then.
func loadOp(w, i int, rng *rand.Rand) (kind, stmt string, args []any) {
	tbl := rng.Intn(8)
	switch r := rng.Intn(100); {
	case r < 20:
		return "point read", fmt.Sprintf("SELECT v FROM kv%d WHERE k = ?", tbl), []any{rng.Int63n(5000)}
	case r < 30:
		return "id funcs", "SELECT next_table_id(), IDENT_CURRENT('ident" + strconv.Itoa(tbl) + "')", nil
	case r < 40:
		return "systables", "SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_ID DESC LIMIT 1", nil
	case r < 45:
		return "systables", "SELECT COUNT(*) FROM SYS_GSTORES WHERE OBJ_ID = (SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'loadt' AND TABLE_NAME = 'kv" + strconv.Itoa(tbl) + "')", nil
	case r < 50:
		return "range read", fmt.Sprintf("SELECT COUNT(*), MAX(id) FROM ident%d WHERE id > ?", tbl), []any{rng.Int63n(10000)}
	case r < 75:
		return "insert", fmt.Sprintf("INSERT INTO ident%d (c, v) VALUES (?, ?)", tbl), []any{w, fmt.Sprintf("w%d-%d", w, i)}
	case r < 95:
		return "upsert", fmt.Sprintf("REPLACE INTO kv%d (k, v) VALUES (?, ?)", tbl), []any{rng.Int63n(5000), fmt.Sprintf("w%d-%d", w, i)}
	case r < 98:
		return "ddl", fmt.Sprintf("CREATE TABLE IF NOT EXISTS own%d (id INT PRIMARY KEY)", w), nil
	default:
		return "ddl", fmt.Sprintf("DROP TABLE IF EXISTS own%d", w), nil
	}
}

// procRSS is the server process's resident set size in bytes.
func procRSS(t *testing.T, p *binProc) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("VmRSS not found")
	return 0
}

// loadOpenConnections reads the sysemu_connections gauge from /metrics.
func loadOpenConnections(t *testing.T, p *binProc) int {
	return int(servertest.Metric(t, p.httpAddr, "sysemu_connections"))
}

func loadMiB(b []int64) []int64 {
	out := make([]int64, len(b))
	for i, v := range b {
		out[i] = v >> 20
	}
	return out
}
