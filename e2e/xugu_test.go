package e2e

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/seed"
	"github.com/sysemu/sysemu/server/servertest"
)

// XuguDB's SYS_GSTORES page, verbatim: the xugu-doc scenario on a fresh
// 3-node server, every result table asserted row for row.
func TestXuguDocument(t *testing.T) {
	in := servertest.Start(t, servertest.Options{})
	c := conn(t, openDB(t, in.RootDSN("")))
	stmts, err := seed.Scenario("xugu-doc")
	if err != nil {
		t.Fatal(err)
	}
	var results [][][]any
	var byCopies string
	var twoCopies [][]any
	decoded := 0
	for _, s := range stmts {
		if !strings.HasPrefix(strings.ToUpper(s), "SELECT") {
			exec(t, c, s)
			continue
		}
		results = append(results, mustRows(t, c, s))
		if len(results) != 3 {
			continue
		}
		// Beside the page's COUNT(*) of stores not in state 41, two
		// independent counts: the stores of tables asking for fewer than 3
		// copies (through SYS_TABLES.COPY_NUM), and every STORE_STA decoded
		// here.
		byCopies = one(t, c, "SELECT COUNT(*) FROM SYS_GSTORES g JOIN SYS_TABLES t ON g.OBJ_ID = t.TABLE_ID WHERE t.COPY_NUM <> 3")
		for _, r := range mustRows(t, c, "SELECT STORE_STA FROM SYS_GSTORES") {
			sta, _ := strconv.Atoi(r[0].(string))
			if v1, v2, v3 := sta&3, sta>>2&3, sta>>4&3; !(v1 == engine.VersionPrimary && v2 == engine.VersionReplica && v3 == engine.VersionReplica) {
				decoded++
			}
		}
		twoCopies = mustRows(t, c, "SELECT DISTINCT STORE_STA, NODE_ID1, NODE_ID2, NODE_ID3 FROM SYS_GSTORES WHERE OBJ_ID = (SELECT OBJ_ID FROM SYS_OBJECTS WHERE OBJ_NAME = 'gsto_two_copies') ORDER BY 2")
	}
	if len(results) != 4 {
		t.Fatalf("%d result tables, want 4", len(results))
	}
	dbID := one(t, c, "SELECT DB_ID FROM SYS_TABLES WHERE TABLE_NAME = 'tab_hash'")
	tableID := one(t, c, "SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'xugu' AND TABLE_NAME = 'tab_hash'")
	if got := one(t, c, "SELECT OBJ_ID FROM SYS_OBJECTS WHERE OBJ_NAME = 'tab_hash'"); got != tableID {
		t.Fatalf("OBJ_ID %s, TABLE_ID %s: one table, one ID", got, tableID)
	}

	// SYS_PARTIS joined with SYS_OBJECTS: PART1..PART10 on 217..226.
	var parts [][]any
	for i := 1; i <= 10; i++ {
		parts = append(parts, []any{strconv.Itoa(i), fmt.Sprintf("PART%d", i), strconv.Itoa(216 + i)})
	}
	if !reflect.DeepEqual(results[0], parts) {
		t.Fatalf("SYS_PARTIS join:\n got %v\nwant %v", results[0], parts)
	}

	// SYS_GSTORES joined with SYS_OBJECTS: 217..227, each its own chain,
	// three versions on nodes 1..3 (STORE_STA 41). Each node's store numbers:
	// 80 system stores, 2 + 13 stores of the setup tables, then these.
	var stores [][]any
	for i := 0; i <= 10; i++ {
		no, storeNo := strconv.Itoa(217+i), strconv.Itoa(96+i)
		stores = append(stores, []any{no, no, no, "0", "0", "41", "3", "1", "2", "3",
			storeNo, storeNo, storeNo, "0", dbID, tableID, "0", "0", "1"})
	}
	if !reflect.DeepEqual(results[1], stores) {
		t.Fatalf("SYS_GSTORES join:\n got %v\nwant %v", results[1], stores)
	}

	if results[2][0][0] != "3" || byCopies != "3" || decoded != 3 {
		t.Fatalf("COUNT(*) WHERE store_sta != 41 = %v; by COPY_NUM %s; decoded %d; want 3 (the copy_num=2 table)", results[2], byCopies, decoded)
	}
	if want := [][]any{{"9", "1", "2", "0"}, {"9", "2", "3", "0"}, {"9", "3", "1", "0"}}; !reflect.DeepEqual(twoCopies, want) {
		t.Fatalf("copy_num=2 stores: %v, want STORE_STA 9 (00 10 01) balanced over the nodes: %v", twoCopies, want)
	}
	// The offline example: STORE_STA 57, nodes 1, 3, 0.
	if want := [][]any{{"228", "57", "1", "3", "0"}}; !reflect.DeepEqual(results[3], want) {
		t.Fatalf("offline example: got %v, want %v", results[3], want)
	}
	// Node 2's versions are invalid meanwhile: 41 -> 45 everywhere else.
	if got := one(t, c, "SELECT STORE_STA FROM SYS_GSTORES WHERE GSTO_NO = 227"); got != "45" {
		t.Fatalf("store 227 with node 2 offline: %s, want 45", got)
	}
	clusters := [][]any{
		{"1", "127.0.0.1:5138", "5138", "2", "29", "107"},
		{"2", "127.0.0.1:5139", "5139", "0", "29", "106"},
		{"3", "127.0.0.1:5140", "5140", "2", "29", "107"},
	}
	if got := mustRows(t, c, "SELECT NODE_ID, NODE_IP, NODE_PORT, NODE_STATE, NODE_TYPE, STORE_NUM FROM SYS_CLUSTERS"); !reflect.DeepEqual(got, clusters) {
		t.Fatalf("SYS_CLUSTERS:\n got %v\nwant %v", got, clusters)
	}
	exec(t, c, "CALL node_online(2)")
	if got := one(t, c, "SELECT STORE_STA FROM SYS_GSTORES WHERE GSTO_NO = 227"); got != "41" {
		t.Fatalf("store 227 with node 2 back: %s, want 41", got)
	}

	// Point queries and both joins use the indexes.
	for q, want := range map[string]string{
		"SELECT * FROM SYS_GSTORES WHERE GSTO_NO = 217":                                                                                              "IndexedTableAccess(SYS_GSTORES)",
		"SELECT * FROM SYS_OBJECTS WHERE OBJ_ID = 1024":                                                                                              "IndexedTableAccess(SYS_OBJECTS)",
		"SELECT * FROM SYS_TABLES WHERE TABLE_ID = 1024":                                                                                             "IndexedTableAccess(SYS_TABLES)",
		"SELECT * FROM SYS_PARTIS WHERE TABLE_ID = 1024":                                                                                             "IndexedTableAccess(SYS_PARTIS)",
		"SELECT * FROM SYS_CLUSTERS WHERE NODE_ID = 2":                                                                                               "IndexedTableAccess(SYS_CLUSTERS)",
		"SELECT a.* FROM sys_gstores a, sys_objects b WHERE a.obj_id = b.obj_id AND b.obj_name = 'TAB_HASH'":                                         "index: [SYS_OBJECTS.OBJ_NAME]",
		"SELECT a.parti_no FROM sys_partis a, sys_objects b WHERE a.table_id = b.obj_id AND b.obj_name = 'TAB_HASH'":                                 "IndexedTableAccess(SYS_OBJECTS)",
		"SELECT /*+ LOOKUP_JOIN(b,a) JOIN_ORDER(b,a) */ a.* FROM sys_gstores a, sys_objects b WHERE a.obj_id = b.obj_id AND b.obj_name = 'TAB_HASH'": "index: [SYS_GSTORES.OBJ_ID]",
		"SELECT MAX(GSTO_NO) FROM SYS_GSTORES":                                                                                                       "IndexedTableAccess(SYS_GSTORES)",
		"SELECT COUNT(*) FROM SYS_PARTIS":                                                                                                            "table_count(SYS_PARTIS)",
		"SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'xugu' AND TABLE_NAME = 'tab_hash'":                                     "index: [TABLES.TABLE_NAME]",
	} {
		if plan := fmt.Sprint(mustRows(t, c, "EXPLAIN PLAN "+q)); !strings.Contains(plan, want) {
			t.Errorf("%s: plan %s, want %s", q, plan, want)
		}
	}
	// Listed in SYSTEM, resolvable unqualified from any database.
	tables := fmt.Sprint(mustRows(t, c, "SHOW TABLES FROM `SYSTEM`"))
	for _, name := range []string{"SYS_GSTORES", "SYS_PARTIS", "SYS_OBJECTS", "SYS_TABLES", "SYS_CLUSTERS"} {
		if !strings.Contains(tables, name) {
			t.Errorf("SYSTEM lacks %s: %s", name, tables)
		}
		n := one(t, c, "SELECT COUNT(*) FROM `SYSTEM`."+name)
		if m := one(t, c, "SELECT COUNT(*) FROM (SELECT * FROM "+name+") x"); n != m || n == "0" {
			t.Errorf("%s: COUNT(*) %s, rows %s", name, n, m)
		}
	}
}

