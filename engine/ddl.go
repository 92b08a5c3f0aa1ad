package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sysemu/sysemu/engine/store"
)

// ddlAllowed refuses catalog changes while the procedure manager is paused or
// recovery mode is on, as GreptimeDB's recovery procedure relies on.
func (c *change) ddlAllowed() error {
	if c.old.Switches[SwitchPauseProcedure] {
		return fmt.Errorf("%w: DDL is refused until CALL procedure_manager('resume')", ErrProcedurePaused)
	}
	if c.old.Switches[SwitchRecovery] {
		return fmt.Errorf("%w: DDL is refused until CALL recovery_mode('off')", ErrRecoveryMode)
	}
	return nil
}

func (c *change) userDatabase(name string) (*Database, error) {
	d := c.old.Database(name)
	switch {
	case d == nil:
		return nil, fmt.Errorf("%w: %s", ErrNoSuchDatabase, name)
	case d.System:
		return nil, fmt.Errorf("%w: %s", ErrReadOnlyDatabase, d.Name)
	}
	return d, nil
}

func (c *change) userTable(db, name string) (*Table, error) {
	if _, err := c.userDatabase(db); err != nil {
		return nil, err
	}
	t := c.old.Table(db, name)
	if t == nil {
		return nil, fmt.Errorf("%w: %s.%s", ErrNoSuchTable, db, name)
	}
	return t, nil
}

// CreateDatabase creates a database with the next database ID.
func (e *Engine) CreateDatabase(ctx context.Context, name, collation string) (*Database, error) {
	var d *Database
	err := e.update(ctx, func(c *change) error {
		if err := c.ddlAllowed(); err != nil {
			return err
		}
		var err error
		d, err = c.createDatabase(name, collation)
		return err
	})
	return d, err
}

// MaxNameLength is MySQL's limit on database, table and column names, in
// characters.
const MaxNameLength = 64

func (c *change) createDatabase(name, collation string) (*Database, error) {
	if utf8.RuneCountInString(name) > MaxNameLength {
		return nil, fmt.Errorf("%w: %s", ErrNameTooLong, name)
	}
	if c.next.Database(name) != nil {
		return nil, fmt.Errorf("%w: %s", ErrDatabaseExists, name)
	}
	id, err := c.nextID(SeqDatabaseID)
	if err != nil {
		return nil, err
	}
	d := &Database{ID: id, Name: name, Collation: collation, Created: c.e.now().UTC()}
	if err := putJSON(c.tx, idKey(dbPrefix, id), d); err != nil {
		return nil, err
	}
	if err := c.createDatabaseFiles(d); err != nil {
		return nil, err
	}
	c.next.dbs.ReplaceOrInsert(d)
	return d, nil
}

// DropDatabase drops a database with all its tables and their rows.
func (e *Engine) DropDatabase(ctx context.Context, name string) error {
	return e.update(ctx, func(c *change) error {
		if err := c.ddlAllowed(); err != nil {
			return err
		}
		d, err := c.userDatabase(name)
		if err != nil {
			return err
		}
		for _, t := range c.old.Tables(d.Name) {
			if err := c.dropTable(t); err != nil {
				return err
			}
		}
		c.next.dbs.Delete(d)
		if err := c.dropDatabaseFiles(d); err != nil {
			return err
		}
		return c.tx.Delete(idKey(dbPrefix, d.ID))
	})
}

// CreateTable creates a table: the table ID and the catalog write are one
// transaction. An ID that a table or leftover storage already uses is never
// handed out: the statement fails, names the ID and the fix, and leaves
// nothing behind (the sequence does not move either).
func (e *Engine) CreateTable(ctx context.Context, spec TableSpec) (*Table, error) {
	var t *Table
	err := e.update(ctx, func(c *change) error {
		if err := c.ddlAllowed(); err != nil {
			return err
		}
		d, err := c.userDatabase(spec.Database)
		if err != nil {
			return err
		}
		if c.old.Table(d.Name, spec.Name) != nil {
			return fmt.Errorf("%w: %s", ErrTableExists, spec.Name)
		}
		id, err := c.nextTableID(d)
		if err != nil {
			return err
		}
		t, err = c.createTable(d, spec, id)
		return err
	})
	if err == nil {
		e.forgetRuntime(t.ID)
	}
	return t, err
}

// createTable writes table spec with the given ID in database d.
func (c *change) createTable(d *Database, spec TableSpec, id uint64) (*Table, error) {
	copies, err := c.copyNum(spec.Comment)
	if err != nil {
		return nil, err
	}
	t := &Table{
		ID: id, DatabaseID: d.ID, Database: d.Name, Name: spec.Name, Type: BaseTable,
		Columns: spec.Columns, PrimaryKey: spec.PrimaryKey, Indexes: spec.Indexes,
		Partition: spec.Partition, Comment: spec.Comment, Collation: spec.Collation,
		Created: c.e.now().UTC(), CopyNum: copies,
	}
	if err := c.addStores(t); err != nil {
		return nil, err
	}
	if err := c.createIdentity(t, spec.Identity); err != nil {
		return nil, err
	}
	if err := putTableRecord(c.tx, t); err != nil {
		return nil, err
	}
	if err := putStorage(c.tx, id, storageInfo{}); err != nil {
		return nil, err
	}
	c.addRelationFile(t)
	c.next.putTable(t)
	return t, nil
}

