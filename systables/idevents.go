package systables

import (
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
)

// idEvents is SYS_ID_EVENTS: every sequence jump, reseed, switch change and
// fault, durably, in order.
var idEvents = &Def{
	Name: "SYS_ID_EVENTS",
	Key:  "EVENT_ID",
	Schema: sql.Schema{
		{Name: "EVENT_ID", Type: types.Uint64, PrimaryKey: true},
		{Name: "EVENT_TIME", Type: types.DatetimeMaxPrecision},
		{Name: "USER", Type: varchar(64)},
		{Name: "NODE_ID", Type: types.Uint64},
		{Name: "KIND", Type: varchar(64)},
		{Name: "SEQUENCE_NAME", Type: varchar(64), Nullable: true},
		{Name: "OLD_VALUE", Type: types.Int64, Nullable: true},
		{Name: "NEW_VALUE", Type: types.Int64, Nullable: true},
		{Name: "STATEMENT", Type: types.Text, Nullable: true},
	},
	Rows: func(ctx *sql.Context, src Source, r KeyRange, emit func(sql.Row) bool) error {
		evs := src.State().Events()
		for i := range evs {
			ev := evs[i]
			if r.Reverse {
				ev = evs[len(evs)-1-i]
			}
			if ev.Seq < r.Lo || (r.Hi != 0 && ev.Seq >= r.Hi) {
				continue
			}
			var seq any
			if ev.Sequence != "" {
				seq = ev.Sequence
			}
			if !emit(sql.Row{ev.Seq, ev.Time, ev.User, ev.Node, ev.Kind, seq, ev.Old, ev.New, ev.Statement}) {
				break
			}
		}
		return nil
	},
	Count: func(src Source) uint64 { return uint64(len(src.State().Events())) },
}
