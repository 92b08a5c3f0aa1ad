package server

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// T-SQL that SQL Server identity scripts use, rewritten before the parser
// so a script ports by changing little more than the connection string:
//
//	id INT IDENTITY(1000, 5)           -> id INT AUTO_INCREMENT /*sysemu:identity ...*/
//	DBCC CHECKIDENT ('t', RESEED, 10)  -> CALL checkident('t', 'RESEED', '10')
//	SET IDENTITY_INSERT t ON           -> accepted (explicit values are always allowed)
//	@@IDENTITY                         -> scope_identity()
//
// The identity marker comment carries the seed, increment and declared type
// to CREATE TABLE (identitySpec), since MySQL's grammar has no place for
// them. SQL Server's TINYINT is 0..255, so it becomes TINYINT UNSIGNED; a
// DECIMAL(p,0) or NUMERIC(p,0) identity is stored as BIGINT (AUTO_INCREMENT
// needs an integer column) with the range of the declared type.

// rewrite applies every rewrite of a statement before go-mysql-server parses it.
func rewrite(query string) string {
	return rewriteDistinctOrdinal(rewriteTSQL(rewriteSystem(rewriteMariaDBComment(query))))
}

var (
	dbccCheckident = regexp.MustCompile(`(?is)^\s*DBCC\s+CHECKIDENT\s*\(\s*('(?:[^']|'')*'|"(?:[^"]|"")*"|[\w.\[\]` + "`" + `]+)\s*` +
		`(?:,\s*'?(NORESEED|RESEED)'?\s*(?:,\s*(-?\d+)\s*)?)?\)\s*(WITH\s+NO_INFOMSGS)?\s*;?\s*$`)
	identityInsert = regexp.MustCompile(`(?is)^\s*SET\s+IDENTITY_INSERT\s+([\w.\[\]` + "`" + `]+)\s+(ON|OFF)\s*;?\s*$`)
	createTable    = regexp.MustCompile(`(?is)^\s*CREATE\s+(TEMPORARY\s+)?TABLE\b`)
)

func rewriteTSQL(query string) string {
	upper := strings.ToUpper(query)
	if !strings.Contains(upper, "IDENTITY") && !strings.Contains(upper, "DBCC") {
		return query
	}
	if m := dbccCheckident.FindStringSubmatch(query); m != nil {
		args := []string{sqlQuote(unquoteTSQL(m[1]))}
		if m[2] != "" || m[4] != "" {
			args = append(args, sqlQuote(strings.ToUpper(m[2])))
		}
		if m[3] != "" || m[4] != "" {
			args = append(args, sqlQuote(m[3]))
		}
		if m[4] != "" {
			args = append(args, "'NO_INFOMSGS'")
		}
		return "CALL checkident(" + strings.Join(args, ", ") + ")"
	}
	if m := identityInsert.FindStringSubmatch(query); m != nil {
		return "SET @sysemu_identity_insert = " + sqlQuote(m[1]+" "+strings.ToUpper(m[2]))
	}
	edits := codeEdits(query)
	if createTable.MatchString(query) {
		edits = append(edits, identityColumnEdits(query)...)
	}
	return applyEdits(query, edits)
}

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// unquoteTSQL is the value of a T-SQL name written as 'x' or "x" (a quote
// inside doubled), or the name itself when it is not quoted.
func unquoteTSQL(s string) string {
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		q := s[:1]
		return strings.ReplaceAll(s[1:len(s)-1], q+q, q)
	}
	return s
}

// edit replaces query[from:to] with text.
type edit struct {
	from, to int
	text     string
}

func applyEdits(query string, edits []edit) string {
	if len(edits) == 0 {
		return query
	}
	var b strings.Builder
	at := 0
	slices.SortFunc(edits, func(a, b edit) int { return a.from - b.from })
	for _, e := range edits {
		b.WriteString(query[at:e.from])
		b.WriteString(e.text)
		at = e.to
	}
	b.WriteString(query[at:])
	return b.String()
}

// scanCode calls fn for every byte of query outside quotes and comments,
// with the parenthesis depth there.
func scanCode(query string, fn func(i, depth int)) {
	depth := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			for i++; i < len(query) && query[i] != c; i++ {
				if query[i] == '\\' && c != '`' {
					i++
				}
			}
			continue
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			if end := strings.Index(query[i+2:], "*/"); end >= 0 {
				i += end + 3
			} else {
				i = len(query)
			}
			continue
		case c == '-' && strings.HasPrefix(query[i:], "-- ") || c == '#':
			for i < len(query) && query[i] != '\n' {
				i++
			}
			continue
		case c == '(':
			depth++
		case c == ')':
			depth--
		}
		fn(i, depth)
	}
}

