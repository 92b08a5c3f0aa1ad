package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sysemu/sysemu/server/servertest"
)

// hostileCase is one statement that must fail with exactly WantErrno,
// leave the connection usable and change nothing.
type hostileCase struct {
	Name      string
	Query     string
	WantErrno uint16
	// Recovery runs the case with recovery mode on (set_next_table_id's
	// own checks are reached only there).
	Recovery bool
}

// Hostile SQL input: IDs out of range, NULLs, unknown objects, wrong
// argument counts, reseeds on views, partition counts, 1,000-character names,
// statements smuggled into string arguments, and 16 MiB statements. Each
// case runs on one connection; a follow-up query on the same connection
// must answer, and the allocator's visible state must be what it was.
func TestHostileInput(t *testing.T) {
	in := servertest.Start(t)
	c := conn(t, openDB(t, in.RootDSN("")))
	exec(t, c, "CREATE DATABASE h", "USE h",
		"CREATE TABLE t (id INT IDENTITY(1, 1) PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO t (v) VALUES ('a'), ('b')",
		"CREATE TABLE tiny (id TINYINT IDENTITY(1, 1) PRIMARY KEY)",
		"CREATE TABLE plain (id INT PRIMARY KEY)",
		"CREATE TABLE p (id INT PRIMARY KEY) PARTITION BY HASH(id) PARTITIONS 4")
	long := strings.Repeat("n", 1000)
	huge := strings.Repeat("x", 16<<20)
	bk := filepath.Join(t.TempDir(), "bk")
	cases := []hostileCase{
		// IDs out of range.
		{"table id 0", "CALL set_next_table_id(0)", 30003, true},
		{"table id negative", "CALL set_next_table_id(-1)", 1210, true},
		{"table id 2^32", "CALL set_next_table_id(4294967296)", 1210, true},
		{"table id above BIGINT", "CALL set_next_table_id(18446744073709551616)", 1210, true},
		{"table id as a string", "CALL set_next_table_id('abc')", 1366, true},
		{"table id of 100 digits", "CALL set_next_table_id(" + strings.Repeat("9", 100) + ")", 1426, true},
		{"table id NULL", "CALL set_next_table_id(NULL)", 1210, true},
		{"gsto_no 0", "CALL set_next_gsto_no(0)", 1210, false},
		{"gsto_no negative", "CALL set_next_gsto_no(-7)", 1210, false},
		{"gsto_no 2^63", "CALL set_next_gsto_no(9223372036854775808)", 1210, false},
		{"fault sequence negative", "CALL fault_set_sequence('table_id', -1)", 1210, false},
		{"fault unknown sequence", "CALL fault_set_sequence('nope', 5)", 30009, false},
		{"reseed above INT", "CALL checkident('t', 'RESEED', 2147483648)", 30031, false},
		{"reseed above TINYINT", "CALL checkident('tiny', 'RESEED', 256)", 30031, false},
		{"reseed not a number", "CALL checkident('t', 'RESEED', 'ten')", 1210, false},
		{"reseed above BIGINT", "CALL checkident('t', 'RESEED', '99999999999999999999')", 1210, false},
		{"DBCC reseed above INT", "DBCC CHECKIDENT ('t', RESEED, 2147483648)", 30031, false},
		{"node 0", "CALL node_offline(0)", 30011, false},
		{"node negative", "CALL node_online(-1)", 30011, false},
		{"node 2^32+1", "CALL node_drop(4294967297)", 30011, false},
		{"identity range negative", "CALL identity_range_manage('t', 'auto', -10, 100, 80)", 1210, false},
		{"identity range threshold 0", "CALL identity_range_manage('t', 'auto', 100, 100, 0)", 1210, false},
		{"filenode 0", "CALL fault_filenode('h.t', 0)", 1210, false},
		// NULL arguments: 1210 before the procedure runs (go-mysql-server
		// would hand it 0 or '', which each then failed on its own check).
		{"recovery_mode NULL", "CALL recovery_mode(NULL)", 1210, false},
		{"procedure_manager NULL", "CALL procedure_manager(NULL)", 1210, false},
		{"checkident NULL", "CALL checkident(NULL)", 1210, false},
		{"checkident NULL reseed value", "CALL checkident('t', 'RESEED', NULL)", 1210, false},
		{"vacuum_full NULL", "CALL vacuum_full(NULL)", 1210, false},
		{"node_offline NULL", "CALL node_offline(NULL)", 1210, false},
		{"node_online NULL expression", "CALL node_online(1 + NULL)", 1210, false},
		{"node_drop unset variable", "CALL node_drop(@never_set)", 1210, false},
		{"backup NULL dir", "CALL backup_database('h', NULL)", 1210, false},
		{"restore NULL dir", "CALL restore_backup(NULL)", 1210, false},
		// Unknown tables, databases, nodes.
		{"checkident unknown table", "CALL checkident('nope')", 1146, false},
		{"checkident unknown database", "CALL checkident('nodb.dbo.t')", 1146, false},
		{"vacuum unknown table", "CALL vacuum_full('nope')", 1146, false},
		{"rebuild map unknown database", "CALL rebuild_filenode_map('nodb')", 1049, false},
		{"fault map unknown database", "CALL fault_filenode_map('nodb', 'delete')", 1049, false},
		{"node 99", "CALL node_offline(99)", 30011, false},
		{"backup unknown database", "CALL backup_database('nodb', '" + bk + "')", 1049, false},
		{"restore from nowhere", "CALL restore_backup('" + filepath.Join(bk, "none") + "')", 30060, false},
		{"identity range unknown table", "CALL adjust_identity_range('nope')", 1146, false},
		{"reseed a table without identity", "CALL checkident('plain', 'RESEED', 5)", 30030, false},
		// Wrong argument counts.
		{"set_next_table_id()", "CALL set_next_table_id()", 1318, true},
		{"set_next_table_id(1, 2)", "CALL set_next_table_id(1, 2)", 1318, true},
		{"check_ids(1)", "CALL check_ids(1)", 1318, false},
		{"verify_filenode_maps('x')", "CALL verify_filenode_maps('x')", 1318, false},
		{"checkident()", "CALL checkident()", 1318, false},
		{"checkident 5 args", "CALL checkident('t', 'RESEED', '1', 'NO_INFOMSGS', 'x')", 1318, false},
		{"identity_range_manage 3 args", "CALL identity_range_manage('t', 'auto', 100)", 1318, false},
		{"restore 5 args", "CALL restore_backup('a', 'b', '1', '1s', 'x')", 1318, false},
		{"next_table_id(1)", "SELECT next_table_id(1)", 1582, false},
		{"ident_current()", "SELECT ident_current()", 1582, false},
		{"pg_filenode_relation(1)", "SELECT pg_filenode_relation(1)", 1582, false},
		// Reseeds on views: a system view, a system table, and a view
		// (not stored: CREATE VIEW answers 1235).
		{"create view", "CREATE VIEW v AS SELECT * FROM t", 1235, false},
		{"reseed a view that was refused", "CALL checkident('v', 'RESEED', 5)", 1146, false},
		{"reseed information_schema.tables", "CALL checkident('information_schema.tables', 'RESEED', 5)", 30030, false},
		{"reseed SYS_GSTORES", "CALL checkident('SYSTEM.SYS_GSTORES', 'RESEED', 5)", 30030, false},
		{"DBCC on a system view", "DBCC CHECKIDENT ('information_schema.tables', RESEED, 5)", 30030, false},
		{"vacuum a system view", "CALL vacuum_full('information_schema.tables')", 1146, false},
		// Partition counts.
		{"0 partitions", "CREATE TABLE p0 (id INT PRIMARY KEY) PARTITION BY HASH(id) PARTITIONS 0", 1504, false},
		{"100,000 partitions", "CREATE TABLE pbig (id INT PRIMARY KEY) PARTITION BY HASH(id) PARTITIONS 100000", 1499, false},
		{"negative partitions", "CREATE TABLE pneg (id INT PRIMARY KEY) PARTITION BY HASH(id) PARTITIONS -1", 1064, false},
		// Names of 1,000 characters.
		{"database name", "CREATE DATABASE " + long, 1059, false},
		{"table name", "CREATE TABLE " + long + " (id INT PRIMARY KEY)", 1059, false},
		{"column name", "CREATE TABLE longcol (" + long + " INT PRIMARY KEY)", 1059, false},
		{"checkident long name", "CALL checkident('" + long + "')", 1146, false},
		{"vacuum long name", "CALL vacuum_full('" + long + "')", 1146, false},
		{"fault sequence long name", "CALL fault_set_sequence('" + long + "', 5)", 30009, false},
		// Statements smuggled into string arguments.
		{"checkident injection", "CALL checkident('t''); DROP TABLE t; --')", 1146, false},
		{"checkident backslash injection", `CALL checkident('t\'); DROP TABLE t; -- ')`, 1146, false},
		{"recovery_mode injection", "CALL recovery_mode('on''); DROP DATABASE h; --')", 1210, false},
		{"DBCC injection", "DBCC CHECKIDENT ('t''); DROP TABLE t; --', RESEED, 5)", 1146, false},
		{"DBCC double-quote injection", `DBCC CHECKIDENT ("t'); DROP TABLE t; --", RESEED, 5)`, 1146, false},
		{"backup list injection", "CALL backup_database('h; DROP TABLE t', '" + bk + "')", 1049, false},
		{"fault map injection", "CALL fault_filenode_map('h', 'delete''); DROP TABLE t; --')", 1210, false},
		// 16 MiB statements.
		{"16 MiB checkident name", "CALL checkident('" + huge + "')", 1146, false},
		{"16 MiB table name", "CREATE TABLE " + huge + " (id INT PRIMARY KEY)", 1059, false},
		{"16 MiB set_next_table_id", "CALL set_next_table_id(" + strings.Repeat("9", 16<<20) + ")", 1426, true},
		{"16 MiB number in a SELECT", "SELECT " + strings.Repeat("9", 16<<20) + " + 1", 1426, false},
	}
	ctx := context.Background()
	state := func() string {
		t.Helper()
		var b strings.Builder
		for _, q := range []string{
			"SELECT next_table_id()",
			"SELECT COUNT(*) FROM SYSTEM.SYS_ID_EVENTS",
			"SELECT GROUP_CONCAT(CONCAT(TABLE_SCHEMA, '.', TABLE_NAME, '=', TABLE_ID) ORDER BY TABLE_ID) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_ID >= 1024",
			"SELECT COUNT(*) FROM SYS_GSTORES",
			"SELECT GROUP_CONCAT(CONCAT(NODE_ID, ':', NODE_STATE) ORDER BY NODE_ID) FROM SYS_CLUSTERS",
			"SELECT GROUP_CONCAT(CONCAT(TABLE_NAME, ':', IFNULL(CURRENT_VALUE, '-')) ORDER BY TABLE_NAME) FROM SYS_IDENTITIES",
			"SELECT COUNT(*) FROM h.t",
			"SELECT recovery_mode()",
		} {
			fmt.Fprintf(&b, "%v\n", mustRows(t, c, q))
		}
		return b.String()
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			if tc.Recovery {
				exec(t, c, "CALL recovery_mode('on')")
				defer exec(t, c, "CALL recovery_mode('off')")
			}
			before := state()
			_, err := c.ExecContext(ctx, tc.Query)
			n, sqlState := errno(err)
			if n != tc.WantErrno {
				q := tc.Query
				if len(q) > 200 {
					q = q[:200] + "..."
				}
				t.Errorf("%s: got %v (%d/%s), want error %d", q, shorten(err), n, sqlState, tc.WantErrno)
			}
			if got := one(t, c, "SELECT 'alive'"); got != "alive" {
				t.Fatalf("follow-up query: %q", got)
			}
			if after := state(); after != before {
				t.Errorf("the failed statement changed the state:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// shorten keeps an error message readable when it echoes a 16 MiB argument.
func shorten(err error) string {
	s := fmt.Sprint(err)
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// A NULL reaches no admin procedure: as a literal, an expression, an unset
// user variable or a bound parameter of a server-side prepared statement,
// it gets 1210 naming the procedure and the argument, and nothing changes.
func TestNullProcedureArgs(t *testing.T) {
	in := servertest.Start(t)
	db := openDB(t, in.RootDSN(""))
	ctx := context.Background()
	for _, tc := range []struct {
		query string
		args  []any
		want  string
	}{
		{"CALL node_offline(?)", []any{nil}, "Incorrect arguments to node_offline: argument 1 is NULL"},
		{"CALL checkident(?, 'RESEED', ?)", []any{"t", nil}, "Incorrect arguments to checkident: argument 3 is NULL"},
		{"CALL set_next_table_id(NULL)", nil, "Incorrect arguments to set_next_table_id: argument 1 is NULL"},
	} {
		_, err := db.ExecContext(ctx, tc.query, tc.args...)
		if n, state := errno(err); n != 1210 || state != "HY000" || !strings.Contains(fmt.Sprint(err), tc.want) {
			t.Errorf("%s %v: got %v (%d/%s), want 1210 %q", tc.query, tc.args, err, n, state, tc.want)
		}
	}
	if got := one(t, conn(t, db), "SELECT GROUP_CONCAT(NODE_STATE) FROM SYSTEM.SYS_CLUSTERS"); strings.Contains(strings.ToLower(got), "offline") {
		t.Errorf("a node went offline: %s", got)
	}
}
