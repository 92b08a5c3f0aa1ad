package engine

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sysemu/sysemu/engine/store"
)

// A backup is TiDB BR's snapshot backup in miniature: one consistent read of
// the store, written as a manifest (backupmeta.json, with its SHA-256 in
// backupmeta.json.sha256) and data files, each holding one range of a
// table's primary-key space with its own SHA-256. Restore is restore.go.

// Backup file names.
const (
	ManifestFile     = "backupmeta.json"
	manifestSumFile  = ManifestFile + ".sha256"
	backupDataDir    = "data"
	backupFormat     = "sysemu-backup/1"
	DefaultRangeRows = 10000
)

// clusterIDKey holds this store's cluster ID (BR's upstream cluster id),
// made at the first backup. It is neither metadata nor data.
var clusterIDKey = []byte("c/cluster_id")

// BackupManifest is backupmeta.json.
type BackupManifest struct {
	Format     string           `json:"format"`
	ClusterID  uint64           `json:"upstream-cluster-id"`
	BackupTS   uint64           `json:"backup-ts"`
	BackupTime time.Time        `json:"backup-time"`
	Profile    string           `json:"profile"`
	Databases  []BackupDatabase `json:"databases"`
	Tables     []*BackupTable   `json:"tables"`
}

// BackupDatabase is one backed-up database.
type BackupDatabase struct {
	Name      string `json:"name"`
	Collation string `json:"collation,omitempty"`
}

// BackupTable is one table of a backup: its upstream catalog entry (schema,
// partitions, indexes, stores, identity declaration), its identity records,
// its stores' row counts and its ranges, with TiDB's per-table checksum
// (crc64-xor, total kvs, total bytes).
type BackupTable struct {
	TableID  uint64 `json:"table-id"`
	Database string `json:"database"`
	Name     string `json:"name"`
	Schema   *Table `json:"schema"`
	// Identity holds the identity records (pool and per-node counters),
	// keys relative to the table's identity prefix.
	Identity  []snapshotEntry   `json:"identity,omitempty"`
	StoreRows map[string]uint64 `json:"store-rows,omitempty"` // by store slot "kind/part"
	RowID     uint64            `json:"row-id,omitempty"`
	Rows      uint64            `json:"total-kvs"`
	Bytes     uint64            `json:"total-bytes"`
	CRC64Xor  uint64            `json:"crc64-xor"`
	Ranges    []BackupRange     `json:"ranges"`
}

// BackupRange is one data file: rows with Start <= key < End (nil: open).
type BackupRange struct {
	File     string `json:"file"`
	Start    []byte `json:"start-key"`
	End      []byte `json:"end-key"`
	Rows     uint64 `json:"total-kvs"`
	Bytes    uint64 `json:"total-bytes"`
	CRC64Xor uint64 `json:"crc64-xor"`
	SHA256   string `json:"sha256"`
}

// BackupResult says what a backup wrote.
type BackupResult struct {
	Dir      string
	Tables   int
	Ranges   int
	Rows     uint64
	Manifest string // the manifest's SHA-256
}

var crcTable = crc64.MakeTable(crc64.ECMA)

// kvChecksum is one pair's part of a table checksum (xor-ed over pairs, so
// order does not matter, as TiDB's).
func kvChecksum(k, v []byte) uint64 {
	h := crc64.New(crcTable)
	h.Write(k)
	h.Write(v)
	return h.Sum64()
}

// storeSlot names a head store by kind and position, the same in the
// upstream and the downstream table.
func storeSlot(s *Store) string { return fmt.Sprintf("%d/%d", s.Kind, s.Part) }

