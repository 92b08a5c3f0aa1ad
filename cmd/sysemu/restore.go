package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// listFlag collects a repeatable flag (--db a --db b).
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// absDir makes dir absolute: the server resolves it, from its own working
// directory, on the same machine.
func absDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("a directory is required")
	}
	return filepath.Abs(dir)
}

// backupCmd is `sysemu backup --to DIR [--db NAME ...] [--range-rows N]`.
func backupCmd(args []string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	var dbs listFlag
	to := fs.String("to", "", "backup directory (on the server's machine; must not hold a backup)")
	fs.Var(&dbs, "db", "database to back up (repeatable; default: every user database)")
	rangeRows := fs.Int("range-rows", 10000, "rows per range file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := absDir(*to)
	if err != nil {
		return fmt.Errorf("backup: --to: %v", err)
	}
	db, err := sql.Open("mysql", cf.dsn())
	if err != nil {
		return err
	}
	defer db.Close()
	var d string
	var tables, ranges int64
	var rows uint64
	var sum string
	err = db.QueryRow("CALL backup_database(?, ?, ?)", dbs.String(), dir, fmt.Sprint(*rangeRows)).Scan(&d, &tables, &ranges, &rows, &sum)
	if err != nil {
		return err
	}
	fmt.Printf("backup written to %s: %d tables, %d ranges, %d rows, manifest sha256 %s\n", d, tables, ranges, rows, sum)
	return nil
}

// restoreCmd is `sysemu restore --from DIR [--db NAME ...] [--concurrency N]
// [--checkpoint-interval D]`: CALL restore_backup on one connection, the
// progress from SYS_RESTORE_PROGRESS on another.
func restoreCmd(args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	var dbs listFlag
	from := fs.String("from", "", "backup directory (on the server's machine)")
	fs.Var(&dbs, "db", "database to restore (repeatable; default: every database of the backup)")
	conc := fs.Int("concurrency", 4, "ranges restored at once")
	interval := fs.Duration("checkpoint-interval", 30*time.Second, "how often completed ranges are checkpointed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := absDir(*from)
	if err != nil {
		return fmt.Errorf("restore: --from: %v", err)
	}
	db, err := sql.Open("mysql", cf.dsn())
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		showProgress(ctx, db, dir)
	}()
	rows, err := db.QueryContext(ctx, "CALL restore_backup(?, ?, ?, ?)", dir, dbs.String(), fmt.Sprint(*conc), interval.String())
	if err == nil {
		err = printIDMap(rows)
	}
	cancel()
	<-done
	return err
}

func printIDMap(rows *sql.Rows) error {
	defer rows.Close()
	first := true
	for rows.Next() {
		var rid, up, down, restored uint64
		var kind, name string
		var ranges, skipped int64
		var secs float64
		if err := rows.Scan(&rid, &kind, &up, &down, &name, &ranges, &skipped, &restored, &secs); err != nil {
			return err
		}
		if first {
			rate := 0.0
			if secs > 0 {
				rate = float64(restored) / secs
			}
			fmt.Printf("restore %d finished: %d ranges (%d from the checkpoint), %d rows restored in %.1fs (%.0f rows/s)\n",
				rid, ranges, skipped, restored, secs, rate)
			fmt.Printf("%-10s %12s %14s  %s\n", "KIND", "UPSTREAM_ID", "DOWNSTREAM_ID", "NAME")
			first = false
		}
		fmt.Printf("%-10s %12d %14d  %s\n", kind, up, down, name)
	}
	return rows.Err()
}

// showProgress polls SYS_RESTORE_PROGRESS until ctx ends: a progress bar on
// a terminal, a plain line every few seconds otherwise.
func showProgress(ctx context.Context, db *sql.DB, dir string) {
	tty := term.IsTerminal(int(os.Stdout.Fd()))
	var bar *progressbar.ProgressBar
	lastLine := time.Time{}
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if bar != nil {
				bar.Finish()
				fmt.Println()
			}
			return
		case <-tick.C:
		}
		var done, total int64
		var rowsDone, rowsTotal uint64
		var rate, eta float64
		var status, pdir string
		err := db.QueryRowContext(ctx, "SELECT DIR, STATUS, RANGES_DONE, RANGES_TOTAL, ROWS_RESTORED, ROWS_TOTAL, ROWS_PER_SEC, ETA_SECONDS FROM SYSTEM.SYS_RESTORE_PROGRESS").
			Scan(&pdir, &status, &done, &total, &rowsDone, &rowsTotal, &rate, &eta)
		if err != nil || pdir != dir || status != "running" {
			continue
		}
		if tty {
			if bar == nil {
				bar = progressbar.NewOptions64(total, progressbar.OptionSetDescription("restoring ranges"),
					progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionClearOnFinish())
			}
			bar.Describe(fmt.Sprintf("restoring: %d rows, %.0f rows/s", rowsDone, rate))
			bar.Set64(done)
			continue
		}
		if time.Since(lastLine) >= 2*time.Second {
			fmt.Printf("restore: %d/%d ranges, %d rows, %.0f rows/s, ETA %.0fs\n", done, total, rowsDone, rate, eta)
			lastLine = time.Now()
		}
	}
}

// errProblems makes `sysemu check` exit non-zero.
var errProblems = errors.New("problems found")

// checkCmd is `sysemu check`: CALL check_ids(), one line per problem.
func checkCmd(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := sql.Open("mysql", cf.dsn())
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.Query("CALL check_ids()")
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var space, obj, prob, fix string
		if err := rows.Scan(&space, &obj, &prob, &fix); err != nil {
			return err
		}
		n++
		fmt.Printf("%s\t%s\t%s\tfix: %s\n", space, obj, prob, fix)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%w: %d", errProblems, n)
	}
	return nil
}
