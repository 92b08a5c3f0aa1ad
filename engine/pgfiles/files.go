package pgfiles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Tablespace OIDs (pg_tablespace.h): pg_default holds base/, pg_global global/.
const (
	DefaultTablespace = 1663
	GlobalTablespace  = 1664
)

// DatabasePath is a database's directory relative to the data dir,
// "base/<oid>"; oid 0 is the global directory.
func DatabasePath(dbOID uint64) string {
	if dbOID == 0 {
		return "global"
	}
	return path.Join("base", strconv.FormatUint(dbOID, 10))
}

// RelationPath is relpath(): "base/<db oid>/<filenode>", or
// "global/<filenode>" for a shared relation (db oid 0).
func RelationPath(dbOID, filenode uint64) string {
	return path.Join(DatabasePath(dbOID), strconv.FormatUint(filenode, 10))
}

// MapPath is the map file of a database, or the global one for oid 0.
func MapPath(dbOID uint64) string { return path.Join(DatabasePath(dbOID), MapFileName) }

// Dir is a data directory.
type Dir string

func (d Dir) abs(rel string) string { return filepath.Join(string(d), filepath.FromSlash(rel)) }

// Exists reports whether rel exists.
func (d Dir) Exists(rel string) (bool, error) {
	_, err := os.Stat(d.abs(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// MkdirAll creates the directory rel and its parents.
func (d Dir) MkdirAll(rel string) error {
	if err := os.MkdirAll(d.abs(rel), 0o700); err != nil {
		return err
	}
	return syncDir(filepath.Dir(d.abs(rel)))
}

// CreateRelation creates the file of a relation's filenode, empty as
// PostgreSQL creates a new relation's main fork, and syncs it and its
// directory. It fails with fs.ErrExist if the file exists:
// GetNewRelFileNumber never reuses a number whose file is on disk.
func (d Dir) CreateRelation(rel string) error {
	if err := d.NewRelation(rel); err != nil {
		return err
	}
	if err := d.SyncFile(rel); err != nil {
		return err
	}
	return d.SyncDir(path.Dir(rel))
}

// NewRelation is CreateRelation without the syncs: the caller makes the
// file durable later (SyncFile, then SyncDir once for any number of files).
func (d Dir) NewRelation(rel string) error { return createEmpty(d.abs(rel)) }

// SyncFile syncs the file rel.
func (d Dir) SyncFile(rel string) error {
	f, err := os.Open(d.abs(rel))
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncDir syncs the directory rel.
func (d Dir) SyncDir(rel string) error { return syncDir(d.abs(rel)) }

// CreateDatabase creates the database directory rel with an empty file for
// each filenode and the map file of mappings. It is built as rel+".tmp" and
// renamed into place, so a crash leaves the whole directory or none of it
// (a stale rel+".tmp" is removed first), and one directory fsync covers all
// its files instead of one per file.
func (d Dir) CreateDatabase(rel string, filenodes []uint64, l Layout, mappings []Mapping) error {
	b, err := Encode(l, mappings)
	if err != nil {
		return err
	}
	dst := d.abs(rel)
	tmp := dst + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return err
	}
	if err := fillDatabase(tmp, filenodes, b); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// fillDatabase writes a new database directory's files and syncs it.
func fillDatabase(dir string, filenodes []uint64, relmap []byte) error {
	for _, n := range filenodes {
		if err := createEmpty(filepath.Join(dir, strconv.FormatUint(n, 10))); err != nil {
			return err
		}
	}
	if err := writeSynced(filepath.Join(dir, MapFileName), relmap); err != nil {
		return err
	}
	return syncDir(dir)
}

func createEmpty(name string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// Remove removes rel (a missing file is not an error) and syncs its directory.
func (d Dir) Remove(rel string) error {
	if err := os.Remove(d.abs(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(d.abs(rel)))
}

// RemoveAll removes the directory rel with everything in it.
func (d Dir) RemoveAll(rel string) error {
	if err := os.RemoveAll(d.abs(rel)); err != nil {
		return err
	}
	return syncDir(filepath.Dir(d.abs(rel)))
}

// WriteMap writes a map file atomically, as PostgreSQL 16's
// write_relmap_file does: pg_filenode.map.tmp, fsync, rename over the
// map, fsync the directory. A crash leaves the old map or the new one.
func (d Dir) WriteMap(rel string, l Layout, mappings []Mapping) error {
	b, err := Encode(l, mappings)
	if err != nil {
		return err
	}
	return d.WriteFileAtomic(rel, b)
}

// WriteFileAtomic replaces rel with b: temp file, fsync, rename, dir fsync.
func (d Dir) WriteFileAtomic(rel string, b []byte) error {
	dst := d.abs(rel)
	tmp := dst + ".tmp"
	err := writeSynced(tmp, b)
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// writeSynced writes b to name (created or truncated) and fsyncs it.
func writeSynced(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadMap reads and validates the map file rel. Failures are *MapError
// with PostgreSQL's text naming rel.
func (d Dir) ReadMap(rel string, l Layout) (*Map, error) {
	b, err := os.ReadFile(d.abs(rel))
	if err != nil {
		return nil, OpenError(rel, err)
	}
	return Decode(rel, b, l)
}

// OpenError is PostgreSQL's `could not open file "%s": %m` for err.
func OpenError(rel string, err error) error {
	kind := err
	if errors.Is(err, fs.ErrNotExist) {
		kind = ErrNotFound
	}
	return &MapError{kind, fmt.Sprintf("could not open file \"%s\": %s", rel, strerror(err))}
}

// strerror renders err as the C library does (%m): "No such file or directory".
func strerror(err error) string {
	var errno syscall.Errno
	msg := err.Error()
	if errors.As(err, &errno) {
		msg = errno.Error()
	}
	if msg == "" {
		return msg
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
