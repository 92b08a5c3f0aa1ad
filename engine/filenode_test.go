package engine_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/engine/pgfiles"
	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/mem"
	"github.com/sysemu/sysemu/seed"
)

var root = engine.Actor{User: "root", Statement: "test"}

type pgEnv struct {
	t   *testing.T
	e   *engine.Engine
	st  store.Store
	dir string
}

func openPG(t *testing.T, profile *engine.Profile, layout pgfiles.Layout) *pgEnv {
	t.Helper()
	env := &pgEnv{t: t, st: mem.New(), dir: t.TempDir()}
	env.reopen(profile, layout)
	return env
}

func (env *pgEnv) reopen(profile *engine.Profile, layout pgfiles.Layout) {
	env.t.Helper()
	log, _ := logtest.NewNullLogger()
	e, err := engine.Open(context.Background(), env.st, profile, log, engine.Options{Dir: env.dir, MapLayout: layout})
	if err != nil {
		env.t.Fatal(err)
	}
	env.e = e
}

func (env *pgEnv) exists(rel string) bool {
	_, err := os.Stat(filepath.Join(env.dir, rel))
	return err == nil
}

func (env *pgEnv) mustExist(rel string, want bool) {
	env.t.Helper()
	if env.exists(rel) != want {
		env.t.Fatalf("%s exists = %v, want %v", rel, !want, want)
	}
}

func (env *pgEnv) createTable(db, name string) *engine.Table {
	env.t.Helper()
	tb, err := env.e.CreateTable(context.Background(), engine.TableSpec{Database: db, Name: name,
		Columns: []engine.Column{{Name: "id", Type: "bigint"}}, PrimaryKey: []string{"id"}})
	if err != nil {
		env.t.Fatal(err)
	}
	return tb
}

func (env *pgEnv) insert(tb *engine.Table, keys ...string) {
	env.t.Helper()
	var edits []engine.RowEdit
	for _, k := range keys {
		edits = append(edits, engine.RowEdit{Op: engine.OpInsert, Key: []byte(k), Value: []byte("v" + k)})
	}
	if err := env.e.ApplyEdits(context.Background(), tb.ID, false, edits); err != nil {
		env.t.Fatal(err)
	}
}

func (env *pgEnv) rows(id uint64) int {
	env.t.Helper()
	kvs, err := env.e.ReadRows(context.Background(), id, nil, nil, false, 1000)
	if err != nil {
		env.t.Fatal(err)
	}
	return len(kvs)
}

func (env *pgEnv) mapOf(rel string) *pgfiles.Map {
	env.t.Helper()
	m, err := pgfiles.Dir(env.dir).ReadMap(rel, env.e.MapLayout())
	if err != nil {
		env.t.Fatal(err)
	}
	return m
}