// checkIDFree fails with ErrIDInUse if a table or storage already holds id.
func (c *change) checkIDFree(id uint64) error {
	holder := ""
	if t := c.old.TableByID(id); t != nil {
		holder = "table " + t.Database + "." + t.Name
	} else if found, err := hasPrefix(c.tx, storageKey(id)); err != nil {
		return err
	} else if found {
		holder = "orphaned storage (rows of a table that is no longer in the catalog, e.g. after a metadata restore)"
	}
	if holder == "" {
		return nil
	}
	maxID, err := c.maxTableIDInUse()
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: table id %d is already in use by %s; the table-ID sequence is behind the highest table id in use (%d): "+
		"run CALL recovery_mode('on'); CALL set_next_table_id(%d); CALL recovery_mode('off')",
		ErrIDInUse, id, holder, maxID, maxID+1)
}

// maxTableIDInUse is the highest ID held by a catalog entry or by storage.
func (c *change) maxTableIDInUse() (uint64, error) {
	var maxID uint64
	if t, ok := c.old.byID.Max(); ok {
		maxID = t.ID
	}
	err := c.tx.Scan(dataPrefix, store.PrefixEnd(dataPrefix), true, func(k, _ []byte) (bool, error) {
		if len(k) >= len(dataPrefix)+8 {
			maxID = max(maxID, binary.BigEndian.Uint64(k[len(dataPrefix):]))
		}
		return false, nil
	})
	return maxID, err
}

func hasPrefix(tx store.Tx, prefix []byte) (bool, error) {
	found := false
	err := tx.Scan(prefix, store.PrefixEnd(prefix), false, func(_, _ []byte) (bool, error) {
		found = true
		return false, nil
	})
	return found, err
}

// DropTable drops a table and its rows.
func (e *Engine) DropTable(ctx context.Context, db, name string) error {
	var id uint64
	err := e.update(ctx, func(c *change) error {
		if err := c.ddlAllowed(); err != nil {
			return err
		}
		t, err := c.userTable(db, name)
		if err != nil {
			return err
		}
		id = t.ID
		return c.dropTable(t)
	})
	if err == nil {
		e.forgetRuntime(id)
	}
	return err
}

func (c *change) dropTable(t *Table) error {
	if err := c.tx.Delete(idKey(tablePrefix, t.ID)); err != nil {
		return err
	}
	for _, prefix := range [][]byte{storageKey(t.ID), identKey(t.ID)} {
		if err := deletePrefix(c.tx, prefix); err != nil {
			return err
		}
	}
	c.removeRelationFileAfterCommit(t)
	c.next.deleteTable(t)
	return nil
}

func deletePrefix(tx store.Tx, prefix []byte) error {
	var keys [][]byte
	err := tx.Scan(prefix, store.PrefixEnd(prefix), false, func(k, _ []byte) (bool, error) {
		keys = append(keys, append([]byte(nil), k...))
		return true, nil
	})
	for _, k := range keys {
		if err == nil {
			err = tx.Delete(k)
		}
	}
	return err
}

// RenameTable renames db.from to toDB.to; the table keeps its ID and rows.
func (e *Engine) RenameTable(ctx context.Context, db, from, toDB, to string) error {
	return e.update(ctx, func(c *change) error {
		if err := c.ddlAllowed(); err != nil {
			return err
		}
		t, err := c.userTable(db, from)
		if err != nil {
			return err
		}
		d, err := c.userDatabase(toDB)
		if err != nil {
			return err
		}
		if other := c.old.Table(d.Name, to); other != nil && other.ID != t.ID {
			return fmt.Errorf("%w: %s", ErrTableExists, to)
		}
		n := *t
		n.Name, n.Database, n.DatabaseID = to, d.Name, d.ID
		if err := c.moveRelationFile(t, &n); err != nil {
			return err
		}
		c.next.deleteTable(t)
		c.next.putTable(&n)
		return putTableRecord(c.tx, &n)
	})
}

// AddIndex adds a secondary index to a table. Adding an index that exists
// with the same definition is a no-op: CREATE TABLE writes a table's indexes
// with the table, and the SQL layer may ask for them again afterwards.
func (e *Engine) AddIndex(ctx context.Context, db, table string, idx Index) error {
	if t := e.State().Table(db, table); t != nil && hasIndex(t, idx) {
		return nil // no transaction for a no-op
	}
	return e.update(ctx, func(c *change) error {
		t, err := c.userTable(db, table)
		if err != nil {
			return err
		}
		if hasIndex(t, idx) {
			return nil
		}
		for _, have := range t.Indexes {
			if strings.EqualFold(have.Name, idx.Name) {
				return fmt.Errorf("%w: duplicate key name '%s'", ErrInvalid, idx.Name)
			}
		}
		if err := c.ddlAllowed(); err != nil {
			return err
		}
		if idx.Unique {
			if n, err := rowCount(c.tx, t.ID); err != nil {
				return err
			} else if n > 0 {
				return fmt.Errorf("%w: adding a unique index to a table with rows is not supported", ErrInvalid)
			}
		}
		n := *t
		n.Indexes = append(append([]Index(nil), t.Indexes...), idx)
		if err := c.newStores(&n, storeWant{StoreIndex, len(n.Indexes) - 1}); err != nil {
			return err
		}
		c.next.putTable(&n)
		return putTableRecord(c.tx, &n)
	})
}

// hasIndex reports whether t has idx, same name and definition.
func hasIndex(t *Table, idx Index) bool {
	for _, have := range t.Indexes {
		if strings.EqualFold(have.Name, idx.Name) {
			return have.Unique == idx.Unique && fmt.Sprint(have.Columns) == fmt.Sprint(idx.Columns)
		}
	}
	return false
}
