package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sysemu/sysemu/server/servertest"
)

// biStatement is one block of a testdata/bi file.
type biStatement struct {
	each    bool
	columns []string // nil: no check
	rows    string   // "", "N" or ">=N"
	errno   string   // "": must succeed; else "NUMBER SQLSTATE"
	query   string
	line    int
}

func loadBIStatements(t *testing.T, path string) []biStatement {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []biStatement
	var cur biStatement
	var text []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "-- once" || line == "-- each":
			cur = biStatement{each: line == "-- each"}
		case strings.HasPrefix(line, "-- columns:"):
			for _, c := range strings.Split(strings.TrimPrefix(line, "-- columns:"), ",") {
				cur.columns = append(cur.columns, strings.TrimSpace(c))
			}
		case strings.HasPrefix(line, "-- error:"):
			cur.errno = strings.TrimSpace(strings.TrimPrefix(line, "-- error:"))
		case strings.HasPrefix(line, "-- rows:"):
			cur.rows = strings.TrimSpace(strings.TrimPrefix(line, "-- rows:"))
		case line == "" || strings.HasPrefix(line, "--"):
		default:
			if len(text) == 0 {
				cur.line = n
			}
			text = append(text, line)
			if strings.HasSuffix(line, ";") {
				cur.query = strings.TrimSuffix(strings.Join(text, " "), ";")
				out = append(out, cur)
				text, cur = nil, biStatement{each: cur.each}
			}
		}
	}
	if len(text) > 0 {
		t.Fatalf("%s: statement at line %d does not end with ;", path, cur.line)
	}
	return out
}

// checkBIResult runs q and checks its column names (case-insensitively, as
// MySQL 8 and 5.7 differ in the case of information_schema names) and row
// count.
func checkBIResult(c *sql.Conn, st biStatement, q string, subst func(string) string) error {
	rs, err := c.QueryContext(context.Background(), q)
	if st.errno != "" {
		n, state := errno(err)
		if got := fmt.Sprintf("%d %s", n, state); got != st.errno {
			return fmt.Errorf("error %v (%s), want %s", err, got, st.errno)
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return err
	}
	n := 0
	for rs.Next() {
		n++
	}
	if err := rs.Err(); err != nil {
		return err
	}
	if st.columns != nil {
		want := make([]string, len(st.columns))
		for i, c := range st.columns {
			want[i] = subst(c)
		}
		if !strings.EqualFold(strings.Join(cols, "|"), strings.Join(want, "|")) {
			return fmt.Errorf("columns %q, want %q", cols, want)
		}
	}
	switch {
	case st.rows == "":
	case strings.HasPrefix(st.rows, ">="):
		if min, _ := strconv.Atoi(st.rows[2:]); n < min {
			return fmt.Errorf("%d rows, want at least %d", n, min)
		}
	default:
		if want, _ := strconv.Atoi(st.rows); n != want {
			return fmt.Errorf("%d rows, want %d", n, want)
		}
	}
	return nil
}

// TestBIMetadataStatements replays what Grafana, Metabase, DBeaver, Superset
// and Tableau send when they connect and browse, for a user table, every
// table of the SYSTEM database and INFORMATION_SCHEMA.TABLES.
func TestBIMetadataStatements(t *testing.T) {
	in := servertest.Start(t, servertest.Options{})
	db := openDB(t, in.RootDSN(""))
	setup := conn(t, db)
	exec(t, setup, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id BIGINT PRIMARY KEY AUTO_INCREMENT, note VARCHAR(64), placed DATETIME, KEY placed_idx (placed))",
		"INSERT INTO shop.orders (note, placed) VALUES ('a', '2024-01-01 00:00:00'), ('b', NULL)")
	type target struct{ db, table string }
	targets := []target{{"shop", "orders"}, {"information_schema", "TABLES"}}
	sys := mustRows(t, setup, "SHOW TABLES FROM `SYSTEM`")
	if len(sys) < 5 {
		t.Fatalf("SHOW TABLES FROM SYSTEM: %v", sys)
	}
	for _, r := range sys {
		targets = append(targets, target{"SYSTEM", r[0].(string)})
	}
	files, err := filepath.Glob("testdata/bi/*.sql")
	if err != nil || len(files) < 5 {
		t.Fatalf("testdata/bi: %v %v", files, err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".sql"), func(t *testing.T) {
			stmts := loadBIStatements(t, file)
			c := conn(t, openDB(t, in.RootDSN("shop")))
			for _, st := range stmts {
				if st.each {
					continue
				}
				if err := checkBIResult(c, st, st.query, func(s string) string { return s }); err != nil {
					t.Errorf("%s:%d %s: %v", file, st.line, st.query, err)
				}
			}
			for _, tg := range targets {
				first := mustRows(t, c, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION LIMIT 1", tg.db, tg.table)
				if len(first) != 1 {
					t.Fatalf("no columns for %s.%s", tg.db, tg.table)
				}
				r := strings.NewReplacer("{db}", tg.db, "{table}", tg.table, "{col}", first[0][0].(string))
				for _, st := range stmts {
					if !st.each {
						continue
					}
					q := r.Replace(st.query)
					if err := checkBIResult(c, st, q, r.Replace); err != nil {
						t.Errorf("%s:%d on %s.%s: %s: %v", file, st.line, tg.db, tg.table, q, err)
					}
				}
			}
		})
	}
}