// Backup writes databases dbs (all user databases when empty) to dir, which
// must not hold a backup yet, from one read transaction of the store.
func (e *Engine) Backup(ctx context.Context, dir string, dbs []string, rangeRows int) (*BackupResult, error) {
	if rangeRows <= 0 {
		rangeRows = DefaultRangeRows
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err == nil {
		return nil, fmt.Errorf("%w: %s already holds a backup", ErrBadBackup, dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, backupDataDir), 0o755); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	cluster, err := e.clusterID(ctx)
	if err != nil {
		return nil, err
	}
	// Identity counters are written with their current values first; the
	// snapshot below then holds them exactly (or above, never below).
	if err := e.FlushIdentities(ctx); err != nil {
		return nil, err
	}
	now := e.now().UTC()
	m := &BackupManifest{Format: backupFormat, ClusterID: cluster, BackupTS: uint64(now.UnixNano()),
		BackupTime: now, Profile: e.State().Profile.Name}
	want := map[string]bool{}
	for _, d := range dbs {
		want[strings.ToLower(d)] = true
	}
	res := &BackupResult{Dir: dir}
	err = e.st.View(ctx, func(tx store.Tx) error {
		var all []*Database
		if err := scanJSON(tx, dbPrefix, func(d *Database) { all = append(all, d) }); err != nil {
			return err
		}
		byID := map[uint64]bool{}
		for _, d := range all {
			if len(want) == 0 || want[strings.ToLower(d.Name)] {
				m.Databases = append(m.Databases, BackupDatabase{Name: d.Name, Collation: d.Collation})
				byID[d.ID] = true
				delete(want, strings.ToLower(d.Name))
			}
		}
		for name := range want {
			return fmt.Errorf("%w: %s", ErrNoSuchDatabase, name)
		}
		var tables []*Table
		if _, err := scanTables(tx, func(t *Table) error {
			if byID[t.DatabaseID] {
				tables = append(tables, t)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, t := range tables {
			if err := ctx.Err(); err != nil {
				return err
			}
			bt, err := backupTable(tx, dir, t, rangeRows)
			if err != nil {
				return err
			}
			m.Tables = append(m.Tables, bt)
			res.Tables++
			res.Ranges += len(bt.Ranges)
			res.Rows += bt.Rows
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	res.Manifest = hex.EncodeToString(sum[:])
	if err := writeFileSync(filepath.Join(dir, ManifestFile), b); err != nil {
		return nil, err
	}
	if err := writeFileSync(filepath.Join(dir, manifestSumFile), []byte(res.Manifest+"\n")); err != nil {
		return nil, err
	}
	return res, nil
}

// clusterID returns this store's cluster ID, making one on first use.
func (e *Engine) clusterID(ctx context.Context) (uint64, error) {
	var id uint64
	err := e.st.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Get(clusterIDKey)
		if err != nil {
			return err
		}
		if len(b) == 8 {
			id = binary.BigEndian.Uint64(b)
			return nil
		}
		var r [8]byte
		if _, err := rand.Read(r[:]); err != nil {
			return err
		}
		id = binary.BigEndian.Uint64(r[:]) >> 1
		return tx.Put(clusterIDKey, r[:])
	})
	return id, err
}

// backupTable writes t's ranges inside the backup's read transaction.
func backupTable(tx store.Tx, dir string, t *Table, rangeRows int) (*BackupTable, error) {
	bt := &BackupTable{TableID: t.ID, Database: t.Database, Name: t.Name, Schema: t, StoreRows: map[string]uint64{}}
	info, _, err := getStorage(tx, t.ID)
	if err != nil {
		return nil, err
	}
	bt.RowID = info.RowID
	for i := range t.Stores {
		st := &t.Stores[i]
		if st.Head != 0 || (st.Kind != StoreTable && st.Kind != StorePartition) {
			continue
		}
		s, err := getStoreStat(tx, t.ID, st.No)
		if err != nil {
			return nil, err
		}
		bt.StoreRows[storeSlot(st)] = s.Rows
	}
	ip := identKey(t.ID)
	if err := tx.Scan(ip, store.PrefixEnd(ip), false, func(k, v []byte) (bool, error) {
		bt.Identity = append(bt.Identity, snapshotEntry{bytes.Clone(k[len(ip):]), bytes.Clone(v)})
		return true, nil
	}); err != nil {
		return nil, err
	}
	// Unique index entries, by the primary key they point to.
	uniq := map[string][]uniqueEntry{}
	up := append(storageKey(t.ID), 'u')
	if err := tx.Scan(up, store.PrefixEnd(up), false, func(k, v []byte) (bool, error) {
		if len(k) < len(up)+2 {
			return true, nil
		}
		idx := int(binary.BigEndian.Uint16(k[len(up):]))
		uniq[string(v)] = append(uniq[string(v)], uniqueEntry{idx, bytes.Clone(k[len(up)+2:])})
		return true, nil
	}); err != nil {
		return nil, err
	}
	var w *rangeWriter
	finish := func(end []byte) error {
		if w == nil {
			return nil
		}
		r, err := w.close(end)
		if err != nil {
			return err
		}
		bt.Ranges = append(bt.Ranges, r)
		bt.CRC64Xor ^= r.CRC64Xor
		w = nil
		return nil
	}
	rp := rowPrefix(t.ID)
	err = tx.Scan(rp, store.PrefixEnd(rp), false, func(k, v []byte) (bool, error) {
		key := k[len(rp):]
		if w != nil && w.rows >= uint64(rangeRows) {
			if err := finish(key); err != nil {
				return false, err
			}
		}
		if w == nil {
			start := bytes.Clone(key)
			if len(bt.Ranges) == 0 {
				start = nil
			}
			name := fmt.Sprintf("%s/%d_%d.kv", backupDataDir, t.ID, len(bt.Ranges)+1)
			if w, err = newRangeWriter(dir, name, start); err != nil {
				return false, err
			}
		}
		bt.Rows++
		bt.Bytes += uint64(len(key) + len(v))
		return true, w.add(key, v, uniq[string(key)])
	})
	if err == nil {
		err = finish(nil)
	}
	if err != nil {
		if w != nil {
			w.f.Close()
		}
		return nil, err
	}
	return bt, nil
}

type uniqueEntry struct {
	idx int
	key []byte
}

// rangeWriter writes one range file: per row uvarint-framed key and value
// and its unique index entries.
type rangeWriter struct {
	f     *os.File
	bw    *bufio.Writer
	h     io.Writer
	sum   interface{ Sum([]byte) []byte }
	r     BackupRange
	rows  uint64
	frame []byte
}

func newRangeWriter(dir, name string, start []byte) (*rangeWriter, error) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(f, 1<<16)
	return &rangeWriter{f: f, bw: bw, h: io.MultiWriter(bw, h), sum: h, r: BackupRange{File: name, Start: start}}, nil
}

func (w *rangeWriter) add(k, v []byte, uniq []uniqueEntry) error {
	b := w.frame[:0]
	b = binary.AppendUvarint(b, uint64(len(k)))
	b = append(b, k...)
	b = binary.AppendUvarint(b, uint64(len(v)))
	b = append(b, v...)
	b = binary.AppendUvarint(b, uint64(len(uniq)))
	for _, u := range uniq {
		b = binary.AppendUvarint(b, uint64(u.idx))
		b = binary.AppendUvarint(b, uint64(len(u.key)))
		b = append(b, u.key...)
	}
	w.frame = b
	w.rows++
	w.r.Rows++
	w.r.Bytes += uint64(len(k) + len(v))
	w.r.CRC64Xor ^= kvChecksum(k, v)
	_, err := w.h.Write(b)
	return err
}

func (w *rangeWriter) close(end []byte) (BackupRange, error) {
	err := w.bw.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.r.End = bytes.Clone(end)
	w.r.SHA256 = hex.EncodeToString(w.sum.Sum(nil))
	return w.r, err
}

// rangeRow is one row read back from a range file.
type rangeRow struct {
	key, value []byte
	unique     []uniqueEntry
}

// readRange reads and verifies one range file.
func readRange(dir string, r BackupRange) ([]rangeRow, error) {
	b, err := os.ReadFile(filepath.Join(dir, r.File))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != r.SHA256 {
		return nil, fmt.Errorf("%w: %s: checksum mismatch (sha256 %x, manifest says %s)", ErrBadBackup, r.File, sum, r.SHA256)
	}
	out := make([]rangeRow, 0, r.Rows)
	bad := fmt.Errorf("%w: %s: truncated or malformed", ErrBadBackup, r.File)
	next := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return nil, false
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v, true
	}
	num := func() (uint64, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, false
		}
		b = b[k:]
		return n, true
	}
	var crc uint64
	for len(b) > 0 {
		var row rangeRow
		var ok bool
		if row.key, ok = next(); !ok {
			return nil, bad
		}
		if row.value, ok = next(); !ok {
			return nil, bad
		}
		n, ok := num()
		if !ok {
			return nil, bad
		}
		for range n {
			idx, ok1 := num()
			key, ok2 := next()
			if !ok1 || !ok2 {
				return nil, bad
			}
			row.unique = append(row.unique, uniqueEntry{int(idx), key})
		}
		crc ^= kvChecksum(row.key, row.value)
		out = append(out, row)
	}
	if uint64(len(out)) != r.Rows || crc != r.CRC64Xor {
		return nil, fmt.Errorf("%w: %s: %d rows crc64-xor %d, manifest says %d rows crc64-xor %d", ErrBadBackup, r.File, len(out), crc, r.Rows, r.CRC64Xor)
	}
	return out, nil
}

// ReadManifest reads and verifies dir's manifest.
func ReadManifest(dir string) (*BackupManifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	want, err := os.ReadFile(filepath.Join(dir, manifestSumFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != strings.TrimSpace(string(want)) {
		return nil, fmt.Errorf("%w: %s: checksum mismatch", ErrBadBackup, ManifestFile)
	}
	var m BackupManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadBackup, ManifestFile, err)
	}
	if m.Format != backupFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrBadBackup, m.Format, backupFormat)
	}
	for i, t := range m.Tables {
		if t == nil || t.Schema == nil || t.Database == "" || t.Name == "" {
			return nil, fmt.Errorf("%w: %s: table %d has no database, name or schema", ErrBadBackup, ManifestFile, i)
		}
	}
	slices.SortFunc(m.Tables, func(a, b *BackupTable) int { return cmp.Compare(a.TableID, b.TableID) })
	return &m, nil
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
