package e2e

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/sysemu/sysemu/engine/pgfiles"
	"github.com/sysemu/sysemu/server/servertest"
)

// The document's 14 mapped tables of a PostgreSQL 14 database, as its
// `where relfilenode = 0 and relkind = 'r' order by reltablespace` prints
// them (rows of equal reltablespace come in no particular order).
var documentMappedTables = [][]any{
	{"1247", "pg_type", "0", "0"},
	{"1249", "pg_attribute", "0", "0"},
	{"1255", "pg_proc", "0", "0"},
	{"1259", "pg_class", "0", "0"},
	{"3592", "pg_shseclabel", "0", "1664"},
	{"1262", "pg_database", "0", "1664"},
	{"2964", "pg_db_role_setting", "0", "1664"},
	{"1213", "pg_tablespace", "0", "1664"},
	{"1261", "pg_auth_members", "0", "1664"},
	{"1214", "pg_shdepend", "0", "1664"},
	{"2396", "pg_shdescription", "0", "1664"},
	{"1260", "pg_authid", "0", "1664"},
	{"6100", "pg_subscription", "0", "1664"},
	{"6000", "pg_replication_origin", "0", "1664"},
}

// sortedRows orders rows by their string form, to compare row sets.
func sortedRows(r [][]any) [][]any {
	out := append([][]any(nil), r...)
	sort.Slice(out, func(i, j int) bool { return strings.Join(strs(out[i]), "|") < strings.Join(strs(out[j]), "|") })
	return out
}

func strs(row []any) []string {
	var s []string
	for _, v := range row {
		x, _ := v.(string)
		s = append(s, x)
	}
	return s
}

