package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/planbuilder"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/sysemu/sysemu/engine"
)

// The INSERT fast path: INSERT INTO t [(columns)] VALUES (...)[, (...)]
// with literal or bound values, into a user table, without
// go-mysql-server's planbuilder and analyzer (over a third of an
// autocommit INSERT's CPU). The statement is checked and its values
// converted to the columns' types first, exactly as go-mysql-server's insert
// iterator converts them; anything that would not simply succeed there (a
// NULL for a NOT NULL column, a value that does not convert or is out of
// range, an unknown or repeated column, a DEFAULT, an expression, a default
// that is not a literal, a generated column, IGNORE, ON DUPLICATE KEY
// UPDATE, a comment, a user without the INSERT privilege) goes the ordinary
// way before anything happened, so go-mysql-server reports it. What is
// left can only fail on the identity value or the write itself (a
// duplicate key), which the fast path reports as go-mysql-server would.
//
// A statement of up to insertDirectMax rows sends its OK packet itself; a
// longer one runs through go-mysql-server's handler (process list, KILL
// QUERY). insertNode does what the planner's insert does around the rows: the AUTO_INCREMENT expression on each row,
// LAST_INSERT_ID() from the first row with a generated value, the OK
// packet's insert id from the first row, ROW_COUNT(), the Questions and
// Com_insert counters, the previous statement's warnings cleared.
// TestFastInsertMatchesPlanner compares both over a table of cases.

// insertTarget is a table's columns as an INSERT lists them: what the
// fast path needs to build full rows, kept per catalog version.
type insertTarget struct {
	sch   sql.Schema
	pos   []int // schema index of each listed column
	fill  []any // value of each column not listed (nil where listed)
	ai    int   // the AUTO_INCREMENT column, or -1
	aiPos int   // its index in the list, or -1 if not listed
}

type insertKey struct {
	table *engine.Table
	cols  string
}

// isInsert reports whether q starts with INSERT (a cheap filter before parsing).
func isInsert(q string) bool {
	q = strings.TrimLeft(q, " \t\r\n")
	return len(q) >= 7 && strings.EqualFold(q[:6], "insert") && (q[6] == ' ' || q[6] == '\t' || q[6] == '\n' || q[6] == '\r')
}

// runInsert answers an INSERT through the fast path; handled is false when
// it must go the ordinary way (nothing has happened then).
func (f *fastPath) runInsert(ctx context.Context, c *mysql.Conn, query string, binds map[string]*querypb.BindVariable, callback func(*sqltypes.Result, bool) error) (handled bool, err error) {
	sctx, err := f.s.mysqlSrv.SessionManager().NewContextWithQuery(ctx, c, query)
	if err != nil {
		return false, nil
	}
	node := f.planInsert(sctx, query, binds)
	if node == nil {
		return false, nil
	}
	f.s.cfg.Metrics.fastPath.Inc()
	info := sctx.GetLastQueryInfo()
	rowCount := info.RowCount.Load()
	if len(node.rows) > insertDirectMax {
		err = f.h.ComExecuteBound(ctx, c, query, node, callback)
	} else {
		err = f.insertDirect(sctx, node, callback)
	}
	// The handler takes a plan it does not know for a SELECT and sets
	// ROW_COUNT() to -1 after it; the planner's INSERT sets the rows
	// inserted, and leaves it alone when it fails.
	if err == nil {
		rowCount = int64(len(node.rows))
	}
	info.RowCount.Store(rowCount)
	return true, err
}

// insertDirectMax is the most rows an INSERT may have to skip the
// handler's per-statement machinery (a second context, the process list
// entry, tracing: a tenth of a one-row INSERT's CPU). Such a statement is
// short; a longer one goes through the handler, where KILL QUERY reaches it.
const insertDirectMax = 100

// insertDirect runs node and sends its OK packet itself. Sessions hold no
// transaction (every statement commits on its own), so there is none to
// begin or commit around it.
func (f *fastPath) insertDirect(ctx *sql.Context, node *insertNode, callback func(*sqltypes.Result, bool) error) error {
	start := time.Now()
	f.s.stats.QueryStarted()
	ok, err := node.exec(ctx)
	if err == nil {
		err = callback(&sqltypes.Result{RowsAffected: ok.RowsAffected, InsertID: ok.InsertID}, false)
	}
	if err != nil {
		err = sql.CastSQLError(err)
	}
	f.s.stats.QueryCompleted(err == nil, time.Since(start))
	return err
}