// Bad input answers with a clear MySQL error and changes nothing.
func TestXuguBadInput(t *testing.T) {
	in := servertest.Start(t, servertest.Options{Engine: engine.Options{Nodes: 2}})
	c := conn(t, openDB(t, in.RootDSN("")))
	exec(t, c, "CREATE DATABASE db", "USE db")
	before := mustRows(t, c, "SELECT NODE_ID, NODE_STATE FROM SYS_CLUSTERS")
	next := in.Engine.State().Sequences[engine.SeqGstoNo]
	runCases(t, in, "db", []scriptCase{
		{Name: "unknown node", Query: "CALL node_offline(7)", WantErrno: 30011, WantState: "HY000", WantMsg: "unknown node: 7"},
		{Name: "node 0", Query: "CALL node_online(0)", WantErrno: 30011},
		{Name: "drop an online node", Query: "CALL node_drop(1)", WantErrno: 30013, WantMsg: "node 1 is online; CALL node_offline(1) first"},
		{Name: "more replicas than nodes", Query: "CREATE TABLE t3 (a INT) COMMENT 'copy_num=3'", WantErrno: 30014, WantMsg: "copy_num=3 is above the node count 2"},
		{Name: "replica count out of range", Query: "CREATE TABLE t0 (a INT) COMMENT 'copy_num=0'", WantErrno: 1210, WantMsg: "copy_num must be 1, 2 or 3"},
		{Name: "unparseable partition clause", Query: "CREATE TABLE p (a INT) PARTITION BY HASH(a) PARTITIONS many", WantErrno: 1064, WantState: "42000"},
		{Name: "no partition for a value", Setup: []string{"CREATE TABLE r (a INT) PARTITION BY RANGE (a) (PARTITION p0 VALUES LESS THAN (10))"},
			Query: "INSERT INTO r VALUES (1), (10)", WantErrno: 1526, WantMsg: "Table has no partition for value 10"},
	})
	if got := one(t, c, "SELECT COUNT(*) FROM db.r"); got != "0" {
		t.Fatalf("a refused multi-row insert left %s rows", got)
	}
	for _, name := range []string{"t3", "t0", "p"} {
		if got := one(t, c, "SELECT COUNT(*) FROM SYS_OBJECTS WHERE OBJ_NAME = '"+name+"'"); got != "0" {
			t.Fatalf("refused table %s exists", name)
		}
	}
	// r took 1 partition store + 1 table store; nothing else moved the sequence.
	if got := in.Engine.State().Sequences[engine.SeqGstoNo]; got != next+2 {
		t.Fatalf("gsto_no sequence %d, want %d", got, next+2)
	}
	exec(t, c, "CALL node_offline(1)")
	_, err := rows(t, c, "CALL node_offline(2)")
	if n, _ := errno(err); n != 30012 || !strings.Contains(err.Error(), "node 2 is the last online node") {
		t.Fatalf("offline of the last online node: %v", err)
	}
	exec(t, c, "CALL node_online(1)")
	if after := mustRows(t, c, "SELECT NODE_ID, NODE_STATE FROM SYS_CLUSTERS"); !reflect.DeepEqual(before, after) {
		t.Fatalf("SYS_CLUSTERS changed:\n%v\n%v", before, after)
	}
}

