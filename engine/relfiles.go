package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/sysemu/sysemu/engine/pgfiles"
	"github.com/sysemu/sysemu/engine/store"
)

// New relation files, as PostgreSQL makes them durable: CREATE TABLE
// creates the table's empty file before its transaction commits (a failed
// commit leaves at most an orphan file, which a later CREATE skips), and
// the transaction records the file under pendingFilePrefix — PostgreSQL
// WAL-logs the creation (XLOG_SMGR_CREATE) and lets recovery create the
// file again rather than fsync it at once. After the commit, the files are
// synced in the background, in batches (one file-system sync for many
// files), and their records deleted. Open redoes what a crash left: a recorded file
// that its table still uses is created if missing and synced. A kill -9
// never loses a created file (the kernel has it); the records cover a
// power loss.

// pendingFilePrefix holds the records: key db OID and filenode, value the
// table ID. Outside metadata: a snapshot restore leaves them.
var pendingFilePrefix = []byte("f/")

// fileSyncDelay is how long the background sync waits for a batch to gather.
const fileSyncDelay = 100 * time.Millisecond

func pendingFileKey(db, filenode uint64) []byte {
	return binary.BigEndian.AppendUint64(idKey(pendingFilePrefix, db), filenode)
}

// newFile is a relation file a change creates before its commit.
type newFile struct {
	db, filenode uint64
	oid          uint64 // the table's ID
}

func (f newFile) rel() string { return pgfiles.RelationPath(f.db, f.filenode) }

// createFiles creates the new relation files of changes and records them
// in tx. On failure it returns the position of the change whose file failed.
func createFiles(tx store.Tx, changes []*change) (int, error) {
	for i, c := range changes {
		for _, f := range c.files {
			if err := c.createRelationFile(f); err != nil {
				return i, err
			}
			if err := tx.Put(pendingFileKey(f.db, f.filenode), binary.BigEndian.AppendUint64(nil, f.oid)); err != nil {
				return i, err
			}
		}
	}
	return -1, nil
}

// createRelationFile creates f, unsynced.
func (c *change) createRelationFile(f newFile) error {
	err := c.e.dir.NewRelation(f.rel())
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: table id %d is already in use by the relation file %s (orphaned storage); "+
			"run CALL recovery_mode('on'); CALL set_next_table_id(%d); CALL recovery_mode('off')", ErrIDInUse, f.oid, f.rel(), f.oid+1)
	}
	return err
}

// syncFilesLater queues the committed changes' new files for the background
// sync, starting it if it is idle. It runs until nothing is queued.
func (e *Engine) syncFilesLater(changes []*change) {
	e.fileMu.Lock()
	defer e.fileMu.Unlock()
	n := len(e.unsynced)
	for _, c := range changes {
		e.unsynced = append(e.unsynced, c.files...)
	}
	if len(e.unsynced) == n || e.syncing {
		return
	}
	e.syncing = true
	go func() {
		for {
			time.Sleep(fileSyncDelay)
			e.fileMu.Lock()
			batch := e.unsynced
			e.unsynced = nil
			e.syncing = len(batch) > 0
			e.fileMu.Unlock()
			if len(batch) == 0 {
				return
			}
			if err := e.syncFiles(context.Background(), batch, false); err != nil && !errors.Is(err, store.ErrClosed) {
				e.logFileErr(err)
			}
		}
	}()
}

// syncFiles makes files and their directories durable and deletes their
// records. A file that is gone (its table was dropped) is skipped; with
// create, a missing file is created first. On failure the records stay,
// for Open.
func (e *Engine) syncFiles(ctx context.Context, files []newFile, create bool) error {
	rels := make([]string, len(files))
	for i, f := range files {
		rels[i] = f.rel()
		if create {
			if err := e.dir.NewRelation(rels[i]); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		}
	}
	if err := e.dir.SyncFiles(rels); err != nil {
		return err
	}
	return e.st.Update(ctx, func(tx store.Tx) error {
		for _, f := range files {
			if err := tx.Delete(pendingFileKey(f.db, f.filenode)); err != nil {
				return err
			}
		}
		return nil
	})
}

// redoFiles finishes what a crash left of the background sync: every
// recorded file that its table still uses is created if missing and synced;
// the records of files no table uses any more are dropped.
func (e *Engine) redoFiles(ctx context.Context) error {
	if !e.files() {
		return nil
	}
	var files []newFile
	err := e.st.View(ctx, func(tx store.Tx) error {
		return tx.Scan(pendingFilePrefix, store.PrefixEnd(pendingFilePrefix), false, func(k, v []byte) (bool, error) {
			if len(k) != len(pendingFilePrefix)+16 || len(v) != 8 {
				return false, fmt.Errorf("corrupt relation file record %q", k)
			}
			files = append(files, newFile{
				db:       binary.BigEndian.Uint64(k[len(pendingFilePrefix):]),
				filenode: binary.BigEndian.Uint64(k[len(pendingFilePrefix)+8:]),
				oid:      binary.BigEndian.Uint64(v),
			})
			return true, nil
		})
	})
	if err != nil || len(files) == 0 {
		return err
	}
	s := e.State()
	var used, unused []newFile
	for _, f := range files {
		if t := s.TableByID(f.oid); t != nil && t.DatabaseID == f.db && t.RelFileNode() == f.filenode {
			used = append(used, f)
		} else {
			unused = append(unused, f)
		}
	}
	if err := e.syncFiles(ctx, used, true); err != nil {
		return err
	}
	return e.syncFiles(ctx, unused, false)
}
