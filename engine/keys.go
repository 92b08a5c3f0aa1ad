package engine

import "encoding/binary"

// Key layout. Metadata (catalog, sequences, switches) and data (rows, per-table
// storage) live under separate prefixes, so a metadata snapshot restore can
// replace the one while the other stays — GreptimeDB's situation that makes a
// stale next-id dangerous. Sequence and switch keys carry GreptimeDB's names.
var (
	metaPrefix   = []byte("m/")
	profileKey   = []byte("m/profile")
	dbPrefix     = []byte("m/db/")
	tablePrefix  = []byte("m/tbl/")
	seqPrefix    = []byte("m/__meta_seq-")
	switchPrefix = []byte("m/__switches/")
	dataPrefix   = []byte("d/")
	eventPrefix  = []byte("e/")

	nodePrefix      = []byte("m/node/")
	nodeEventPrefix = []byte("m/nodeev/")
	relmapPrefix    = []byte("m/relmap/") // PostgreSQL relation maps by database ID (0: global)

	// Cluster keys, outside metadata (a snapshot restore leaves them).
	metaRevKey  = []byte("c/rev")    // metadata revision and sequence epoch (see cluster.go)
	logPrefix   = []byte("c/log/")   // the change log, by metadata revision (see cluster.go)
	livePrefix  = []byte("c/live/")  // node liveness, by node ID: leased keys in cluster mode
	identPrefix = []byte("m/ident/") // identity pools and per-node counters by table ID
)

// Switch names, GreptimeDB's runtime switches (key/runtime_switch.rs).
const (
	SwitchRecovery       = "recovery"
	SwitchPauseProcedure = "pause_procedure"
	SwitchMaintenance    = "maintenance"
)

func idKey(prefix []byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), id)
}

func seqKey(name string) []byte    { return append(append([]byte(nil), seqPrefix...), name...) }
func switchKey(name string) []byte { return append(append([]byte(nil), switchPrefix...), name...) }

// storageKey is a table's storage marker: its value holds the table's row
// count and counters; its rows follow under rowPrefix.
func storageKey(id uint64) []byte { return idKey(dataPrefix, id) }

func rowPrefix(id uint64) []byte { return append(storageKey(id), 'r') }

func rowKey(id uint64, key []byte) []byte { return append(rowPrefix(id), key...) }

func uniqueKey(id uint64, index int, key []byte) []byte {
	return append(binary.BigEndian.AppendUint16(append(storageKey(id), 'u'), uint16(index)), key...)
}

// usersKey holds the serialized MySQL accounts and grants. Accounts are
// neither metadata nor data: a metadata restore leaves them alone.
var usersKey = []byte("u/mysql_db")
