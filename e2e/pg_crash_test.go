package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// crashCheckFiles: after a kill -9, every table's relation file exists
// (files are written before the commit and removed after it: a crash leaves
// at most an orphan, never a missing file) and every pg_filenode.map is ok.
func crashCheckFiles(t *testing.T, proc *binProc, cycle int) {
	t.Helper()
	db := crashOpen(t, proc.dsn(crashDB))
	defer db.Close()
	rs, err := db.Query("SELECT RELNAME, RELFILENODE, DATABASE_OID FROM PG_CLASS WHERE RELKIND = 'r' AND RELNAMESPACE = 2200")
	if err != nil {
		t.Fatalf("cycle %d: PG_CLASS: %v", cycle, err)
	}
	defer rs.Close()
	for rs.Next() {
		var name string
		var filenode, dbOID uint64
		if err := rs.Scan(&name, &filenode, &dbOID); err != nil {
			t.Fatal(err)
		}
		rel := fmt.Sprintf("base/%d/%d", dbOID, filenode)
		if _, err := os.Stat(filepath.Join(proc.dataDir, rel)); err != nil {
			t.Errorf("after kill in cycle %d: table %s: relation file %s: %v", cycle, name, rel, err)
		}
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	maps, err := db.Query("CALL verify_filenode_maps()")
	if err != nil {
		t.Fatalf("cycle %d: verify_filenode_maps: %v", cycle, err)
	}
	defer maps.Close()
	for maps.Next() {
		var path, status string
		var dbName, crc any
		var dbOID uint64
		var n int64
		if err := maps.Scan(&path, &dbName, &dbOID, &n, &crc, &status); err != nil {
			t.Fatal(err)
		}
		if status != "ok" {
			t.Errorf("after kill in cycle %d: %s: %s", cycle, path, status)
		}
	}
}
