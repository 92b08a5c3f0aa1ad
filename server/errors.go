package server

import (
	"errors"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/vitess/go/mysql"

	"github.com/sysemu/sysemu/engine"
)

// sysemu's own error numbers. They never move (clients branch on them), stay
// below 32768 (PyMySQL and Connector/J read them as signed 16-bit) and are
// listed in README.md.
const (
	ErIDInUse           = 30001
	ErNotRecoveryMode   = 30002
	ErNextIDNotGreater  = 30003
	ErRecoveryModeDDL   = 30004
	ErProcedurePaused   = 30005
	ErTargetNotClean    = 30006
	ErBadSnapshot       = 30007
	ErSequenceExhausted = 30008
	ErUnknownSequence   = 30009
	ErProfileMismatch   = 30010
)

// MySQL's own numbers used here.
const (
	erDupEntry       = 1062
	erNoSuchTable    = 1146
	erBadDB          = 1049
	erTableExists    = 1050
	erDBCreateExists = 1007
	erDBAccessDenied = 1044
	erSpecificAccess = 1227
	erParseError     = 1064
	erWrongArguments = 1210
	erUnknown        = 1105
)

// errorCode is one row of the error table: an engine sentinel and the MySQL
// number and SQLSTATE the client receives for it.
type errorCode struct {
	err   error
	code  int
	state string
}

// engineErrors maps every engine sentinel to its wire error, in one place.
var engineErrors = []errorCode{
	{engine.ErrIDInUse, ErIDInUse, "HY000"},
	{engine.ErrNotRecoveryMode, ErNotRecoveryMode, "HY000"},
	{engine.ErrNotGreater, ErNextIDNotGreater, "HY000"},
	{engine.ErrRecoveryMode, ErRecoveryModeDDL, "HY000"},
	{engine.ErrProcedurePaused, ErProcedurePaused, "HY000"},
	{engine.ErrTargetNotClean, ErTargetNotClean, "HY000"},
	{engine.ErrBadSnapshot, ErBadSnapshot, "HY000"},
	{engine.ErrSequenceExhausted, ErSequenceExhausted, "HY000"},
	{engine.ErrNoSuchSequence, ErUnknownSequence, "HY000"},
	{engine.ErrProfileMismatch, ErProfileMismatch, "HY000"},
	{engine.ErrDuplicateKey, erDupEntry, "23000"},
	{engine.ErrNoSuchTable, erNoSuchTable, "42S02"},
	{engine.ErrNoSuchDatabase, erBadDB, "42000"},
	{engine.ErrTableExists, erTableExists, "42S01"},
	{engine.ErrDatabaseExists, erDBCreateExists, "HY000"},
	{engine.ErrReadOnlyDatabase, erDBAccessDenied, "42000"},
	{engine.ErrInvalid, erWrongArguments, "HY000"},
}

// toSQLError turns an engine error into the *mysql.SQLError the client gets.
// MySQL-compatible conditions get MySQL's message; sysemu's own keep the
// engine's text, which names the cause and the fix.
func toSQLError(err error) error {
	if err == nil {
		return nil
	}
	var se *mysql.SQLError
	if errors.As(err, &se) {
		return se
	}
	for _, ec := range engineErrors {
		if errors.Is(err, ec.err) {
			return mysql.NewSQLError(ec.code, ec.state, "%s", wireMessage(ec, err))
		}
	}
	return err
}

// wireMessage renders MySQL's message for MySQL's own conditions.
func wireMessage(ec errorCode, err error) string {
	detail := strings.TrimPrefix(err.Error(), ec.err.Error()+": ")
	switch ec.code {
	case erNoSuchTable:
		return "Table '" + detail + "' doesn't exist"
	case erBadDB:
		return "Unknown database '" + detail + "'"
	case erTableExists:
		return "Table '" + detail + "' already exists"
	case erDBCreateExists:
		return "Can't create database '" + detail + "'; database exists"
	case erDBAccessDenied:
		return "Access denied to database '" + detail + "': it is a read-only system database"
	}
	return detail
}

// errNoPrivilege is MySQL's 1227 for an admin routine called without the
// admin privilege.
func errNoPrivilege() error {
	return mysql.NewSQLError(erSpecificAccess, "42000", "Access denied; you need (at least one of) the SUPER privilege(s) for this operation")
}

// fixGMSError replaces go-mysql-server's generic answers with MySQL's
// specific numbers and SQLSTATEs where clients branch on them.
func fixGMSError(err error) error {
	if err == nil {
		return nil
	}
	se, ok := err.(*mysql.SQLError)
	if !ok {
		se = sql.CastSQLError(err)
	}
	switch {
	case se.Num == erUnknown && isSyntaxError(se.Message):
		return mysql.NewSQLError(erParseError, "42000", "%s", se.Message)
	case se.Num == erNoSuchTable && se.State != "42S02":
		return mysql.NewSQLError(erNoSuchTable, "42S02", "%s", se.Message)
	case se.Num == erBadDB && se.State != "42000":
		return mysql.NewSQLError(erBadDB, "42000", "%s", se.Message)
	case se.Num == erTableExists && se.State != "42S01":
		return mysql.NewSQLError(erTableExists, "42S01", "%s", se.Message)
	case se.Num == erUnknown && strings.HasPrefix(se.Message, "table not found"):
		return mysql.NewSQLError(erNoSuchTable, "42S02", "%s", se.Message)
	case se.Num == erUnknown && strings.HasPrefix(se.Message, "database not found"):
		return mysql.NewSQLError(erBadDB, "42000", "%s", se.Message)
	case se.Num == erUnknown && strings.Contains(se.Message, "already exists"):
		return mysql.NewSQLError(erTableExists, "42S01", "%s", se.Message)
	}
	return se
}

func isSyntaxError(msg string) bool {
	return strings.Contains(msg, "syntax error at position") || strings.HasPrefix(msg, "syntax error")
}
