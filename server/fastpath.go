package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	sqle "github.com/dolthub/go-mysql-server"
	gms "github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/sysemu/sysemu/engine"
)

// fastPath plans the statements that clients repeat most without
// go-mysql-server's planbuilder and analyzer, which cost more than the rest
// of such a statement together (the analyzer builds a whole session's
// variable maps for every SELECT without FROM):
//
//   - SELECT of sysemu's niladic admin functions: SELECT next_table_id()
//   - SELECT of plain columns (or *) of one user table by its whole integer
//     primary key: SELECT c FROM t WHERE id = ? (prepared or literal)
//   - INSERT INTO t [(columns)] VALUES (...), ... of literal or bound
//     values into a user table (fastinsert.go)
//
// Anything else, or anything it cannot settle (an unknown name, a column
// written in another case, a value that does not convert, a user without
// the global or database SELECT privilege), goes the ordinary way. The
// client sees the fields and rows the planner would send (see run);
// TestFastPathMatchesPlanner compares them.
type fastPath struct {
	s *Server
	h *gms.Handler // go-mysql-server's handler, under the interceptor

	mu     sync.Mutex
	shapes map[string]*fastShape // by statement text; nil: not a fast statement
	fields map[fieldsKey][]*querypb.Field
	// inserts: INSERT targets by table version and column list; nil: not fast
	inserts map[insertKey]*insertTarget
}

// fastShapesMax bounds the cache of parsed statements (literal point selects
// are all different); a full cache starts again empty.
const fastShapesMax = 4096

// fastShape is a recognized statement, before names are resolved.
type fastShape struct {
	sig   string   // the shape without its value: statements alike share fields
	funcs []string // SELECT f(), ...: function names, lower case
	names []string // and their column names (as written)

	db, table string   // the point select's table (db "": the current one)
	cols      []string // the selected columns (nil: *)
	key       string   // the column compared
	arg       string   // the bind variable holding the value, or
	lit       int64    // the literal value
}

// option captures go-mysql-server's handler; it must be the first server
// option, before the interceptor wraps the handler.
func (f *fastPath) option(e *sqle.Engine, sm *gms.SessionManager, h mysql.Handler) (*sqle.Engine, *gms.SessionManager, mysql.Handler) {
	f.h, _ = h.(*gms.Handler)
	return e, sm, h
}

// run answers query through a fast plan; handled is false when the
// statement must go the ordinary way (nothing has been sent then).
//
// The first execution of a statement shape against a table version runs the
// plan through go-mysql-server's handler, which describes the columns to the
// client; those fields are kept, and later executions send the rows with
// them directly, without the handler's per-statement machinery (process
// list entry, three goroutines per result). Such a statement reads one row
// at most, so there is nothing to kill or stream.
func (f *fastPath) run(ctx context.Context, c *mysql.Conn, query string, binds map[string]*querypb.BindVariable, callback func(*sqltypes.Result, bool) error) (handled bool, err error) {
	if f == nil || f.h == nil {
		return false, nil
	}
	if isInsert(query) {
		return f.runInsert(ctx, c, query, binds, callback)
	}
	shape := f.shape(query)
	if shape == nil {
		return false, nil
	}
	sctx, err := f.s.mysqlSrv.SessionManager().NewContextWithQuery(ctx, c, query)
	if err != nil {
		return false, nil
	}
	node := f.plan(sctx, shape, binds)
	if node == nil {
		return false, nil
	}
	f.s.cfg.Metrics.fastPath.Inc()
	key := fieldsKey{sig: shape.sig, table: node.table, charset: sctx.GetCharacterSetResults()}
	f.mu.Lock()
	fields := f.fields[key]
	f.mu.Unlock()
	if fields == nil {
		return true, f.h.ComExecuteBound(ctx, c, query, node, func(r *sqltypes.Result, more bool) error {
			if len(r.Fields) > 0 {
				f.mu.Lock()
				if len(f.fields) >= fastShapesMax || f.fields == nil {
					f.fields = map[fieldsKey][]*querypb.Field{}
				}
				f.fields[key] = r.Fields
				f.mu.Unlock()
			}
			return callback(r, more)
		})
	}
	start := time.Now()
	f.s.stats.QueryStarted()
	err = f.direct(sctx, node, fields, callback)
	f.s.stats.QueryCompleted(err == nil, time.Since(start))
	return true, err
}

