package server

import (
	"strconv"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/mysql"

	"github.com/sysemu/sysemu/engine"
)

// TiDB BR backup and restore, and the check across every ID space:
// backup_database, restore_backup, check_ids, and the fault and fix
// procedures the check's problems need (set_next_gsto_no, fault_filenode,
// fault_identity_range). Directories are paths on the server's machine, as
// BR's local storage is on the TiKV nodes.

var (
	backupSchema = sql.Schema{
		{Name: "dir", Type: types.LongText}, {Name: "tables", Type: types.Int64},
		{Name: "ranges", Type: types.Int64}, {Name: "rows", Type: types.Uint64},
		{Name: "manifest_sha256", Type: types.LongText},
	}
	// restoreSchema is the ID map a restore reports, with the run's totals
	// on every row.
	restoreSchema = sql.Schema{
		{Name: "restore_id", Type: types.Uint64}, {Name: "kind", Type: types.LongText},
		{Name: "upstream_id", Type: types.Uint64}, {Name: "downstream_id", Type: types.Uint64},
		{Name: "name", Type: types.LongText}, {Name: "ranges", Type: types.Int64},
		{Name: "ranges_skipped", Type: types.Int64}, {Name: "rows_restored", Type: types.Uint64},
		{Name: "seconds", Type: types.Float64},
	}
	checkSchema = sql.Schema{
		{Name: "id_space", Type: types.LongText}, {Name: "object", Type: types.LongText},
		{Name: "problem", Type: types.LongText}, {Name: "fix", Type: types.LongText},
	}
)

func (s *Server) restoreProcedures() []sql.ExternalStoredProcedureDetails {
	return []sql.ExternalStoredProcedureDetails{
		{Name: "backup_database", Schema: backupSchema, Function: s.procBackup},
		{Name: "restore_backup", Schema: restoreSchema, Function: s.procRestore},
		{Name: "check_ids", Schema: checkSchema, Function: s.procCheckIDs},
		{Name: "set_next_gsto_no", Schema: oneColumn("next_gsto_no", types.Uint64), Function: s.procSetNextGstoNo},
		{Name: "fault_filenode", Schema: oneColumn("relfilenode", types.Uint64), Function: s.procFaultFilenode},
		{Name: "fault_identity_range", Schema: oneColumn("node_id", types.Int64), Function: s.procFaultIdentityRange},
	}
}

func wrongArgs(routine, format string, args ...any) error {
	return mysql.NewSQLError(erWrongArguments, "HY000", "Incorrect arguments to "+routine+": "+format, args...)
}

