// Package engine is sysemu's domain: the catalog (databases, tables, columns,
// keys, partition clauses), the named ID sequences with GreptimeDB's semantics,
// the runtime switches (recovery mode, procedure manager, maintenance), the
// durable ID-event log, user-table rows and metadata snapshots.
//
// Every change is one store transaction; readers get an immutable *State that
// is published only after the transaction committed. The engine knows nothing
// of SQL: it must not import go-mysql-server or vitess, and it reaches the
// disk only through engine/store.
package engine
