package server

import (
	"fmt"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/mysql"

	"github.com/sysemu/sysemu/engine"
)

// PostgreSQL relfilenodes: pg_relation_filenode(), pg_relation_filepath(),
// pg_filenode_relation(), the rewrite procedures (vacuum_full, cluster_table,
// reindex_table), and the relation-map procedures (fault_filenode_map,
// verify_filenode_maps, rebuild_filenode_map). Opening a database whose map
// is damaged fails with PostgreSQL's message (UseDatabase below).

// UseDatabase runs for USE db and for a connection that names db as its
// default: like a PostgreSQL backend reading global/pg_filenode.map and
// base/<oid>/pg_filenode.map when it connects, it refuses a database whose
// relation map is missing or damaged.
func (s *session) UseDatabase(ctx *sql.Context, db sql.Database) error {
	var err error
	switch d := unwrap(db).(type) {
	case *userDatabase:
		err = d.s.eng.CheckDatabase(d.name)
	case *systemDatabase:
		err = d.s.eng.CheckDatabase(d.Name())
	}
	if err != nil && strings.EqualFold(s.GetCurrentDatabase(), db.Name()) {
		// COM_INIT_DB sets the database before it asks; USE asks first.
		s.BaseSession.SetCurrentDatabase(s.prevDB)
	}
	return toSQLError(err)
}

// SetCurrentDatabase remembers the database it replaces (see UseDatabase).
func (s *session) SetCurrentDatabase(db string) {
	s.prevDB = s.GetCurrentDatabase()
	s.BaseSession.SetCurrentDatabase(db)
}

// pgFunctions are the functions of PostgreSQL's "Database Object
// Management" family that deal with filenodes.
func (s *Server) pgFunctions() []sql.Function {
	st := s.eng.State
	return []sql.Function{
		sql.Function1{Name: "pg_relation_filenode", Fn: func(_ *sql.Context, e sql.Expression) sql.Expression {
			return &argExpr{name: "pg_relation_filenode", typ: types.Uint64, args: []sql.Expression{e},
				eval: func(ctx *sql.Context, v []any) (any, error) {
					r, err := relationArg(ctx, st(), v[0])
					if err != nil || r == nil || r.Filenode == 0 {
						return nil, err
					}
					return r.Filenode, nil
				}}
		}},
		sql.Function1{Name: "pg_relation_filepath", Fn: func(_ *sql.Context, e sql.Expression) sql.Expression {
			return &argExpr{name: "pg_relation_filepath", typ: types.LongText, args: []sql.Expression{e},
				eval: func(ctx *sql.Context, v []any) (any, error) {
					r, err := relationArg(ctx, st(), v[0])
					if err != nil || r == nil || r.Path() == "" {
						return nil, err
					}
					return r.Path(), nil
				}}
		}},
		sql.Function2{Name: "pg_filenode_relation", Fn: func(_ *sql.Context, ts, fn sql.Expression) sql.Expression {
			return &argExpr{name: "pg_filenode_relation", typ: types.LongText, args: []sql.Expression{ts, fn},
				eval: func(ctx *sql.Context, v []any) (any, error) {
					if v[0] == nil || v[1] == nil {
						return nil, nil
					}
					tsOID, ok1 := oidArg(v[0])
					fnOID, ok2 := oidArg(v[1])
					if !ok1 || !ok2 {
						return nil, mysql.NewSQLError(erWrongArguments, "HY000", "Incorrect arguments to pg_filenode_relation: want (tablespace oid, filenode oid)")
					}
					r, ok := st().PGFilenodeRelation(ctx.GetCurrentDatabase(), tsOID, fnOID)
					if !ok {
						return nil, nil
					}
					return r.Name, nil
				}}
		}},
	}
}

// relationArg resolves a regclass-like argument: a table name of the
// current database ('t' or 'db.t') or a mapped catalog ('pg_class').
func relationArg(ctx *sql.Context, s *engine.State, v any) (*engine.PGClassRow, error) {
	if v == nil {
		return nil, nil
	}
	name := fmt.Sprint(v)
	if b, ok := v.([]byte); ok {
		name = string(b)
	}
	db := ctx.GetCurrentDatabase()
	r, ok := s.PGRelation(db, name)
	if !ok {
		if !strings.Contains(name, ".") && db != "" {
			name = db + "." + name
		}
		return nil, mysql.NewSQLError(erNoSuchTable, "42S02", "Table '%s' doesn't exist", name)
	}
	return r, nil
}

func oidArg(v any) (uint64, bool) {
	switch x := v.(type) {
	case int8, int16, int32, int64, int:
		n := fmt.Sprint(x)
		var i int64
		_, err := fmt.Sscan(n, &i)
		return uint64(i), err == nil && i >= 0
	case uint8, uint16, uint32, uint64, uint:
		var u uint64
		_, err := fmt.Sscan(fmt.Sprint(x), &u)
		return u, err == nil
	}
	var u uint64
	_, err := fmt.Sscan(fmt.Sprint(v), &u)
	return u, err == nil
}

// argExpr is a function over changing state with arguments: it is
// non-deterministic, so prepared statements evaluate it every time.
type argExpr struct {
	name string
	typ  sql.Type
	args []sql.Expression
	eval func(*sql.Context, []any) (any, error)
}

var _ sql.FunctionExpression = (*argExpr)(nil)
var _ sql.NonDeterministicExpression = (*argExpr)(nil)

