package pgfiles

import "testing"

// SyncFiles syncs what exists and skips files and directories that are gone
// (dropped tables and databases).
func TestSyncFiles(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.MkdirAll(DatabasePath(16385)); err != nil {
		t.Fatal(err)
	}
	if err := d.NewRelation(RelationPath(16385, 16384)); err != nil {
		t.Fatal(err)
	}
	rels := []string{RelationPath(16385, 16384), RelationPath(16385, 16390), RelationPath(16999, 16391)}
	if err := d.SyncFiles(rels); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Exists(rels[0]); err != nil || !ok {
		t.Fatalf("synced file: exists %v, %v", ok, err)
	}
}