// The postgres profile reproduces the document's layout: database OIDs and
// user OIDs from 16384, base/16385/ for the second database, 17 per-database
// and 43 shared mappings, every mapped catalog with relfilenode 0 in
// pg_class and its real filenode in the map file.
func TestPostgresProfileLayout(t *testing.T) {
	env := openPG(t, seed.Postgres(), pgfiles.Layout15)
	ctx := context.Background()
	for _, n := range []string{"postgres", "bill"} {
		if _, err := env.e.CreateDatabase(ctx, n, ""); err != nil {
			t.Fatal(err)
		}
	}
	s := env.e.State()
	if s.Database("postgres").ID != 16384 || s.Database("bill").ID != 16385 {
		t.Fatalf("database OIDs %d %d", s.Database("postgres").ID, s.Database("bill").ID)
	}
	tb := env.createTable("bill", "t")
	if tb.ID != 16384 || tb.RelFileNode() != 16384 {
		t.Fatalf("first table: oid %d filenode %d", tb.ID, tb.RelFileNode())
	}
	env.mustExist("base/16385/16384", true)
	if m := env.mapOf("base/16385/pg_filenode.map"); len(m.Mappings) != 17 {
		t.Fatalf("per-database map has %d mappings", len(m.Mappings))
	}
	if m := env.mapOf("global/pg_filenode.map"); len(m.Mappings) != 43 {
		t.Fatalf("global map has %d mappings", len(m.Mappings))
	}
	if fi, _ := os.Stat(filepath.Join(env.dir, "global/pg_filenode.map")); fi.Size() != 512 {
		t.Fatalf("map size %d", fi.Size())
	}
	var zero []uint64
	for _, r := range env.e.State().PGClass("bill") {
		if r.RelFileNode == 0 && r.Kind == engine.RelKindTable {
			zero = append(zero, r.OID)
			env.mustExist(r.Path(), true)
		}
	}
	want := []uint64{1213, 1214, 1247, 1249, 1255, 1259, 1260, 1261, 1262, 2396, 2964, 3592, 6000, 6100}
	if len(zero) != len(want) {
		t.Fatalf("mapped tables %v, want %v", zero, want)
	}
	for i := range want {
		if zero[i] != want[i] {
			t.Fatalf("mapped tables %v, want %v", zero, want)
		}
	}
	r, ok := env.e.State().PGRelation("bill", "pg_database")
	if !ok || r.Path() != "global/1262" || r.Tablespace != 1664 {
		t.Fatalf("pg_database: %+v", r)
	}
	r, ok = env.e.State().PGFilenodeRelation("bill", 0, 16384)
	if !ok || r.Name != "t" {
		t.Fatalf("pg_filenode_relation(0, 16384): %+v", r)
	}
	if _, ok := env.e.State().PGFilenodeRelation("postgres", 0, 16384); ok {
		t.Fatal("filenode of another database matched")
	}
	if r, ok := env.e.State().PGFilenodeRelation("bill", 1664, 1262); !ok || r.Name != "pg_database" {
		t.Fatalf("pg_filenode_relation(1664, 1262): %+v", r)
	}
}

// Every rewrite keeps the OID, gives a new filenode from the OID counter,
// writes the new file, removes the old one after the commit, is logged,
// and keeps the rows — except TRUNCATE.
func TestRewrites(t *testing.T) {
	for _, p := range []*engine.Profile{seed.Postgres(), seed.Greptime()} {
		t.Run(p.Name, func(t *testing.T) {
			env := openPG(t, p, pgfiles.Layout15)
			ctx := context.Background()
			d, err := env.e.CreateDatabase(ctx, "bill", "")
			if err != nil {
				t.Fatal(err)
			}
			tb := env.createTable("bill", "t")
			env.insert(tb, "1", "2", "3")
			prev := tb.RelFileNode()
			kinds := []string{engine.RewriteVacuumFull, engine.RewriteCluster, engine.RewriteReindex, engine.RewriteTruncate}
			for _, kind := range kinds {
				var rw *engine.Rewrite
				var err error
				if kind == engine.RewriteTruncate {
					_, err = env.e.TruncateTableAs(ctx, root, "bill", "t")
				} else {
					rw, err = env.e.RewriteTable(ctx, root, "bill", "t", kind)
				}
				if err != nil {
					t.Fatalf("%s: %v", kind, err)
				}
				now := env.e.State().Table("bill", "t")
				if now.ID != tb.ID || now.RelFileNode() != prev+1 {
					t.Fatalf("%s: oid %d filenode %d, want oid %d filenode %d", kind, now.ID, now.RelFileNode(), tb.ID, prev+1)
				}
				if rw != nil && (rw.OldFilenode != prev || rw.NewFilenode != prev+1 || rw.OID != tb.ID) {
					t.Fatalf("%s: %+v", kind, rw)
				}
				env.mustExist(pgfiles.RelationPath(d.ID, prev), false)
				env.mustExist(pgfiles.RelationPath(d.ID, now.RelFileNode()), true)
				wantRows := 3
				if kind == engine.RewriteTruncate {
					wantRows = 0
				}
				if n := env.rows(tb.ID); n != wantRows {
					t.Fatalf("%s: %d rows, want %d", kind, n, wantRows)
				}
				evs := env.e.State().Events()
				ev := evs[len(evs)-1]
				if ev.Kind != engine.EventRelfilenodeRewrite || ev.Old != int64(prev) || ev.New != int64(prev+1) || ev.Sequence != "bill.t" {
					t.Fatalf("%s: event %+v", kind, ev)
				}
				prev = now.RelFileNode()
			}
			// The filenode survives a restart; the next table gets an OID
			// above every filenode handed out.
			env.reopen(p, pgfiles.Layout15)
			if got := env.e.State().Table("bill", "t").RelFileNode(); got != prev {
				t.Fatalf("after restart: filenode %d, want %d", got, prev)
			}
			if u := env.createTable("bill", "u"); u.ID <= prev {
				t.Fatalf("new table %d reuses a number <= %d", u.ID, prev)
			}
		})
	}
}