// procBackup is CALL backup_database('db[,db...]', 'DIR'[, range_rows]);
// ” backs up every user database.
func (s *Server) procBackup(ctx *sql.Context, dbs, dir string, opts ...string) (sql.RowIter, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	if strings.TrimSpace(dir) == "" {
		return nil, wrongArgs("backup_database", "expected a directory")
	}
	rangeRows := 0
	if len(opts) > 1 {
		return nil, mysql.NewSQLError(erSPWrongArgs, "42000", "Incorrect number of arguments for PROCEDURE backup_database; expected 2 or 3, got %d", len(opts)+2)
	}
	if len(opts) == 1 {
		n, err := strconv.Atoi(strings.TrimSpace(opts[0]))
		if err != nil || n < 1 {
			return nil, wrongArgs("backup_database", "range rows must be a positive integer, got '%s'", opts[0])
		}
		rangeRows = n
	}
	res, err := s.eng.Backup(ctx, dir, splitList(dbs), rangeRows)
	if err != nil {
		return nil, toSQLError(err)
	}
	s.log.WithFields(map[string]any{"dir": dir, "tables": res.Tables, "rows": res.Rows}).Info("backup written")
	return sql.RowsToRowIter(sql.Row{res.Dir, int64(res.Tables), int64(res.Ranges), res.Rows, res.Manifest}), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// procRestore is CALL restore_backup('DIR'[, 'db,...'[, concurrency[,
// 'checkpoint interval']]]).
func (s *Server) procRestore(ctx *sql.Context, dir string, opts ...string) (sql.RowIter, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	if len(opts) > 3 {
		return nil, mysql.NewSQLError(erSPWrongArgs, "42000", "Incorrect number of arguments for PROCEDURE restore_backup; expected 1 to 4, got %d", len(opts)+1)
	}
	if strings.TrimSpace(dir) == "" {
		return nil, wrongArgs("restore_backup", "expected a directory")
	}
	var o engine.RestoreOptions
	if len(opts) > 0 {
		o.Databases = splitList(opts[0])
	}
	if len(opts) > 1 && strings.TrimSpace(opts[1]) != "" {
		n, err := strconv.Atoi(strings.TrimSpace(opts[1]))
		if err != nil || n < 1 || n > 256 {
			return nil, wrongArgs("restore_backup", "concurrency must be 1..256, got '%s'", opts[1])
		}
		o.Concurrency = n
	}
	if len(opts) > 2 && strings.TrimSpace(opts[2]) != "" {
		d, err := time.ParseDuration(strings.TrimSpace(opts[2]))
		if err != nil || d <= 0 {
			return nil, wrongArgs("restore_backup", "checkpoint interval must be a positive duration such as '30s', got '%s'", opts[2])
		}
		o.CheckpointInterval = d
	}
	res, err := s.eng.Restore(ctx, actor(ctx), dir, o)
	if err != nil {
		return nil, toSQLError(err)
	}
	s.log.WithFields(map[string]any{"dir": dir, "restore": res.RestoreID, "ranges": res.Ranges, "skipped": res.Skipped,
		"rows": res.RestoredRows, "seconds": res.Elapsed.Seconds()}).Info("restore finished")
	rows := make([]sql.Row, 0, len(res.IDMap))
	for _, m := range res.IDMap {
		rows = append(rows, sql.Row{m.RestoreID, m.Kind, m.Upstream, m.Downstream, m.Name, int64(res.Ranges),
			int64(res.Skipped), res.RestoredRows, res.Elapsed.Seconds()})
	}
	return sql.RowsToRowIter(rows...), nil
}

// procCheckIDs is CALL check_ids(): one row per problem, none when healthy.
func (s *Server) procCheckIDs(ctx *sql.Context) (sql.RowIter, error) {
	probs, err := s.eng.CheckIDs(ctx)
	if err != nil {
		return nil, toSQLError(err)
	}
	rows := make([]sql.Row, len(probs))
	for i, p := range probs {
		rows[i] = sql.Row{p.Space, p.Object, p.Problem, p.Fix}
	}
	return sql.RowsToRowIter(rows...), nil
}

func (s *Server) procSetNextGstoNo(ctx *sql.Context, next int64) (sql.RowIter, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	if next < 1 {
		return nil, wrongArgs("set_next_gsto_no", "%d is not a gsto_no", next)
	}
	if err := s.eng.SetNextGstoNo(ctx, actor(ctx), uint64(next)); err != nil {
		return nil, toSQLError(err)
	}
	return sql.RowsToRowIter(sql.Row{uint64(next)}), nil
}

// tableArg resolves 'db.t' or 't' (in the current database).
func tableArg(ctx *sql.Context, name string) (db, table string, err error) {
	db, table = ctx.GetCurrentDatabase(), name
	if i := strings.LastIndex(name, "."); i >= 0 {
		db, table = name[:i], name[i+1:]
	}
	if db == "" {
		return "", "", mysql.NewSQLError(erNoDB, "3D000", "No database selected")
	}
	return db, table, nil
}

func (s *Server) procFaultFilenode(ctx *sql.Context, name string, filenode int64) (sql.RowIter, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	db, t, err := tableArg(ctx, name)
	if err != nil {
		return nil, err
	}
	if filenode < 1 {
		return nil, wrongArgs("fault_filenode", "%d is not a filenode", filenode)
	}
	if err := s.eng.FaultFilenode(ctx, actor(ctx), db, t, uint64(filenode)); err != nil {
		return nil, toSQLError(err)
	}
	return sql.RowsToRowIter(sql.Row{uint64(filenode)}), nil
}

func (s *Server) procFaultIdentityRange(ctx *sql.Context, name string, node, start, end int64) (sql.RowIter, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	db, t, err := tableArg(ctx, name)
	if err != nil {
		return nil, err
	}
	if node < 1 {
		return nil, wrongArgs("fault_identity_range", "%d is not a node", node)
	}
	if err := s.eng.FaultIdentityRange(ctx, actor(ctx), db, t, uint64(node), start-1, end); err != nil {
		return nil, toSQLError(err)
	}
	return sql.RowsToRowIter(sql.Row{node}), nil
}
