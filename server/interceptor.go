package server

import (
	"context"
	"strings"

	gms "github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// interceptor sits between the wire and go-mysql-server's handler: it gives
// errors MySQL's specific numbers and prints partition clauses in SHOW
// CREATE TABLE, which go-mysql-server does not render.
type interceptor struct{ s *Server }

var _ gms.Interceptor = (*interceptor)(nil)

func (i *interceptor) Priority() int { return 0 }

func (i *interceptor) Query(ctx context.Context, chain gms.Chain, c *mysql.Conn, query string, callback func(*sqltypes.Result, bool) error) error {
	return i.fix(c, chain.ComQuery(ctx, c, rewrite(query), i.wrap(ctx, c, query, callback)))
}

func (i *interceptor) fix(c *mysql.Conn, err error) error {
	if err == nil {
		return nil
	}
	db := ""
	if i.s.mysqlSrv != nil {
		db = i.s.mysqlSrv.SessionManager().GetCurrentDB(c)
	}
	return fixGMSError(err, db)
}

func (i *interceptor) ParsedQuery(chain gms.Chain, c *mysql.Conn, query string, parsed sqlparser.Statement, callback func(*sqltypes.Result, bool) error) error {
	return i.fix(c, chain.ComQuery(context.Background(), c, query, i.wrap(context.Background(), c, query, callback)))
}

func (i *interceptor) MultiQuery(ctx context.Context, chain gms.Chain, c *mysql.Conn, query string, callback func(*sqltypes.Result, bool) error) (string, error) {
	rest, err := chain.ComMultiQuery(ctx, c, rewrite(query), i.wrap(ctx, c, query, callback))
	return rest, i.fix(c, err)
}

func (i *interceptor) Prepare(ctx context.Context, chain gms.Chain, c *mysql.Conn, query string, prepare *mysql.PrepareData) ([]*querypb.Field, error) {
	// The handler parses PrepareStmt again at every execution.
	query = rewrite(query)
	if prepare != nil {
		prepare.PrepareStmt = query
	}
	fields, err := chain.ComPrepare(ctx, c, query, prepare)
	return fields, i.fix(c, err)
}

func (i *interceptor) StmtExecute(ctx context.Context, chain gms.Chain, c *mysql.Conn, prepare *mysql.PrepareData, callback func(*sqltypes.Result) error) error {
	return i.fix(c, chain.ComStmtExecute(ctx, c, prepare, callback))
}

// wrap adds the partition clause to SHOW CREATE TABLE of a partitioned
// table; other statements pass through untouched.
func (i *interceptor) wrap(ctx context.Context, c *mysql.Conn, query string, callback func(*sqltypes.Result, bool) error) func(*sqltypes.Result, bool) error {
	if !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(query)), "SHOW CREATE TABLE") {
		return callback
	}
	stmt, _, err := sqlparser.ParseOne(ctx, query)
	if err != nil {
		return callback
	}
	show, ok := stmt.(*sqlparser.Show)
	if !ok || !strings.EqualFold(show.Type, "create table") {
		return callback
	}
	db := show.Table.DbQualifier.String()
	if db == "" && i.s.mysqlSrv != nil {
		db = i.s.mysqlSrv.SessionManager().GetCurrentDB(c)
	}
	t := i.s.eng.State().Table(db, show.Table.Name.String())
	if t == nil || t.Partition == nil {
		return callback
	}
	return func(res *sqltypes.Result, more bool) error {
		if res != nil && len(res.Rows) == 1 && len(res.Rows[0]) == 2 {
			ddl := res.Rows[0][1].ToString() + "\n" + t.Partition.Clause
			res.Rows[0][1] = sqltypes.MakeTrusted(res.Rows[0][1].Type(), []byte(ddl))
		}
		return callback(res, more)
	}
}

// rewriteSystem quotes the database name SYSTEM where it qualifies a table
// (SYSTEM.SYS_ID_EVENTS): SYSTEM is a reserved word to the parser, as in
// MySQL 8, but the SYS_* tables live in a database of that name.
func rewriteSystem(query string) string {
	upper := strings.ToUpper(query)
	if !strings.Contains(upper, "SYSTEM") {
		return query
	}
	var b strings.Builder
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' && i+1 < len(query) {
				b.WriteByte(c)
				i++
				c = query[i]
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case (c == 's' || c == 'S') && strings.HasPrefix(upper[i:], "SYSTEM") &&
			(i == 0 || !isIdentByte(query[i-1])) && followedByDot(query[i+6:]):
			b.WriteString("`" + query[i:i+6] + "`")
			i += 5
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func followedByDot(rest string) bool {
	rest = strings.TrimLeft(rest, " \t\r\n")
	return strings.HasPrefix(rest, ".")
}
