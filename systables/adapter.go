package systables

import (
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/dolthub/go-mysql-server/sql"
)

// Table is the go-mysql-server face of a Def.
type Table struct {
	def *Def
	src Source
	db  string
}

// New returns the table declared by def in database db, reading from src.
func New(def *Def, src Source, db string) *Table { return &Table{def: def, src: src, db: db} }

var (
	_ sql.Table            = (*Table)(nil)
	_ sql.IndexAddressable = (*Table)(nil)
	_ sql.StatisticsTable  = (*Table)(nil)
	_ sql.IndexedTable     = (*indexedTable)(nil)
)

func (t *Table) Name() string                            { return t.def.Name }
func (t *Table) String() string                          { return t.def.Name }
func (t *Table) Schema(*sql.Context) sql.Schema          { return t.def.Schema }
func (t *Table) Collation() sql.CollationID              { return sql.Collation_Default }
func (t *Table) Comment() string                         { return "" }
func (t *Table) DataLength(*sql.Context) (uint64, error) { return 0, nil }

// RowCount is exact when the declaration can count, so COUNT(*) is O(1).
func (t *Table) RowCount(ctx *sql.Context) (uint64, bool, error) {
	if t.def.Count != nil {
		return t.def.Count(t.src), true, nil
	}
	var n uint64
	err := t.def.Rows(ctx, t.src, All, func(sql.Row) bool { n++; return true })
	return n, true, err
}

// partition is one key range, or one point of a Point index, of one access
// path to read.
type partition struct {
	r     KeyRange
	idx   int
	point *string
}

func (p partition) Key() []byte {
	if p.point != nil {
		return []byte(fmt.Sprintf("%d:%q", p.idx, *p.point))
	}
	return []byte(fmt.Sprintf("%d:[%d,%d) rev=%v", p.idx, p.r.Lo, p.r.Hi, p.r.Reverse))
}

func (t *Table) Partitions(*sql.Context) (sql.PartitionIter, error) {
	return sql.PartitionsToPartitionIter(partition{r: All}), nil
}

func (t *Table) PartitionRows(ctx *sql.Context, p sql.Partition) (sql.RowIter, error) {
	part := p.(partition)
	if part.point != nil {
		var rows []sql.Row
		err := t.def.access(part.idx).Point(ctx, t.src, *part.point, func(r sql.Row) bool { rows = append(rows, r); return true })
		return &rowIter{t: t, buf: rows, done: true}, err
	}
	return &rowIter{t: t, r: part.r, idx: part.idx}, nil
}

// readBatch is how many rows an iterator takes from the State at a time, so
// a top-1 query reads a handful of rows, not the table.
const readBatch = 64

// rowIter reads a key range lazily, in batches, resuming after the last key.
type rowIter struct {
	t    *Table
	r    KeyRange
	idx  int
	buf  []sql.Row
	done bool
}

func (it *rowIter) Next(ctx *sql.Context) (sql.Row, error) {
	for len(it.buf) == 0 {
		if it.done {
			return nil, io.EOF
		}
		if err := it.fill(ctx); err != nil {
			return nil, err
		}
	}
	row := it.buf[0]
	it.buf = it.buf[1:]
	return row, nil
}

func (it *rowIter) fill(ctx *sql.Context) error {
	key, acc := it.t.def.column(it.idx), it.t.def.access(it.idx)
	limit := readBatch
	if key < 0 {
		limit = -1 // no key to resume from: read everything at once
	}
	// A batch ends at the limit or, for a non-unique key, before the first
	// new key after it: resuming after the last key then skips no row.
	stopped := false
	err := acc.Rows(ctx, it.t.src, it.r, func(row sql.Row) bool {
		if limit >= 0 && len(it.buf) >= limit && keyValue(row[key]) != keyValue(it.buf[len(it.buf)-1][key]) {
			stopped = true
			return false
		}
		it.buf = append(it.buf, row)
		if limit >= 0 && len(it.buf) >= limit && !acc.NonUnique {
			stopped = true
			return false
		}
		return true
	})
	if err != nil {
		return err
	}
	if !stopped {
		it.done = true
		return nil
	}
	last := keyValue(it.buf[len(it.buf)-1][key])
	if it.r.Reverse {
		if last <= it.r.Lo {
			it.done = true
		}
		it.r.Hi = last
	} else {
		if last == math.MaxUint64 {
			it.done = true
		}
		it.r.Lo = last + 1
	}
	return nil
}

