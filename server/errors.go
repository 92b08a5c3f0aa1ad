package server

import (
	"errors"
	"strings"
	"syscall"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/vitess/go/mysql"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/engine/store"
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
	ErUnknownNode       = 30011
	ErLastOnlineNode    = 30012
	ErNodeOnline        = 30013
	ErTooManyReplicas   = 30014
	// PostgreSQL relation maps (30020 and up; the SQLSTATEs are
	// PostgreSQL's: 58P01 undefined_file, XX001 data_corrupted).
	ErFilenodeMapMissing = 30020
	ErFilenodeMapCorrupt = 30021
	// SQL Server identity (30030 and up), with SQL Server's message texts:
	// Msg 7997, Msg 8115 (SQLSTATE 22003 numeric value out of range) and
	// Msg 548 (23000 integrity constraint violation).
	ErNoIdentityColumn = 30030
	ErIdentityOverflow = 30031
	ErIdentityRange    = 30032
	// TiDB BR backup and restore (30060 and up).
	ErBadBackup         = 30060
	ErRestoreCheckpoint = 30061
	ErRestoreRunning    = 30062
	ErTableRestoring    = 30063
	ErRestoreChecksum   = 30064
	// Cluster mode (30040 and up).
	ErClusterUnavailable = 30040 // etcd has no quorum or cannot be reached
	ErTransactionTooBig  = 30041 // one key-value pair over etcd's request limit
)

// MySQL's own numbers used here.
const (
	erDupEntry            = 1062
	erLockDeadlock        = 1213
	erNoSuchTable         = 1146
	erBadDB               = 1049
	erTableExists         = 1050
	erDBCreateExists      = 1007
	erDBAccessDenied      = 1044
	erSpecificAccess      = 1227
	erParseError          = 1064
	erWrongArguments      = 1210
	erUnknown             = 1105
	erNoDB                = 1046
	erUnknownSysVar       = 1193
	erQueryInterrupt      = 1317
	erCommandDenied       = 1142
	erWrongFieldSpec      = 1063
	erSPWrongArgs         = 1318
	erWrongParamCount     = 1582
	erNoParts             = 1504
	erTooManyPartitions   = 1499
	erTooLongIdent        = 1059
	erDiskFull            = 1021
	erReadOnlyFS          = 1036
	erTruncatedWrongValue = 1366
	erTooBigPrecision     = 1426
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
	{engine.ErrNoSuchNode, ErUnknownNode, "HY000"},
	{engine.ErrLastOnlineNode, ErLastOnlineNode, "HY000"},
	{engine.ErrNodeOnline, ErNodeOnline, "HY000"},
	{engine.ErrTooManyReplicas, ErTooManyReplicas, "HY000"},
	{engine.ErrMapFileMissing, ErFilenodeMapMissing, "58P01"},
	{engine.ErrMapFileCorrupt, ErFilenodeMapCorrupt, "XX001"},
	{engine.ErrNoIdentity, ErNoIdentityColumn, "HY000"},
	{engine.ErrIdentityOverflow, ErIdentityOverflow, "22003"},
	{engine.ErrIdentityRange, ErIdentityRange, "23000"},
	{engine.ErrBadBackup, ErBadBackup, "HY000"},
	{engine.ErrRestoreCheckpoint, ErRestoreCheckpoint, "HY000"},
	{engine.ErrRestoreRunning, ErRestoreRunning, "HY000"},
	{engine.ErrTableRestoring, ErTableRestoring, "HY000"},
	{engine.ErrRestoreChecksum, ErRestoreChecksum, "HY000"},
	{store.ErrUnavailable, ErClusterUnavailable, "HY000"},
	{store.ErrTooLarge, ErTransactionTooBig, "HY000"},
	{engine.ErrDuplicateKey, erDupEntry, "23000"},
	{engine.ErrNoSuchTable, erNoSuchTable, "42S02"},
	{engine.ErrNoSuchDatabase, erBadDB, "42000"},
	{engine.ErrTableExists, erTableExists, "42S01"},
	{engine.ErrDatabaseExists, erDBCreateExists, "HY000"},
	{engine.ErrReadOnlyDatabase, erDBAccessDenied, "42000"},
	{engine.ErrInvalid, erWrongArguments, "HY000"},
	{engine.ErrNameTooLong, erTooLongIdent, "42000"},
	// The data directory's file system: full, or remounted read-only.
	{syscall.ENOSPC, erDiskFull, "HY000"},
	{syscall.EROFS, erReadOnlyFS, "HY000"},
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
	case erTooLongIdent:
		return errNameTooLong(detail).(*mysql.SQLError).Message
	case erDiskFull:
		return "Disk full: nothing was written (" + err.Error() + "); free space in the data directory and retry"
	case erReadOnlyFS:
		return "The data directory is read only: nothing was written (" + err.Error() + ")"
	case erDBAccessDenied:
		return "Access denied to database '" + detail + "': it is a read-only system database"
	case ErClusterUnavailable, ErTransactionTooBig:
		return "cluster store: " + err.Error()
	case ErRecoveryModeDDL, ErProcedurePaused, ErTargetNotClean, ErBadSnapshot, ErUnknownSequence, ErProfileMismatch, ErUnknownNode,
		ErBadBackup:
		return err.Error()
	}
	return detail
}

