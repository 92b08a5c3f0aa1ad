package systables

import (
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
)

// TiDB BR's restore state: the upstream→downstream ID map, the checkpoint
// (completed ranges by downstream table ID) and the running restore's
// progress.

// idMap is SYS_ID_MAP: one row per table, partition and index of every
// restore (partitions and indexes by their GSTO_NO).
var idMap = &Def{
	Name: "SYS_ID_MAP",
	Schema: sql.Schema{
		{Name: "RESTORE_ID", Type: types.Uint64},
		{Name: "UPSTREAM_ID", Type: types.Uint64},
		{Name: "DOWNSTREAM_ID", Type: types.Uint64},
		{Name: "KIND", Type: varchar(16)},
		{Name: "NAME", Type: varchar(256)},
	},
	Rows: func(ctx *sql.Context, src Source, _ KeyRange, emit func(sql.Row) bool) error {
		m, err := src.IDMap(ctx, 0)
		for _, en := range m {
			if !emit(sql.Row{en.RestoreID, en.Upstream, en.Downstream, en.Kind, en.Name}) {
				break
			}
		}
		return err
	},
}

// restoreCheckpoints is SYS_RESTORE_CHECKPOINTS: one row per completed
// range, under the downstream table ID it was restored into.
var restoreCheckpoints = &Def{
	Name: "SYS_RESTORE_CHECKPOINTS",
	Schema: sql.Schema{
		{Name: "RESTORE_ID", Type: types.Uint64},
		{Name: "TABLE_ID", Type: types.Uint64},
		{Name: "RANGE_NO", Type: types.Int64},
		{Name: "ROWS", Type: types.Uint64},
		{Name: "STATUS", Type: varchar(16)},
		{Name: "TIME", Type: types.Datetime},
	},
	Rows: func(ctx *sql.Context, src Source, _ KeyRange, emit func(sql.Row) bool) error {
		cps, err := src.Checkpoints(ctx)
		for _, cp := range cps {
			if !emit(sql.Row{cp.RestoreID, cp.TableID, int64(cp.Range), cp.Rows, cp.Status, cp.Time}) {
				break
			}
		}
		return err
	},
}

// restoreProgress is SYS_RESTORE_PROGRESS: the running (or last) restore of
// this server process.
var restoreProgress = &Def{
	Name: "SYS_RESTORE_PROGRESS",
	Schema: sql.Schema{
		{Name: "RESTORE_ID", Type: types.Uint64},
		{Name: "DIR", Type: varchar(1024)},
		{Name: "STATUS", Type: varchar(16)},
		{Name: "RANGES_DONE", Type: types.Int64},
		{Name: "RANGES_TOTAL", Type: types.Int64},
		{Name: "ROWS_RESTORED", Type: types.Uint64},
		{Name: "ROWS_TOTAL", Type: types.Uint64},
		{Name: "ROWS_PER_SEC", Type: types.Float64},
		{Name: "ETA_SECONDS", Type: types.Float64},
		{Name: "STARTED", Type: types.Datetime},
	},
	Rows: func(_ *sql.Context, src Source, _ KeyRange, emit func(sql.Row) bool) error {
		for _, p := range src.RestoreProgress() {
			if !emit(sql.Row{p.RestoreID, p.Dir, p.Status, int64(p.RangesDone), int64(p.RangesTotal), p.Rows, p.RowsTotal,
				p.Rate, p.ETA.Seconds(), p.Started}) {
				break
			}
		}
		return nil
	},
}
