package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/mysql"

	"github.com/sysemu/sysemu/engine"
)

// The admin functions and procedures. Reading needs no privilege; changing
// anything needs SUPER. The SQL and HTTP faces call the same engine methods.

// actor says who runs the statement, for the ID-event log.
func actor(ctx *sql.Context) engine.Actor {
	c := ctx.Session.Client()
	return engine.Actor{User: c.User + "@" + c.Address, Statement: ctx.Query()}
}

func (s *Server) requireAdmin(ctx *sql.Context) error {
	if s.mdb().UserHasPrivileges(ctx, sql.NewPrivilegedOperation(sql.PrivilegeCheckSubject{}, sql.PrivilegeType_Super)) {
		return nil
	}
	return errNoPrivilege()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func parseOnOff(routine, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "1", "true", "enable":
		return true, nil
	case "off", "0", "false", "disable":
		return false, nil
	}
	return false, mysql.NewSQLError(erWrongArguments, "HY000", "Incorrect arguments to %s: expected 'on' or 'off', got '%s'", routine, v)
}

func procStatus(paused bool) string {
	if paused {
		return "paused"
	}
	return "running"
}

// functions are the admin functions, each a read of the current State.
func (s *Server) functions() []sql.Function {
	st := s.eng.State
	return []sql.Function{
		stateFunction("next_table_id", types.Uint64, func(*sql.Context) any { return st().NextTableID() }),
		stateFunction("recovery_mode", types.LongText, func(*sql.Context) any { return onOff(st().Switches[engine.SwitchRecovery]) }),
		stateFunction("maintenance_mode", types.LongText, func(*sql.Context) any { return onOff(st().Switches[engine.SwitchMaintenance]) }),
		stateFunction("procedure_manager", types.LongText, func(*sql.Context) any { return procStatus(st().Switches[engine.SwitchPauseProcedure]) }),
	}
}

func stateFunction(name string, typ sql.Type, eval func(*sql.Context) any) sql.Function {
	return sql.Function0{Name: name, Fn: func(*sql.Context) sql.Expression {
		return &stateExpr{name: name, typ: typ, eval: eval}
	}}
}

// stateExpr is a niladic function over changing state: non-deterministic, so
// a prepared statement reads it anew on every execution.
type stateExpr struct {
	name string
	typ  sql.Type
	eval func(*sql.Context) any
}

var _ sql.FunctionExpression = (*stateExpr)(nil)
var _ sql.NonDeterministicExpression = (*stateExpr)(nil)

func (e *stateExpr) Resolved() bool                                { return true }
func (e *stateExpr) String() string                                { return e.name + "()" }
func (e *stateExpr) Type(*sql.Context) sql.Type                    { return e.typ }
func (e *stateExpr) IsNullable(*sql.Context) bool                  { return false }
func (e *stateExpr) Children() []sql.Expression                    { return nil }
func (e *stateExpr) FunctionName() string                          { return e.name }
func (e *stateExpr) Description() string                           { return "sysemu admin function " + e.name }
func (e *stateExpr) IsNonDeterministic() bool                      { return true }
func (e *stateExpr) Eval(ctx *sql.Context, _ sql.Row) (any, error) { return e.eval(ctx), nil }

func (e *stateExpr) WithChildren(_ *sql.Context, children ...sql.Expression) (sql.Expression, error) {
	if len(children) != 0 {
		return nil, sql.ErrInvalidChildrenNumber.New(e, len(children), 0)
	}
	return e, nil
}

func oneColumn(name string, typ sql.Type) sql.Schema {
	return sql.Schema{{Name: name, Type: typ}}
}