// fieldsKey identifies the column descriptions of a fast statement: its
// shape (whatever the value compared), the catalog version of its table
// (nil for admin functions) and the session's character_set_results.
type fieldsKey struct {
	sig     string
	table   *engine.Table
	charset sql.CharacterSetID
}

// direct sends node's rows with fields, encoded as the handler encodes them.
func (f *fastPath) direct(ctx *sql.Context, node *fastNode, fields []*querypb.Field, callback func(*sqltypes.Result, bool) error) error {
	iter, err := node.RowIter(ctx, nil)
	if err != nil {
		return err
	}
	defer iter.Close(ctx)
	buf := sql.ByteBufPool.Get().(*sql.ByteBuffer)
	defer func() {
		buf.Reset()
		sql.ByteBufPool.Put(buf)
	}()
	r := &sqltypes.Result{Fields: fields}
	for {
		row, err := iter.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		vals, err := gms.RowToSQL(ctx, node.sch, row, nil, buf)
		if err != nil {
			return err
		}
		r.Rows = append(r.Rows, vals)
	}
	return callback(r, false)
}

// stateFunc returns an instance of the admin function name, or nil when
// name is not one.
func (f *fastPath) stateFunc(ctx *sql.Context, name string) *stateExpr {
	fn, ok := f.s.gms.Analyzer.Catalog.Function(ctx, "", name)
	if !ok {
		return nil
	}
	e, err := fn.NewInstance(ctx, nil)
	if err != nil {
		return nil
	}
	se, _ := e.(*stateExpr)
	return se
}

// shape returns the parsed form of query, or nil.
func (f *fastPath) shape(query string) *fastShape {
	f.mu.Lock()
	sh, seen := f.shapes[query]
	f.mu.Unlock()
	if seen {
		return sh
	}
	sh = parseFast(query)
	if sh != nil {
		sh.sig = fmt.Sprintf("%q %q %q %q %q", sh.funcs, sh.names, sh.db, sh.table, sh.cols)
	}
	f.mu.Lock()
	if len(f.shapes) >= fastShapesMax || f.shapes == nil {
		f.shapes = map[string]*fastShape{}
	}
	f.shapes[query] = sh
	f.mu.Unlock()
	return sh
}

// parseFast recognizes the statements fastPath serves.
func parseFast(query string) *fastShape {
	q := strings.TrimSpace(query)
	if len(q) < 7 || !strings.EqualFold(q[:7], "select ") {
		return nil
	}
	stmt, err := sqlparser.Parse(q)
	if err != nil {
		return nil
	}
	sel, ok := stmt.(*sqlparser.Select)
	if !ok || sel.Into != nil || sel.With != nil || sel.Limit != nil || sel.Having != nil || (sel.Lock != nil && sel.Lock.Type != "") ||
		len(sel.GroupBy) > 0 || len(sel.Window) > 0 || len(sel.OrderBy) > 0 || !plainOpts(sel.QueryOpts) ||
		len(sel.SelectExprs) == 0 {
		return nil
	}
	if len(sel.From) == 0 || (len(sel.From) == 1 && isDual(sel.From[0])) {
		return parseFuncs(sel)
	}
	return parsePoint(sel)
}

// plainOpts reports a SELECT without DISTINCT, SQL_CALC_FOUND_ROWS and the like.
func plainOpts(o sqlparser.QueryOpts) bool {
	return !o.Distinct && len(o.DistinctOn) == 0 && !o.StraightJoinHint && !o.SQLCalcFoundRows && !o.SQLCache && !o.SQLNoCache
}

func isDual(te sqlparser.TableExpr) bool {
	at, ok := te.(*sqlparser.AliasedTableExpr)
	if !ok {
		return false
	}
	tn, ok := at.Expr.(sqlparser.TableName)
	return ok && tn.DbQualifier.IsEmpty() && strings.EqualFold(tn.Name.String(), "dual")
}

