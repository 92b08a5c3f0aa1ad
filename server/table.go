package server

import (
	"bytes"
	"fmt"
	"io"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/sysemu/sysemu/engine"
)

// scanBatch is how many rows a scan reads per store transaction; a long scan
// never holds one read transaction open.
const scanBatch = 1000

// userTable is a user table: rows live in the engine's store, every statement
// commits as one transaction.
type userTable struct {
	t   *engine.Table
	ts  *tableSchema
	eng *engine.Engine
	srv *Server
}

var (
	_ sql.Table               = (*userTable)(nil)
	_ sql.InsertableTable     = (*userTable)(nil)
	_ sql.UpdatableTable      = (*userTable)(nil)
	_ sql.DeletableTable      = (*userTable)(nil)
	_ sql.ReplaceableTable    = (*userTable)(nil)
	_ sql.TruncateableTable   = (*userTable)(nil)
	_ sql.AutoIncrementTable  = (*userTable)(nil)
	_ sql.IndexAddressable    = (*userTable)(nil)
	_ sql.IndexAlterableTable = (*userTable)(nil)
	_ sql.PrimaryKeyTable     = (*userTable)(nil)
	_ sql.CommentedTable      = (*userTable)(nil)
	_ sql.StatisticsTable     = (*userTable)(nil)
	_ sql.IndexedTable        = (*indexedUserTable)(nil)
)

func (t *userTable) Name() string                                       { return t.t.Name }
func (t *userTable) String() string                                     { return t.t.Name }
func (t *userTable) Schema(*sql.Context) sql.Schema                     { return t.ts.sch.Schema }
func (t *userTable) PrimaryKeySchema(*sql.Context) sql.PrimaryKeySchema { return t.ts.sch }
func (t *userTable) Comment() string                                    { return t.t.Comment }
func (t *userTable) DataLength(*sql.Context) (uint64, error)            { return 0, nil }

func (t *userTable) Collation() sql.CollationID {
	if c, err := sql.ParseCollation("", t.t.Collation, false); err == nil && t.t.Collation != "" {
		return c
	}
	return sql.Collation_Default
}

// RowCount is exact: the engine keeps the count with the rows.
func (t *userTable) RowCount(ctx *sql.Context) (uint64, bool, error) {
	n, err := t.eng.RowCount(ctx, t.t.ID)
	return n, true, toSQLError(err)
}

// scanRange is a key range of the primary key (nil: unbounded), or a point.
type scanRange struct {
	start, end []byte
	point      bool
	reverse    bool
	full       bool
}

func (r scanRange) Key() []byte { return append(append([]byte(nil), r.start...), r.end...) }

func (t *userTable) Partitions(*sql.Context) (sql.PartitionIter, error) {
	return sql.PartitionsToPartitionIter(scanRange{full: true}), nil
}

func (t *userTable) PartitionRows(ctx *sql.Context, p sql.Partition) (sql.RowIter, error) {
	r := p.(scanRange)
	if r.point {
		v, err := t.eng.GetRow(ctx, t.t.ID, r.start)
		if err != nil || v == nil {
			return sql.RowsToRowIter(), toSQLError(err)
		}
		row, err := decodeRow(ctx, t.ts.sch.Schema, v)
		if err != nil {
			return nil, err
		}
		return sql.RowsToRowIter(row), nil
	}
	return &rowIter{t: t, r: r}, nil
}

// rowIter streams a key range in batches.
type rowIter struct {
	t    *userTable
	r    scanRange
	buf  []engine.KV
	done bool
}