// planInsert parses and checks query and converts its values; nil if it
// is not a fast INSERT.
func (f *fastPath) planInsert(ctx *sql.Context, query string, binds map[string]*querypb.BindVariable) *insertNode {
	stmt, err := sqlparser.ParseWithOptions(ctx, query, sql.LoadSqlMode(ctx).ParserOptions())
	if err != nil {
		return nil
	}
	ins, ok := stmt.(*sqlparser.Insert)
	if !ok || ins.Action != sqlparser.InsertStr || ins.Ignore != "" || len(ins.OnDup) > 0 || ins.With != nil ||
		len(ins.Returning) > 0 || len(ins.Partitions) > 0 || len(ins.Comments) > 0 || !ins.Table.SchemaQualifier.IsEmpty() {
		return nil
	}
	av, ok := ins.Rows.(*sqlparser.AliasedValues)
	if !ok || !av.As.IsEmpty() || len(av.Columns) > 0 || len(av.Values) == 0 {
		return nil
	}
	values := av.Values
	db := ins.Table.DbQualifier.String()
	if db == "" {
		db = ctx.GetCurrentDatabase()
	}
	name := ins.Table.Name.String()
	st := f.s.eng.State()
	d := st.Database(db)
	t := st.Table(db, name)
	if d == nil || d.System || t == nil || t.System || t.Name != name || d.Name != db {
		return nil
	}
	if !f.s.mdb().UserHasPrivileges(ctx, sql.NewPrivilegedOperation(sql.PrivilegeCheckSubject{Database: d.Name, Table: t.Name}, sql.PrivilegeType_Insert)) {
		return nil
	}
	ut, err := f.s.userTable(ctx, t)
	if err != nil {
		return nil
	}
	cols := make([]string, len(ins.Columns))
	for i, c := range ins.Columns {
		cols[i] = c.String()
	}
	tg := f.insertTarget(ctx, ut, cols)
	if tg == nil {
		return nil
	}
	n := &insertNode{ut: ut, tg: tg, rows: make([]sql.Row, len(values)), firstGen: -1}
	if tg.ai >= 0 {
		n.given = make([]*expression.Literal, len(values))
		if tg.aiPos < 0 {
			n.firstGen = 0
		}
	}
	noAutoOnZero := sql.LoadSqlMode(ctx).ModeEnabled(sql.NoAutoValueOnZero)
	b := planbuilder.New(ctx, nil, nil)
	// A conversion that warns goes to the planner, which converts after
	// clearing the previous statement's warnings and so keeps the warning.
	warnings := ctx.WarningCount()
	args := 0
	for r, tuple := range values {
		if len(tuple) != len(tg.pos) {
			return nil
		}
		row := make(sql.Row, len(tg.sch))
		copy(row, tg.fill)
		for i, e := range tuple {
			if v, ok := e.(*sqlparser.SQLVal); ok && v.Type == sqlparser.ValArg {
				args++
			}
			lit := literal(b, e, binds)
			if lit == nil {
				return nil
			}
			if i == tg.aiPos {
				n.given[r] = lit
				// The planner's rule for LAST_INSERT_ID(): the first row
				// whose value is a NULL or (numeric) zero literal.
				if n.firstGen < 0 && (types.Null.Equals(lit.Type(ctx)) || (!noAutoOnZero && isZeroLiteral(ctx, lit))) {
					n.firstGen = r
				}
				continue
			}
			row[tg.pos[i]] = lit.Value()
		}
		for i, col := range tg.sch {
			if i == tg.ai {
				continue
			}
			if row[i] == nil {
				if !col.Nullable {
					return nil
				}
				continue
			}
			v, err := convertColumn(ctx, col, row[i])
			if err != nil {
				return nil
			}
			row[i] = v
		}
		if tg.ai >= 0 && n.given[r] == nil {
			n.given[r] = expression.NewLiteral(nil, types.Null)
		}
		n.rows[r] = row
	}
	if args != len(binds) {
		return nil // values bound but not used: the planner refuses them
	}
	if ctx.WarningCount() != warnings {
		return nil
	}
	return n
}