// codeEdits rewrites @@IDENTITY (outside quotes) to scope_identity().
func codeEdits(query string) []edit {
	var out []edit
	upper := strings.ToUpper(query)
	scanCode(query, func(i, _ int) {
		if query[i] == '@' && strings.HasPrefix(upper[i:], "@@IDENTITY") && (i+10 == len(query) || !isIdentByte(query[i+10])) &&
			(i == 0 || query[i-1] != '@') {
			out = append(out, edit{i, i + 10, "scope_identity()"})
		}
	})
	return out
}

var identityArgs = regexp.MustCompile(`^\s*\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)`)

// identityColumnEdits rewrites each column declared with IDENTITY[(seed,
// incr)] in a CREATE TABLE statement.
func identityColumnEdits(query string) []edit {
	var out []edit
	upper := strings.ToUpper(query)
	colStart := -1
	scanCode(query, func(i, depth int) {
		c := query[i]
		if depth == 1 && (c == '(' || c == ',') {
			colStart = i + 1
			return
		}
		if depth != 1 || colStart < 0 || !strings.HasPrefix(upper[i:], "IDENTITY") ||
			(i > 0 && isIdentByte(query[i-1])) || (i+8 < len(query) && isIdentByte(query[i+8])) {
			return
		}
		end, seed, incr := i+8, int64(1), int64(1)
		if m := identityArgs.FindStringSubmatchIndex(query[end:]); m != nil {
			seed, _ = strconv.ParseInt(query[end+m[2]:end+m[3]], 10, 64)
			incr, _ = strconv.ParseInt(query[end+m[4]:end+m[5]], 10, 64)
			end += m[1]
		}
		name, typeFrom, typeTo, declared := columnType(query, colStart, i)
		if typeFrom < 0 {
			return
		}
		stored := ""
		switch t := strings.ToLower(declared); {
		case t == "tinyint":
			stored = "TINYINT UNSIGNED"
		case strings.HasPrefix(t, "decimal") || strings.HasPrefix(t, "numeric"):
			stored = "BIGINT"
		}
		if stored != "" {
			out = append(out, edit{typeFrom, typeTo, stored})
		}
		out = append(out, edit{i, end, fmt.Sprintf("AUTO_INCREMENT /*sysemu:identity col=%s seed=%d incr=%d type=%s*/",
			name, seed, incr, strings.ToLower(declared))})
	})
	return out
}

// columnType finds the name and type of the column definition
// query[from:to]: the type is the token after the name, with its
// (precision) if any.
var columnDef = regexp.MustCompile("^\\s*(`[^`]+`|\"[^\"]+\"|\\[[^\\]]+\\]|\\w+)\\s+\\[?(\\w+)\\]?(\\s*\\(\\s*\\d+\\s*(?:,\\s*\\d+\\s*)?\\))?")

func columnType(query string, from, to int) (name string, typeFrom, typeTo int, typ string) {
	m := columnDef.FindStringSubmatchIndex(query[from:to])
	if m == nil {
		return "", -1, -1, ""
	}
	end := m[5]
	if m[6] >= 0 {
		end = m[7]
	}
	name = strings.Trim(query[from+m[2]:from+m[3]], "`\"[]")
	typ = query[from+m[4]:from+m[5]] + strings.Join(strings.Fields(query[from+m[5]:from+end]), "")
	return name, from + m[4], from + end, typ
}

// identityMarker is what identityColumnEdits left in the statement.
type identityMarker struct {
	seed, incr int64
	typ        string
}

var markerRE = regexp.MustCompile(`/\*sysemu:identity col=(\S+) seed=(-?\d+) incr=(-?\d+) type=([^*]+)\*/`)

// identityMarkerOf finds the marker of column col in a CREATE TABLE statement.
func identityMarkerOf(stmt, col string) (identityMarker, bool) {
	for _, m := range markerRE.FindAllStringSubmatch(stmt, -1) {
		if !strings.EqualFold(m[1], col) {
			continue
		}
		seed, err1 := strconv.ParseInt(m[2], 10, 64)
		incr, err2 := strconv.ParseInt(m[3], 10, 64)
		if err1 == nil && err2 == nil {
			return identityMarker{seed: seed, incr: incr, typ: m[4]}, true
		}
	}
	return identityMarker{}, false
}

// statementText is the statement being executed: ctx.Query() holds the
// statements that follow it too when a client sends several at once.
func statementText(ctx *sql.Context) string {
	q := ctx.Query()
	if _, rest, err := sqlparser.ParseOne(ctx, q); err == nil && rest > 0 && rest <= len(q) {
		return q[:rest]
	}
	return q
}