// Store chains over the wire: a store holds --store-rows rows, the next
// insert splits it; LSN counts each statement on the store it wrote.
func TestXuguStoreSplit(t *testing.T) {
	in := servertest.Start(t, servertest.Options{Engine: engine.Options{StoreRows: 2}})
	db := openDB(t, in.RootDSN(""))
	c := conn(t, db)
	exec(t, c, "CREATE DATABASE db", "USE db", "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
	head := one(t, c, "SELECT GSTO_NO FROM SYS_GSTORES g JOIN SYS_OBJECTS o ON g.OBJ_ID = o.OBJ_ID WHERE o.OBJ_NAME = 't'")
	for i := 1; i <= 5; i++ {
		exec(t, c, fmt.Sprintf("INSERT INTO db.t VALUES (%d, 'x')", i))
	}
	h, _ := strconv.Atoi(head)
	want := [][]any{
		{head, head, strconv.Itoa(h + 2), strconv.Itoa(h + 1), "2", "2"},
		{strconv.Itoa(h + 1), head, strconv.Itoa(h + 2), strconv.Itoa(h + 2), "2", "2"},
		{strconv.Itoa(h + 2), head, strconv.Itoa(h + 2), "0", "2", "1"},
	}
	got := mustRows(t, c, "SELECT GSTO_NO, HEAD_NO, TAIL_NO, NEXT_NO, SPLIT_NUM, LSN FROM SYS_GSTORES WHERE GSTO_NO >= "+head)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("chain after 5 single-row inserts into 2-row stores:\n got %v\nwant %v", got, want)
	}
	// The chain and its numbers survive a restart; new stores continue after.
	c.Close()
	db.Close()
	in.Stop()
	in = servertest.Start(t, servertest.Options{DataDir: in.DataDir, Engine: engine.Options{StoreRows: 2}})
	c = conn(t, openDB(t, in.RootDSN("db")))
	if again := mustRows(t, c, "SELECT GSTO_NO, HEAD_NO, TAIL_NO, NEXT_NO, SPLIT_NUM, LSN FROM SYS_GSTORES WHERE GSTO_NO >= "+head); !reflect.DeepEqual(again, want) {
		t.Fatalf("after restart: %v", again)
	}
	exec(t, c, "CREATE TABLE db.u (id INT)")
	if got := one(t, c, "SELECT GSTO_NO FROM SYS_GSTORES g JOIN SYS_OBJECTS o ON g.OBJ_ID = o.OBJ_ID WHERE o.OBJ_NAME = 'u'"); got != strconv.Itoa(h+3) {
		t.Fatalf("next store after restart: %s, want %d", got, h+3)
	}
	if got := one(t, c, "SELECT RECORD_NUM FROM SYS_TABLES WHERE TABLE_NAME = 't'"); got != "5" {
		t.Fatalf("RECORD_NUM %s, want 5", got)
	}
}