func (it *rowIter) Next(ctx *sql.Context) (sql.Row, error) {
	for len(it.buf) == 0 {
		if it.done {
			return nil, io.EOF
		}
		kvs, err := it.t.eng.ReadRows(ctx, it.t.t.ID, it.r.start, it.r.end, it.r.reverse, scanBatch)
		if err != nil {
			return nil, toSQLError(err)
		}
		if len(kvs) < scanBatch {
			it.done = true
		}
		if len(kvs) > 0 {
			last := kvs[len(kvs)-1].Key
			if it.r.reverse {
				it.r.end = last
			} else {
				it.r.start = append(bytes.Clone(last), 0)
			}
		}
		it.buf = kvs
	}
	kv := it.buf[0]
	it.buf = it.buf[1:]
	return decodeRow(ctx, it.t.ts.sch.Schema, kv.Value)
}

func (it *rowIter) Close(*sql.Context) error { return nil }

// editor returns the statement's editor for this table: one per table per
// statement, shared by the inserter, updater and deleter roles, so an
// INSERT ... ON DUPLICATE KEY UPDATE commits as one transaction.
func (t *userTable) editor(ctx *sql.Context) *editor {
	return sessionOf(ctx).editor(t)
}

func (t *userTable) Inserter(ctx *sql.Context) sql.RowInserter { return t.editor(ctx) }
func (t *userTable) Updater(ctx *sql.Context) sql.RowUpdater   { return t.editor(ctx) }
func (t *userTable) Deleter(ctx *sql.Context) sql.RowDeleter   { return t.editor(ctx) }
func (t *userTable) Replacer(ctx *sql.Context) sql.RowReplacer { return replacer{t.editor(ctx)} }

func (t *userTable) AutoIncrementSetter(ctx *sql.Context) sql.AutoIncrementSetter {
	return t.editor(ctx)
}

// Truncate removes the rows and resets the identity counters to the seed
// (go-mysql-server then sets AUTO_INCREMENT to 1, which the editor ignores).
func (t *userTable) Truncate(ctx *sql.Context) (int, error) {
	t.editor(ctx).truncated = true
	n, err := t.eng.TruncateTableAs(ctx, actor(ctx), t.t.Database, t.t.Name)
	return int(n), toSQLError(err)
}

func (t *userTable) PeekNextAutoIncrementValue(ctx *sql.Context) (uint64, error) {
	if !t.ts.sch.Schema.HasAutoIncrement() {
		return 0, sql.ErrNoAutoIncrementCol
	}
	v, err := t.eng.PeekAutoIncrement(ctx, t.t.ID)
	return v, toSQLError(err)
}

// GetNextAutoIncrementValue hands out the identity value of one inserted
// row (insertVal nil) or notes a supplied one. The statement's first row
// runs the replication range maintenance first; see editor.identityDone.
func (t *userTable) GetNextAutoIncrementValue(ctx *sql.Context, insertVal any) (uint64, error) {
	var given *int64
	if insertVal != nil {
		v, _, err := types.Int64.Convert(ctx, insertVal)
		if err != nil {
			return 0, err
		}
		n := v.(int64)
		given = &n
	}
	ed := t.editor(ctx)
	who := t.srv.identityCaller(ctx, t.t)
	v, err := t.eng.NextIdentity(ctx, t.t.ID, who, !ed.identity, given)
	ed.identity = true
	if err != nil {
		return 0, toSQLError(err)
	}
	if given == nil {
		sessionOf(ctx).lastIdentity = &v
	}
	return uint64(v), nil
}

// CreateIndex adds a secondary index. CREATE TABLE already stored the
// table's indexes with the table; asking again for one of them is a no-op.
func (t *userTable) CreateIndex(ctx *sql.Context, def sql.IndexDef) error {
	return toSQLError(t.eng.AddIndex(ctx, t.t.Database, t.t.Name, indexSpec(def)))
}

func (t *userTable) DropIndex(*sql.Context, string) error {
	return errNotSupported("DROP INDEX")
}

func (t *userTable) RenameIndex(*sql.Context, string, string) error {
	return errNotSupported("RENAME INDEX")
}

func indexSpec(def sql.IndexDef) engine.Index {
	idx := engine.Index{Name: def.Name, Unique: def.IsUnique(), Comment: def.Comment}
	for _, c := range def.Columns {
		idx.Columns = append(idx.Columns, engine.IndexColumn{Name: c.Name, Length: c.Length})
	}
	return idx
}

