package server

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cockroachdb/apd/v3"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/mysql"

	"github.com/sysemu/sysemu/engine"
)

// SQL Server identity: IDENT_CURRENT(), IDENT_SEED(), IDENT_INCR(),
// SCOPE_IDENTITY() (and @@IDENTITY, rewritten to it), CHECKIDENT, and the
// replication procedures identity_range_manage and adjust_identity_range.
// A session acts as the node in @@session.node_id.

// Session variables.
const (
	varNodeID = "node_id"
)

// identityVariables declares @@node_id; New sets its default to the
// server's own node.
var identityVariables = []sql.SystemVariable{
	&sql.MysqlSystemVariable{
		Name:    varNodeID,
		Scope:   sql.GetMysqlScope(sql.SystemVariableScope_Both),
		Dynamic: true,
		Type:    types.NewSystemIntType(varNodeID, 1, 1<<32-1, false),
		Default: int64(1),
	},
}

// nodeOf is the node the session acts as.
func nodeOf(ctx *sql.Context) uint64 {
	v, err := ctx.GetSessionVariable(ctx, varNodeID)
	if err != nil {
		return 1
	}
	n, _ := strconv.ParseUint(fmt.Sprint(v), 10, 64)
	return max(n, 1)
}

// identityCaller is who inserts into t: the session's node and whether
// ranges may be reassigned on the Publisher (SQL Server's db_owner).
func (s *Server) identityCaller(ctx *sql.Context, t *engine.Table) engine.IdentityCaller {
	return engine.IdentityCaller{Node: nodeOf(ctx), Admin: func() bool { return s.requireOwner(ctx, t) == nil }}
}

// requireOwner is SQL Server's rule for CHECKIDENT and the identity range
// procedures — sysadmin, or the table's owner (db_owner, db_ddladmin): SUPER,
// or the ALTER privilege on the table.
func (s *Server) requireOwner(ctx *sql.Context, t *engine.Table) error {
	alter := sql.NewPrivilegedOperation(sql.PrivilegeCheckSubject{Database: t.Database, Table: t.Name}, sql.PrivilegeType_Alter)
	if s.requireAdmin(ctx) == nil || s.mdb().UserHasPrivileges(ctx, alter) {
		return nil
	}
	return mysql.NewSQLError(erSpecificAccess, "42000", "Access denied; you need (at least one of) the SUPER or ALTER privilege(s) for this operation")
}

// identitySpec declares a new table's identity: its AUTO_INCREMENT column,
// with the seed and increment of a T-SQL IDENTITY(seed, increment) (see
// tsql.go) or the table option AUTO_INCREMENT = n.
func identitySpec(ctx *sql.Context, spec *engine.TableSpec, autoIncrement uint64) error {
	for _, c := range spec.Columns {
		if !c.AutoIncrement {
			continue
		}
		id := &engine.Identity{Column: c.Name, Type: c.Type, Seed: int64(max(autoIncrement, 1)), Incr: 1}
		maxV, ok := engine.IdentityMax(c.Type)
		if !ok {
			return mysql.NewSQLError(erWrongFieldSpec, "42000", "Incorrect column specifier for column '%s'", c.Name)
		}
		if m, ok := identityMarkerOf(statementText(ctx), c.Name); ok {
			id.Seed, id.Incr, id.Type = m.seed, m.incr, m.typ
			// A DECIMAL(p,0) identity is stored as BIGINT with p digits' range.
			if dm, ok := engine.IdentityMax(m.typ); ok && !strings.Contains(m.typ, "int") {
				maxV = dm
			}
		}
		id.Max = maxV
		spec.Identity = id
		return nil
	}
	return nil
}

// identityMax is MAX(identity column) of t, nil when t has no rows: the
// last row when the column leads an ordered primary key, else a scan.
func (s *Server) identityMax(ctx *sql.Context, t *engine.Table) (*int64, error) {
	ut, err := s.userTable(ctx, t)
	if err != nil {
		return nil, err
	}
	col := ut.ts.sch.Schema.IndexOfColName(t.Identity.Column)
	if col < 0 {
		return nil, fmt.Errorf("table %s: identity column %s missing", t.Name, t.Identity.Column)
	}
	leads := ut.ts.ordered && len(ut.ts.pk) > 0 && ut.ts.pk[0] == col
	it := &rowIter{t: ut, r: scanRange{reverse: leads}}
	var out *int64
	for {
		row, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if row[col] == nil {
			continue
		}
		v, _, err := types.Int64.Convert(ctx, row[col])
		if err != nil {
			return nil, err
		}
		if n := v.(int64); out == nil || n > *out {
			out = &n
		}
		if leads {
			return out, nil
		}
	}
}