// GetNewRelFileNumber skips a candidate whose file already exists.
func TestRewriteSkipsExistingFile(t *testing.T) {
	env := openPG(t, seed.Postgres(), pgfiles.Layout15)
	ctx := context.Background()
	env.e.CreateDatabase(ctx, "bill", "")
	tb := env.createTable("bill", "t")
	if err := os.WriteFile(filepath.Join(env.dir, "base/16384/16385"), []byte("orphan"), 0o600); err != nil {
		t.Fatal(err)
	}
	rw, err := env.e.RewriteTable(ctx, root, "bill", "t", engine.RewriteVacuumFull)
	if err != nil || rw.NewFilenode != 16386 || rw.OID != tb.ID {
		t.Fatalf("%+v %v", rw, err)
	}
	if b, _ := os.ReadFile(filepath.Join(env.dir, "base/16384/16385")); string(b) != "orphan" {
		t.Fatal("the existing file was touched")
	}
}

// VACUUM FULL of a mapped catalog rewrites its map file with a new CRC and
// leaves pg_class.relfilenode at 0; only that database's map changes.
func TestVacuumMappedCatalog(t *testing.T) {
	for _, layout := range []pgfiles.Layout{pgfiles.Layout15, pgfiles.Layout16} {
		env := openPG(t, seed.Postgres(), layout)
		ctx := context.Background()
		env.e.CreateDatabase(ctx, "postgres", "")
		env.e.CreateDatabase(ctx, "bill", "")
		before := env.mapOf("base/16385/pg_filenode.map")
		other, _ := os.ReadFile(filepath.Join(env.dir, "base/16384/pg_filenode.map"))
		rw, err := env.e.RewriteTable(ctx, root, "bill", "pg_class", engine.RewriteVacuumFull)
		if err != nil || rw.OID != 1259 || rw.OldFilenode != 1259 || rw.NewFilenode != 16384 {
			t.Fatalf("%+v %v", rw, err)
		}
		after := env.mapOf("base/16385/pg_filenode.map")
		if after.CRC == before.CRC || after.Layout != layout {
			t.Fatal("map file not rewritten")
		}
		found := false
		for _, m := range after.Mappings {
			if m.OID == 1259 {
				found = m.Filenode == 16384
			}
		}
		if !found {
			t.Fatalf("pg_class not remapped: %v", after.Mappings)
		}
		env.mustExist("base/16385/1259", false)
		env.mustExist("base/16385/16384", true)
		if now, _ := os.ReadFile(filepath.Join(env.dir, "base/16384/pg_filenode.map")); !bytes.Equal(now, other) {
			t.Fatal("another database's map changed")
		}
		r, _ := env.e.State().PGRelation("bill", "pg_class")
		if r.RelFileNode != 0 || r.Filenode != 16384 || r.Path() != "base/16385/16384" {
			t.Fatalf("pg_class row %+v", r)
		}
		// Shared catalogs live in global/.
		rw, err = env.e.RewriteTable(ctx, root, "bill", "pg_database", engine.RewriteVacuumFull)
		if err != nil || rw.Path != "global/16385" {
			t.Fatalf("%+v %v", rw, err)
		}
		if s := env.e.VerifyFilenodeMaps(); len(s) != 3 || s[0].Status != "ok" || s[1].Status != "ok" || s[2].Status != "ok" {
			t.Fatalf("verify: %+v", s)
		}
	}
}

