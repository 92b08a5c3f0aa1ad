package server

import (
	"errors"
	"fmt"
	"slices"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/vitess/go/mysql"

	"github.com/sysemu/sysemu/engine"
)

// editor buffers one statement's writes to one table and commits them as one
// engine transaction at StatementComplete: a multi-row statement is all or
// nothing. Duplicate keys are reported as the rows arrive (so ON DUPLICATE
// KEY UPDATE sees the existing row) and checked again at commit.
type editor struct {
	t     *userTable
	edits []engine.RowEdit
	rows  []sql.Row // the new row of each insert edit, for error messages
	// live tracks keys touched by this statement: true if the statement
	// inserted the key, false if it deleted it.
	live   map[string]bool
	unique []map[string]bool
	// identity is set once the statement drew an identity value.
	identity bool
	// truncated is set by TRUNCATE, whose reset to the seed stands.
	truncated bool
	// replacing marks the insert edits of a REPLACE (by index in edits).
	replacing map[int]bool
	// keysAtCommit leaves the primary key's duplicate check to the commit:
	// set by the fast path for a lone row, which has nothing to learn from
	// an existing row before then (no IGNORE, no ON DUPLICATE KEY UPDATE).
	keysAtCommit bool
}

// replacer is the editor in its REPLACE role. Its inserts are marked: a
// row another connection commits between this statement's look-up and its
// commit is deleted at the commit, as MySQL's REPLACE (which locks the
// row) would have, instead of failing the statement with 1062.
type replacer struct{ *editor }

var _ sql.RowReplacer = replacer{}

func (r replacer) Insert(ctx *sql.Context, row sql.Row) error {
	if err := r.editor.Insert(ctx, row); err != nil {
		return err
	}
	r.replacing[len(r.edits)-1] = true
	return nil
}

var _ sql.TableEditor = (*editor)(nil)
var _ sql.AutoIncrementSetter = (*editor)(nil)

func newEditor(t *userTable) *editor {
	return &editor{t: t, live: map[string]bool{}, unique: make([]map[string]bool, len(t.t.Indexes)), replacing: map[int]bool{}}
}

func (e *editor) StatementBegin(*sql.Context) {}

func (e *editor) reset() {
	e.edits, e.rows, e.identity, e.keysAtCommit = nil, nil, false, false
	clear(e.live)
	clear(e.replacing)
	for i := range e.unique {
		e.unique[i] = nil
	}
}

func (e *editor) DiscardChanges(ctx *sql.Context, _ error) error {
	e.reset()
	sessionOf(ctx).dropEditor(e.t.t.ID)
	return nil
}

func (e *editor) StatementComplete(ctx *sql.Context) error {
	defer sessionOf(ctx).dropEditor(e.t.t.ID)
	defer e.reset()
	err := e.apply(ctx)
	if err == nil && e.identity {
		// The replication trigger: once per statement, after it committed.
		err = e.t.eng.IdentityStatementDone(ctx, e.t.t.ID, e.t.srv.identityCaller(ctx, e.t.t))
	}
	return toSQLError(err)
}

func (e *editor) Close(*sql.Context) error { return nil }

