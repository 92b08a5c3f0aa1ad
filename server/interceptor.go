package server

import (
	"context"
	"strconv"
	"strings"
	"time"

	gms "github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// interceptor sits between the wire and go-mysql-server's handler: it
// rewrites statements the parser or planner would fail (rewrite), gives
// errors MySQL's specific numbers (counted for /metrics), fixes result
// details clients read (partition clauses in SHOW CREATE TABLE, DESCRIBE's
// defaults) and logs slow statements.
type interceptor struct{ s *Server }

var _ gms.Interceptor = (*interceptor)(nil)

func (i *interceptor) Priority() int { return 0 }

func (i *interceptor) Query(ctx context.Context, chain gms.Chain, c *mysql.Conn, query string, callback func(*sqltypes.Result, bool) error) error {
	start := time.Now()
	if err := checkLiterals(query); err != nil {
		return i.fix(c, err)
	}
	q, cb := rewrite(query), i.wrap(ctx, c, query, callback)
	err := i.retryLostRace(c, func() error {
		handled, err := i.s.fast.run(ctx, c, q, nil, cb)
		if !handled {
			err = chain.ComQuery(ctx, c, q, cb)
		}
		return err
	})
	err = i.fix(c, err)
	i.s.logSlow(c, query, start, err)
	return err
}

// retryLostRace runs a statement again when its commit found that another
// connection, since the statement read, committed a key it inserts or
// changed a row it updates or deletes, and nothing of the statement was
// committed. MySQL's statement would have waited for the other one's row
// lock and then seen its row: ON DUPLICATE KEY UPDATE updates it, INSERT
// IGNORE skips it, a plain INSERT gets 1062 from its own look-up, and an
// UPDATE computes from the new value. Runs after the first take turns
// (retryMu), so statements fighting over one row finish one by one; after
// maxRetries the client gets 1213, as from a deadlock.
func (i *interceptor) retryLostRace(c *mysql.Conn, run func() error) error {
	err := run()
	if err == nil || !i.s.lostRace(c) {
		return err
	}
	i.s.retryMu.Lock()
	defer i.s.retryMu.Unlock()
	for attempt := 1; attempt < maxRetries; attempt++ {
		if err = run(); err == nil || !i.s.lostRace(c) {
			return err
		}
	}
	return err
}

const maxRetries = 20

func (i *interceptor) fix(c *mysql.Conn, err error) error {
	if err == nil {
		return nil
	}
	db := ""
	if i.s.mysqlSrv != nil {
		db = i.s.mysqlSrv.SessionManager().GetCurrentDB(c)
	}
	err = fixGMSError(err, db)
	if se, ok := err.(*mysql.SQLError); ok {
		i.s.cfg.Metrics.queryError(se.Num)
	}
	return err
}

func (i *interceptor) ParsedQuery(chain gms.Chain, c *mysql.Conn, query string, parsed sqlparser.Statement, callback func(*sqltypes.Result, bool) error) error {
	ctx := context.Background()
	return i.fix(c, chain.ComQuery(ctx, c, rewrite(query), i.wrap(ctx, c, query, callback)))
}

func (i *interceptor) MultiQuery(ctx context.Context, chain gms.Chain, c *mysql.Conn, query string, callback func(*sqltypes.Result, bool) error) (string, error) {
	start := time.Now()
	if err := checkLiterals(query); err != nil {
		return "", i.fix(c, err)
	}
	q, cb := rewrite(query), i.wrap(ctx, c, query, callback)
	var rest string
	handled, err := false, error(nil)
	if single := strings.TrimRight(strings.TrimSpace(q), ";"); !strings.Contains(single, ";") {
		handled, err = i.s.fast.run(ctx, c, single, nil, cb)
	}
	if !handled {
		err = i.retryLostRace(c, func() (err error) {
			rest, err = chain.ComMultiQuery(ctx, c, q, cb)
			return err
		})
	}
	err = i.fix(c, err)
	i.s.logSlow(c, strings.TrimSuffix(query, rest), start, err)
	return rest, err
}

func (i *interceptor) Prepare(ctx context.Context, chain gms.Chain, c *mysql.Conn, query string, prepare *mysql.PrepareData) ([]*querypb.Field, error) {
	// The handler parses PrepareStmt again at every execution.
	if err := checkLiterals(query); err != nil {
		return nil, i.fix(c, err)
	}
	query = rewrite(query)
	if prepare != nil {
		prepare.PrepareStmt = query
	}
	fields, err := chain.ComPrepare(ctx, c, query, prepare)
	return fields, i.fix(c, err)
}

func (i *interceptor) StmtExecute(ctx context.Context, chain gms.Chain, c *mysql.Conn, prepare *mysql.PrepareData, callback func(*sqltypes.Result) error) error {
	return i.fix(c, i.retryLostRace(c, func() error {
		if handled, err := i.s.fast.run(ctx, c, prepare.PrepareStmt, prepare.BindVars, func(r *sqltypes.Result, _ bool) error {
			return callback(r)
		}); handled {
			return err
		}
		return chain.ComStmtExecute(ctx, c, prepare, callback)
	}))
}

// wrap adds the partition clause to SHOW CREATE TABLE of a partitioned
// table and prints DESCRIBE's string defaults as MySQL does; other
// statements pass through untouched.
func (i *interceptor) wrap(ctx context.Context, c *mysql.Conn, query string, callback func(*sqltypes.Result, bool) error) func(*sqltypes.Result, bool) error {
	upper := strings.ToUpper(strings.TrimSpace(query))
	if isDescribe(upper) {
		return unquoteDefaults(callback)
	}
	if !strings.HasPrefix(upper, "SHOW CREATE TABLE") {
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

// isDescribe reports whether an upper-cased statement lists a table's
// columns (DESCRIBE t, SHOW [FULL] COLUMNS|FIELDS FROM t).
func isDescribe(upper string) bool {
	for _, p := range []string{"DESCRIBE ", "DESC ", "SHOW COLUMNS ", "SHOW FULL COLUMNS ", "SHOW FIELDS ", "SHOW FULL FIELDS "} {
		if strings.HasPrefix(upper, p) {
			return true
		}
	}
	return false
}

// unquoteDefaults prints literal string defaults in the Default column as
// MySQL does (x, not 'x'; an empty string, not two quotes): go-mysql-server quotes
// them, and tools that read DESCRIBE take the quotes for part of the value.
func unquoteDefaults(callback func(*sqltypes.Result, bool) error) func(*sqltypes.Result, bool) error {
	return func(res *sqltypes.Result, more bool) error {
		col := -1
		if res != nil {
			for n, f := range res.Fields {
				if f.Name == "Default" {
					col = n
				}
			}
		}
		if col >= 0 {
			for _, row := range res.Rows {
				v := row[col]
				if v.IsNull() {
					continue
				}
				if s := v.ToString(); len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
					row[col] = sqltypes.MakeTrusted(v.Type(), []byte(strings.ReplaceAll(s[1:len(s)-1], "''", "'")))
				}
			}
		}
		return callback(res, more)
	}
}

// rewriteMariaDBComment turns a leading /*M!NNNNNN ... */ into a plain
// comment. MySQL reads it as one; MariaDB runs the body only from version
// NNNNNN on, and mariadb-dump starts every dump with
// /*M!999999\- enable the sandbox mode */, which the parser would otherwise
// run as SQL.
func rewriteMariaDBComment(query string) string {
	trimmed := strings.TrimLeft(query, " \t\r\n")
	if !strings.HasPrefix(trimmed, "/*M!") {
		return query
	}
	return "/* M!" + trimmed[len("/*M!"):]
}

// rewriteDistinctOrdinal replaces ORDER BY ordinals that point at a computed,
// unaliased select expression of a SELECT DISTINCT with the expression
// itself: go-mysql-server fails such a sort ("unable to find field with
// index 2 in row of 1 columns"), and Grafana's value suggestions send exactly
// that (SELECT DISTINCT QUOTE(c) FROM t ORDER BY 1 LIMIT 100). The expression
// is aliased with its own text, so the column name the client sees is
// unchanged, and sorted by that alias. Other statements pass untouched.
func rewriteDistinctOrdinal(query string) string {
	upper := strings.ToUpper(query)
	if !strings.Contains(upper, "DISTINCT") || !strings.Contains(upper, "ORDER BY") {
		return query
	}
	stmt, _, err := sqlparser.ParseOne(context.Background(), query)
	if err != nil {
		return query
	}
	sel, ok := stmt.(*sqlparser.Select)
	if !ok || !sel.QueryOpts.Distinct {
		return query
	}
	changed := false
	for _, o := range sel.OrderBy {
		v, ok := o.Expr.(*sqlparser.SQLVal)
		if !ok || v.Type != sqlparser.IntVal {
			continue
		}
		n, err := strconv.Atoi(string(v.Val))
		if err != nil || n < 1 || n > len(sel.SelectExprs) {
			continue
		}
		ae, ok := sel.SelectExprs[n-1].(*sqlparser.AliasedExpr)
		if !ok || !ae.As.IsEmpty() {
			continue
		}
		if _, isCol := ae.Expr.(*sqlparser.ColName); isCol {
			continue
		}
		// Alias the expression with its own text (the column name the
		// client would see anyway) and sort by the alias.
		ae.As = sqlparser.NewColIdent(ae.InputExpression)
		o.Expr = &sqlparser.ColName{Name: ae.As}
		changed = true
	}
	if !changed {
		return query
	}
	return sqlparser.String(sel)
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

// maxNumberDigits is DECIMAL's maximum precision: a longer number literal
// is refused before parsing, as go-mysql-server cannot convert it anyway and
// its parser takes time growing faster than the length (a 300,000-digit
// literal took seconds and then dropped the connection).
const maxNumberDigits = 65

// checkLiterals refuses number literals (outside quotes, comments and
// names) longer than maxNumberDigits digits with MySQL's 1426.
func checkLiterals(query string) error {
	var err error
	run, start := 0, 0
	scanCode(query, func(i, _ int) {
		c := query[i]
		if err != nil {
			return
		}
		if c < '0' || c > '9' {
			run = 0
			return
		}
		if run == 0 {
			start = i
			if i > 0 && isNameByte(query[i-1]) {
				run = -1 << 62 // digits inside a name
			}
		}
		if run++; run > maxNumberDigits {
			end := start + maxNumberDigits
			err = mysql.NewSQLError(erTooBigPrecision, "42000", "Too big precision for number literal '%s...'. Maximum is %d.", query[start:end], maxNumberDigits)
		}
	})
	return err
}

func isNameByte(c byte) bool {
	return c == '_' || c == '$' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
