package engine

import "time"

// Table types, as INFORMATION_SCHEMA.TABLES.TABLE_TYPE shows them.
const (
	BaseTable  = "BASE TABLE"
	SystemView = "SYSTEM VIEW"
)

// Database is a schema in the catalog. Catalog values are immutable once
// published in a State: a change replaces the value.
type Database struct {
	ID        uint64    `json:"id"`
	Name      string    `json:"name"`
	Collation string    `json:"collation,omitempty"`
	Created   time.Time `json:"created"`
	System    bool      `json:"-"`
}

// Table is a table's catalog entry. Its ID is its TABLE_ID everywhere.
type Table struct {
	ID         uint64     `json:"id"`
	DatabaseID uint64     `json:"database_id"`
	Database   string     `json:"database"`
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Columns    []Column   `json:"columns"`
	PrimaryKey []string   `json:"primary_key,omitempty"`
	Indexes    []Index    `json:"indexes,omitempty"`
	Partition  *Partition `json:"partition,omitempty"`
	Comment    string     `json:"comment,omitempty"`
	Collation  string     `json:"collation,omitempty"`
	Created    time.Time  `json:"created"`
	System     bool       `json:"-"`
	// CopyNum is the table's replica count (XuguDB's COPY_NUM).
	CopyNum int `json:"copy_num,omitempty"`
	// Stores are the table's global stores (SYS_GSTORES), in GSTO_NO order.
	Stores []Store `json:"stores,omitempty"`
	// FileNode is the table's PostgreSQL relfilenode once a rewrite has
	// rotated it; 0 means it still equals the ID (see RelFileNode).
	FileNode uint64 `json:"filenode,omitempty"`
	// Identity is the table's identity column (AUTO_INCREMENT or T-SQL
	// IDENTITY(seed, increment)); nil when it has none.
	Identity *Identity `json:"identity,omitempty"`
	// IdentityGen counts rewrites of the identity counters from outside
	// their blocks (reseed, TRUNCATE, ranges); cluster nodes drop their
	// cached blocks when it moves.
	IdentityGen uint64 `json:"identity_gen,omitempty"`
}

// Column is one column. Type is the SQL type as the server renders it
// (e.g. "varchar(64)"); Default is the default expression's text, nil for none.
type Column struct {
	Name          string  `json:"name"`
	Type          string  `json:"type"`
	Nullable      bool    `json:"nullable"`
	Default       *string `json:"default,omitempty"`
	AutoIncrement bool    `json:"auto_increment,omitempty"`
	Comment       string  `json:"comment,omitempty"`
}

// Index is a secondary index.
type Index struct {
	Name    string        `json:"name"`
	Columns []IndexColumn `json:"columns"`
	Unique  bool          `json:"unique,omitempty"`
	Comment string        `json:"comment,omitempty"`
}

// IndexColumn is one column of an index, with an optional prefix length.
type IndexColumn struct {
	Name   string `json:"name"`
	Length int64  `json:"length,omitempty"`
}

// Partition is a table's parsed partition clause. Clause is its rendering, as
// SHOW CREATE TABLE prints it.
type Partition struct {
	Type        string         `json:"type"` // HASH, KEY, RANGE, LIST, RANGE COLUMNS, LIST COLUMNS
	Linear      bool           `json:"linear,omitempty"`
	Expr        string         `json:"expr,omitempty"`
	Columns     []string       `json:"columns,omitempty"`
	Count       int            `json:"count"`
	Definitions []PartitionDef `json:"definitions,omitempty"`
	Clause      string         `json:"clause"`
}

// PartitionDef is one named partition of a RANGE or LIST clause.
type PartitionDef struct {
	Name   string `json:"name"`
	Values string `json:"values,omitempty"`
}

// TableSpec is what CREATE TABLE asks for; the engine assigns the ID.
type TableSpec struct {
	Database   string
	Name       string
	Columns    []Column
	PrimaryKey []string
	Indexes    []Index
	Partition  *Partition
	Comment    string
	Collation  string
	// Identity declares the identity column, if any; the engine checks it.
	Identity *Identity
}

// Profile is a bootstrap catalog: the reserved system objects and the ID
// ranges of one emulated system. seed/ declares the profiles.
type Profile struct {
	Name string
	// FirstUserTableID is the table-ID sequence's initial value; every ID
	// below it is reserved for system tables.
	FirstUserTableID uint64
	// TableIDStep is the size of the ranges a node caches.
	TableIDStep uint64
	// FirstUserDatabaseID is the database-ID sequence's initial value.
	FirstUserDatabaseID uint64
	// SystemDatabases and SystemTables are the reserved objects, with their
	// fixed IDs. They are part of every State and never stored.
	SystemDatabases []Database
	SystemTables    []Table
	// StoreRanges are the reserved gsto_no blocks of the system stores;
	// FirstUserGsto is the first gsto_no of user objects.
	StoreRanges   []StoreRange
	FirstUserGsto uint32
	// PGRelations are PostgreSQL's mapped catalogs (relmapper), per
	// database and shared; see filenode.go.
	PGRelations []PGRelation
}

// Actor says who asked for a change, for the ID-event log.
type Actor struct {
	User      string
	Statement string
}
