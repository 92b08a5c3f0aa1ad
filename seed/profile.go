// Package seed holds the bootstrap catalogs (profiles) — the reserved system
// objects and ID ranges of each emulated system — and the scenario scripts
// that put a server into a known state. It imports only engine.
package seed

import (
	"fmt"
	"sort"

	"github.com/sysemu/sysemu/engine"
)

// Fixed IDs of the system databases. They never move: clients see them.
const (
	InformationSchemaID = 1
	MySQLID             = 2
	SystemID            = 3
)

// SystemDatabase is the database holding sysemu's SYS_* tables.
const SystemDatabase = "SYSTEM"

// Reserved table IDs of sysemu's own system tables, in [512, 1024).
const (
	SysIDEventsID = 512
	SysGstoresID  = 513
	SysPartisID   = 514
	SysObjectsID  = 515
	SysTablesID   = 516
	SysClustersID = 517
	// SQL Server identity.
	SysIdentitiesID     = 518
	SysIdentityRangesID = 519
	// TiDB BR restore (520 is PG_CLASS, postgres.go).
	SysIDMapID              = 521
	SysRestoreCheckpointsID = 522
	SysRestoreProgressID    = 523
)

// informationSchemaIDs gives every INFORMATION_SCHEMA table a fixed ID. The
// ones GreptimeDB has keep GreptimeDB's (common/catalog/src/consts.rs:
// tables = 3, columns = 4, ...); the others were numbered from 40 once and are
// frozen. A server test fails if go-mysql-server exposes a table not listed.
var informationSchemaIDs = []struct {
	ID   uint64
	Name string
}{
	{3, "tables"},
	{4, "columns"},
	{5, "engines"},
	{6, "column_privileges"},
	{7, "column_statistics"},
	{9, "character_sets"},
	{10, "collations"},
	{11, "collation_character_set_applicability"},
	{12, "check_constraints"},
	{13, "events"},
	{14, "files"},
	{15, "schemata"},
	{16, "key_column_usage"},
	{17, "optimizer_trace"},
	{18, "parameters"},
	{19, "profiling"},
	{20, "referential_constraints"},
	{21, "routines"},
	{22, "schema_privileges"},
	{23, "table_privileges"},
	{24, "triggers"},
	{28, "partitions"},
	{30, "table_constraints"},
	{32, "views"},
	{36, "statistics"},
	{40, "administrable_role_authorizations"},
	{41, "applicable_roles"},
	{42, "columns_extensions"},
	{43, "enabled_roles"},
	{44, "innodb_buffer_page"},
	{45, "innodb_buffer_page_lru"},
	{46, "innodb_buffer_pool_stats"},
	{47, "innodb_cached_indexes"},
	{48, "innodb_cmp"},
	{49, "innodb_cmp_per_index"},
	{50, "innodb_cmp_per_index_reset"},
	{51, "innodb_cmp_reset"},
	{52, "innodb_cmpmem"},
	{53, "innodb_cmpmem_reset"},
	{54, "innodb_columns"},
	{55, "innodb_datafiles"},
	{56, "innodb_fields"},
	{57, "innodb_foreign"},
	{58, "innodb_foreign_cols"},
	{59, "innodb_ft_being_deleted"},
	{60, "innodb_ft_config"},
	{61, "innodb_ft_default_stopword"},
	{62, "innodb_ft_deleted"},
	{63, "innodb_ft_index_cache"},
	{64, "innodb_ft_index_table"},
	{65, "innodb_indexes"},
	{66, "innodb_metrics"},
	{67, "innodb_session_temp_tablespaces"},
	{68, "innodb_tables"},
	{69, "innodb_tablespaces"},
	{70, "innodb_tablespaces_brief"},
	{71, "innodb_tablestats"},
	{72, "innodb_temp_table_info"},
	{73, "innodb_trx"},
	{74, "innodb_virtual"},
	{75, "keywords"},
	{76, "plugins"},
	{77, "processlist"},
	{78, "resource_groups"},
	{79, "role_column_grants"},
	{80, "role_routine_grants"},
	{81, "role_table_grants"},
	{82, "schemata_extensions"},
	{83, "st_geometry_columns"},
	{84, "st_spatial_reference_systems"},
	{85, "st_units_of_measure"},
	{86, "table_constraints_extensions"},
	{87, "tables_extensions"},
	{88, "tablespaces"},
	{89, "tablespaces_extensions"},
	{90, "user_attributes"},
	{91, "user_privileges"},
	{92, "view_routine_usage"},
	{93, "view_table_usage"}}