// Damage and repair, as in the document: a missing or corrupt map makes
// that database fail to open with PostgreSQL's text while others work; a
// damaged global map fails every database; rebuilding from the catalog, or
// copying another database's map when the mappings are the same, repairs.
func TestMapDamageAndRepair(t *testing.T) {
	env := openPG(t, seed.Postgres(), pgfiles.Layout15)
	ctx := context.Background()
	env.e.CreateDatabase(ctx, "postgres", "")
	env.e.CreateDatabase(ctx, "bill", "")
	check := func(db, want string, kind error) {
		t.Helper()
		err := env.e.CheckDatabase(db)
		if want == "" {
			if err != nil {
				t.Fatalf("%s: %v", db, err)
			}
			return
		}
		if err == nil || !errors.Is(err, kind) || err.Error() != kind.Error()+": "+want {
			t.Fatalf("%s: %v, want %q", db, err, want)
		}
	}
	check("bill", "", nil)
	if _, err := env.e.FaultFilenodeMap(ctx, root, "bill", engine.FaultDelete); err != nil {
		t.Fatal(err)
	}
	check("bill", `could not open file "base/16385/pg_filenode.map": No such file or directory`, engine.ErrMapFileMissing)
	check("postgres", "", nil)
	if s := env.e.VerifyFilenodeMaps(); s[2].Status != `could not open file "base/16385/pg_filenode.map": No such file or directory` || s[1].Status != "ok" {
		t.Fatalf("verify: %+v", s)
	}
	// Repair 1: copy another database's map (same mappings).
	b, _ := os.ReadFile(filepath.Join(env.dir, "base/16384/pg_filenode.map"))
	os.WriteFile(filepath.Join(env.dir, "base/16385/pg_filenode.map"), b, 0o600)
	check("bill", "", nil)

	if _, err := env.e.FaultFilenodeMap(ctx, root, "bill", engine.FaultCorrupt); err != nil {
		t.Fatal(err)
	}
	check("bill", `relation mapping file "base/16385/pg_filenode.map" contains incorrect checksum`, engine.ErrMapFileCorrupt)
	// Repair 2: rebuild from the catalog.
	if _, m, err := env.e.RebuildFilenodeMap(ctx, root, "bill"); err != nil || len(m) != 17 {
		t.Fatalf("rebuild: %d %v", len(m), err)
	}
	check("bill", "", nil)

	// Once bill's pg_class was vacuumed, postgres's map no longer fits:
	// the copy fails on the missing file, the rebuild works.
	if _, err := env.e.RewriteTable(ctx, root, "bill", "pg_class", engine.RewriteVacuumFull); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(env.dir, "base/16385/pg_filenode.map"), b, 0o600)
	check("bill", `could not open file "base/16385/1259": No such file or directory`, engine.ErrMapFileMissing)
	if s := env.e.VerifyFilenodeMaps(); s[2].Status != `could not open file "base/16385/1259": No such file or directory` {
		t.Fatalf("verify: %+v", s)
	}
	if _, _, err := env.e.RebuildFilenodeMap(ctx, root, "bill"); err != nil {
		t.Fatal(err)
	}
	check("bill", "", nil)

	// Short and invalid files, edited on disk.
	os.WriteFile(filepath.Join(env.dir, "base/16385/pg_filenode.map"), b[:100], 0o600)
	check("bill", `could not read file "base/16385/pg_filenode.map": read 100 of 512`, engine.ErrMapFileCorrupt)
	bad := append([]byte(nil), b...)
	bad[0] = 0
	os.WriteFile(filepath.Join(env.dir, "base/16385/pg_filenode.map"), bad, 0o600)
	check("bill", `relation mapping file "base/16385/pg_filenode.map" contains invalid data`, engine.ErrMapFileCorrupt)
	env.e.RebuildFilenodeMap(ctx, root, "bill")

	// The global map fails every database.
	if _, err := env.e.FaultFilenodeMap(ctx, root, "", engine.FaultCorrupt); err != nil {
		t.Fatal(err)
	}
	check("postgres", `relation mapping file "global/pg_filenode.map" contains incorrect checksum`, engine.ErrMapFileCorrupt)
	check("bill", `relation mapping file "global/pg_filenode.map" contains incorrect checksum`, engine.ErrMapFileCorrupt)
	env.e.RebuildFilenodeMap(ctx, root, "")
	check("postgres", "", nil)

	// A restart never repairs a damaged map behind the user's back.
	env.e.FaultFilenodeMap(ctx, root, "bill", engine.FaultDelete)
	env.reopen(seed.Postgres(), pgfiles.Layout15)
	check("bill", `could not open file "base/16385/pg_filenode.map": No such file or directory`, engine.ErrMapFileMissing)

	kinds := map[string]int{}
	for _, ev := range env.e.State().Events() {
		kinds[ev.Kind]++
	}
	if kinds[engine.EventFilenodeMapFault] != 4 || kinds[engine.EventFilenodeMapRebuild] != 4 {
		t.Fatalf("events %v", kinds)
	}
	if _, err := env.e.FaultFilenodeMap(ctx, root, "bill", "melt"); !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("bad mode: %v", err)
	}
	if _, err := env.e.FaultFilenodeMap(ctx, root, "nope", engine.FaultDelete); !errors.Is(err, engine.ErrNoSuchDatabase) {
		t.Fatalf("unknown db: %v", err)
	}
}