// literal is the planner's literal for a value expression, or nil for
// anything else.
func literal(b *planbuilder.Builder, e sqlparser.Expr, binds map[string]*querypb.BindVariable) (lit *expression.Literal) {
	switch v := e.(type) {
	case *sqlparser.NullVal:
		return expression.NewLiteral(nil, types.Null)
	case *sqlparser.SQLVal:
		switch v.Type {
		case sqlparser.ValArg:
			// As the handler binds a prepared statement's values.
			bv, ok := binds[strings.TrimPrefix(string(v.Val), ":")]
			if !ok {
				return nil
			}
			val, err := sqltypes.BindVariableToValue(bv)
			if err != nil {
				return nil
			}
			ex, err := sqlparser.ExprFromValue(val)
			if err != nil {
				return nil
			}
			return literal(b, ex, nil)
		case sqlparser.StrVal, sqlparser.IntVal, sqlparser.FloatVal:
			defer func() {
				if recover() != nil { // the planbuilder reports bad values by panicking
					lit = nil
				}
			}()
			l, _ := b.ConvertVal(v).(*expression.Literal)
			return l
		}
	}
	return nil
}

// isZeroLiteral is the planner's test for a zero AUTO_INCREMENT value.
func isZeroLiteral(ctx *sql.Context, lit *expression.Literal) bool {
	if !types.IsNumber(lit.Type(ctx)) {
		return false
	}
	v, inRange, err := types.Int8.Convert(ctx, lit.Value())
	return err == nil && inRange == sql.InRange && v == int8(0)
}

// convertColumn converts v to col's type as go-mysql-server's insert
// iterator does; any failure is an error (the fast path then leaves the
// statement to the planner, which reports it).
func convertColumn(ctx *sql.Context, col *sql.Column, v any) (any, error) {
	var out any
	var inRange sql.ConvertInRange
	var err error
	if typ, ok := col.Type.(sql.RoundingNumberType); ok {
		out, inRange, err = typ.ConvertRound(ctx, v)
	} else {
		out, inRange, err = col.Type.Convert(ctx, v)
	}
	if err == nil && inRange != sql.InRange {
		err = sql.ErrValueOutOfRange.New(v, col.Type)
	}
	return out, err
}

// insertTarget returns the fast-path description of ut with cols listed
// (none: all columns in order), or nil when the table or the list has
// anything the fast path leaves to the planner.
func (f *fastPath) insertTarget(ctx *sql.Context, ut *userTable, cols []string) *insertTarget {
	key := insertKey{table: ut.t, cols: strings.Join(cols, "\x00")}
	f.mu.Lock()
	tg, seen := f.inserts[key]
	f.mu.Unlock()
	if seen {
		return tg
	}
	tg = newInsertTarget(ctx, ut.ts.sch.Schema, cols)
	f.mu.Lock()
	if len(f.inserts) >= fastShapesMax || f.inserts == nil {
		f.inserts = map[insertKey]*insertTarget{}
	}
	f.inserts[key] = tg
	f.mu.Unlock()
	return tg
}

func newInsertTarget(ctx *sql.Context, sch sql.Schema, cols []string) *insertTarget {
	if len(cols) == 0 {
		for _, c := range sch {
			cols = append(cols, c.Name)
		}
	}
	tg := &insertTarget{sch: sch, pos: make([]int, len(cols)), fill: make([]any, len(sch)), ai: -1, aiPos: -1}
	listed := make([]int, len(sch))
	for i := range listed {
		listed[i] = -1
	}
	for i, name := range cols {
		p := -1
		for j, c := range sch {
			if strings.EqualFold(c.Name, name) {
				p = j
			}
		}
		if p < 0 || listed[p] >= 0 {
			return nil
		}
		tg.pos[i], listed[p] = p, i
	}
	for i, col := range sch {
		if col.Generated != nil || col.Virtual || col.Hidden || col.HiddenSystem {
			return nil
		}
		if col.AutoIncrement {
			if tg.ai >= 0 || !types.IsInteger(col.Type) {
				return nil
			}
			tg.ai, tg.aiPos = i, listed[i]
			// Unlisted, the planner evaluates its default: NULL.
			if listed[i] < 0 && col.Default != nil {
				if v, err := col.Default.Eval(ctx, nil); err != nil || v != nil || !col.Default.IsLiteral() {
					return nil
				}
			}
			continue
		}
		if listed[i] >= 0 {
			continue
		}
		switch {
		case col.Default == nil:
			if !col.Nullable {
				return nil // go-mysql-server reports the missing value
			}
		case col.Default.IsLiteral():
			v, err := col.Default.Eval(ctx, nil)
			if err != nil || (v == nil && !col.Nullable) {
				return nil
			}
			tg.fill[i] = v
		default:
			return nil
		}
	}
	return tg
}

