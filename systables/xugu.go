package systables

import (
	"math"
	"strconv"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/sysemu/sysemu/engine"
)

// XuguDB's system tables over the engine's stores and nodes. INTEGER columns
// are 32-bit as in XuguDB; GSTO_NO, STORE_NO and table IDs fit (the engine
// hands out gsto_nos and store numbers as uint32, GreptimeDB table IDs are u32).

func integer(name string) *sql.Column { return &sql.Column{Name: name, Type: types.Int32} }

func boolean(name string) *sql.Column { return &sql.Column{Name: name, Type: types.Boolean} }

func i32(v uint64) int32 { return int32(min(v, math.MaxInt32)) }

// gstores is SYS_GSTORES: the 19 columns of XuguDB V12, in its order.
var gstores = &Def{
	Name: "SYS_GSTORES",
	Key:  "GSTO_NO",
	Schema: sql.Schema{
		{Name: "GSTO_NO", Type: types.Int32, PrimaryKey: true},
		integer("HEAD_NO"), integer("TAIL_NO"), integer("NEXT_NO"), integer("SPLIT_NUM"),
		integer("STORE_STA"), integer("STORE_NUM"),
		integer("NODE_ID1"), integer("NODE_ID2"), integer("NODE_ID3"),
		integer("STORE_NO1"), integer("STORE_NO2"), integer("STORE_NO3"),
		{Name: "LSN", Type: types.Int64},
		integer("DB_ID"), integer("OBJ_ID"), integer("ENCRY_ID"), integer("ZONE_ID"), integer("NODEID"),
	},
	Rows: func(ctx *sql.Context, src Source, r KeyRange, emit func(sql.Row) bool) error {
		s := src.State()
		w := gstoreWriter{ctx: ctx, src: src, s: s, emit: emit}
		s.RangeGstores(r.Lo, r.Hi, r.Reverse, w.row)
		return w.err
	},
	// OBJ_ID: a table's stores, for the document's join with SYS_OBJECTS.
	Indexes: []Index{{Key: "OBJ_ID", NonUnique: true,
		Rows: func(ctx *sql.Context, src Source, r KeyRange, emit func(sql.Row) bool) error {
			s := src.State()
			w := gstoreWriter{ctx: ctx, src: src, s: s, emit: emit}
			s.RangeTables(r.Lo, r.Hi, r.Reverse, func(t *engine.Table) bool {
				for i := range t.Stores {
					if !w.row(t, &t.Stores[i]) {
						return false
					}
				}
				return true
			})
			return w.err
		}}},
	Count: func(src Source) uint64 { return uint64(src.State().GstoreCount()) },
}

// gstoreWriter emits SYS_GSTORES rows, reading each user table's store
// counters once for its run of stores.
type gstoreWriter struct {
	ctx   *sql.Context
	src   Source
	s     *engine.State
	emit  func(sql.Row) bool
	owner *engine.Table
	stats map[uint32]engine.StoreStat
	err   error
}

func (w *gstoreWriter) row(t *engine.Table, st *engine.Store) bool {
	lsn := uint64(1) // system stores: written once, at bootstrap
	if !t.System {
		if t != w.owner {
			w.owner = t
			if w.stats, w.err = w.src.StoreStats(w.ctx, t.ID); w.err != nil {
				return false
			}
		}
		lsn = w.stats[st.No].LSN
	}
	return w.emit(gstoreRow(w.s, t, st, lsn))
}

func gstoreRow(s *engine.State, t *engine.Table, st *engine.Store, lsn uint64) sql.Row {
	vs := s.Versions(st)
	tail, splits := t.Chain(st)
	var primary uint32
	for _, v := range vs {
		if v.State == engine.VersionPrimary {
			primary = v.Node
		}
	}
	return sql.Row{
		int32(st.No), int32(st.HeadNo()), int32(tail), int32(st.Next), int32(splits),
		int32(engine.StoreSta(vs)), int32(st.Copies),
		int32(vs[0].Node), int32(vs[1].Node), int32(vs[2].Node),
		int32(vs[0].StoreNo), int32(vs[1].StoreNo), int32(vs[2].StoreNo),
		int64(lsn), i32(t.DatabaseID), i32(t.ID), int32(0), int32(0), int32(primary),
	}
}

// partis is SYS_PARTIS: one row per partition, by TABLE_ID then PARTI_NO.
// GSTO_NOS lists the partition's store chain, head first.
var partis = &Def{
	Name:      "SYS_PARTIS",
	Key:       "TABLE_ID",
	NonUnique: true,
	Schema: sql.Schema{
		integer("DB_ID"),
		// (TABLE_ID, PARTI_NO) is the key; declaring it lets COUNT(*) read
		// Count instead of every row.
		{Name: "TABLE_ID", Type: types.Int32, PrimaryKey: true},
		{Name: "PARTI_NO", Type: types.Int32, PrimaryKey: true},
		{Name: "PARTI_NAME", Type: varchar(128)},
		{Name: "PARTI_VAL", Type: varchar(1024), Nullable: true},
		{Name: "GSTO_NOS", Type: varchar(1024)},
		boolean("ONLINE"),
	},
	Rows: func(_ *sql.Context, src Source, r KeyRange, emit func(sql.Row) bool) error {
		s := src.State()
		s.RangeTables(r.Lo, r.Hi, r.Reverse, func(t *engine.Table) bool {
			if t.Partition == nil {
				return true
			}
			for p := 0; p < t.Partition.Count; p++ {
				if !emit(partiRow(s, t, p)) {
					return false
				}
			}
			return true
		})
		return nil
	},
	Count: func(src Source) uint64 { return uint64(src.State().PartitionCount()) },
}