// Dropping a table removes its file; dropping a database its directory.
func TestDropRemovesFiles(t *testing.T) {
	env := openPG(t, seed.Greptime(), pgfiles.Layout15)
	ctx := context.Background()
	d, _ := env.e.CreateDatabase(ctx, "bill", "")
	tb := env.createTable("bill", "t")
	rel := pgfiles.RelationPath(d.ID, tb.ID)
	env.mustExist(rel, true)
	if err := env.e.DropTable(ctx, "bill", "t"); err != nil {
		t.Fatal(err)
	}
	env.mustExist(rel, false)
	if err := env.e.DropDatabase(ctx, "bill"); err != nil {
		t.Fatal(err)
	}
	env.mustExist(pgfiles.DatabasePath(d.ID), false)
	// A leftover file holding the next ID (a create that wrote its file
	// and crashed before the commit) is skipped, as GetNewRelFileNumber
	// does, and left alone.
	d, _ = env.e.CreateDatabase(ctx, "again", "")
	next := env.createTable("again", "a").ID + 1
	os.WriteFile(filepath.Join(env.dir, pgfiles.RelationPath(d.ID, next)), []byte("orphan"), 0o600)
	if b := env.createTable("again", "b"); b.ID != next+1 {
		t.Fatalf("create over a leftover file got %d, want %d", b.ID, next+1)
	}
	if b, _ := os.ReadFile(filepath.Join(env.dir, pgfiles.RelationPath(d.ID, next))); string(b) != "orphan" {
		t.Fatal("leftover file touched")
	}
}

// A table renamed into another database takes its file along.
func TestRenameMovesFile(t *testing.T) {
	env := openPG(t, seed.Postgres(), pgfiles.Layout15)
	ctx := context.Background()
	env.e.CreateDatabase(ctx, "a", "")
	env.e.CreateDatabase(ctx, "b", "")
	env.createTable("a", "t")
	if err := env.e.RenameTable(ctx, "a", "t", "b", "t"); err != nil {
		t.Fatal(err)
	}
	env.mustExist("base/16384/16384", false)
	env.mustExist("base/16385/16384", true)
	r, ok := env.e.State().PGRelation("b", "t")
	if !ok || r.Path() != "base/16385/16384" {
		t.Fatalf("%+v", r)
	}
}

// TRUNCATE and the rewrites take their new relfilenode from the table-ID
// sequence, so recovery mode refuses them like DDL: between reading
// next_table_id() and set_next_table_id(N) the sequence must not move (the
// crash loop's admin worker got 30003 for N = the value it had just read).
func TestRewriteRefusedInRecoveryMode(t *testing.T) {
	env := openPG(t, seed.Greptime(), pgfiles.Layout15)
	ctx := context.Background()
	env.e.CreateDatabase(ctx, "bill", "")
	env.createTable("bill", "t")
	if err := env.e.SetSwitch(ctx, root, engine.SwitchRecovery, true); err != nil {
		t.Fatal(err)
	}
	next := env.e.NextTableID()
	if _, err := env.e.RewriteTable(ctx, root, "bill", "t", engine.RewriteVacuumFull); !errors.Is(err, engine.ErrRecoveryMode) {
		t.Fatalf("vacuum full in recovery mode: %v", err)
	}
	if _, err := env.e.TruncateTableAs(ctx, root, "bill", "t"); !errors.Is(err, engine.ErrRecoveryMode) {
		t.Fatalf("truncate in recovery mode: %v", err)
	}
	if got := env.e.NextTableID(); got != next {
		t.Fatalf("next_table_id moved from %d to %d in recovery mode", next, got)
	}
	if err := env.e.SetNextTableID(ctx, root, next+1); err != nil {
		t.Fatal(err)
	}
}
