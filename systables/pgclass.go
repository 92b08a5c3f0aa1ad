package systables

import (
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
)

// pgClass is PG_CLASS: PostgreSQL's pg_class as seen from the current
// database — its tables, its mapped catalogs, the shared mapped catalogs
// (tablespace 1664) and the system views — one row per OID, which is the
// relation's TABLE_ID. Mapped catalogs show RELFILENODE 0: their filenode
// is in pg_filenode.map (pg_relation_filenode() reads it). DATABASE_OID is
// the database whose base/ directory holds the relation (0: shared or no
// storage). Without a current database every user table is listed and no
// per-database catalog.
var pgClass = &Def{
	Name: "PG_CLASS",
	Key:  "OID",
	Schema: sql.Schema{
		{Name: "OID", Type: types.Uint64, PrimaryKey: true},
		{Name: "RELNAME", Type: varchar(64)},
		{Name: "RELNAMESPACE", Type: types.Uint64},
		{Name: "RELKIND", Type: varchar(1)},
		{Name: "RELFILENODE", Type: types.Uint64},
		{Name: "RELTABLESPACE", Type: types.Uint64},
		{Name: "DATABASE_OID", Type: types.Uint64},
	},
	Rows: func(ctx *sql.Context, src Source, r KeyRange, emit func(sql.Row) bool) error {
		rels := src.State().PGClass(ctx.GetCurrentDatabase())
		for i := range rels {
			x := rels[i]
			if r.Reverse {
				x = rels[len(rels)-1-i]
			}
			if x.OID < r.Lo || (r.Hi != 0 && x.OID >= r.Hi) {
				continue
			}
			if !emit(sql.Row{x.OID, x.Name, x.Namespace, x.Kind, x.RelFileNode, x.Tablespace, x.DatabaseOID}) {
				break
			}
		}
		return nil
	},
}
