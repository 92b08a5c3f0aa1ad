package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sysemu/sysemu/server/servertest"
)

// CALL check_ids(): each problem injected alone is found — exactly it — and
// running the fix statement it names clears it.
func TestCheckIDs(t *testing.T) {
	in := servertest.Start(t, servertest.Options{})
	c := conn(t, openDB(t, in.RootDSN("")))
	exec(t, c, "CREATE DATABASE chk", "USE chk",
		"CREATE TABLE a (id INT PRIMARY KEY)", "CREATE TABLE b (id INT PRIMARY KEY)",
		"CREATE TABLE idt (id INT IDENTITY(1, 1) PRIMARY KEY, v INT)",
		"INSERT INTO idt (v) VALUES (1), (2), (3), (4), (5)")
	if rows := mustRows(t, c, "CALL check_ids()"); len(rows) != 0 {
		t.Fatalf("healthy server: %v", rows)
	}
	bk := filepath.Join(t.TempDir(), "bk")
	exec(t, c, fmt.Sprintf("CALL backup_database('chk', '%s')", bk))
	var rangeFile string
	cases := []struct {
		name   string
		inject []string
		space  string
		before func()
	}{
		{name: "stale table-ID sequence", inject: []string{"CALL fault_set_sequence('table_id', 1024)"}, space: "table_id"},
		{name: "stale gsto_no sequence", inject: []string{"CALL fault_set_sequence('gsto_no', 201)"}, space: "gsto_no"},
		{name: "identity below MAX", inject: []string{"DBCC CHECKIDENT ('idt', RESEED, 2)"}, space: "identity"},
		{name: "shared filenode", space: "relfilenode"},
		{name: "damaged map file", inject: []string{"CALL fault_filenode_map('chk', 'corrupt')"}, space: "relfilenode"},
		{name: "unfinished restore", space: "restore", before: func() {
			// A restore into a second database name fails on a damaged range.
			m, err := os.ReadDir(filepath.Join(bk, "data"))
			if err != nil || len(m) == 0 {
				t.Fatalf("backup files: %v", err)
			}
			rangeFile = filepath.Join(bk, "data", m[0].Name())
			good, _ := os.ReadFile(rangeFile)
			os.WriteFile(rangeFile, append([]byte{1}, good...), 0o644)
			exec(t, c, "DROP DATABASE chk")
			if _, err := rows(t, c, fmt.Sprintf("CALL restore_backup('%s')", bk)); err == nil {
				t.Fatal("restore of a damaged backup succeeded")
			}
			os.WriteFile(rangeFile, good, 0o644)
			exec(t, c, "USE chk")
		}},
	}
	for _, tc := range cases {
		if tc.before != nil {
			tc.before()
		}
		exec(t, c, tc.inject...)
		if tc.name == "shared filenode" {
			// b takes a's filenode.
			fn := one(t, c, "SELECT pg_relation_filenode('chk.a')")
			exec(t, c, "CALL fault_filenode('chk.b', "+fn+")")
		}
		got := mustRows(t, c, "CALL check_ids()")
		if len(got) != 1 || !strings.Contains(fmt.Sprint(got[0][0]), tc.space) {
			t.Fatalf("%s: want one %s problem, got %v", tc.name, tc.space, got)
		}
		fix := fmt.Sprint(got[0][3])
		t.Logf("%s: %v", tc.name, got[0])
		for _, stmt := range strings.Split(fix, "; ") {
			exec(t, c, stmt)
		}
		if after := mustRows(t, c, "CALL check_ids()"); len(after) != 0 {
			t.Fatalf("%s: after %q: %v", tc.name, fix, after)
		}
	}
	// A node going offline makes its store versions invalid: one problem per
	// version, each fixed by bringing the node back.
	exec(t, c, "CALL node_offline(2)")
	got := mustRows(t, c, "CALL check_ids()")
	if len(got) == 0 {
		t.Fatal("offline node: no problem found")
	}
	for _, r := range got {
		if !strings.Contains(fmt.Sprint(r[0]), "gsto_no") || fmt.Sprint(r[3]) != "CALL node_online(2)" {
			t.Errorf("offline node: %v", r)
		}
	}
	exec(t, c, "CALL node_online(2)")
	if after := mustRows(t, c, "CALL check_ids()"); len(after) != 0 {
		t.Fatalf("after node_online: %v", after)
	}
	// Overlapping identity ranges between two nodes.
	exec(t, c, "CALL identity_range_manage('chk.idt', 'auto', 100, 1000, 80)")
	start := one(t, c, "SELECT RANGE_START FROM SYSTEM.SYS_IDENTITY_RANGES WHERE TABLE_NAME = 'idt' AND NODE_ID = 1 ORDER BY RANGE_START LIMIT 1")
	exec(t, c, "CALL fault_identity_range('chk.idt', 2, "+start+", "+start+"+50)")
	got = mustRows(t, c, "CALL check_ids()")
	if len(got) != 1 || !strings.Contains(fmt.Sprint(got[0][2]), "overlaps") {
		t.Fatalf("overlap: %v", got)
	}
	for _, stmt := range strings.Split(fmt.Sprint(got[0][3]), "; ") {
		exec(t, c, stmt)
	}
	if after := mustRows(t, c, "CALL check_ids()"); len(after) != 0 {
		t.Fatalf("after the overlap fix: %v", after)
	}
}