// identityTable resolves a table-name argument as SQL Server scripts write
// it — 't', 'db.t', 'dbo.t', 'db.dbo.t', with [brackets] or `backquotes` —
// to a table with an identity column.
func (s *Server) identityTable(ctx *sql.Context, name string) (*engine.Table, error) {
	var parts []string
	for _, p := range strings.Split(name, ".") {
		parts = append(parts, strings.Trim(strings.TrimSpace(p), "[]`\""))
	}
	db, tbl := ctx.GetCurrentDatabase(), parts[len(parts)-1]
	st := s.eng.State()
	switch len(parts) {
	case 1:
	case 2: // db.t, or schema.t (dbo.t) in the current database
		if st.Database(parts[0]) != nil {
			db = parts[0]
		}
	case 3: // db.schema.t
		db = parts[0]
	default:
		return nil, mysql.NewSQLError(erWrongArguments, "HY000", "Incorrect arguments to identity function: '%s' is not a table name", name)
	}
	if db == "" {
		return nil, mysql.NewSQLError(erNoDB, "3D000", "No database selected")
	}
	t := st.Table(db, tbl)
	if t == nil {
		return nil, mysql.NewSQLError(erNoSuchTable, "42S02", "Table '%s.%s' doesn't exist", db, tbl)
	}
	if t.Identity == nil {
		return nil, toSQLError(engine.NoIdentity(tbl))
	}
	return t, nil
}

var numeric38 = types.MustCreateDecimalType(38, 0)

// identityFunctions are IDENT_CURRENT, IDENT_SEED, IDENT_INCR and
// SCOPE_IDENTITY. Like SQL Server's they return NULL, not an error, for a
// table they cannot read.
func (s *Server) identityFunctions() []sql.Function {
	byTable := func(name string, pick func(engine.IdentityInfo) int64) sql.Function {
		return sql.Function1{Name: name, Fn: func(_ *sql.Context, e sql.Expression) sql.Expression {
			return &argExpr{name: name, typ: numeric38, args: []sql.Expression{e},
				eval: func(ctx *sql.Context, v []any) (any, error) {
					if v[0] == nil {
						return nil, nil
					}
					t, err := s.identityTable(ctx, fmt.Sprint(stringArg(v[0])))
					if err != nil {
						return nil, nil
					}
					info, err := s.eng.IdentityOf(ctx, t.ID, nodeOf(ctx))
					if err != nil {
						return nil, nil
					}
					return apd.New(pick(info), 0), nil
				}}
		}}
	}
	return []sql.Function{
		byTable("ident_current", func(i engine.IdentityInfo) int64 { return i.Current }),
		byTable("ident_seed", func(i engine.IdentityInfo) int64 { return i.Seed }),
		byTable("ident_incr", func(i engine.IdentityInfo) int64 { return i.Incr }),
		sql.Function0{Name: "scope_identity", Fn: func(*sql.Context) sql.Expression {
			return &argExpr{name: "scope_identity", typ: numeric38, eval: func(ctx *sql.Context, _ []any) (any, error) {
				if v := sessionOf(ctx).lastIdentity; v != nil {
					return apd.New(*v, 0), nil
				}
				return nil, nil
			}}
		}},
	}
}

func stringArg(v any) any {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}

// checkidentSchema is what CHECKIDENT answers: SQL Server's informational
// messages, which also arrive as notes (SHOW WARNINGS).
var checkidentSchema = sql.Schema{{Name: "message", Type: types.LongText}}

const (
	msgCheckIdent = 7998
	msgDBCCDone   = 2528
	dbccDone      = "DBCC execution completed. If DBCC printed error messages, contact your system administrator."
)

// identityProcedures are CHECKIDENT and the replication procedures.
func (s *Server) identityProcedures() []sql.ExternalStoredProcedureDetails {
	rangesSchema := sql.Schema{
		{Name: "NODE_ID", Type: types.Int64}, {Name: "RANGE_KIND", Type: types.LongText},
		{Name: "RANGE_START", Type: types.Int64}, {Name: "RANGE_END", Type: types.Int64},
	}
	return []sql.ExternalStoredProcedureDetails{
		{Name: "checkident", Schema: checkidentSchema, Function: s.procCheckIdent},
		{Name: "identity_range_manage", Schema: rangesSchema, Function: s.procIdentityRangeManage},
		{Name: "adjust_identity_range", Schema: rangesSchema, Function: s.procAdjustIdentityRange},
	}
}