// The document, under serve --profile postgres: the second database is
// base/16385/, a new table's OID equals its relfilenode, VACUUM FULL moves
// the relfilenode and keeps the OID, the mapped catalogs show relfilenode 0.
func TestPostgresDocument(t *testing.T) {
	in := servertest.Start(t, servertest.Options{Profile: "postgres"})
	c := conn(t, openDB(t, in.RootDSN("")))
	exec(t, c, "CREATE DATABASE postgres", "CREATE DATABASE bill")
	if got := mustRows(t, c, "SELECT SCHEMA_NAME FROM INFORMATION_SCHEMA.SCHEMATA WHERE SCHEMA_NAME IN ('postgres', 'bill') ORDER BY 1"); len(got) != 2 {
		t.Fatalf("schemata: %v", got)
	}
	bill := conn(t, openDB(t, in.RootDSN("bill")))

	got := mustRows(t, bill, "select oid, relname, relfilenode,reltablespace\nfrom pg_class\nwhere relfilenode = 0 and relkind = 'r'\norder by reltablespace")
	if len(got) != 14 || !reflect.DeepEqual(sortedRows(got), sortedRows(documentMappedTables)) {
		t.Fatalf("document query:\n got %v\nwant %v", got, documentMappedTables)
	}
	for i := 1; i < len(got); i++ {
		if got[i-1][3].(string) > got[i][3].(string) {
			t.Fatalf("not ordered by reltablespace: %v", got)
		}
	}

	// The document's table: its OIDs come from a cluster where 24919 was
	// next; fault_set_sequence puts the OID counter there.
	exec(t, bill, "CALL fault_set_sequence('table_id', 24919)", "create table t(id int)")
	q := "select oid,relname,relfilenode from pg_class where relname = 't'"
	if got := mustRows(t, bill, q); !reflect.DeepEqual(got, [][]any{{"24919", "t", "24919"}}) {
		t.Fatalf("new table: %v", got)
	}
	exec(t, bill, "insert into t values (1), (2)", "CALL vacuum_full('t')")
	// PostgreSQL prints 24922: its CREATE TABLE also took two pg_type OIDs
	// (the row type and its array type). sysemu gives one ID per table, so
	// the next OID is 24920.
	if got := mustRows(t, bill, q); !reflect.DeepEqual(got, [][]any{{"24919", "t", "24920"}}) {
		t.Fatalf("after vacuum full: %v", got)
	}
	runCases(t, in, "bill", []scriptCase{
		{Name: "rows survive vacuum full", Query: "SELECT COUNT(*) FROM t", Want: [][]any{{"2"}}},
		{Name: "filenode and path", Query: "SELECT pg_relation_filenode('t'), pg_relation_filepath('t'), pg_relation_filepath('bill.t')",
			Want: [][]any{{"24920", "base/16385/24920", "base/16385/24920"}}},
		{Name: "filenode to relation", Query: "SELECT pg_filenode_relation(0, 24920), pg_filenode_relation(1663, 24920), pg_filenode_relation(0, 24919), pg_filenode_relation(1664, 24920)",
			Want: [][]any{{"t", "t", nil, nil}}},
		{Name: "mapped catalogs: the real filenode", Query: "SELECT pg_relation_filenode('pg_class'), pg_relation_filepath('pg_class'), pg_relation_filepath('pg_database'), pg_filenode_relation(1664, 1262), pg_filenode_relation(0, 1259)",
			Want: [][]any{{"1259", "base/16385/1259", "global/1262", "pg_database", "pg_class"}}},
		{Name: "cluster keeps rows", Setup: []string{"CALL cluster_table('t')", "CALL reindex_table('t')"},
			Query: "SELECT oid, relfilenode, (SELECT COUNT(*) FROM t) FROM pg_class WHERE relname = 't'", Want: [][]any{{"24919", "24922", "2"}}},
		{Name: "truncate rotates and empties", Setup: []string{"TRUNCATE TABLE t"},
			Query: "SELECT oid, relfilenode, (SELECT COUNT(*) FROM t), DATABASE_OID FROM pg_class WHERE relname = 't'", Want: [][]any{{"24919", "24923", "0", "16385"}}},
		{Name: "vacuum full of pg_class moves its map entry", Setup: []string{"CALL vacuum_full('pg_class')"},
			Query: "SELECT relfilenode, pg_relation_filenode('pg_class') FROM pg_class WHERE oid = 1259", Want: [][]any{{"0", "24924"}}},
		{Name: "the other database keeps its own", Query: "SELECT pg_relation_filenode('postgres.pg_class')", Want: [][]any{{"1259"}}},
		{Name: "SYSTEM qualifier", Query: "SELECT RELKIND, RELTABLESPACE FROM SYSTEM.PG_CLASS WHERE OID = 1262", Want: [][]any{{"r", "1664"}}},
		{Name: "one id per table: TABLE_ID is the OID", Query: "SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = 't'", Want: [][]any{{"24919"}}},
		{Name: "rewrites are logged", Query: "SELECT KIND, SEQUENCE_NAME, OLD_VALUE, NEW_VALUE, STATEMENT FROM SYS_ID_EVENTS WHERE KIND = 'relfilenode_rewrite' ORDER BY EVENT_ID",
			Want: [][]any{
				{"relfilenode_rewrite", "bill.t", "24919", "24920", "CALL vacuum_full('t')"},
				{"relfilenode_rewrite", "bill.t", "24920", "24921", "CALL cluster_table('t')"},
				{"relfilenode_rewrite", "bill.t", "24921", "24922", "CALL reindex_table('t')"},
				{"relfilenode_rewrite", "bill.t", "24922", "24923", "TRUNCATE TABLE t"},
				{"relfilenode_rewrite", "pg_class", "1259", "24924", "CALL vacuum_full('pg_class')"},
			}},
		{Name: "unknown relation", Query: "SELECT pg_relation_filenode('nope')", WantErrno: 1146, WantState: "42S02", WantMsg: "Table 'bill.nope' doesn't exist"},
		{Name: "vacuum of an unknown table", Query: "CALL vacuum_full('nope')", WantErrno: 1146},
		{Name: "point lookup by oid uses the index", Query: "EXPLAIN PLAN SELECT relname FROM pg_class WHERE oid = 1259",
			Want: [][]any{{"Project"}, {" ├─ columns: [pg_class.relname]"}, {" └─ Filter"}, {"     ├─ (pg_class.oid = 1259)"}, {"     └─ IndexedTableAccess(PG_CLASS)"}, {"         ├─ index: [PG_CLASS.OID]"}, {"         └─ filters: [{[1259, 1259]}]"}}},
	})
	// The map on disk holds the new filenode, with a valid CRC; the file of
	// the old one is gone, the new one is there.
	m, err := pgfiles.Dir(in.DataDir).ReadMap("base/16385/pg_filenode.map", pgfiles.Layout15)
	if err != nil || m.Mappings[0] != (pgfiles.Mapping{OID: 1259, Filenode: 24924}) {
		t.Fatalf("map on disk: %+v %v", m, err)
	}
	for rel, want := range map[string]bool{"base/16385/1259": false, "base/16385/24924": true, "base/16385/24919": false, "base/16385/24923": true, "base/16384/1259": true} {
		if _, err := os.Stat(filepath.Join(in.DataDir, rel)); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", rel, err == nil, want)
		}
	}
}

