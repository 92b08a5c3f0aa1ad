package e2e

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"math/rand/v2"
	binexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The BR issue's end-to-end test: a 20-table, 200,000-row database (two
// partitioned tables, one identity table) backed up with the CLI, restored
// into a server whose next table ID is above the upstream IDs (all
// remapped) and into one where it is below (all kept), the second restore
// killed -9 with the server at random moments and resumed, with a table
// dropped and re-created between two runs. Row counts and checksums must
// match at the end.

const (
	brTables    = 20
	brRowsTotal = 200000
	brRangeRows = 2500
)

func brTableNames() []string {
	var out []string
	for i := range brTables - 3 {
		out = append(out, fmt.Sprintf("t%02d", i))
	}
	return append(out, "ph", "pr", "ident")
}

// brLoad creates the database: IDs from 3000 so that a fresh server's next
// ID (1024) is below them.
func brLoad(t *testing.T, db *sql.DB) {
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exec(t, c, "CALL recovery_mode('on')", "CALL set_next_table_id(3000)", "CALL recovery_mode('off')",
		"CREATE DATABASE big", "USE big")
	per := brRowsTotal / brTables
	for _, name := range brTableNames() {
		switch name {
		case "ph":
			exec(t, c, "CREATE TABLE ph (id BIGINT PRIMARY KEY, v VARCHAR(40), n INT) PARTITION BY HASH(id) PARTITIONS 4")
		case "pr":
			exec(t, c, "CREATE TABLE pr (id BIGINT PRIMARY KEY, v VARCHAR(40), n INT) PARTITION BY RANGE (id) "+
				"(PARTITION p0 VALUES LESS THAN (3000), PARTITION p1 VALUES LESS THAN (7000), PARTITION p2 VALUES LESS THAN (1000000))")
		case "ident":
			exec(t, c, "CREATE TABLE ident (id INT IDENTITY(100, 1) PRIMARY KEY, v VARCHAR(40), n INT)")
		default:
			exec(t, c, fmt.Sprintf("CREATE TABLE %s (id BIGINT PRIMARY KEY, v VARCHAR(40), n INT, UNIQUE KEY uv (v))", name))
		}
		const batch = 2000
		for lo := 0; lo < per; lo += batch {
			var sb strings.Builder
			if name == "ident" {
				sb.WriteString("INSERT INTO ident (v, n) VALUES ")
			} else {
				fmt.Fprintf(&sb, "INSERT INTO %s (id, v, n) VALUES ", name)
			}
			for i := lo; i < lo+batch; i++ {
				if i > lo {
					sb.WriteByte(',')
				}
				if name == "ident" {
					fmt.Fprintf(&sb, "('%s-%d', %d)", name, i, i*7)
				} else {
					fmt.Fprintf(&sb, "(%d, '%s-%d', %d)", i, name, i, i*7)
				}
			}
			exec(t, c, sb.String())
		}
	}
}

// brSums returns each table's row count and a SHA-256 over its rows in
// primary-key order.
func brSums(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range brTableNames() {
		rows, err := db.Query("SELECT id, v, n FROM big." + name + " ORDER BY id")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h := sha256.New()
		n := 0
		for rows.Next() {
			var id, v, k sql.NullString
			if err := rows.Scan(&id, &v, &k); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(h, "%s|%s|%s\n", id.String, v.String, k.String)
			n++
		}
		rows.Close()
		out[name] = fmt.Sprintf("%d rows %x", n, h.Sum(nil))
	}
	return out
}

func brTableIDs(t *testing.T, db *sql.DB) map[string]uint64 {
	t.Helper()
	rows, err := db.Query("SELECT TABLE_NAME, TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'big'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var n string
		var id uint64
		if err := rows.Scan(&n, &id); err != nil {
			t.Fatal(err)
		}
		out[n] = id
	}
	return out
}