func partiRow(s *engine.State, t *engine.Table, p int) sql.Row {
	name := "PART" + strconv.Itoa(p+1)
	var val any
	if p < len(t.Partition.Definitions) {
		d := t.Partition.Definitions[p]
		name = d.Name
		if d.Values != "" {
			val = d.Values
		}
	}
	var nos []string
	online := true
	for i := range t.Stores {
		st := &t.Stores[i]
		if st.Kind == engine.StorePartition && int(st.Part) == p {
			nos = append(nos, strconv.FormatUint(uint64(st.No), 10))
			online = online && engine.StoreSta(s.Versions(st)) != 0
		}
	}
	return sql.Row{i32(t.DatabaseID), i32(t.ID), int32(p + 1), name, val, strings.Join(nos, ","), online}
}

// Object types of SYS_OBJECTS (XuguDB's codes). Every table, system ones
// included, is a table: system tables own the reserved system stores.
const (
	objTable = 5
	objView  = 9
)

// objects is SYS_OBJECTS: one row per table; OBJ_ID is its TABLE_ID.
var objects = &Def{
	Name: "SYS_OBJECTS",
	Key:  "OBJ_ID",
	Schema: sql.Schema{
		integer("DB_ID"),
		{Name: "OBJ_ID", Type: types.Int32, PrimaryKey: true},
		{Name: "OBJ_NAME", Type: varchar(128)},
		integer("OBJ_TYPE"), integer("SCHEMA_ID"), integer("USER_ID"),
	},
	Rows: func(_ *sql.Context, src Source, r KeyRange, emit func(sql.Row) bool) error {
		src.State().RangeTables(r.Lo, r.Hi, r.Reverse, func(t *engine.Table) bool { return emit(objectRow(t)) })
		return nil
	},
	// OBJ_NAME: the document's joins start from a name.
	Indexes: []Index{{Key: "OBJ_NAME", NonUnique: true,
		Point: func(_ *sql.Context, src Source, name string, emit func(sql.Row) bool) error {
			tablesNamed(src.State(), name, func(t *engine.Table) bool { return emit(objectRow(t)) })
			return nil
		}}},
	Count: func(src Source) uint64 { return uint64(src.State().TableCount()) },
}

func objectRow(t *engine.Table) sql.Row {
	return sql.Row{i32(t.DatabaseID), i32(t.ID), t.Name, int32(objTable), i32(t.DatabaseID), int32(ownerID)}
}

// tablesNamed calls fn for the table called name in each database.
func tablesNamed(s *engine.State, name string, fn func(*engine.Table) bool) {
	for _, d := range s.Databases() {
		if t := s.Table(d.Name, name); t != nil && !fn(t) {
			return
		}
	}
}

// ownerID is USER_ID of every object: sysemu has one owner (SYSDBA's 1).
const ownerID = 1

// Partition types of SYS_TABLES.PARTI_TYPE.
var partiTypes = map[string]int32{"RANGE": 1, "RANGE COLUMNS": 1, "LIST": 2, "LIST COLUMNS": 2, "HASH": 3, "KEY": 3}

// xuguTables is SYS_TABLES, with the column list of XuguDB's dictionary;
// what sysemu does not model has XuguDB's defaults.
var xuguTables = &Def{
	Name: "SYS_TABLES",
	Key:  "TABLE_ID",
	Schema: sql.Schema{
		integer("DB_ID"), integer("USER_ID"), integer("SCHEMA_ID"),
		{Name: "TABLE_ID", Type: types.Int32, PrimaryKey: true},
		{Name: "TABLE_NAME", Type: varchar(128)},
		integer("TEMP_TYPE"), integer("FIELD_NUM"),
		integer("PARTI_TYPE"), integer("PARTI_NUM"),
		{Name: "PARTI_KEY", Type: varchar(1024), Nullable: true},
		integer("AUTO_PARTI_TYPE"), integer("AUTO_PARTI_SPAN"),
		integer("SUBPARTI_TYPE"), integer("SUBPARTI_NUM"),
		{Name: "SUBPARTI_KEY", Type: varchar(1024), Nullable: true},
		integer("GSTO_NO"), integer("COPY_NUM"), integer("BLOCK_SIZE"), integer("CHUNK_SIZE"),
		{Name: "RECORD_NUM", Type: types.Int64},
		integer("PCTFREE"), integer("FILE_TYPE"),
		{Name: "FILE_PATH", Type: varchar(1024), Nullable: true},
		{Name: "ROW_DELIMITER", Type: varchar(16), Nullable: true},
		{Name: "COL_DELIMITER", Type: varchar(16), Nullable: true},
		{Name: "BAD_FILE", Type: varchar(1024), Nullable: true},
		integer("MISSING_VAL"),
		boolean("USE_CACHE"), boolean("ONLINE"), boolean("IS_SYS"), boolean("IS_ENCR"),
		boolean("HAVE_POLICY"), boolean("ON_COMMIT_DEL"), boolean("ENA_TRANS"), boolean("ENA_LOGGING"),
		boolean("VALID"), boolean("DELETED"),
		integer("ACL_MASK"),
		{Name: "CREATE_TIME", Type: types.Datetime},
		{Name: "COMMENTS", Type: varchar(1024), Nullable: true},
	},
	Rows: func(ctx *sql.Context, src Source, r KeyRange, emit func(sql.Row) bool) error {
		w := xuguTableWriter{ctx: ctx, src: src, emit: emit}
		src.State().RangeTables(r.Lo, r.Hi, r.Reverse, w.row)
		return w.err
	},
	Indexes: []Index{{Key: "TABLE_NAME", NonUnique: true,
		Point: func(ctx *sql.Context, src Source, name string, emit func(sql.Row) bool) error {
			w := xuguTableWriter{ctx: ctx, src: src, emit: emit}
			tablesNamed(src.State(), name, w.row)
			return w.err
		}}},
	Count: func(src Source) uint64 { return uint64(src.State().TableCount()) },
}