func (e *argExpr) Resolved() bool {
	for _, a := range e.args {
		if !a.Resolved() {
			return false
		}
	}
	return true
}
func (e *argExpr) String() string {
	parts := make([]string, len(e.args))
	for i, a := range e.args {
		parts[i] = a.String()
	}
	return e.name + "(" + strings.Join(parts, ", ") + ")"
}
func (e *argExpr) Type(*sql.Context) sql.Type   { return e.typ }
func (e *argExpr) IsNullable(*sql.Context) bool { return true }
func (e *argExpr) Children() []sql.Expression   { return e.args }
func (e *argExpr) FunctionName() string         { return e.name }
func (e *argExpr) Description() string          { return "sysemu PostgreSQL function " + e.name }
func (e *argExpr) IsNonDeterministic() bool     { return true }
func (e *argExpr) Eval(ctx *sql.Context, row sql.Row) (any, error) {
	vals := make([]any, len(e.args))
	for i, a := range e.args {
		v, err := a.Eval(ctx, row)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	return e.eval(ctx, vals)
}

func (e *argExpr) WithChildren(_ *sql.Context, children ...sql.Expression) (sql.Expression, error) {
	if len(children) != len(e.args) {
		return nil, sql.ErrInvalidChildrenNumber.New(e, len(children), len(e.args))
	}
	n := *e
	n.args = children
	return &n, nil
}

// pgProcedures are the rewrite and relation-map procedures. Changing
// anything needs SUPER (PostgreSQL: the owner or a superuser);
// verify_filenode_maps only reads.
func (s *Server) pgProcedures() []sql.ExternalStoredProcedureDetails {
	rewrite := sql.Schema{{Name: "oid", Type: types.Uint64}, {Name: "old_relfilenode", Type: types.Uint64},
		{Name: "relfilenode", Type: types.Uint64}, {Name: "path", Type: types.LongText}}
	mapRow := sql.Schema{{Name: "path", Type: types.LongText}, {Name: "status", Type: types.LongText}}
	return []sql.ExternalStoredProcedureDetails{
		{Name: "vacuum_full", Schema: rewrite, Function: s.rewriteProc(engine.RewriteVacuumFull)},
		{Name: "cluster_table", Schema: rewrite, Function: s.rewriteProc(engine.RewriteCluster)},
		{Name: "reindex_table", Schema: rewrite, Function: s.rewriteProc(engine.RewriteReindex)},
		{Name: "fault_filenode_map", Schema: mapRow, Function: s.procFaultFilenodeMap},
		{Name: "rebuild_filenode_map", Schema: mapRow, Function: s.procRebuildFilenodeMap},
		{Name: "verify_filenode_maps", Schema: sql.Schema{
			{Name: "path", Type: types.LongText}, {Name: "database", Type: types.LongText, Nullable: true},
			{Name: "database_oid", Type: types.Uint64}, {Name: "mappings", Type: types.Int64},
			{Name: "crc", Type: types.LongText, Nullable: true}, {Name: "status", Type: types.LongText}},
			Function: s.procVerifyFilenodeMaps},
	}
}

func (s *Server) rewriteProc(kind string) func(*sql.Context, string) (sql.RowIter, error) {
	return func(ctx *sql.Context, table string) (sql.RowIter, error) {
		if err := s.requireAdmin(ctx); err != nil {
			return nil, err
		}
		db := ctx.GetCurrentDatabase()
		if _, err := relationArg(ctx, s.eng.State(), table); err != nil {
			return nil, err
		}
		rw, err := s.eng.RewriteTable(ctx, actor(ctx), db, table, kind)
		if err != nil {
			return nil, toSQLError(err)
		}
		return sql.RowsToRowIter(sql.Row{rw.OID, rw.OldFilenode, rw.NewFilenode, rw.Path}), nil
	}
}

func (s *Server) procFaultFilenodeMap(ctx *sql.Context, db, mode string) (sql.RowIter, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	mode = strings.ToLower(strings.TrimSpace(mode))
	if mode != engine.FaultDelete && mode != engine.FaultCorrupt {
		return nil, mysql.NewSQLError(erWrongArguments, "HY000", "Incorrect arguments to fault_filenode_map: expected 'delete' or 'corrupt', got '%s'", mode)
	}
	rel, err := s.eng.FaultFilenodeMap(ctx, actor(ctx), db, mode)
	if err != nil {
		return nil, toSQLError(err)
	}
	status := "deleted"
	if mode == engine.FaultCorrupt {
		status = "corrupted"
	}
	return sql.RowsToRowIter(sql.Row{rel, status}), nil
}

func (s *Server) procRebuildFilenodeMap(ctx *sql.Context, db string) (sql.RowIter, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	rel, m, err := s.eng.RebuildFilenodeMap(ctx, actor(ctx), db)
	if err != nil {
		return nil, toSQLError(err)
	}
	return sql.RowsToRowIter(sql.Row{rel, fmt.Sprintf("rebuilt: %d mappings", len(m))}), nil
}

func (s *Server) procVerifyFilenodeMaps(ctx *sql.Context) (sql.RowIter, error) {
	var rows []sql.Row
	for _, st := range s.eng.VerifyFilenodeMaps() {
		var db, crc any
		if st.Database != "" {
			db = st.Database
		}
		if st.Mappings >= 0 {
			crc = fmt.Sprintf("0x%08x", st.CRC)
		}
		rows = append(rows, sql.Row{st.Path, db, st.DatabaseOID, int64(st.Mappings), crc, st.Status})
	}
	return sql.RowsToRowIter(rows...), nil
}