func brCLI(t *testing.T, bin string, args ...string) (string, error) {
	cmd := binexec.Command(bin, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type restoreRun struct {
	ranges, skipped int64
	restored        uint64
	secs            float64
}

// brRestoreSQL runs CALL restore_backup and returns the run's totals.
func brRestoreSQL(ctx context.Context, db *sql.DB, dir, conc, interval string) (restoreRun, map[uint64]uint64, error) {
	var r restoreRun
	ids := map[uint64]uint64{}
	rows, err := db.QueryContext(ctx, "CALL restore_backup(?, '', ?, ?)", dir, conc, interval)
	if err != nil {
		return r, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var rid, up, down uint64
		var kind, name string
		if err := rows.Scan(&rid, &kind, &up, &down, &name, &r.ranges, &r.skipped, &r.restored, &r.secs); err != nil {
			return r, nil, err
		}
		if kind == "table" {
			ids[up] = down
		}
	}
	return r, ids, rows.Err()
}

func TestBackupRestoreKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the 200,000-row restore test is not short")
	}
	bin := binBuild(t)
	up := binStart(t, bin, t.TempDir())
	updb := openDB(t, up.dsn(""))
	start := time.Now()
	brLoad(t, updb)
	t.Logf("loaded %d rows in %d tables in %v", brRowsTotal, brTables, time.Since(start))
	want := brSums(t, updb)
	upIDs := brTableIDs(t, updb)

	dir := filepath.Join(t.TempDir(), "backup")
	out, err := brCLI(t, bin, "backup", "--to", dir, "--db", "big", "--range-rows", fmt.Sprint(brRangeRows), "--mysql-addr", "127.0.0.1:"+up.mysqlPort())
	if err != nil {
		t.Fatalf("sysemu backup: %v\n%s", err, out)
	}
	wantRanges := int64(brRowsTotal / brRangeRows)
	if !strings.Contains(out, fmt.Sprintf("%d tables, %d ranges, %d rows", brTables, wantRanges, brRowsTotal)) {
		t.Fatalf("backup output: %s", out)
	}

	// Downstream A: next table ID 5000, above every upstream ID: all remapped
	// to reusableBorder + k = 5000, 5001, ... Also the 1-worker figure.
	t.Run("above", func(t *testing.T) {
		a := binStart(t, bin, t.TempDir())
		adb := openDB(t, a.dsn(""))
		c := conn(t, adb)
		exec(t, c, "CREATE DATABASE other", "CREATE TABLE other.x (id INT PRIMARY KEY)",
			"CALL recovery_mode('on')", "CALL set_next_table_id(5000)", "CALL recovery_mode('off')")
		r, ids, err := brRestoreSQL(context.Background(), adb, dir, "1", "30s")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("restore, 1 worker: %d rows in %.2fs = %.0f rows/s", r.restored, r.secs, float64(r.restored)/r.secs)
		if r.ranges != wantRanges || r.skipped != 0 || r.restored != brRowsTotal {
			t.Errorf("restore totals %+v", r)
		}
		for name, id := range upIDs {
			if d := ids[id]; d < 5000 || d >= 5000+brTables {
				t.Errorf("%s: upstream %d -> %d, want remapped into [5000, %d)", name, id, d, 5000+brTables)
			}
		}
		if got := brSums(t, adb); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("sums differ:\n got %v\nwant %v", got, want)
		}
		if next := one(t, c, "SELECT next_table_id()"); next < "5020" && len(next) == 4 {
			t.Errorf("next table id %s not past the preallocated IDs", next)
		}
		// The identity counter came back: the next row continues upstream's.
		exec(t, c, "INSERT INTO big.ident (v, n) VALUES ('new', 0)")
		if v := one(t, c, "SELECT MAX(id) FROM big.ident"); v != fmt.Sprint(100+brRowsTotal/brTables) {
			t.Errorf("identity after restore: max %s", v)
		}
		if rows := mustRows(t, c, "CALL check_ids()"); len(rows) != 0 {
			t.Errorf("check_ids after restore: %v", rows)
		}
	})

	// Downstream B: a fresh server (next ID 1024, below the upstream's
	// 3000...): every ID is kept. The server is killed -9 at random moments
	// during the restore and the restore resumed each time.
	t.Run("below-kill9", func(t *testing.T) {
		data := t.TempDir()
		b := binStart(t, bin, data)
		bdb := openDB(t, b.dsn(""))
		exec(t, conn(t, bdb), "CREATE DATABASE other", "CREATE TABLE other.x (id INT PRIMARY KEY)")
		// A full 4-worker run on a scratch server gives the time scale.
		s := binStart(t, bin, t.TempDir())
		full, _, err := brRestoreSQL(context.Background(), openDB(t, s.dsn("")), dir, "4", "30s")
		if err != nil {
			t.Fatal(err)
		}
		s.Stop()
		t.Logf("restore, 4 workers: %d rows in %.2fs = %.0f rows/s", full.restored, full.secs, float64(full.restored)/full.secs)

		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 6))
		kills, runs := 0, 0
		var redone, cpPrev uint64
		refused, finished := false, false
		for !finished && runs < 20 {
			runs++
			res := make(chan error, 1)
			var got restoreRun
			go func() {
				var err error
				got, _, err = brRestoreSQL(context.Background(), bdb, dir, "1", "100ms")
				res <- err
			}()
			// Kill after a random number (1..12) of ranges this run restored;
			// on the way, a write by another session must be refused.
			target := 1 + rng.IntN(12)
			first := -1
			killNow := false
			for !finished && !killNow {
				select {
				case err := <-res:
					if err != nil {
						t.Fatalf("run %d: %v", runs, err)
					}
					t.Logf("run %d finished: %+v", runs, got)
					finished = true
					continue
				case <-time.After(2 * time.Millisecond):
				}
				var status string
				var done int
				if err := bdb.QueryRow("SELECT STATUS, RANGES_DONE FROM SYSTEM.SYS_RESTORE_PROGRESS").Scan(&status, &done); err != nil || status != "running" {
					if err != nil && err != sql.ErrNoRows {
						t.Fatalf("progress: %v", err)
					}
					continue
				}
				if first < 0 {
					first = done
				}
				if !refused {
					_, err := bdb.Exec("INSERT INTO big.t00 (id, v, n) VALUES (999999, 'x', 0)")
					if code, _ := errno(err); code == 30063 && strings.Contains(err.Error(), "table big.t00 is being restored by restore") {
						refused = true
					} else if err == nil {
						t.Errorf("insert during the restore was accepted")
					} else {
						t.Logf("insert during the restore: %v", err)
					}
				}
				killNow = kills < 5 && done-first >= target
			}
			if finished {
				continue
			}
			var before uint64
			bdb.QueryRow("SELECT ROWS_RESTORED FROM SYSTEM.SYS_RESTORE_PROGRESS").Scan(&before)
			b.Kill()
			<-res
			kills++
			b = binStart(t, bin, data)
			bdb = openDB(t, b.dsn(""))
			var cp uint64
			bdb.QueryRow("SELECT COALESCE(SUM(ROWS), 0) FROM SYSTEM.SYS_RESTORE_CHECKPOINTS WHERE RESTORE_ID = (SELECT MAX(RESTORE_ID) FROM SYSTEM.SYS_RESTORE_CHECKPOINTS)").Scan(&cp)
			if before > cp-cpPrev {
				redone += before - (cp - cpPrev)
			}
			cpPrev = cp
			// The check finds the unfinished restore and names the fix.
			rows := mustRows(t, conn(t, bdb), "CALL check_ids()")
			if len(rows) != 1 || !strings.Contains(fmt.Sprint(rows[0]), "unfinished restore") ||
				!strings.Contains(fmt.Sprint(rows[0]), "CALL restore_backup('"+dir+"')") {
				t.Errorf("kill %d: check_ids: %v", kills, rows)
			}
			if kills == 2 {
				// Drop and re-create a table between two runs: new ID, so
				// its old checkpoint entries are ignored.
				exec(t, conn(t, bdb), "DROP TABLE big.t05",
					"CREATE TABLE big.t05 (id BIGINT PRIMARY KEY, v VARCHAR(40), n INT, UNIQUE KEY uv (v))")
			}
		}
		if kills < 5 || !finished {
			t.Fatalf("%d kills in %d runs, finished %v: want 5 kills, then a finished run", kills, runs, finished)
		}
		t.Logf("%d kills in %d runs; rows written but not yet checkpointed when killed (redone on resume): %d in total, %.0f per kill",
			kills, runs, redone, float64(redone)/float64(kills))
		if !refused {
			t.Errorf("no write was refused during a restore")
		}
		// A last run through the CLI finds everything done.
		out, err := brCLI(t, bin, "restore", "--from", dir, "--mysql-addr", "127.0.0.1:"+b.mysqlPort())
		if err != nil {
			t.Fatalf("sysemu restore: %v\n%s", err, out)
		}
		if !strings.Contains(out, "restore ") || !strings.Contains(out, "DOWNSTREAM_ID") {
			t.Errorf("CLI output: %s", out)
		}
		if got := brSums(t, bdb); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("sums differ after %d kills:\n got %v\nwant %v", kills, got, want)
		}
		ids := brTableIDs(t, bdb)
		for name, id := range upIDs {
			if name == "t05" {
				if ids[name] == id {
					t.Errorf("t05 re-created but kept ID %d", id)
				}
				continue
			}
			if ids[name] != id {
				t.Errorf("%s: downstream ID %d, want the upstream's %d (kept)", name, ids[name], id)
			}
		}
		var cps int
		if err := bdb.QueryRow("SELECT COUNT(*) FROM SYSTEM.SYS_RESTORE_CHECKPOINTS").Scan(&cps); err != nil || cps == 0 {
			t.Errorf("checkpoints: %d %v", cps, err)
		}
		if rows := mustRows(t, conn(t, bdb), "CALL check_ids()"); len(rows) != 0 {
			t.Errorf("check_ids after the restore: %v", rows)
		}
	})
}
