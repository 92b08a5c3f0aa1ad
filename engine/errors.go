package engine

import "errors"

// Sentinel errors. Callers match them with errors.Is; the server maps each to
// a MySQL error number in one table, and the HTTP API to GreptimeDB's codes.
var (
	ErrDatabaseExists    = errors.New("database exists")
	ErrNoSuchDatabase    = errors.New("unknown database")
	ErrTableExists       = errors.New("table already exists")
	ErrNoSuchTable       = errors.New("unknown table")
	ErrIDInUse           = errors.New("id already in use")
	ErrNotGreater        = errors.New("next value not greater than current")
	ErrNotRecoveryMode   = errors.New("not in recovery mode")
	ErrRecoveryMode      = errors.New("recovery mode is on")
	ErrProcedurePaused   = errors.New("procedure manager is paused")
	ErrSequenceExhausted = errors.New("sequence exhausted")
	ErrNoSuchSequence    = errors.New("unknown sequence")
	ErrDuplicateKey      = errors.New("duplicate key")
	ErrRowChanged        = errors.New("row changed by another statement")
	ErrReadOnlyDatabase  = errors.New("read-only system database")
	ErrTargetNotClean    = errors.New("target not clean")
	ErrBadSnapshot       = errors.New("invalid metadata snapshot")
	ErrProfileMismatch   = errors.New("data directory belongs to another profile")
	ErrInvalid           = errors.New("invalid argument")
	ErrNameTooLong       = errors.New("identifier name is too long")
	ErrNoSuchNode        = errors.New("unknown node")
	ErrLastOnlineNode    = errors.New("last online node")
	ErrNodeOnline        = errors.New("node is online")
	ErrTooManyReplicas   = errors.New("replica count above node count")
	ErrNoIdentity        = errors.New("no identity column")
	ErrIdentityOverflow  = errors.New("identity overflow")
	ErrIdentityRange     = errors.New("identity range check")
	// Backup and restore (TiDB BR).
	ErrBadBackup         = errors.New("invalid backup")
	ErrRestoreCheckpoint = errors.New("restore checkpoint mismatch")
	ErrRestoreRunning    = errors.New("restore already running")
	ErrTableRestoring    = errors.New("table is being restored")
	ErrRestoreChecksum   = errors.New("restore checksum mismatch")
)