// errNoPrivilege is MySQL's 1227 for an admin routine called without the
// admin privilege.
func errNoPrivilege() error {
	return mysql.NewSQLError(erSpecificAccess, "42000", "Access denied; you need (at least one of) the SUPER privilege(s) for this operation")
}

// fixGMSError replaces go-mysql-server's generic answers with MySQL's
// specific numbers, SQLSTATEs and messages where clients branch on them.
// db is the connection's current database.
func fixGMSError(err error, db string) error {
	if err == nil {
		return nil
	}
	se, ok := err.(*mysql.SQLError)
	if !ok {
		se = sql.CastSQLError(err)
	}
	msg := se.Message
	after := func(prefix string) (string, bool) {
		if strings.HasPrefix(msg, prefix) {
			return strings.TrimPrefix(msg, prefix), true
		}
		return "", false
	}
	if rest, ok := after("table not found: "); ok {
		if !strings.Contains(rest, ".") && db != "" {
			rest = db + "." + rest
		}
		return mysql.NewSQLError(erNoSuchTable, "42S02", "Table '%s' doesn't exist", rest)
	}
	if rest, ok := after("table with name "); ok && strings.HasSuffix(rest, " already exists") {
		return mysql.NewSQLError(erTableExists, "42S01", "Table '%s' already exists", strings.TrimSuffix(rest, " already exists"))
	}
	if rest, ok := after("database not found: "); ok {
		return mysql.NewSQLError(erBadDB, "42000", "Unknown database '%s'", rest)
	}
	if rest, ok := after("can't create database "); ok {
		return mysql.NewSQLError(erDBCreateExists, "HY000", "Can't create database '%s'; database exists", strings.TrimSuffix(rest, "; database exists"))
	}
	for _, prefix := range []string{"duplicate primary key given: ", "duplicate unique key given: "} {
		if rest, ok := after(prefix); ok {
			return mysql.NewSQLError(erDupEntry, "23000", "Duplicate entry %s", rest)
		}
	}
	if rest, ok := after("Unknown system variable '"); ok {
		return mysql.NewSQLError(erUnknownSysVar, "HY000", "Unknown system variable '%s", strings.TrimPrefix(rest, "@@"))
	}
	if rest, ok := after("invalid identifier: `"); ok {
		return errNameTooLong(strings.TrimSuffix(rest, "`"))
	}
	if rest, ok := after("function '"); ok && strings.Contains(rest, "' expected ") && strings.HasSuffix(rest, " received") {
		return mysql.NewSQLError(erWrongParamCount, "42000", "Incorrect parameter count in the call to native function '%s'", rest[:strings.Index(rest, "'")])
	}
	switch {
	case strings.HasPrefix(msg, "Incorrect string value: "):
		return mysql.NewSQLError(erTruncatedWrongValue, "HY000", "%s", msg)
	case strings.HasPrefix(msg, "Access denied for user ") && strings.Contains(msg, " to database '"):
		return mysql.NewSQLError(erDBAccessDenied, "42000", "%s", msg)
	case strings.HasPrefix(msg, "command denied to user "):
		return mysql.NewSQLError(erCommandDenied, "42000", "%s", msg)
	case strings.HasSuffix(msg, "context canceled"):
		return mysql.NewSQLError(erQueryInterrupt, "70100", "Query execution was interrupted")
	case msg == "no database selected":
		return mysql.NewSQLError(erNoDB, "3D000", "No database selected")
	case se.Num == erUnknown && isSyntaxError(msg):
		return mysql.NewSQLError(erParseError, "42000", "You have an error in your SQL syntax; %s", msg)
	case se.Num == erNoSuchTable:
		return mysql.NewSQLError(erNoSuchTable, "42S02", "%s", msg)
	case se.Num == erBadDB:
		return mysql.NewSQLError(erBadDB, "42000", "%s", msg)
	case se.Num == erTableExists:
		return mysql.NewSQLError(erTableExists, "42S01", "%s", msg)
	case se.Num == erDupEntry:
		return mysql.NewSQLError(erDupEntry, "23000", "%s", msg)
	}
	return se
}

func isSyntaxError(msg string) bool {
	return strings.Contains(msg, "syntax error at position") || strings.HasPrefix(msg, "syntax error")
}

// errNotSupported is MySQL's 1235 ER_NOT_SUPPORTED_YET.
func errNotSupported(what string) error {
	return mysql.NewSQLError(1235, "42000", "This version of sysemu doesn't yet support '%s'", what)
}

// errNameTooLong is MySQL's 1059 for a name over 64 characters; the name is
// cut in the message, which must stay readable for a 16 MiB name.
func errNameTooLong(name string) error {
	if len(name) > 64 {
		name = name[:64] + "..."
	}
	return mysql.NewSQLError(erTooLongIdent, "42000", "Identifier name '%s' is too long", name)
}