func parseFuncs(sel *sqlparser.Select) *fastShape {
	if sel.Where != nil {
		return nil
	}
	sh := &fastShape{}
	for _, se := range sel.SelectExprs {
		ae, ok := se.(*sqlparser.AliasedExpr)
		if !ok || !ae.As.IsEmpty() {
			return nil
		}
		fn, ok := ae.Expr.(*sqlparser.FuncExpr)
		if !ok || len(fn.Exprs) > 0 || fn.Over != nil || fn.Distinct || !fn.Qualifier.IsEmpty() || ae.InputExpression == "" {
			return nil
		}
		sh.funcs = append(sh.funcs, fn.Name.Lowered())
		sh.names = append(sh.names, ae.InputExpression)
	}
	return sh
}

func parsePoint(sel *sqlparser.Select) *fastShape {
	if len(sel.From) != 1 || sel.Where == nil || sel.Where.Type != sqlparser.WhereStr {
		return nil
	}
	at, ok := sel.From[0].(*sqlparser.AliasedTableExpr)
	if !ok || at.Hints != nil || at.AsOf != nil || !at.As.IsEmpty() || len(at.Partitions) > 0 || at.Lateral {
		return nil
	}
	tn, ok := at.Expr.(sqlparser.TableName)
	if !ok || !tn.SchemaQualifier.IsEmpty() {
		return nil
	}
	sh := &fastShape{db: tn.DbQualifier.String(), table: tn.Name.String()}
	own := func(q sqlparser.TableName) bool {
		return q.IsEmpty() || (q.DbQualifier.IsEmpty() && q.SchemaQualifier.IsEmpty() && q.Name.String() == sh.table)
	}
	for _, se := range sel.SelectExprs {
		switch e := se.(type) {
		case *sqlparser.StarExpr:
			if len(sel.SelectExprs) != 1 || !own(e.TableName) {
				return nil
			}
		case *sqlparser.AliasedExpr:
			col, ok := e.Expr.(*sqlparser.ColName)
			if !ok || !e.As.IsEmpty() || !own(col.Qualifier) || col.StoredProcVal != nil {
				return nil
			}
			sh.cols = append(sh.cols, col.Name.String())
		default:
			return nil
		}
	}
	cmp, ok := sel.Where.Expr.(*sqlparser.ComparisonExpr)
	if !ok || cmp.Operator != sqlparser.EqualStr || cmp.Escape != nil {
		return nil
	}
	col, ok := cmp.Left.(*sqlparser.ColName)
	val, ok2 := cmp.Right.(*sqlparser.SQLVal)
	if !ok || !ok2 || !own(col.Qualifier) || col.StoredProcVal != nil {
		return nil
	}
	sh.key = col.Name.String()
	switch val.Type {
	case sqlparser.ValArg:
		sh.arg = strings.TrimPrefix(string(val.Val), ":")
	case sqlparser.IntVal:
		n, err := strconv.ParseInt(string(val.Val), 10, 64)
		if err != nil {
			return nil
		}
		sh.lit = n
	default:
		return nil
	}
	return sh
}

// plan resolves sh in ctx's session, or returns nil.
func (f *fastPath) plan(ctx *sql.Context, sh *fastShape, binds map[string]*querypb.BindVariable) *fastNode {
	if sh.funcs != nil {
		return f.planFuncs(ctx, sh)
	}
	return f.planPoint(ctx, sh, binds)
}

func (f *fastPath) planFuncs(ctx *sql.Context, sh *fastShape) *fastNode {
	exprs := make([]*stateExpr, len(sh.funcs))
	sch := make(sql.Schema, len(sh.funcs))
	for i, name := range sh.funcs {
		se := f.stateFunc(ctx, name)
		if se == nil {
			return nil
		}
		exprs[i] = se
		sch[i] = &sql.Column{Name: sh.names[i], Type: se.Type(ctx), Nullable: se.IsNullable(ctx)}
	}
	return &fastNode{sch: sch, iter: func(ctx *sql.Context) (sql.RowIter, error) {
		row := make(sql.Row, len(exprs))
		for i, e := range exprs {
			v, err := e.Eval(ctx, nil)
			if err != nil {
				return nil, err
			}
			row[i] = v
		}
		return sql.RowsToRowIter(row), nil
	}}
}