// insertNode is a fast INSERT's plan: its rows, converted, but for the
// AUTO_INCREMENT column's given values, which are evaluated as the rows are
// inserted (drawing identity values).
type insertNode struct {
	ut       *userTable
	tg       *insertTarget
	rows     []sql.Row
	given    []*expression.Literal // per row: the AUTO_INCREMENT column's value
	firstGen int                   // the row whose value sets LAST_INSERT_ID(), or -1
}

var _ sql.ExecSourceRel = (*insertNode)(nil)

func (n *insertNode) Resolved() bool                 { return true }
func (n *insertNode) String() string                 { return "FastInsert(" + n.ut.t.Name + ")" }
func (n *insertNode) Schema(*sql.Context) sql.Schema { return types.OkResultSchema }
func (n *insertNode) Children() []sql.Node           { return nil }
func (n *insertNode) IsReadOnly() bool               { return false }
func (n *insertNode) WithChildren(_ *sql.Context, children ...sql.Node) (sql.Node, error) {
	if len(children) != 0 {
		return nil, sql.ErrInvalidChildrenNumber.New(n, len(children), 0)
	}
	return n, nil
}

// RowIter inserts the rows as one statement and returns the OK result.
func (n *insertNode) RowIter(ctx *sql.Context, _ sql.Row) (sql.RowIter, error) {
	ok, err := n.exec(ctx)
	if err != nil {
		return nil, err
	}
	return sql.RowsToRowIter(sql.NewRow(ok)), nil
}

// exec inserts the rows as one statement.
func (n *insertNode) exec(ctx *sql.Context) (types.OkResult, error) {
	sql.IncrementStatusVariable(ctx, "Questions", 1)
	sql.IncrementStatusVariable(ctx, "Com_insert", 1)
	ctx.ClearWarnings()
	ed := n.ut.editor(ctx)
	ed.StatementBegin(ctx)
	ed.keysAtCommit = len(n.rows) == 1 && len(n.ut.ts.unique) == 0
	insertID, last, err := n.insert(ctx, ed)
	if err != nil {
		_ = ed.DiscardChanges(ctx, err)
	} else if err = ed.StatementComplete(ctx); err == nil && last != nil {
		ctx.GetLastQueryInfo().LastInsertId.Store(*last)
	}
	if cerr := ed.Close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		return types.OkResult{}, err
	}
	return types.OkResult{RowsAffected: uint64(len(n.rows)), InsertID: insertID}, nil
}

// insert hands the rows to ed. LAST_INSERT_ID() is set as the planner sets
// it, as each row is inserted; when ed checks the key only at the commit,
// the value comes back in last, for after the commit.
func (n *insertNode) insert(ctx *sql.Context, ed *editor) (insertID uint64, last *int64, err error) {
	ai := n.tg.ai
	for r, row := range n.rows {
		if ai >= 0 {
			col := n.tg.sch[ai]
			expr, err := expression.NewAutoIncrementForColumn(ctx, n.ut, col, n.given[r])
			if err != nil {
				return 0, nil, err
			}
			v, err := expr.Eval(ctx, nil)
			if err != nil {
				return 0, nil, sql.NewWrappedInsertError(nil, err)
			}
			if v == nil {
				return 0, nil, sql.NewWrappedInsertError(row, sql.ErrInsertIntoNonNullableProvidedNull.New(col.Name))
			}
			if row[ai], err = convertColumn(ctx, col, v); err != nil {
				return 0, nil, sql.NewWrappedInsertError(row, err)
			}
		}
		if err := ed.Insert(ctx, row); err != nil {
			return 0, nil, sql.NewWrappedInsertError(row, err)
		}
		if ai >= 0 {
			id := aiInt64(row[ai])
			if r == n.firstGen && ed.keysAtCommit {
				last = &id
			} else if r == n.firstGen {
				ctx.GetLastQueryInfo().LastInsertId.Store(id)
			}
			if r == 0 {
				insertID = uint64(id)
			}
		}
	}
	return insertID, last, nil
}

// aiInt64 is an AUTO_INCREMENT column's (integer) value as an int64.
func aiInt64(v any) int64 {
	switch v := v.(type) {
	case int8:
		return int64(v)
	case uint8:
		return int64(v)
	case int16:
		return int64(v)
	case uint16:
		return int64(v)
	case int32:
		return int64(v)
	case uint32:
		return int64(v)
	case int64:
		return v
	case uint64:
		return int64(v)
	}
	panic(fmt.Sprintf("AUTO_INCREMENT value of type %T", v))
}
