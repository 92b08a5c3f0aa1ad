// Package systables declares sysemu's system tables as data — a column list,
// an optional indexed ID column and a row source over the engine's immutable
// State — and turns each declaration into a go-mysql-server table with one
// generic adapter (index lookups on the ID column, exact COUNT(*), EXPLAIN).
//
// It reads only through Source; it never touches the store.
package systables
