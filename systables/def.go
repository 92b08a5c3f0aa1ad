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
	// Key names the indexed ID column (an unsigned integer), or is empty.
	Key string
	// Rows emits the rows whose key lies in r, in key order (r.Reverse:
	// descending), until emit returns false. Without a Key, r is All.
	Rows func(ctx *sql.Context, src Source, r KeyRange, emit func(sql.Row) bool) error
	// Count, if set, returns the exact row count without reading the rows.
	Count func(src Source) uint64
}

func (d *Def) keyIndex() int {
	if d.Key == "" {
		return -1
	}
	return d.Schema.IndexOfColName(d.Key)
}

// SystemTables are the tables of the SYSTEM database, resolvable unqualified
// from any database.
var SystemTables = []*Def{idEvents, pgClass}

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
		if d.Key != "" && d.keyIndex() < 0 {
			panic(fmt.Sprintf("systables: %s: key column %s not declared", d.Name, d.Key))
		}
	}
}