func (it *rowIter) Close(*sql.Context) error { return nil }

func keyValue(v any) uint64 {
	switch x := v.(type) {
	case int64:
		return uint64(x)
	case int32:
		return uint64(x)
	case uint64:
		return x
	}
	return floorKey(v)
}

// GetIndexes declares the ordered index on the key column.
func (t *Table) GetIndexes(*sql.Context) ([]sql.Index, error) {
	if t.def.Key == "" {
		return nil, nil
	}
	out := []sql.Index{&keyIndex{t: t}}
	for i := range t.def.Indexes {
		out = append(out, &keyIndex{t: t, idx: i + 1})
	}
	return out, nil
}

// PreciseMatch is false: lookups return a superset and the filter stays.
func (t *Table) PreciseMatch() bool { return false }

func (t *Table) IndexedAccess(_ *sql.Context, lookup sql.IndexLookup) sql.IndexedTable {
	return &indexedTable{Table: t}
}

type indexedTable struct{ *Table }

func (t *indexedTable) LookupPartitions(ctx *sql.Context, lookup sql.IndexLookup) (sql.PartitionIter, error) {
	ranges, ok := lookup.Ranges.(sql.MySQLRangeCollection)
	if !ok {
		return nil, fmt.Errorf("systables: unsupported range type %T", lookup.Ranges)
	}
	idx := 0
	if ki, ok := lookup.Index.(*keyIndex); ok {
		idx = ki.idx
	}
	if t.def.access(idx).Point != nil {
		var parts []sql.Partition
		for _, rg := range ranges {
			key, ok := pointKey(rg)
			if !ok {
				return nil, fmt.Errorf("systables: %s.%s serves equality only", t.def.Name, t.def.access(idx).Key)
			}
			parts = append(parts, partition{idx: idx, point: &key})
		}
		return sql.PartitionsToPartitionIter(parts...), nil
	}
	var parts []sql.Partition
	for _, rg := range ranges {
		if len(rg) == 0 {
			continue
		}
		r, empty := keyRange(rg[0])
		if empty {
			continue
		}
		r.Reverse = lookup.IsReverse
		parts = append(parts, partition{r: r, idx: idx})
	}
	if lookup.IsReverse {
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	return sql.PartitionsToPartitionIter(parts...), nil
}

// keyRange turns one column's range into a superset [lo, hi) of uint64 keys.
func keyRange(c sql.MySQLRangeColumnExpr) (r KeyRange, empty bool) {
	switch b := c.LowerBound.(type) {
	case sql.Below:
		r.Lo = floorKey(b.Key)
	case sql.Above:
		r.Lo = floorKey(b.Key)
		if isIntegral(b.Key) && r.Lo < math.MaxUint64 && !negative(b.Key) {
			r.Lo++
		}
	}
	switch b := c.UpperBound.(type) {
	case sql.Below, sql.Above:
		k := sql.GetMySQLRangeCutKey(b)
		if negative(k) {
			return r, true
		}
		hi := floorKey(k)
		if hi == math.MaxUint64 {
			return r, false
		}
		r.Hi = hi + 1
		if _, below := b.(sql.Below); below && isIntegral(k) {
			r.Hi = hi
		}
		if r.Hi <= r.Lo {
			return r, true
		}
	case sql.AboveNull, sql.BelowNull:
		return r, true // only NULL: the key column is never NULL
	}
	return r, false
}

func asFloat(k any) (float64, bool) {
	switch v := k.(type) {
	case int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint:
		f, _ := strconv.ParseFloat(fmt.Sprint(v), 64)
		return f, true
	case float32:
		return float64(v), true
	case float64:
		return v, true
	}
	f, err := strconv.ParseFloat(fmt.Sprint(k), 64)
	return f, err == nil
}

func isIntegral(k any) bool {
	f, ok := asFloat(k)
	return ok && f == math.Trunc(f)
}

func negative(k any) bool {
	f, ok := asFloat(k)
	return ok && f < 0
}

// floorKey is the largest uint64 <= k (0 for negatives, MaxUint64 for huge
// or unparsable keys, which keeps the range a superset).
func floorKey(k any) uint64 {
	if u, ok := k.(uint64); ok {
		return u
	}
	if i, ok := k.(int64); ok {
		if i < 0 {
			return 0
		}
		return uint64(i)
	}
	f, ok := asFloat(k)
	switch {
	case !ok:
		return 0
	case f <= 0:
		return 0
	case f >= math.MaxUint64:
		return math.MaxUint64
	}
	return uint64(math.Floor(f))
}

// keyIndex is the ordered index on a Def's key column.
// idx 0 is the Def's Key (PRIMARY), idx > 0 its Indexes[idx-1].
type keyIndex struct {
	t   *Table
	idx int
}

var _ sql.OrderedIndex = (*keyIndex)(nil)

func (i *keyIndex) key() string { return i.t.def.access(i.idx).Key }

func (i *keyIndex) ID() string {
	if i.idx == 0 {
		return "PRIMARY"
	}
	return i.key()
}
func (i *keyIndex) Database() string        { return i.t.db }
func (i *keyIndex) Table() string           { return i.t.def.Name }
func (i *keyIndex) Expressions() []string   { return []string{i.t.def.Name + "." + i.key()} }
func (i *keyIndex) IsUnique() bool          { return !i.t.def.access(i.idx).NonUnique }
func (i *keyIndex) IsSpatial() bool         { return false }
func (i *keyIndex) IsFullText() bool        { return false }
func (i *keyIndex) IsVector() bool          { return false }
func (i *keyIndex) Comment() string         { return "" }
func (i *keyIndex) IndexType() string       { return "BTREE" }
func (i *keyIndex) IsGenerated() bool       { return false }
func (i *keyIndex) PrefixLengths() []uint16 { return nil }
func (i *keyIndex) point() bool             { return i.t.def.access(i.idx).Point != nil }

// ordered says whether the index offers its order to the planner. A
// non-unique key does not: the planner would otherwise pick a merge join,
// reading both tables whole, for the document's joins that need a few rows.
func (i *keyIndex) ordered() bool {
	acc := i.t.def.access(i.idx)
	return acc.Point == nil && !acc.NonUnique
}

// CanSupport is true for any range of an integer key, and for equality on a
// Point index.
func (i *keyIndex) CanSupport(_ *sql.Context, ranges ...sql.Range) bool {
	if !i.point() {
		return true
	}
	for _, r := range ranges {
		rg, ok := r.(sql.MySQLRange)
		if _, point := pointKey(rg); !ok || !point {
			return false
		}
	}
	return true
}

func (i *keyIndex) CanSupportOrderBy(sql.Expression) bool { return i.ordered() }
func (i *keyIndex) Reversible(*sql.Context) bool          { return i.ordered() }

func (i *keyIndex) Order(*sql.Context) sql.IndexOrder {
	if !i.ordered() {
		return sql.IndexOrderNone
	}
	return sql.IndexOrderAsc
}

// pointKey returns the value of a one-column range that is a single
// non-NULL value.
func pointKey(rg sql.MySQLRange) (string, bool) {
	if len(rg) != 1 || rg[0].Type() != sql.RangeType_ClosedClosed {
		return "", false
	}
	lo, hi := sql.GetMySQLRangeCutKey(rg[0].LowerBound), sql.GetMySQLRangeCutKey(rg[0].UpperBound)
	if fmt.Sprint(lo) != fmt.Sprint(hi) {
		return "", false
	}
	return fmt.Sprint(lo), true
}

func (i *keyIndex) CoversColumns(cols []string) bool {
	return len(cols) == 1 && cols[0] == i.key()
}

func (i *keyIndex) ColumnExpressionTypes(*sql.Context) []sql.ColumnExpressionType {
	col := i.t.def.Schema[i.t.def.column(i.idx)]
	return []sql.ColumnExpressionType{{Expression: i.Expressions()[0], Type: col.Type}}
}
