package server

import (
	"context"
	"slices"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/sirupsen/logrus"

	"github.com/sysemu/sysemu/engine"
)

// session is a connection's session: go-mysql-server's base session plus the
// statement's open table editors and the CREATE TABLE being executed.
type session struct {
	*sql.BaseSession
	editors map[uint64]*editor
	// creating is the CREATE TABLE plan being executed, so the table's
	// indexes and options are written with the table in one transaction.
	creating *plan.CreateTable
	// prevDB is the database before the last SetCurrentDatabase, so a
	// COM_INIT_DB refused by UseDatabase leaves the session where it was.
	prevDB string
	// lastIdentity is the last identity value this session generated
	// (SCOPE_IDENTITY(), @@IDENTITY); nil before any.
	lastIdentity *int64
	// listed is the State the statement's last table listing came from.
	listed listedState
	// lostRace is the statement (pid) whose commit found a key another
	// connection committed after the statement looked for it; committed is
	// the last statement in which an edit committed. A statement that lost
	// a race and committed nothing is run again (interceptor.retryLostRace).
	lostRace, committed uint64
}

// listedState is the State a statement (pid) listed tables from, or the
// table it created.
type listedState struct {
	pid     uint64
	state   *engine.State
	created *engine.Table
}

// listedTable returns db.name from the State the current statement listed
// its tables from, or the table it created; nil if it did neither or the
// table was not there.
func (s *session) listedTable(ctx *sql.Context, db, name string) *engine.Table {
	if s.listed.pid != ctx.Pid() {
		return nil
	}
	if t := s.listed.created; t != nil {
		if t.Database == db && strings.EqualFold(t.Name, name) {
			return t
		}
		return nil
	}
	if s.listed.state == nil {
		return nil
	}
	return s.listed.state.Table(db, name)
}

// lostRace reports, once, whether c's last statement lost a race for a key
// and committed nothing (see interceptor.retryLostRace).
func (s *Server) lostRace(c *mysql.Conn) bool {
	lost := false
	if s.mysqlSrv == nil {
		return false
	}
	_ = s.mysqlSrv.SessionManager().Iter(func(ss sql.Session) (bool, error) {
		if ss.ID() != c.ConnectionID {
			return false, nil
		}
		if se, ok := ss.(*session); ok {
			lost = se.lostRace > se.committed
			se.lostRace = 0
		}
		return true, nil
	})
	return lost
}

func newSession(base *sql.BaseSession) *session {
	return &session{BaseSession: base, editors: map[uint64]*editor{}}
}

// sessionBuilder builds a session for each authenticated connection and
// logs the connection (at debug: one line per connection).
func (s *Server) sessionBuilder(_ context.Context, conn *mysql.Conn, addr string) (sql.Session, error) {
	client := sql.Client{Capabilities: conn.Capabilities}
	if u, ok := conn.UserData.(sql.MysqlConnectionUser); ok {
		client.User, client.Address = u.User, u.Host
	}
	s.log.WithFields(logrus.Fields{"conn": conn.ConnectionID, "user": client.User, "remote": conn.RemoteAddr().String(),
		"tls": conn.TLSEnabled()}).Debug("connection")
	return newSession(sql.NewBaseSessionWithClientServer(addr, client, conn.ConnectionID)), nil
}

// sessionOf returns ctx's session; contexts made outside a connection get a
// private one.
func sessionOf(ctx *sql.Context) *session {
	if s, ok := ctx.Session.(*session); ok {
		return s
	}
	return newSession(sql.NewBaseSession())
}

// Warnings lists the statement's warnings in the order they were raised,
// as MySQL's SHOW WARNINGS does (go-mysql-server lists the newest first).
func (s *session) Warnings() []*sql.Warning {
	w := s.BaseSession.Warnings()
	slices.Reverse(w)
	return w
}

func (s *session) editor(t *userTable) *editor {
	e := s.editors[t.t.ID]
	if e == nil || e.t.t != t.t {
		e = newEditor(t)
		s.editors[t.t.ID] = e
	}
	return e
}

func (s *session) dropEditor(id uint64) { delete(s.editors, id) }
