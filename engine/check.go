package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/sysemu/sysemu/engine/store"
)

// ID spaces a problem belongs to (CHECK_IDS's first column).
const (
	SpaceTableID  = "table_id (GreptimeDB)"
	SpaceGstoNo   = "gsto_no (XuguDB)"
	SpaceIdentity = "identity (SQL Server)"
	SpaceFilenode = "relfilenode (PostgreSQL)"
	SpaceRestore  = "restore (TiDB BR)"
)

// Problem is one thing wrong in an ID space, and the statement that fixes it.
type Problem struct {
	Space   string
	Object  string
	Problem string
	Fix     string
}

// CheckIDs checks every ID space at once; a healthy server has no problem.
func (e *Engine) CheckIDs(ctx context.Context) ([]Problem, error) {
	s := e.State()
	var out []Problem
	for _, check := range []func(context.Context, *State) ([]Problem, error){
		e.checkTableIDs, e.checkGstores, e.checkIdentities, e.checkFilenodes, e.checkRestores,
	} {
		ps, err := check(ctx, s)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

func quoteSQL(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// checkTableIDs: the table-ID sequence must be above every TABLE_ID in the
// catalog and every table ID that still has storage.
func (e *Engine) checkTableIDs(ctx context.Context, s *State) ([]Problem, error) {
	next := s.NextTableID()
	var maxCat *Table
	if t, ok := s.byID.Max(); ok {
		maxCat = t
	}
	var maxStorage uint64
	err := e.st.View(ctx, func(tx store.Tx) error {
		return tx.Scan(dataPrefix, store.PrefixEnd(dataPrefix), true, func(k, _ []byte) (bool, error) {
			if len(k) >= len(dataPrefix)+8 {
				maxStorage = binary.BigEndian.Uint64(k[len(dataPrefix):])
			}
			return false, nil
		})
	})
	if err != nil {
		return nil, err
	}
	fix := func(to uint64) string {
		return fmt.Sprintf("CALL recovery_mode('on'); CALL set_next_table_id(%d); CALL recovery_mode('off')", to)
	}
	switch {
	case maxCat != nil && next <= maxCat.ID:
		return []Problem{{SpaceTableID, "sequence table_id",
			fmt.Sprintf("next table id %d is at or below the highest TABLE_ID in use, %d (%s.%s)", next, maxCat.ID, maxCat.Database, maxCat.Name),
			fix(max(maxCat.ID, maxStorage) + 1)}}, nil
	case maxStorage != 0 && next <= maxStorage:
		return []Problem{{SpaceTableID, "sequence table_id",
			fmt.Sprintf("next table id %d is at or below table id %d, which orphaned storage still holds", next, maxStorage),
			fix(maxStorage + 1)}}, nil
	}
	return nil, nil
}

// checkGstores: the gsto_no sequence must be above every GSTO_NO, and every
// store version must be valid.
func (e *Engine) checkGstores(_ context.Context, s *State) ([]Problem, error) {
	var out []Problem
	var top uint32
	var holder *Table
	s.RangeGstores(0, 0, true, func(t *Table, st *Store) bool {
		top, holder = st.No, t
		return false
	})
	if next := s.Sequences[SeqGstoNo]; holder != nil && next <= uint64(top) {
		out = append(out, Problem{SpaceGstoNo, "sequence gsto_no",
			fmt.Sprintf("next gsto_no %d is at or below the highest GSTO_NO in use, %d (%s.%s)", next, top, holder.Database, holder.Name),
			fmt.Sprintf("CALL set_next_gsto_no(%d)", top+1)})
	}
	s.RangeGstores(uint64(s.Profile.FirstUserGsto), 0, false, func(t *Table, st *Store) bool {
		if t.System {
			return true
		}
		for k, v := range s.Versions(st) {
			if v.State != VersionInvalid {
				continue
			}
			obj := fmt.Sprintf("gsto_no %d (%s.%s) version %d", st.No, t.Database, t.Name, k+1)
			n := s.Node(uint64(v.Node))
			if v.Node != 0 && n != nil && !n.Online {
				out = append(out, Problem{SpaceGstoNo, obj, fmt.Sprintf("version is invalid: node %d is offline", v.Node),
					fmt.Sprintf("CALL node_online(%d)", v.Node)})
			} else {
				out = append(out, Problem{SpaceGstoNo, obj, "version is invalid: no online node took it when the store was made",
					"none automatic: recreate the table once enough nodes are online (CREATE TABLE ... AS SELECT, then RENAME)"})
			}
		}
		return true
	})
	return out, nil
}

// checkIdentities: a counter below the highest value it handed out (in mode
// none MAX(column); in mode auto the highest value inside the node's
// ranges), and ranges of two nodes that overlap.
func (e *Engine) checkIdentities(ctx context.Context, s *State) ([]Problem, error) {
	var out []Problem
	var tables []*Table
	s.RangeTables(0, 0, false, func(t *Table) bool {
		if !t.System && t.Identity != nil {
			tables = append(tables, t)
		}
		return true
	})
	for _, t := range tables {
		st, err := e.IdentityStateOf(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		col := slices.IndexFunc(t.Columns, func(c Column) bool { return strings.EqualFold(c.Name, t.Identity.Column) })
		if col < 0 {
			continue
		}
		vals, err := e.columnInts(ctx, t.ID, col)
		if err != nil {
			return nil, err
		}
		name := t.Database + "." + t.Name
		for _, n := range st.Nodes {
			if st.Mode == IdentityManual {
				continue // each node is reseeded by hand into its own block
			}
			var top *int64
			for _, v := range vals {
				if st.Mode == IdentityAuto && !inRanges(n.Ranges, v) {
					continue
				}
				if top == nil || v > *top {
					top = &v
				}
			}
			if top == nil || n.Last != nil && n.Current >= *top {
				continue
			}
			obj, fix := name, fmt.Sprintf("DBCC CHECKIDENT (%s, RESEED)", quoteSQL(name))
			if st.Mode != IdentityNone {
				obj = fmt.Sprintf("%s node %d", name, n.Node)
				fix = fmt.Sprintf("SET @@session.node_id = %d; %s", n.Node, fix)
			}
			cur := "NULL"
			if n.Last != nil {
				cur = fmt.Sprint(n.Current)
			}
			out = append(out, Problem{SpaceIdentity, obj,
				fmt.Sprintf("current identity value %s is below MAX(%s) = %d", cur, t.Identity.Column, *top), fix})
		}
		for i, a := range st.Nodes {
			for _, b := range st.Nodes[i+1:] {
				for _, ra := range a.Ranges {
					for _, rb := range b.Ranges {
						if ra.Lo < rb.Hi && rb.Lo < ra.Hi {
							out = append(out, Problem{SpaceIdentity, fmt.Sprintf("%s nodes %d and %d", name, a.Node, b.Node),
								fmt.Sprintf("identity range %d..%d of node %d overlaps %d..%d of node %d", ra.Lo+1, ra.Hi, a.Node, rb.Lo+1, rb.Hi, b.Node),
								fmt.Sprintf("CALL identity_range_manage(%s, 'auto', %d, %d, %d)", quoteSQL(name), st.Range, st.PubRange, st.Threshold)})
						}
					}
				}
			}
		}
	}
	return out, nil
}

// columnInts returns the integer values of column col of table id's rows.
func (e *Engine) columnInts(ctx context.Context, id uint64, col int) ([]int64, error) {
	var out []int64
	rp := rowPrefix(id)
	err := e.st.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		return tx.Scan(rp, store.PrefixEnd(rp), false, func(_, v []byte) (bool, error) {
			vals, err := DecodeTuple(v)
			if err != nil || col >= len(vals) {
				return true, nil
			}
			switch x := vals[col].(type) {
			case int64:
				out = append(out, x)
			case uint64:
				out = append(out, int64(min(x, 1<<63-1)))
			}
			return true, nil
		})
	})
	return out, err
}

// checkFilenodes: two relations of a database (or two shared ones) with one
// filenode, and relation map files that PostgreSQL would refuse or that
// lack a mapping.
func (e *Engine) checkFilenodes(_ context.Context, s *State) ([]Problem, error) {
	var out []Problem
	type loc struct{ db, node uint64 }
	seen := map[loc]*Table{}
	s.RangeTables(0, 0, false, func(t *Table) bool {
		if t.System {
			return true
		}
		k := loc{t.DatabaseID, t.RelFileNode()}
		if other := seen[k]; other != nil {
			out = append(out, Problem{SpaceFilenode, fmt.Sprintf("%s.%s and %s.%s", other.Database, other.Name, t.Database, t.Name),
				fmt.Sprintf("relations %d and %d share relfilenode %d", other.ID, t.ID, k.node),
				fmt.Sprintf("CALL vacuum_full(%s)", quoteSQL(t.Database+"."+t.Name))})
		} else {
			seen[k] = t
		}
		return true
	})
	if e.files() {
		for _, m := range e.VerifyFilenodeMaps() {
			if m.Status == MapOK {
				continue
			}
			out = append(out, Problem{SpaceFilenode, m.Path, m.Status,
				fmt.Sprintf("CALL rebuild_filenode_map(%s)", quoteSQL(m.Database))})
		}
	}
	return out, nil
}

// checkRestores: a restore that did not finish, with its checkpoint.
func (e *Engine) checkRestores(ctx context.Context, _ *State) ([]Problem, error) {
	e.restoreState.Lock()
	var active uint64
	if e.running != nil {
		e.running.mu.Lock()
		if e.running.p.Status == RestoreRunning {
			active = e.running.p.RestoreID
		}
		e.running.mu.Unlock()
	}
	e.restoreState.Unlock()
	recs, err := e.Restores(ctx)
	if err != nil {
		return nil, err
	}
	cps, err := e.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	var out []Problem
	for _, r := range recs {
		if r.Status == RestoreFinished || r.ID == active {
			continue
		}
		done, rows := 0, uint64(0)
		for _, cp := range cps {
			if cp.RestoreID == r.ID {
				done++
				rows += cp.Rows
			}
		}
		out = append(out, Problem{SpaceRestore, fmt.Sprintf("restore %d from %s", r.ID, r.Dir),
			fmt.Sprintf("unfinished restore: checkpoint has %d of %d ranges (%d rows), table IDs preallocated [%d, %d)", done, r.Ranges, rows, r.Prealloc.Start, r.Prealloc.End),
			fmt.Sprintf("CALL restore_backup(%s)", quoteSQL(r.Dir))})
	}
	return out, nil
}

// FaultFilenode gives table db.name the relfilenode filenode in the catalog
// only (no file moves): the unsafe path scenarios use to make two relations
// share one.
func (e *Engine) FaultFilenode(ctx context.Context, a Actor, db, name string, filenode uint64) error {
	return e.update(ctx, func(c *change) error {
		t, err := c.userTable(db, name)
		if err != nil {
			return err
		}
		n := *t
		n.FileNode = filenode
		c.next.putTable(&n)
		c.event(a, EventFault, db+"."+name, int64(t.RelFileNode()), int64(filenode))
		return putTableRecord(c.tx, &n)
	})
}

// FaultIdentityRange sets node's identity ranges of db.name to the single
// range (lo, hi], whatever the other nodes hold: the unsafe path scenarios
// use to make two nodes' ranges overlap.
func (e *Engine) FaultIdentityRange(ctx context.Context, a Actor, db, name string, node uint64, lo, hi int64) error {
	t := e.State().Table(db, name)
	if t == nil || t.System {
		return fmt.Errorf("%w: %s.%s", ErrNoSuchTable, db, name)
	}
	if _, err := e.identityTable(t.ID); err != nil {
		return err
	}
	if hi <= lo {
		return fmt.Errorf("%w: range end %d not above its start %d", ErrInvalid, hi, lo+1)
	}
	rt, err := e.lockedRuntime(ctx, t.ID)
	if err != nil {
		return err
	}
	defer rt.mu.Unlock()
	if e.State().Node(node) == nil {
		return fmt.Errorf("%w: %d", ErrNoSuchNode, node)
	}
	c := rt.counter(node).clone()
	c.Ranges = []IdentityRange{{Lo: lo, Hi: hi}}
	err = e.update(ctx, func(ch *change) error {
		ch.event(a, EventFault, fmt.Sprintf("%s.%s node %d", db, name, node), lo, hi)
		return putJSON(ch.tx, counterKey(t.ID, node), c)
	})
	if err == nil {
		rt.counters[node] = c
	}
	return err
}
