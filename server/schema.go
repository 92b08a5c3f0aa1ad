package server

import (
	"fmt"
	"github.com/cockroachdb/apd/v3"
	"strings"
	"sync"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/planbuilder"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/sysemu/sysemu/engine"
)

// columnSpec renders a go-mysql-server column as a catalog column.
func columnSpec(c *sql.Column) engine.Column {
	col := engine.Column{
		Name: c.Name, Type: c.Type.String(), Nullable: c.Nullable,
		AutoIncrement: c.AutoIncrement, Comment: c.Comment,
	}
	if c.Default != nil {
		s := c.Default.String()
		col.Default = &s
	}
	return col
}

// tableSchema is a catalog table's go-mysql-server schema, built once per
// catalog value (catalog values are immutable; a change replaces the value).
type tableSchema struct {
	sch     sql.PrimaryKeySchema
	pk      []int // primary-key column positions, in key order
	unique  []int // positions in Table.Indexes of unique indexes
	idxCols [][]int
	keyless bool
	ordered bool // the encoded primary key sorts like the SQL values
}

type schemaCache struct {
	mu sync.Mutex
	m  map[uint64]schemaEntry
}

type schemaEntry struct {
	t  *engine.Table
	ts *tableSchema
}

func (c *schemaCache) get(ctx *sql.Context, t *engine.Table) (*tableSchema, error) {
	c.mu.Lock()
	e, ok := c.m[t.ID]
	c.mu.Unlock()
	if ok && e.t == t {
		return e.ts, nil
	}
	ts, err := buildSchema(ctx, t)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[uint64]schemaEntry{}
	}
	c.m[t.ID] = schemaEntry{t, ts}
	c.mu.Unlock()
	return ts, nil
}

func buildSchema(ctx *sql.Context, t *engine.Table) (*tableSchema, error) {
	sch := make(sql.Schema, len(t.Columns))
	for i, c := range t.Columns {
		typ, err := planbuilder.ParseColumnTypeString(ctx, c.Type)
		if err != nil {
			return nil, fmt.Errorf("table %s column %s: type %q: %w", t.Name, c.Name, c.Type, err)
		}
		col := &sql.Column{Name: c.Name, Type: typ, Nullable: c.Nullable, AutoIncrement: c.AutoIncrement,
			Comment: c.Comment, Source: t.Name, DatabaseSource: t.Database}
		if c.AutoIncrement {
			col.Extra = "auto_increment"
		}
		if c.Default != nil {
			def, err := planbuilder.StringToColumnDefaultValue(ctx, *c.Default)
			if err != nil {
				return nil, fmt.Errorf("table %s column %s: default %q: %w", t.Name, c.Name, *c.Default, err)
			}
			col.Default, err = sql.NewColumnDefaultValue(def.Expr, typ, def.IsLiteral(), def.IsParenthesized(), c.Nullable)
			if err != nil {
				return nil, err
			}
		}
		sch[i] = col
	}
	ts := &tableSchema{keyless: len(t.PrimaryKey) == 0, ordered: len(t.PrimaryKey) > 0}
	for _, name := range t.PrimaryKey {
		i := sch.IndexOfColName(name)
		if i < 0 {
			return nil, fmt.Errorf("table %s: primary key column %s missing", t.Name, name)
		}
		sch[i].PrimaryKey = true
		ts.pk = append(ts.pk, i)
		if !orderedType(sch[i].Type) {
			ts.ordered = false
		}
	}
	ts.sch = sql.NewPrimaryKeySchema(sch, ts.pk...)
	for n, idx := range t.Indexes {
		var cols []int
		for _, c := range idx.Columns {
			cols = append(cols, sch.IndexOfColName(c.Name))
		}
		ts.idxCols = append(ts.idxCols, cols)
		if idx.Unique {
			ts.unique = append(ts.unique, n)
		}
	}
	return ts, nil
}

// orderedType reports whether the tuple codec orders a type's values as SQL
// does: integers, floats, and binary-collated strings.
func orderedType(t sql.Type) bool {
	switch {
	case types.IsInteger(t), types.IsFloat(t):
		return true
	case types.IsBinaryType(t):
		return true
	case types.IsText(t):
		st, ok := t.(sql.StringType)
		return ok && strings.HasSuffix(st.Collation().Name(), "_bin") && st.Collation().PadAttribute() == "NO PAD"
	}
	return false
}

// toStored converts a go-mysql-server value to a codec primitive.
func toStored(ctx *sql.Context, typ sql.Type, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case uint8:
		return uint64(x), nil
	case uint16:
		return uint64(x), nil
	case uint32:
		return uint64(x), nil
	case uint64:
		return x, nil
	case uint:
		return uint64(x), nil
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	case string:
		return x, nil
	case []byte:
		return x, nil
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.999999999"), nil
	case *apd.Decimal:
		return x.String(), nil
	}
	sv, err := typ.SQL(ctx, nil, v)
	if err != nil {
		return nil, err
	}
	return sv.ToString(), nil
}

// fromStored converts a codec primitive back to the column type's value.
func fromStored(ctx *sql.Context, typ sql.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if b, ok := v.([]byte); ok && !types.IsBinaryType(typ) {
		v = string(b)
	}
	out, _, err := typ.Convert(ctx, v)
	return out, err
}

// encodeValues encodes the values of row at positions cols.
func encodeValues(ctx *sql.Context, sch sql.Schema, row sql.Row, cols []int) ([]byte, error) {
	vals := make([]any, len(cols))
	for i, c := range cols {
		v, err := toStored(ctx, sch[c].Type, row[c])
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	return engine.AppendTuple(nil, vals...)
}

func allColumns(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// decodeRow decodes a stored row value.
func decodeRow(ctx *sql.Context, sch sql.Schema, b []byte) (sql.Row, error) {
	vals, err := engine.DecodeTuple(b)
	if err != nil {
		return nil, err
	}
	if len(vals) != len(sch) {
		return nil, fmt.Errorf("stored row has %d values, table has %d columns", len(vals), len(sch))
	}
	row := make(sql.Row, len(sch))
	for i, c := range sch {
		if row[i], err = fromStored(ctx, c.Type, vals[i]); err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
	}
	return row, nil
}

// formatKey renders key values as MySQL's duplicate-entry message does.
func formatKey(row sql.Row, cols []int) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = fmt.Sprint(row[c])
	}
	return strings.Join(parts, "-")
}