// apply commits the edits. When a REPLACE's insert finds its primary key
// taken at the commit, the row found is deleted first and the commit is
// tried again (a few times: others may keep replacing it). Tables with a
// unique secondary index are left out: the row's index entries could have
// moved on by the next try.
func (e *editor) apply(ctx *sql.Context) error {
	for attempt := 0; ; attempt++ {
		err := e.t.eng.ApplyEdits(ctx, e.t.t.ID, e.t.ts.keyless, e.edits)
		if errors.Is(err, engine.ErrRowChanged) {
			// A row this statement read was changed or deleted since.
			sessionOf(ctx).lostRace = ctx.Pid()
			return errLockConflict
		}
		var dup *engine.DuplicateKeyError
		if !errors.As(err, &dup) {
			if err == nil && len(e.edits) > 0 {
				sessionOf(ctx).committed = ctx.Pid()
			}
			return err
		}
		ed := e.edits[dup.Edit]
		if e.keysAtCommit && dup.Index == -1 {
			// Nobody looked for the key before: it is there, not a lost race.
			return e.dupError(e.rows[dup.Edit], -1)
		}
		if dup.Index != -1 || !e.replacing[dup.Edit] || len(ed.Unique) > 0 || attempt == 10 {
			// Every key was looked for as its row arrived, so the key was
			// committed by another connection since.
			sessionOf(ctx).lostRace = ctx.Pid()
			return e.dupError(e.rows[dup.Edit], dup.Index)
		}
		v, err := e.t.eng.GetRow(ctx, e.t.t.ID, ed.Key)
		if err != nil || v == nil {
			if err != nil {
				return toSQLError(err)
			}
			continue // gone again
		}
		old, err := decodeRow(ctx, e.t.ts.sch.Schema, v)
		if err != nil {
			return err
		}
		part, err := partitionOf(ctx, e.t.t, e.t.ts.sch.Schema, ed.Key, old)
		if err != nil {
			return err
		}
		e.edits = slices.Insert(e.edits, dup.Edit, engine.RowEdit{Op: engine.OpDelete, Key: ed.Key, Value: v, Part: part})
		e.rows = slices.Insert(e.rows, dup.Edit, old)
		shifted := make(map[int]bool, len(e.replacing))
		for i := range e.replacing {
			shifted[i+btoi(i >= dup.Edit)] = true
		}
		e.replacing = shifted
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// dupKey renders the part of MySQL's duplicate-entry message after
// "Duplicate entry ": the key values and the key's name.
func (e *editor) dupKey(row sql.Row, index int) string {
	name, cols := "PRIMARY", e.t.ts.pk
	if index >= 0 {
		name, cols = e.t.t.Indexes[index].Name, e.t.ts.idxCols[index]
	}
	return fmt.Sprintf("'%s' for key '%s.%s'", formatKey(row, cols), e.t.t.Name, name)
}

// errLockConflict is what a statement gets when a row it read kept being
// changed by other connections, retry after retry: MySQL's answer to a
// statement that cannot get its row lock (ER_LOCK_DEADLOCK), which clients
// retry.
var errLockConflict = mysql.NewSQLError(erLockDeadlock, "40001", "Deadlock found when trying to get lock; try restarting transaction")

func (e *editor) dupError(row sql.Row, index int) error {
	return mysql.NewSQLError(erDupEntry, "23000", "Duplicate entry %s", e.dupKey(row, index))
}

// keys computes a row's primary key (or full-row key) and unique keys.
func (e *editor) keys(ctx *sql.Context, row sql.Row) (key []byte, unique map[int][]byte, err error) {
	sch := e.t.ts.sch.Schema
	if len(row) != len(sch) {
		return nil, nil, fmt.Errorf("row has %d values, table %s has %d columns", len(row), e.t.t.Name, len(sch))
	}
	cols := e.t.ts.pk
	if e.t.ts.keyless {
		cols = allColumns(len(sch))
	}
	if key, err = encodeValues(ctx, sch, row, cols); err != nil {
		return nil, nil, err
	}
	for _, n := range e.t.ts.unique {
		uk := []byte(nil)
		hasNull := false
		for _, c := range e.t.ts.idxCols[n] {
			hasNull = hasNull || row[c] == nil
		}
		if !hasNull {
			if uk, err = encodeValues(ctx, sch, row, e.t.ts.idxCols[n]); err != nil {
				return nil, nil, err
			}
		}
		if unique == nil {
			unique = map[int][]byte{}
		}
		unique[n] = uk
	}
	return key, unique, nil
}

func (e *editor) Insert(ctx *sql.Context, row sql.Row) error {
	key, unique, err := e.keys(ctx, row)
	if err != nil {
		return err
	}
	if !e.t.ts.keyless && !e.keysAtCommit {
		if existing, err := e.existing(ctx, key); err != nil {
			return err
		} else if existing != nil {
			return sql.NewUniqueKeyErr(e.dupKey(row, -1), true, existing)
		}
	}
	for n, uk := range unique {
		if uk == nil {
			continue
		}
		if inserted, ok := e.unique[n][string(uk)]; ok {
			if inserted {
				return e.dupError(row, n)
			}
			continue
		}
		pk, err := e.t.eng.LookupUnique(ctx, e.t.t.ID, n, uk)
		if err != nil {
			return toSQLError(err)
		}
		deleted := e.touched(pk) && !e.live[string(pk)]
		if pk != nil && !deleted {
			existing, err := e.existing(ctx, pk)
			if err != nil {
				return err
			}
			return sql.NewUniqueKeyErr(e.dupKey(row, n), false, existing)
		}
	}
	value, err := encodeValues(ctx, e.t.ts.sch.Schema, row, allColumns(len(row)))
	if err != nil {
		return err
	}
	part, err := partitionOf(ctx, e.t.t, e.t.ts.sch.Schema, key, row)
	if err != nil {
		return err
	}
	e.edits = append(e.edits, engine.RowEdit{Op: engine.OpInsert, Key: key, Value: value, Unique: unique, Part: part})
	e.rows = append(e.rows, row)
	e.mark(key, unique, true)
	return nil
}

func (e *editor) touched(key []byte) bool {
	_, ok := e.live[string(key)]
	return ok
}

// existing returns the row stored (or inserted by this statement) under key,
// or nil when there is none or this statement deleted it.
func (e *editor) existing(ctx *sql.Context, key []byte) (sql.Row, error) {
	if inserted, ok := e.live[string(key)]; ok {
		if !inserted {
			return nil, nil
		}
		for i := len(e.edits) - 1; i >= 0; i-- {
			if e.edits[i].Op == engine.OpInsert && string(e.edits[i].Key) == string(key) {
				return e.rows[i], nil
			}
		}
	}
	v, err := e.t.eng.GetRow(ctx, e.t.t.ID, key)
	if err != nil || v == nil {
		return nil, toSQLError(err)
	}
	return decodeRow(ctx, e.t.ts.sch.Schema, v)
}

func (e *editor) mark(key []byte, unique map[int][]byte, inserted bool) {
	e.live[string(key)] = inserted
	for n, uk := range unique {
		if uk == nil {
			continue
		}
		if e.unique[n] == nil {
			e.unique[n] = map[string]bool{}
		}
		e.unique[n][string(uk)] = inserted
	}
}

func (e *editor) Delete(ctx *sql.Context, row sql.Row) error {
	key, unique, err := e.keys(ctx, row)
	if err != nil {
		return err
	}
	part, err := partitionOf(ctx, e.t.t, e.t.ts.sch.Schema, key, row)
	if err != nil {
		return err
	}
	// The row as read: the commit fails if another statement changed it.
	read := key
	if !e.t.ts.keyless {
		if read, err = encodeValues(ctx, e.t.ts.sch.Schema, row, allColumns(len(row))); err != nil {
			return err
		}
	}
	e.edits = append(e.edits, engine.RowEdit{Op: engine.OpDelete, Key: key, Value: read, Unique: unique, Part: part})
	e.rows = append(e.rows, row)
	e.mark(key, unique, false)
	return nil
}

func (e *editor) Update(ctx *sql.Context, old, new sql.Row) error {
	if err := e.Delete(ctx, old); err != nil {
		return err
	}
	return e.Insert(ctx, new)
}

func (e *editor) SetAutoIncrementValue(ctx *sql.Context, v uint64) error {
	if e.truncated {
		e.truncated = false
		return nil
	}
	return toSQLError(e.t.eng.SetAutoIncrement(ctx, actor(ctx), e.t.t.ID, v))
}

func (e *editor) AcquireAutoIncrementLock(*sql.Context) (func(), error) { return func() {}, nil }
