package systables

import (
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/sqltypes"

	"github.com/sysemu/sysemu/engine"
)

func varchar(n int64) sql.Type {
	return types.MustCreateString(sqltypes.VarChar, n, sql.Collation_Information_Schema_Default)
}

// InformationSchemaTables replaces INFORMATION_SCHEMA.TABLES: every MySQL
// column in MySQL's order, then TABLE_ID (GreptimeDB's column), indexed, so
// `ORDER BY TABLE_ID DESC LIMIT 1` reads one row.
var InformationSchemaTables = &Def{
	Name: "TABLES",
	Key:  "TABLE_ID",
	Schema: sql.Schema{
		{Name: "TABLE_CATALOG", Type: varchar(64), Nullable: true},
		{Name: "TABLE_SCHEMA", Type: varchar(64), Nullable: true},
		{Name: "TABLE_NAME", Type: varchar(64), Nullable: true},
		// TABLE_TYPE and ROW_FORMAT are ENUMs in MySQL; they are strings
		// here because go-mysql-server turns an ENUM into its index inside
		// IF() and CASE, which Connector/J's getTables uses.
		{Name: "TABLE_TYPE", Type: varchar(11)},
		{Name: "ENGINE", Type: varchar(64), Nullable: true},
		{Name: "VERSION", Type: types.Int32, Nullable: true},
		{Name: "ROW_FORMAT", Type: varchar(10), Nullable: true},
		{Name: "TABLE_ROWS", Type: types.Uint64, Nullable: true},
		{Name: "AVG_ROW_LENGTH", Type: types.Uint64, Nullable: true},
		{Name: "DATA_LENGTH", Type: types.Uint64, Nullable: true},
		{Name: "MAX_DATA_LENGTH", Type: types.Uint64, Nullable: true},
		{Name: "INDEX_LENGTH", Type: types.Uint64, Nullable: true},
		{Name: "DATA_FREE", Type: types.Uint64, Nullable: true},
		{Name: "AUTO_INCREMENT", Type: types.Uint64, Nullable: true},
		{Name: "CREATE_TIME", Type: types.Timestamp},
		{Name: "UPDATE_TIME", Type: types.Datetime, Nullable: true},
		{Name: "CHECK_TIME", Type: types.Datetime, Nullable: true},
		{Name: "TABLE_COLLATION", Type: varchar(64), Nullable: true},
		{Name: "CHECKSUM", Type: types.Int64, Nullable: true},
		{Name: "CREATE_OPTIONS", Type: varchar(256), Nullable: true},
		{Name: "TABLE_COMMENT", Type: types.Text, Nullable: true},
		{Name: "TABLE_ID", Type: types.Int64, Nullable: true},
	},
	Rows: tablesRows,
	// TABLE_NAME: a lookup of one table by name reads its rows only (the
	// filter on TABLE_SCHEMA stays).
	Indexes: []Index{{Key: "TABLE_NAME", NonUnique: true,
		Point: func(ctx *sql.Context, src Source, name string, emit func(sql.Row) bool) error {
			var err error
			tablesNamed(src.State(), name, func(t *engine.Table) bool {
				var row sql.Row
				row, err = tableRow(ctx, src, t)
				return err == nil && emit(row)
			})
			return err
		}}},
	Count: func(src Source) uint64 { return uint64(src.State().TableCount()) },
}

// epoch is the CREATE_TIME of system views, as go-mysql-server reports it.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func tablesRows(ctx *sql.Context, src Source, r KeyRange, emit func(sql.Row) bool) error {
	var err error
	src.State().RangeTables(r.Lo, r.Hi, r.Reverse, func(t *engine.Table) bool {
		var row sql.Row
		row, err = tableRow(ctx, src, t)
		return err == nil && emit(row)
	})
	return err
}

func tableRow(ctx *sql.Context, src Source, t *engine.Table) (sql.Row, error) {
	if t.System {
		return sql.Row{"def", t.Database, t.Name, t.Type, nil, 10, nil,
			nil, nil, nil, nil, nil, nil, nil, epoch, nil, nil,
			sql.Collation_Information_Schema_Default.String(), nil, "", "", int64(t.ID)}, nil
	}
	rows, err := src.RowCount(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	var autoinc any
	if t.Identity != nil {
		v, err := src.PeekAutoIncrement(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		autoinc = v
	}
	collation := t.Collation
	if collation == "" {
		collation = sql.Collation_Default.String()
	}
	options := ""
	if t.Partition != nil {
		options = "partitioned"
	}
	return sql.Row{"def", t.Database, t.Name, t.Type, "InnoDB", 10, "Dynamic",
		rows, uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), autoinc, t.Created, nil, nil,
		collation, nil, options, t.Comment, int64(t.ID)}, nil
}