func (f *fastPath) planPoint(ctx *sql.Context, sh *fastShape, binds map[string]*querypb.BindVariable) *fastNode {
	db := sh.db
	if db == "" {
		db = ctx.GetCurrentDatabase()
	}
	st := f.s.eng.State()
	d := st.Database(db)
	t := st.Table(db, sh.table)
	if d == nil || d.System || t == nil || t.System || t.Name != sh.table || (sh.db != "" && sh.db != d.Name) {
		return nil
	}
	if !f.s.mdb().UserHasPrivileges(ctx, sql.NewPrivilegedOperation(sql.PrivilegeCheckSubject{Database: d.Name}, sql.PrivilegeType_Select)) {
		return nil
	}
	ut, err := f.s.userTable(ctx, t)
	if err != nil || ut.ts.keyless || len(ut.ts.pk) != 1 {
		return nil
	}
	sch := ut.ts.sch.Schema
	pk := ut.ts.pk[0]
	if sch[pk].Name != sh.key || !types.IsInteger(sch[pk].Type) {
		return nil
	}
	v := sh.lit
	if sh.arg != "" {
		bv, ok := binds[sh.arg]
		if !ok {
			return nil
		}
		val, err := sqltypes.BindVariableToValue(bv)
		if err != nil || !val.IsIntegral() {
			return nil
		}
		if v, err = strconv.ParseInt(val.ToString(), 10, 64); err != nil {
			return nil
		}
	}
	key, ok, err := ut.keyOf(ctx, ut.ts.pk, sql.Row{v})
	if err != nil || !ok {
		return nil
	}
	cols := make([]int, 0, len(sch))
	if sh.cols == nil {
		for i := range sch {
			cols = append(cols, i)
		}
	}
	for _, name := range sh.cols {
		i := sch.IndexOfColName(name)
		if i < 0 || sch[i].Name != name {
			return nil
		}
		cols = append(cols, i)
	}
	// SELECT * keeps the table's columns; a named column, as the planner's
	// projection makes it, loses its key and auto-increment flags.
	out := make(sql.Schema, len(cols))
	for i, c := range cols {
		out[i] = sch[c]
		if sh.cols != nil {
			col := *sch[c]
			col.PrimaryKey, col.AutoIncrement = false, false
			out[i] = &col
		}
	}
	return &fastNode{sch: out, table: t, iter: func(ctx *sql.Context) (sql.RowIter, error) {
		it, err := ut.PartitionRows(ctx, scanRange{start: key, point: true})
		if err != nil {
			return nil, err
		}
		var rows []sql.Row
		for {
			row, err := it.Next(ctx)
			if err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, err
			}
			p := make(sql.Row, len(cols))
			for i, c := range cols {
				p[i] = row[c]
			}
			rows = append(rows, p)
		}
		return sql.RowsToRowIter(rows...), nil
	}}
}

// fastNode is a fast plan: a row source with its schema.
type fastNode struct {
	sch   sql.Schema
	table *engine.Table // the catalog version read (nil: none)
	iter  func(ctx *sql.Context) (sql.RowIter, error)
}

var _ sql.ExecSourceRel = (*fastNode)(nil)

func (n *fastNode) Resolved() bool                 { return true }
func (n *fastNode) String() string                 { return "FastPath" }
func (n *fastNode) Schema(*sql.Context) sql.Schema { return n.sch }
func (n *fastNode) Children() []sql.Node           { return nil }
func (n *fastNode) IsReadOnly() bool               { return true }
func (n *fastNode) WithChildren(_ *sql.Context, children ...sql.Node) (sql.Node, error) {
	if len(children) != 0 {
		return nil, sql.ErrInvalidChildrenNumber.New(n, len(children), 0)
	}
	return n, nil
}

// RowIter does what the planner's SELECT does around the rows: count the
// statement and clear the previous statement's warnings.
func (n *fastNode) RowIter(ctx *sql.Context, _ sql.Row) (sql.RowIter, error) {
	sql.IncrementStatusVariable(ctx, "Questions", 1)
	sql.IncrementStatusVariable(ctx, "Com_select", 1)
	ctx.Session.ClearWarnings()
	return n.iter(ctx)
}
