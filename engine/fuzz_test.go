package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/mem"
)

// The readers of files a user hands the server: metadata snapshots and
// backups. Any bytes must give either a clean result or an error wrapping
// one of the engine's sentinels — never a panic, never a half-applied
// change, never a store the server can no longer open.

// sentinels are the engine errors a reader may return.
var sentinels = []error{
	ErrBadSnapshot, ErrTargetNotClean, ErrBadBackup, ErrRestoreCheckpoint, ErrRestoreChecksum,
	ErrInvalid, ErrIDInUse, ErrTableExists, ErrDatabaseExists, ErrDuplicateKey, ErrSequenceExhausted,
	ErrTooManyReplicas, ErrReadOnlyDatabase, ErrNoSuchDatabase,
}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func fuzzEngine(t testing.TB, st store.Store) *Engine {
	t.Helper()
	log, _ := logtest.NewNullLogger()
	e, err := Open(context.Background(), st, testProfile, log, Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return e
}

// metadata is every metadata key-value pair of e's store, as one string.
func metadata(t testing.TB, e *Engine) string {
	t.Helper()
	var b strings.Builder
	err := e.st.View(context.Background(), func(tx store.Tx) error {
		return tx.Scan(metaPrefix, store.PrefixEnd(metaPrefix), false, func(k, v []byte) (bool, error) {
			b.WriteString(hex.EncodeToString(k) + "=" + hex.EncodeToString(v) + "\n")
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// checkReopen opens a second engine on e's store (what a restart does) and
// checks that a new table gets an ID no table has. The sequence itself may
// be behind the tables: a snapshot of a stale sequence restores stale (the
// GreptimeDB hazard sysemu emulates), and CreateTable refuses the IDs in use.
func checkReopen(t *testing.T, st store.Store) {
	t.Helper()
	e := fuzzEngine(t, st)
	s := e.State()
	if s.Database("fz") == nil {
		if _, err := e.CreateDatabase(context.Background(), "fz", ""); err != nil {
			t.Fatalf("create database after restore: %v", err)
		}
	}
	tb, err := create(e, "fz", "new_after_restore")
	if err != nil {
		if !isSentinel(err) {
			t.Fatalf("create table after restore: %v", err)
		}
		return
	}
	if old := s.TableByID(tb.ID); old != nil {
		t.Fatalf("new table got id %d of %s.%s", tb.ID, old.Database, old.Name)
	}
}

// snapshotSeed is a valid snapshot of an engine with a database, two tables
// and an identity column.
func snapshotSeed(t testing.TB) []byte {
	e := fuzzEngine(t, mem.New())
	if _, err := e.CreateDatabase(context.Background(), "shop", ""); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		if _, err := create(e, "shop", n); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := e.SaveSnapshot(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// FuzzSnapshotRestore feeds any bytes to RestoreSnapshot over a server that
// holds a table: a failure changes nothing; a success leaves a store that
// opens again and never gives a new table an ID in use.
func FuzzSnapshotRestore(f *testing.F) {
	seed := snapshotSeed(f)
	f.Add(seed, true)
	f.Add(seed, false)
	f.Add([]byte(`{"format":"sysemu-metadata-snapshot/1","profile":"test","entries":[]}`), true)
	f.Add([]byte(`{"format":"sysemu-metadata-snapshot/1","profile":"test","entries":[{"k":"bS9zZXEvdGFibGVfaWQ=","v":"AQ=="}]}`), true)
	f.Add([]byte(`{"format":"x"}`), true)
	f.Add([]byte(`[`), false)
	f.Fuzz(func(t *testing.T, b []byte, force bool) {
		ctx := context.Background()
		st := mem.New()
		e := fuzzEngine(t, st)
		if _, err := e.CreateDatabase(ctx, "fz", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := create(e, "fz", "before"); err != nil {
			t.Fatal(err)
		}
		before := metadata(t, e)
		_, err := e.RestoreSnapshot(ctx, admin, bytes.NewReader(b), force)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no engine sentinel", err)
			}
			if after := metadata(t, e); after != before {
				t.Fatalf("a failed restore (%v) changed the metadata", err)
			}
			return
		}
		checkReopen(t, st)
	})
}

// backupSeed writes a real backup of two tables with rows and returns its
// manifest and its first range file.
func backupSeed(t testing.TB) (manifest, data []byte) {
	tt, ok := t.(*testing.F)
	if !ok {
		t.Fatal("backupSeed needs *testing.F")
	}
	e := fuzzEngine(t, mem.New())
	if _, err := e.CreateDatabase(context.Background(), "shop", ""); err != nil {
		t.Fatal(err)
	}
	tb, err := e.CreateTable(context.Background(), TableSpec{
		Database: "shop", Name: "a",
		Columns:    []Column{{Name: "id", Type: "bigint"}, {Name: "v", Type: "varchar(20)"}},
		PrimaryKey: []string{"id"},
		Indexes:    []Index{{Name: "uv", Unique: true, Columns: []IndexColumn{{Name: "v"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var edits []RowEdit
	for i := range 3 {
		k, _ := AppendTuple(nil, int64(i))
		v, _ := AppendTuple(nil, int64(i), "v"+string(rune('a'+i)))
		u, _ := AppendTuple(nil, "v"+string(rune('a'+i)))
		edits = append(edits, RowEdit{Op: OpInsert, Key: k, Value: v, Unique: map[int][]byte{0: u}})
	}
	if err := e.ApplyEdits(context.Background(), tb.ID, false, edits); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tt.TempDir(), "bk")
	if _, err := e.Backup(context.Background(), dir, nil, 100); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	manifest, _ = os.ReadFile(filepath.Join(dir, ManifestFile))
	data, _ = os.ReadFile(filepath.Join(dir, m.Tables[0].Ranges[0].File))
	return manifest, data
}

// FuzzBackupRestore restores a backup whose manifest and range file are any
// bytes. The checksums are made to match, so the fuzzer reaches the
// parsers behind them: a manifest edited by hand, or written by another
// version, with its checksum recomputed. Every range the manifest names
// reads the one range file. The restore succeeds or fails with an engine
// sentinel, and the store opens again and never gives a new table an ID in
// use.
func FuzzBackupRestore(f *testing.F) {
	manifest, data := backupSeed(f)
	f.Add(manifest, data)
	f.Add(manifest, []byte{})
	f.Add([]byte(`{"format":"sysemu-backup/1","profile":"test","tables":[{"table-id":5000,"database":"d","name":"t","ranges":[{"total-kvs":0}]}]}`), []byte{})
	f.Add([]byte(`{"format":"sysemu-backup/1","profile":"test","tables":[{"table-id":0,"database":"","name":"","schema":{}}]}`), []byte{1, 0})
	f.Add([]byte(`{}`), []byte{0xff})
	f.Fuzz(func(t *testing.T, manifest, data []byte) {
		dir, err := os.MkdirTemp("", "fuzzbackup")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		if err := os.MkdirAll(filepath.Join(dir, backupDataDir), 0o755); err != nil {
			t.Fatal(err)
		}
		const rangeFile = "data/r.kv"
		if err := os.WriteFile(filepath.Join(dir, rangeFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		var m BackupManifest
		if json.Unmarshal(manifest, &m) == nil {
			for _, bt := range m.Tables {
				if bt == nil {
					continue
				}
				for i := range bt.Ranges {
					bt.Ranges[i].File, bt.Ranges[i].SHA256 = rangeFile, hex.EncodeToString(sum[:])
				}
			}
			if b, err := json.Marshal(&m); err == nil {
				manifest = b
			}
		}
		msum := sha256.Sum256(manifest)
		if err := os.WriteFile(filepath.Join(dir, ManifestFile), manifest, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, manifestSumFile), []byte(hex.EncodeToString(msum[:])+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		st := mem.New()
		e := fuzzEngine(t, st)
		if _, err := e.Restore(context.Background(), admin, dir, RestoreOptions{Concurrency: 1}); err != nil && !isSentinel(err) {
			t.Fatalf("error %v wraps no engine sentinel", err)
		}
		checkReopen(t, st)
	})
}
