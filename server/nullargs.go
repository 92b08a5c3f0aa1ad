package server

import (
	"fmt"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/analyzer"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"
	"github.com/dolthub/vitess/go/mysql"
)

// go-mysql-server hands a NULL argument to a Go procedure as its type's
// zero value (0, ''), which the procedure cannot tell from a real 0. The
// analyzer rule rejectNullArgs wraps every argument of a CALL to one of
// sysemu's procedures so a NULL gets 1210 before the procedure runs.

const rejectNullArgsID analyzer.RuleId = 10_000

func rejectNullArgs(ctx *sql.Context, _ *analyzer.Analyzer, n sql.Node, _ *plan.Scope, _ analyzer.RuleSelector, _ *sql.QueryFlags) (sql.Node, transform.TreeIdentity, error) {
	return transform.Node(ctx, n, func(ctx *sql.Context, n sql.Node) (sql.Node, transform.TreeIdentity, error) {
		call, ok := n.(*plan.Call)
		if !ok || call.Procedure == nil || call.Procedure.ExternalProc == nil {
			return n, transform.SameTree, nil
		}
		params := make([]sql.Expression, len(call.Params))
		for i, p := range call.Params {
			if _, done := p.(nonNullArg); done {
				return n, transform.SameTree, nil
			}
			params[i] = nonNullArg{Expression: p, proc: call.Name, pos: i + 1}
		}
		nc := *call
		nc.Params = params
		return &nc, transform.NewTree, nil
	})
}

// nonNullArg is a procedure argument that must not be NULL.
type nonNullArg struct {
	sql.Expression
	proc string
	pos  int
}

func (a nonNullArg) Eval(ctx *sql.Context, row sql.Row) (any, error) {
	v, err := a.Expression.Eval(ctx, row)
	if err == nil && v == nil {
		return nil, mysql.NewSQLError(erWrongArguments, "HY000", "Incorrect arguments to %s: argument %d is NULL", a.proc, a.pos)
	}
	return v, err
}

func (a nonNullArg) IsNullable(*sql.Context) bool { return false }

func (a nonNullArg) String() string { return a.Expression.String() }

func (a nonNullArg) Children() []sql.Expression { return []sql.Expression{a.Expression} }

func (a nonNullArg) WithChildren(_ *sql.Context, children ...sql.Expression) (sql.Expression, error) {
	if len(children) != 1 {
		return nil, fmt.Errorf("nonNullArg: %d children, want 1", len(children))
	}
	a.Expression = children[0]
	return a, nil
}