// GetIndexes declares the primary key and every secondary index. The primary
// key serves point and range lookups; a unique index serves point lookups;
// other lookups read the whole table (PreciseMatch is false, so the filter
// stays and the result is exact).
func (t *userTable) GetIndexes(*sql.Context) ([]sql.Index, error) {
	var out []sql.Index
	if !t.ts.keyless {
		pk := &tableIndex{t: t, pos: -1, name: "PRIMARY", cols: t.ts.pk, unique: true}
		if t.ts.ordered {
			out = append(out, orderedIndex{pk})
		} else {
			out = append(out, pk)
		}
	}
	for i, idx := range t.t.Indexes {
		out = append(out, &tableIndex{t: t, pos: i, name: idx.Name, cols: t.ts.idxCols[i], unique: idx.Unique, comment: idx.Comment})
	}
	return out, nil
}

func (t *userTable) PreciseMatch() bool { return false }

func (t *userTable) IndexedAccess(*sql.Context, sql.IndexLookup) sql.IndexedTable {
	return &indexedUserTable{t}
}

type indexedUserTable struct{ *userTable }

func (t *indexedUserTable) LookupPartitions(ctx *sql.Context, lookup sql.IndexLookup) (sql.PartitionIter, error) {
	idx, ok := lookup.Index.(*tableIndex)
	if o, isOrdered := lookup.Index.(orderedIndex); isOrdered {
		idx, ok = o.tableIndex, true
	}
	ranges, isMySQL := lookup.Ranges.(sql.MySQLRangeCollection)
	if !ok || !isMySQL {
		return t.Partitions(ctx)
	}
	var parts []sql.Partition
	for _, rg := range ranges {
		p, err := t.partitionFor(ctx, idx, rg)
		if err != nil {
			return nil, err
		}
		p.reverse = lookup.IsReverse
		parts = append(parts, p)
	}
	if lookup.IsReverse {
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	return sql.PartitionsToPartitionIter(parts...), nil
}

// pointValues returns the range's values if every column is an equality.
func pointValues(rg sql.MySQLRange) (sql.Row, bool) {
	vals := make(sql.Row, len(rg))
	for i, c := range rg {
		lo, ok1 := c.LowerBound.(sql.Below)
		hi, ok2 := c.UpperBound.(sql.Above)
		if !ok1 || !ok2 || lo.Key == nil || fmt.Sprint(lo.Key) != fmt.Sprint(hi.Key) {
			return nil, false
		}
		vals[i] = lo.Key
	}
	return vals, true
}

// partitionFor turns one range into a superset scan over the primary key.
func (t *indexedUserTable) partitionFor(ctx *sql.Context, idx *tableIndex, rg sql.MySQLRange) (scanRange, error) {
	sch := t.ts.sch.Schema
	vals, point := pointValues(rg)
	if point && len(vals) == len(idx.cols) {
		key, ok, err := t.keyOf(ctx, idx.cols, vals)
		if err != nil {
			return scanRange{}, err
		}
		if !ok {
			return scanRange{full: true}, nil
		}
		if idx.pos < 0 {
			return scanRange{start: key, point: true}, nil
		}
		if idx.unique {
			pk, err := t.eng.LookupUnique(ctx, t.t.ID, idx.pos, key)
			if err != nil {
				return scanRange{}, toSQLError(err)
			}
			if pk == nil {
				return scanRange{start: []byte{0xff}, end: []byte{0xff}}, nil // empty
			}
			return scanRange{start: pk, point: true}, nil
		}
	}
	if idx.pos >= 0 || !t.ts.ordered || len(rg) == 0 {
		return scanRange{full: true}, nil
	}
	// A range on the primary key: bound the scan by the first column.
	c := rg[0]
	col := sch[t.ts.pk[0]]
	bound := func(cut sql.MySQLRangeCut) ([]byte, bool) {
		if !sql.MySQLRangeCutIsBinding(cut) {
			return nil, false
		}
		v, _, err := col.Type.Convert(ctx, sql.GetMySQLRangeCutKey(cut))
		if err != nil {
			return nil, false
		}
		p, err := toStored(ctx, col.Type, v)
		if err != nil {
			return nil, false
		}
		b, err := engine.AppendTuple(nil, p)
		return b, err == nil
	}
	var r scanRange
	if b, ok := bound(c.LowerBound); ok {
		r.start = b
	}
	if b, ok := bound(c.UpperBound); ok {
		// Keys starting with the bound value sort after it: end just past them.
		r.end = append(b, 0xff)
	}
	return r, nil
}

// keyOf encodes vals, the values of columns cols in order, as an index key;
// ok is false when a value does not convert to its column's type or lies
// outside its range (a clamped value would find another row).
func (t *userTable) keyOf(ctx *sql.Context, cols []int, vals sql.Row) (key []byte, ok bool, err error) {
	sch := t.ts.sch.Schema
	row := make(sql.Row, len(sch))
	for i, c := range cols {
		v, inRange, err := sch[c].Type.Convert(ctx, vals[i])
		if err != nil || inRange != sql.InRange {
			return nil, false, nil
		}
		row[c] = v
	}
	key, err = encodeValues(ctx, sch, row, cols)
	return key, err == nil, err
}

// tableIndex describes an index of a user table to the planner.
type tableIndex struct {
	t       *userTable
	pos     int // -1: the primary key
	name    string
	cols    []int
	unique  bool
	comment string
}

var _ sql.Index = (*tableIndex)(nil)

func (i *tableIndex) ID() string                                 { return i.name }
func (i *tableIndex) Database() string                           { return i.t.t.Database }
func (i *tableIndex) Table() string                              { return i.t.t.Name }
func (i *tableIndex) IsUnique() bool                             { return i.unique }
func (i *tableIndex) IsSpatial() bool                            { return false }
func (i *tableIndex) IsFullText() bool                           { return false }
func (i *tableIndex) IsVector() bool                             { return false }
func (i *tableIndex) Comment() string                            { return i.comment }
func (i *tableIndex) IndexType() string                          { return "BTREE" }
func (i *tableIndex) IsGenerated() bool                          { return false }
func (i *tableIndex) CanSupport(*sql.Context, ...sql.Range) bool { return true }
func (i *tableIndex) CanSupportOrderBy(sql.Expression) bool {
	return i.pos < 0 && i.t.ts.ordered
}

func (i *tableIndex) PrefixLengths() []uint16 {
	if i.pos < 0 {
		return nil
	}
	var out []uint16
	for _, c := range i.t.t.Indexes[i.pos].Columns {
		out = append(out, uint16(c.Length))
	}
	return out
}

func (i *tableIndex) Expressions() []string {
	out := make([]string, len(i.cols))
	for n, c := range i.cols {
		out[n] = i.t.t.Name + "." + i.t.ts.sch.Schema[c].Name
	}
	return out
}

func (i *tableIndex) CoversColumns(cols []string) bool { return false }

func (i *tableIndex) ColumnExpressionTypes(*sql.Context) []sql.ColumnExpressionType {
	exprs := i.Expressions()
	out := make([]sql.ColumnExpressionType, len(i.cols))
	for n, c := range i.cols {
		out[n] = sql.ColumnExpressionType{Expression: exprs[n], Type: i.t.ts.sch.Schema[c].Type}
	}
	return out
}

// orderedIndex is the primary key when its encoding sorts as SQL does.
type orderedIndex struct{ *tableIndex }

func (i orderedIndex) Order(*sql.Context) sql.IndexOrder { return sql.IndexOrderAsc }
func (i orderedIndex) Reversible(*sql.Context) bool      { return true }