// procCheckIdent is DBCC CHECKIDENT(table [, NORESEED | RESEED [, value]])
// [WITH NO_INFOMSGS]: CALL checkident('t'[, 'RESEED'[, n[, 'NO_INFOMSGS']]]).
// Changing the value needs the admin privilege; NORESEED only reads.
func (s *Server) procCheckIdent(ctx *sql.Context, table string, args ...string) (sql.RowIter, error) {
	if len(args) > 3 {
		return nil, mysql.NewSQLError(erSPWrongArgs, "42000", "Incorrect number of arguments for PROCEDURE checkident; expected 1 to 4, got %d", len(args)+1)
	}
	arg := func(i int) string {
		if i < len(args) {
			return strings.TrimSpace(args[i])
		}
		return ""
	}
	mode := strings.ToUpper(arg(0))
	if mode != engine.CheckIdentDefault && mode != engine.CheckIdentNoReseed && mode != engine.CheckIdentReseed {
		return nil, mysql.NewSQLError(erWrongArguments, "HY000", "Incorrect arguments to checkident: expected NORESEED or RESEED, got '%s'", arg(0))
	}
	var value *int64
	if v := arg(1); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || mode != engine.CheckIdentReseed {
			return nil, mysql.NewSQLError(erWrongArguments, "HY000", "Incorrect arguments to checkident: a new value needs RESEED and an integer, got '%s'", v)
		}
		value = &n
	}
	quiet := strings.EqualFold(arg(2), "NO_INFOMSGS")
	if f := arg(2); f != "" && !quiet {
		return nil, mysql.NewSQLError(erWrongArguments, "HY000", "Incorrect arguments to checkident: expected NO_INFOMSGS, got '%s'", f)
	}
	t, err := s.identityTable(ctx, table)
	if err != nil {
		return nil, err
	}
	if mode != engine.CheckIdentNoReseed {
		if err := s.requireOwner(ctx, t); err != nil {
			return nil, err
		}
	}
	msg, err := s.eng.CheckIdent(ctx, actor(ctx), t.Database, t.Name, nodeOf(ctx), mode, value, func() (*int64, error) {
		return s.identityMax(ctx, t)
	})
	if err != nil {
		return nil, toSQLError(err)
	}
	if quiet {
		return sql.RowsToRowIter(), nil
	}
	ctx.Session.Warn(&sql.Warning{Level: "Note", Code: msgCheckIdent, Message: msg})
	ctx.Session.Warn(&sql.Warning{Level: "Note", Code: msgDBCCDone, Message: dbccDone})
	return sql.RowsToRowIter(sql.Row{msg}, sql.Row{dbccDone}), nil
}

// procIdentityRangeManage is @identityrangemanagementoption:
// identity_range_manage('t', 'auto', identity_range, pub_identity_range,
// threshold), or ('t', 'manual' | 'none'). It answers the ranges assigned.
func (s *Server) procIdentityRangeManage(ctx *sql.Context, table, mode string, sizes ...int64) (sql.RowIter, error) {
	var rng, pub, threshold int64
	switch len(sizes) {
	case 0:
		if strings.EqualFold(strings.TrimSpace(mode), engine.IdentityAuto) {
			return nil, mysql.NewSQLError(erWrongArguments, "HY000", "Incorrect arguments to identity_range_manage: 'auto' needs identity_range, pub_identity_range and threshold")
		}
	case 3:
		rng, pub, threshold = sizes[0], sizes[1], sizes[2]
	default:
		return nil, mysql.NewSQLError(erSPWrongArgs, "42000", "Incorrect number of arguments for PROCEDURE identity_range_manage; expected 2 or 5, got %d", len(sizes)+2)
	}
	t, err := s.identityTable(ctx, table)
	if err != nil {
		return nil, err
	}
	if err := s.requireOwner(ctx, t); err != nil {
		return nil, err
	}
	if err := s.eng.ManageIdentityRange(ctx, actor(ctx), t.Database, t.Name, mode, rng, pub, threshold); err != nil {
		return nil, toSQLError(err)
	}
	return s.rangeRows(ctx, t, 0)
}

// procAdjustIdentityRange is sp_adjustpublisheridentityrange for one table.
func (s *Server) procAdjustIdentityRange(ctx *sql.Context, table string) (sql.RowIter, error) {
	t, err := s.identityTable(ctx, table)
	if err != nil {
		return nil, err
	}
	if err := s.requireOwner(ctx, t); err != nil {
		return nil, err
	}
	if _, err := s.eng.AdjustIdentityRange(ctx, actor(ctx), t.Database, t.Name); err != nil {
		return nil, toSQLError(err)
	}
	return s.rangeRows(ctx, t, engine.PublisherNode)
}

// rangeRows lists t's ranges of node (0: every node).
func (s *Server) rangeRows(ctx *sql.Context, t *engine.Table, node uint64) (sql.RowIter, error) {
	st, err := s.eng.IdentityStateOf(ctx, t.ID)
	if err != nil {
		return nil, toSQLError(err)
	}
	var rows []sql.Row
	for _, n := range st.Nodes {
		if node != 0 && n.Node != node {
			continue
		}
		for i, r := range n.Ranges {
			rows = append(rows, sql.Row{int64(n.Node), engine.RangeKind(i), r.Lo + 1, r.Hi})
		}
	}
	return sql.RowsToRowIter(rows...), nil
}
