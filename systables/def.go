package systables

import (
	"context"
	"fmt"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/sysemu/sysemu/engine"
)

// Source is what system tables read: the current State, plus the counters
// the engine keeps beside each table's rows.
type Source interface {
	State() *engine.State
	RowCount(ctx context.Context, id uint64) (uint64, error)
	PeekAutoIncrement(ctx context.Context, id uint64) (uint64, error)
	StoreStats(ctx context.Context, id uint64) (map[uint32]engine.StoreStat, error)
	IdentityStateOf(ctx context.Context, id uint64) (engine.IdentityState, error)
	IDMap(ctx context.Context, restoreID uint64) ([]engine.IDMapEntry, error)
	Checkpoints(ctx context.Context) ([]engine.RestoreCheckpoint, error)
	RestoreProgress() []engine.RestoreProgress
}

// KeyRange selects rows by the indexed ID column: Lo <= id < Hi, where Hi = 0
// means no upper bound, in descending order when Reverse is set.
type KeyRange struct {
	Lo, Hi  uint64
	Reverse bool
}

// All is the full range in ascending order.
var All = KeyRange{}

// Def declares one system table.
type Def struct {
	Name   string
	Schema sql.Schema
	// Key names the indexed ID column (an integer), or is empty.
	Key string
	// NonUnique says several rows share a key (e.g. a table's partitions).
	NonUnique bool
	// Rows emits the rows whose key lies in r, in key order (r.Reverse:
	// descending), until emit returns false. Without a Key, r is All.
	Rows func(ctx *sql.Context, src Source, r KeyRange, emit func(sql.Row) bool) error
	// Count, if set, returns the exact row count without reading the rows.
	Count func(src Source) uint64
	// Indexes are further indexed columns, for lookups and joins on them.
	Indexes []Index
}

// Index is an indexed column besides a Def's Key: Rows emits the rows whose
// Key lies in r, in that column's order. A column that is not an integer
// (a name) has Point instead: it emits the rows whose Key equals key, and the
// index serves equality only.
type Index struct {
	Key       string
	NonUnique bool
	Rows      func(ctx *sql.Context, src Source, r KeyRange, emit func(sql.Row) bool) error
	Point     func(ctx *sql.Context, src Source, key string, emit func(sql.Row) bool) error
}

// access returns access path i: 0 is the Def's Key, i > 0 its Indexes[i-1].
func (d *Def) access(i int) Index {
	if i == 0 {
		return Index{Key: d.Key, NonUnique: d.NonUnique, Rows: d.Rows}
	}
	return d.Indexes[i-1]
}

// column is the position of the access path's key column, -1 for none.
func (d *Def) column(i int) int {
	key := d.access(i).Key
	if key == "" {
		return -1
	}
	return d.Schema.IndexOfColName(key)
}

// SystemTables are the tables of the SYSTEM database, resolvable unqualified
// from any database.
var SystemTables = []*Def{idEvents, gstores, partis, objects, xuguTables, clusters, pgClass, identities, identityRanges,
	idMap, restoreCheckpoints, restoreProgress}

// Lookup returns the SYSTEM table named name (case-insensitive), or nil.
func Lookup(name string) *Def {
	for _, d := range SystemTables {
		if strings.EqualFold(d.Name, name) {
			return d
		}
	}
	return nil
}

func init() {
	seen := map[string]bool{}
	for _, d := range append([]*Def{InformationSchemaTables}, SystemTables...) {
		if seen[strings.ToLower(d.Name)] {
			panic(fmt.Sprintf("systables: %s declared twice", d.Name))
		}
		seen[strings.ToLower(d.Name)] = true
		for _, c := range d.Schema {
			c.Source = d.Name
		}
		for i := 0; i <= len(d.Indexes); i++ {
			if key := d.access(i).Key; (key != "" || i > 0) && d.column(i) < 0 {
				panic(fmt.Sprintf("systables: %s: key column %q not declared", d.Name, key))
			}
		}
	}
}