// procedures are the admin procedures.
func (s *Server) procedures() []sql.ExternalStoredProcedureDetails {
	enabled := oneColumn("enabled", types.Boolean)
	return []sql.ExternalStoredProcedureDetails{
		{Name: "set_next_table_id", Schema: oneColumn("next_table_id", types.Uint64), Function: s.procSetNextTableID},
		{Name: "recovery_mode", Schema: enabled, Function: s.switchProc("recovery_mode", engine.SwitchRecovery)},
		{Name: "maintenance_mode", Schema: enabled, Function: s.switchProc("maintenance_mode", engine.SwitchMaintenance)},
		{Name: "procedure_manager", Schema: oneColumn("status", types.LongText), Function: s.procProcedureManager},
		{Name: "fault_set_sequence", Schema: oneColumn("old_value", types.Uint64), Function: s.procFaultSetSequence},
		{Name: "node_offline", Schema: nodeSchema, Function: s.nodeProc(s.eng.NodeOffline)},
		{Name: "node_online", Schema: nodeSchema, Function: s.nodeProc(s.eng.NodeOnline)},
		{Name: "node_drop", Schema: nodeSchema, Function: s.nodeProc(s.eng.NodeDrop)},
	}
}

// nodeSchema is what the node procedures answer: the node and its state.
var nodeSchema = sql.Schema{{Name: "NODE_ID", Type: types.Int64}, {Name: "NODE_STATE", Type: types.LongText}}

// nodeProc runs a node change (standalone: the emulated node's liveness).
func (s *Server) nodeProc(change func(context.Context, engine.Actor, uint64) error) func(*sql.Context, int64) (sql.RowIter, error) {
	return func(ctx *sql.Context, id int64) (sql.RowIter, error) {
		if err := s.requireAdmin(ctx); err != nil {
			return nil, err
		}
		if id < 1 {
			return nil, toSQLError(fmt.Errorf("%w: %d", engine.ErrNoSuchNode, id))
		}
		if err := change(ctx, actor(ctx), uint64(id)); err != nil {
			return nil, toSQLError(err)
		}
		state := "dropped"
		if n := s.eng.State().Node(uint64(id)); n != nil {
			state = "offline"
			if n.Online {
				state = "online"
			}
		}
		return sql.RowsToRowIter(sql.Row{id, state}), nil
	}
}

func (s *Server) procSetNextTableID(ctx *sql.Context, next int64) (sql.RowIter, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	if next < 0 || next > 1<<32-1 {
		return nil, mysql.NewSQLError(erWrongArguments, "HY000", "Incorrect arguments to set_next_table_id: %d is not a table id (0..4294967295)", next)
	}
	if err := s.eng.SetNextTableID(ctx, actor(ctx), uint64(next)); err != nil {
		return nil, toSQLError(err)
	}
	return sql.RowsToRowIter(sql.Row{uint64(next)}), nil
}

func (s *Server) switchProc(routine, name string) func(*sql.Context, string) (sql.RowIter, error) {
	return func(ctx *sql.Context, mode string) (sql.RowIter, error) {
		if err := s.requireAdmin(ctx); err != nil {
			return nil, err
		}
		on, err := parseOnOff(routine, mode)
		if err != nil {
			return nil, err
		}
		if err := s.eng.SetSwitch(ctx, actor(ctx), name, on); err != nil {
			return nil, toSQLError(err)
		}
		return sql.RowsToRowIter(sql.Row{on}), nil
	}
}

func (s *Server) procProcedureManager(ctx *sql.Context, action string) (sql.RowIter, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	var pause bool
	switch strings.ToLower(strings.TrimSpace(action)) {
	case "pause":
		pause = true
	case "resume":
	default:
		return nil, mysql.NewSQLError(erWrongArguments, "HY000", "Incorrect arguments to procedure_manager: expected 'pause' or 'resume', got '%s'", action)
	}
	if err := s.eng.SetSwitch(ctx, actor(ctx), engine.SwitchPauseProcedure, pause); err != nil {
		return nil, toSQLError(err)
	}
	return sql.RowsToRowIter(sql.Row{procStatus(pause)}), nil
}

func (s *Server) procFaultSetSequence(ctx *sql.Context, name string, v int64) (sql.RowIter, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	if v < 0 {
		return nil, mysql.NewSQLError(erWrongArguments, "HY000", "Incorrect arguments to fault_set_sequence: %d is negative", v)
	}
	old := s.eng.State().Sequences[name]
	if err := s.eng.FaultSetSequence(ctx, actor(ctx), name, uint64(v)); err != nil {
		return nil, toSQLError(err)
	}
	return sql.RowsToRowIter(sql.Row{old}), nil
}