// xuguTableWriter emits SYS_TABLES rows, with each user table's row count.
type xuguTableWriter struct {
	ctx  *sql.Context
	src  Source
	emit func(sql.Row) bool
	err  error
}

func (w *xuguTableWriter) row(t *engine.Table) bool {
	var rows uint64
	if !t.System {
		if rows, w.err = w.src.RowCount(w.ctx, t.ID); w.err != nil {
			return false
		}
	}
	return w.emit(xuguTableRow(t, rows))
}

func xuguTableRow(t *engine.Table, rows uint64) sql.Row {
	var ptype, pnum int32
	var pkey any
	if p := t.Partition; p != nil {
		ptype, pnum = partiTypes[p.Type], int32(p.Count)
		if len(p.Columns) > 0 {
			pkey = strings.Join(p.Columns, ",")
		} else if p.Expr != "" {
			pkey = strings.Trim(p.Expr, "`")
		}
	}
	var gsto uint32
	copies := t.CopyNum
	for i := range t.Stores {
		if st := &t.Stores[i]; st.Kind == engine.StoreTable || (t.System && gsto == 0) {
			gsto, copies = st.No, int(st.Copies)
		}
	}
	created, comment := t.Created, any(nil)
	if t.System {
		created = epoch
	}
	if t.Comment != "" {
		comment = t.Comment
	}
	return sql.Row{
		i32(t.DatabaseID), int32(ownerID), i32(t.DatabaseID), i32(t.ID), t.Name,
		int32(0), int32(len(t.Columns)), ptype, pnum, pkey,
		int32(0), int32(0), int32(0), int32(0), nil,
		int32(gsto), int32(copies), int32(8192), int32(8),
		int64(rows), int32(0), int32(0), nil, nil, nil, nil, int32(0),
		false, true, t.System, false, false, false, true, true, true, false,
		int32(0), created, comment,
	}
}

// Node states of SYS_CLUSTERS.NODE_STATE: 2 is what a live XuguDB node
// shows; sysemu shows 0 for a node that is offline.
const (
	nodeStateOnline  = 2
	nodeStateOffline = 0
	// nodeType is NODE_TYPE's role bitmask of a live single XuguDB node.
	nodeType = 29
)

// clusters is SYS_CLUSTERS: the emulated nodes and how many store versions
// each holds.
var clusters = &Def{
	Name: "SYS_CLUSTERS",
	Key:  "NODE_ID",
	Schema: sql.Schema{
		{Name: "NODE_ID", Type: types.Int32, PrimaryKey: true},
		{Name: "NODE_IP", Type: varchar(64)},
		integer("NODE_PORT"), integer("NODE_STATE"), integer("NODE_TYPE"),
		integer("RACK_NO"), integer("STORE_NUM"), integer("STORE_WEIGHT"),
	},
	Rows: func(_ *sql.Context, src Source, r KeyRange, emit func(sql.Row) bool) error {
		s := src.State()
		nodes := s.Nodes()
		for i := range nodes {
			n := nodes[i]
			if r.Reverse {
				n = nodes[len(nodes)-1-i]
			}
			if n.ID < r.Lo || (r.Hi != 0 && n.ID >= r.Hi) {
				continue
			}
			state := nodeStateOffline
			if n.Online {
				state = nodeStateOnline
			}
			row := sql.Row{i32(n.ID), n.Addr + ":" + strconv.Itoa(n.Port), int32(n.Port), int32(state),
				int32(nodeType), int32(0), int32(s.NodeStores(n.ID)), int32(1)}
			if !emit(row) {
				break
			}
		}
		return nil
	},
	Count: func(src Source) uint64 { return uint64(len(src.State().Nodes())) },
}
