package systables

import (
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/sysemu/sysemu/engine"
)

// identities is SYS_IDENTITIES: every identity column with its declaration
// and counters — one row per table in management mode none (NODE_ID 0, the
// table's own counter), one per node in modes manual and auto.
var identities = &Def{
	Name:      "SYS_IDENTITIES",
	Key:       "TABLE_ID",
	NonUnique: true,
	Schema: sql.Schema{
		{Name: "TABLE_ID", Type: types.Uint64},
		{Name: "TABLE_SCHEMA", Type: varchar(64)},
		{Name: "TABLE_NAME", Type: varchar(64)},
		{Name: "COLUMN_NAME", Type: varchar(64)},
		{Name: "DATA_TYPE", Type: varchar(64)},
		{Name: "SEED", Type: types.Int64},
		{Name: "INCREMENT", Type: types.Int64},
		{Name: "MANAGEMENT", Type: varchar(16)},
		{Name: "NODE_ID", Type: types.Uint64},
		{Name: "CURRENT_VALUE", Type: types.Int64},
		{Name: "LAST_VALUE", Type: types.Int64, Nullable: true},
		{Name: "NEXT_VALUE", Type: types.Int64},
		{Name: "MAX_VALUE", Type: types.Int64},
		{Name: "TABLE_ROWS", Type: types.Uint64},
	},
	Rows: identityRows(func(t *engine.Table, st engine.IdentityState, n engine.IdentityNodeState, rows uint64, emit func(sql.Row) bool) bool {
		id := t.Identity
		var last any
		if n.Last != nil {
			last = *n.Last
		}
		return emit(sql.Row{t.ID, t.Database, t.Name, id.Column, id.Type, id.Seed, id.Incr, st.Mode,
			n.Node, n.Current, last, n.Next, id.Max, rows})
	}),
}

// identityRanges is SYS_IDENTITY_RANGES, MSrepl_identity_range per node:
// one row per (table, node, range) in management mode auto. A range holds
// RANGE_START..RANGE_END; NEXT_VALUE and CURRENT_MAX are set on the range
// the node draws from; MAX_IDENTITY is the type's maximum.
var identityRanges = &Def{
	Name:      "SYS_IDENTITY_RANGES",
	Key:       "TABLE_ID",
	NonUnique: true,
	Schema: sql.Schema{
		{Name: "TABLE_ID", Type: types.Uint64},
		{Name: "TABLE_SCHEMA", Type: varchar(64)},
		{Name: "TABLE_NAME", Type: varchar(64)},
		{Name: "NODE_ID", Type: types.Uint64},
		{Name: "RANGE_KIND", Type: varchar(16)},
		{Name: "RANGE_START", Type: types.Int64},
		{Name: "RANGE_END", Type: types.Int64},
		{Name: "NEXT_VALUE", Type: types.Int64, Nullable: true},
		{Name: "CURRENT_MAX", Type: types.Int64, Nullable: true},
		{Name: "USAGE_PCT", Type: types.Int64},
		{Name: "IDENTITY_RANGE", Type: types.Int64},
		{Name: "PUB_IDENTITY_RANGE", Type: types.Int64},
		{Name: "THRESHOLD", Type: types.Int64},
		{Name: "NEXT_SEED", Type: types.Int64},
		{Name: "MAX_IDENTITY", Type: types.Int64},
	},
	Rows: identityRows(func(t *engine.Table, st engine.IdentityState, n engine.IdentityNodeState, _ uint64, emit func(sql.Row) bool) bool {
		for i, r := range n.Ranges {
			var next, cur any
			if n.Next > r.Lo && n.Next <= r.Hi {
				next = n.Next
			}
			if n.Current > r.Lo && n.Current <= r.Hi {
				cur = n.Current
			}
			if !emit(sql.Row{t.ID, t.Database, t.Name, n.Node, engine.RangeKind(i), r.Lo + 1, r.Hi, next, cur,
				r.Usage(n.Current), st.Range, st.PubRange, st.Threshold, st.NextSeed, t.Identity.Max}) {
				return false
			}
		}
		return true
	}),
}

// identityRows visits the counters of every table with an identity column
// whose ID lies in r.
func identityRows(row func(*engine.Table, engine.IdentityState, engine.IdentityNodeState, uint64, func(sql.Row) bool) bool) func(*sql.Context, Source, KeyRange, func(sql.Row) bool) error {
	return func(ctx *sql.Context, src Source, r KeyRange, emit func(sql.Row) bool) error {
		var err error
		src.State().RangeTables(r.Lo, r.Hi, r.Reverse, func(t *engine.Table) bool {
			if t.Identity == nil {
				return true
			}
			var st engine.IdentityState
			var rows uint64
			if st, err = src.IdentityStateOf(ctx, t.ID); err != nil {
				return false
			}
			if rows, err = src.RowCount(ctx, t.ID); err != nil {
				return false
			}
			for _, n := range st.Nodes {
				if !row(t, st, n, rows, emit) {
					return false
				}
			}
			return true
		})
		return err
	}
}