// Damage and repair over the wire: a connection to a database whose map is
// missing or corrupt fails with PostgreSQL's text, others keep working; a
// damaged global map fails every database; copying another database's map
// (same mappings) or rebuild_filenode_map repairs.
func TestFilenodeMapDamage(t *testing.T) {
	in := servertest.Start(t, servertest.Options{Profile: "postgres", Password: "pw"})
	admin := conn(t, openDB(t, in.RootDSN("")))
	exec(t, admin, "CREATE DATABASE postgres", "CREATE DATABASE bill", "CREATE TABLE bill.t (id INT PRIMARY KEY)", "INSERT INTO bill.t VALUES (1)",
		"CREATE USER 'bob'@'%' IDENTIFIED BY 'pw'", "GRANT SELECT, EXECUTE ON *.* TO 'bob'@'%'")
	connectErr := func(db string) (uint16, string, string) {
		t.Helper()
		err := openDB(t, in.RootDSN(db)).Ping()
		n, state := errno(err)
		if err == nil {
			return 0, "", ""
		}
		return n, state, err.Error()
	}
	expect := func(db string, code uint16, state, msg string) {
		t.Helper()
		n, s, m := connectErr(db)
		if n != code || s != state || !strings.HasSuffix(m, msg) {
			t.Fatalf("connect to %s: %d %s %q, want %d %s %q", db, n, s, m, code, state, msg)
		}
		if code == 0 {
			return
		}
		_, err := rows(t, admin, "USE "+db)
		if n, s := errno(err); n != code || s != state || !strings.HasSuffix(err.Error(), msg) {
			t.Fatalf("USE %s: %v", db, err)
		}
	}
	expect("bill", 0, "", "")
	missing := `could not open file "base/16385/pg_filenode.map": No such file or directory`
	checksum := `relation mapping file "base/16385/pg_filenode.map" contains incorrect checksum`

	if _, err := rows(t, conn(t, openDB(t, in.DSN("bob", "pw", ""))), "CALL fault_filenode_map('bill', 'delete')"); func() bool { n, _ := errno(err); return n != 1227 }() {
		t.Fatalf("fault without SUPER: %v", err)
	}
	exec(t, admin, "CALL fault_filenode_map('bill', 'delete')")
	expect("bill", 30020, "58P01", missing)
	expect("postgres", 0, "", "")
	if got := one(t, admin, "SELECT COUNT(*) FROM bill.t"); got != "1" {
		t.Fatalf("other databases' connections still read bill's tables: %s", got)
	}
	got := mustRows(t, admin, "CALL verify_filenode_maps()")
	if len(got) != 3 || got[2][5] != missing || got[1][5] != "ok" || got[0][5] != "ok" {
		t.Fatalf("verify: %v", got)
	}

	// Repair as the document does: copy another database's map.
	b, err := os.ReadFile(filepath.Join(in.DataDir, "base/16384/pg_filenode.map"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in.DataDir, "base/16385/pg_filenode.map"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	expect("bill", 0, "", "")

	exec(t, admin, "CALL fault_filenode_map('bill', 'corrupt')")
	expect("bill", 30021, "XX001", checksum)
	if got := mustRows(t, admin, "CALL rebuild_filenode_map('bill')"); !reflect.DeepEqual(got, [][]any{{"base/16385/pg_filenode.map", "rebuilt: 17 mappings"}}) {
		t.Fatalf("rebuild: %v", got)
	}
	expect("bill", 0, "", "")

	// Edited on disk: checked when the database is opened.
	if err := os.WriteFile(filepath.Join(in.DataDir, "base/16385/pg_filenode.map"), b[:100], 0o600); err != nil {
		t.Fatal(err)
	}
	expect("bill", 30021, "XX001", `could not read file "base/16385/pg_filenode.map": read 100 of 512`)
	exec(t, admin, "CALL rebuild_filenode_map('bill')")

	// The global map fails every database.
	exec(t, admin, "CALL fault_filenode_map('', 'corrupt')")
	expect("postgres", 30021, "XX001", `relation mapping file "global/pg_filenode.map" contains incorrect checksum`)
	expect("bill", 30021, "XX001", `relation mapping file "global/pg_filenode.map" contains incorrect checksum`)
	exec(t, admin, "CALL rebuild_filenode_map('')")
	expect("postgres", 0, "", "")

	runCases(t, in, "", []scriptCase{
		{Name: "bad fault mode", Query: "CALL fault_filenode_map('bill', 'melt')", WantErrno: 1210},
		{Name: "unknown database", Query: "CALL rebuild_filenode_map('nope')", WantErrno: 1049},
		{Name: "faults and repairs are logged", Query: "SELECT KIND, SEQUENCE_NAME FROM SYSTEM.SYS_ID_EVENTS WHERE KIND LIKE 'filenode_map%' ORDER BY EVENT_ID",
			Want: [][]any{{"filenode_map_fault", "base/16385/pg_filenode.map"}, {"filenode_map_fault", "base/16385/pg_filenode.map"},
				{"filenode_map_rebuild", "base/16385/pg_filenode.map"}, {"filenode_map_rebuild", "base/16385/pg_filenode.map"},
				{"filenode_map_fault", "global/pg_filenode.map"}, {"filenode_map_rebuild", "global/pg_filenode.map"}}},
	})
}

// Under the default greptime profile the mapped catalogs take reserved IDs
// below 1024 and everything else works the same; --pg-map-version 16
// writes the 524-byte layout.
func TestFilenodesGreptimeProfileV16(t *testing.T) {
	in := servertest.Start(t, servertest.Options{MapLayout: pgfiles.Layout16})
	c := conn(t, openDB(t, in.RootDSN("")))
	exec(t, c, "CREATE DATABASE shop", "USE shop", "CREATE TABLE orders (id INT PRIMARY KEY)", "TRUNCATE TABLE orders")
	runCases(t, in, "shop", []scriptCase{
		{Name: "mapped catalogs below 1024", Query: "SELECT oid, relname, reltablespace FROM pg_class WHERE relfilenode = 0 AND relkind = 'r' AND oid IN (600, 630)",
			Want: [][]any{{"600", "pg_class", "0"}, {"630", "pg_database", "1664"}}},
		{Name: "truncate moved the filenode", Query: "SELECT oid, relfilenode, pg_relation_filepath('orders') FROM pg_class WHERE relname = 'orders'",
			Want: [][]any{{"1024", "1025", "base/1024/1025"}}},
		{Name: "PG_CLASS has its own TABLE_ID", Query: "SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'SYSTEM' AND TABLE_NAME = 'PG_CLASS'", Want: [][]any{{"520"}}},
	})
	fi, err := os.Stat(filepath.Join(in.DataDir, "base/1024/pg_filenode.map"))
	if err != nil || fi.Size() != 524 {
		t.Fatalf("v16 map: %v %v", fi, err)
	}
}

// sysemu filenode-map dump prints a map like the document's hex walk, and
// fails on a file PostgreSQL would refuse; serve refuses a bad
// --pg-map-version.
func TestFilenodeMapDumpCommand(t *testing.T) {
	bin := binBuild(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "pg_filenode.map")
	if err := pgfiles.Dir(dir).WriteMap("pg_filenode.map", pgfiles.Layout15, []pgfiles.Mapping{{OID: 1259, Filenode: 16533}, {OID: 1249, Filenode: 1249}}); err != nil {
		t.Fatal(err)
	}
	out, err := binRun(t, bin, "filenode-map", "dump", file)
	for _, want := range []string{"(512 bytes)", "magic:        0x592717 (CORRECT)", "num_mappings: 2", "oid 1259   filenode 16533", "oid 1249   filenode 1249", ": ok", "verdict:      ok"} {
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("dump: %v\n%s\nmissing %q", err, out, want)
		}
	}
	b, _ := os.ReadFile(file)
	b[12] ^= 1
	os.WriteFile(file, b, 0o600)
	out, err = binRun(t, bin, "filenode-map", "dump", file)
	if err == nil || !strings.Contains(out, "BAD") || !strings.Contains(out, "contains incorrect checksum") {
		t.Fatalf("dump of a corrupt map: %v\n%s", err, out)
	}
	pgfiles.Dir(dir).WriteMap("pg_filenode.map", pgfiles.Layout16, nil)
	if out, err := binRun(t, bin, "filenode-map", "dump", file, "--pg-map-version", "16"); err != nil || !strings.Contains(out, "(524 bytes)") || !strings.Contains(out, "crc:          0x76267680 stored") {
		t.Fatalf("dump v16: %v\n%s", err, out)
	}
	if out, err := binRun(t, bin, "filenode-map", "dump", filepath.Join(dir, "nope")); err == nil || !strings.Contains(out, "No such file or directory") {
		t.Fatalf("dump of a missing file: %v\n%s", err, out)
	}
	if out, err := binRun(t, bin, "serve", "--data-dir", dir, "--pg-map-version", "3", "--http-addr", "-"); err == nil || !strings.Contains(out, "pg map version 3") {
		t.Fatalf("bad --pg-map-version: %v\n%s", err, out)
	}
}

// The mariadb CLI's `use db` is COM_INIT_DB: refused for a damaged map, the
// session stays in the database it was in. Against the real binary.
func TestFilenodeMapDamageCLI(t *testing.T) {
	client := cliClient(t)
	p := binStart(t, binBuild(t), t.TempDir())
	cliMust(t, client, p, "CREATE DATABASE a; CREATE DATABASE b; CALL fault_filenode_map('b', 'corrupt');",
		"base/1025/pg_filenode.map\tcorrupted\n")
	out, err := cliRun(t, client, p, "use a\nuse b\nselect database();\n", "--force") // --force: exit status 0
	want := `ERROR 30021 (XX001) at line 2: relation mapping file "base/1025/pg_filenode.map" contains incorrect checksum`
	if !strings.Contains(out, want) || !strings.HasSuffix(out, "a\n") {
		t.Fatalf("use of a damaged database: %v\n%s", err, out)
	}
	cliMust(t, client, p, "CALL rebuild_filenode_map('b');\nuse b\nselect database();\n", "base/1025/pg_filenode.map\trebuilt: 17 mappings\nb\n")
}