// systemTables are sysemu's SYS_* tables in the SYSTEM database.
var systemTables = []struct {
	ID   uint64
	Name string
}{
	{SysIDEventsID, "SYS_ID_EVENTS"},
	{SysGstoresID, "SYS_GSTORES"},
	{SysPartisID, "SYS_PARTIS"},
	{SysObjectsID, "SYS_OBJECTS"},
	{SysTablesID, "SYS_TABLES"},
	{SysClustersID, "SYS_CLUSTERS"},
	{SysIdentitiesID, "SYS_IDENTITIES"},
	{SysIdentityRangesID, "SYS_IDENTITY_RANGES"},
	{SysIDMapID, "SYS_ID_MAP"},
	{SysRestoreCheckpointsID, "SYS_RESTORE_CHECKPOINTS"},
	{SysRestoreProgressID, "SYS_RESTORE_PROGRESS"},
}

// xuguStoreRanges are XuguDB V12's reserved gsto_no blocks (the SYS_GSTORES
// page, "gsto_no分配"): system heap tables [2,38], [52,54], [57,60], system
// index stores [70,96], LOB stores [42,50]. User objects start at 201.
var xuguStoreRanges = []engine.StoreRange{
	{Lo: 2, Hi: 38, Kind: engine.StoreSysHeap},
	{Lo: 52, Hi: 54, Kind: engine.StoreSysHeap},
	{Lo: 57, Hi: 60, Kind: engine.StoreSysHeap},
	{Lo: 70, Hi: 96, Kind: engine.StoreSysIndex},
	{Lo: 42, Hi: 50, Kind: engine.StoreSysLOB},
}

// FirstUserGsto is the first gsto_no of a user object.
const FirstUserGsto = 201

// Greptime is the default profile: GreptimeDB's table-ID sequence with user
// table IDs from 1024 (MIN_USER_TABLE_ID), cached steps of 10, and every ID
// below 1024 reserved for system tables.
func Greptime() *engine.Profile {
	p := sysemuProfile("greptime", 1024, 10, 1024)
	addPG(p, false)
	return p
}

// sysemuProfile is what every profile has: the system databases, the
// INFORMATION_SCHEMA and SYS_* tables with their frozen IDs, and XuguDB's
// reserved gsto_no blocks; name and the ID sequences' start and step differ.
func sysemuProfile(name string, firstTable, step, firstDatabase uint64) *engine.Profile {
	p := &engine.Profile{
		Name:                name,
		FirstUserTableID:    firstTable,
		TableIDStep:         step,
		FirstUserDatabaseID: firstDatabase,
		StoreRanges:         xuguStoreRanges,
		FirstUserGsto:       FirstUserGsto,
		SystemDatabases: []engine.Database{
			{ID: InformationSchemaID, Name: "information_schema"},
			{ID: MySQLID, Name: "mysql"},
			{ID: SystemID, Name: SystemDatabase},
		},
	}
	for _, t := range informationSchemaIDs {
		p.SystemTables = append(p.SystemTables, engine.Table{ID: t.ID, DatabaseID: InformationSchemaID,
			Database: "information_schema", Name: t.Name, Type: engine.SystemView})
	}
	for _, t := range systemTables {
		p.SystemTables = append(p.SystemTables, engine.Table{ID: t.ID, DatabaseID: SystemID,
			Database: SystemDatabase, Name: t.Name, Type: engine.SystemView})
	}
	return p
}

var profiles = map[string]func() *engine.Profile{
	"greptime": Greptime,
	"postgres": Postgres,
}

// DefaultProfile is the profile serve uses unless told otherwise.
const DefaultProfile = "greptime"

// Profile returns the named profile.
func Profile(name string) (*engine.Profile, error) {
	f, ok := profiles[name]
	if !ok {
		return nil, fmt.Errorf("unknown profile %q (have %v)", name, ProfileNames())
	}
	return f(), nil
}

// ProfileNames lists the profiles, sorted.
func ProfileNames() []string {
	var out []string
	for n := range profiles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
