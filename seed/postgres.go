package seed

import "github.com/sysemu/sysemu/engine"

// PGCatalogID is the fixed database ID of the hidden pg_catalog database
// that holds PostgreSQL's mapped catalogs in every profile. It is
// PostgreSQL's PG_CATALOG_NAMESPACE OID.
const PGCatalogID = 11

// Reserved table IDs of sysemu's PostgreSQL system tables in SYSTEM.
const (
	SysPGClassID = 520
)

// pgRelations are PostgreSQL 14's mapped catalogs: the 17 relations of each
// database's pg_filenode.map (pg_class, pg_attribute, pg_proc, pg_type, the
// toast tables of pg_proc and pg_type and their indexes, and the catalogs'
// indexes) and the 43 of global/pg_filenode.map (the ten shared catalogs in
// tablespace pg_global 1664, their toast tables and indexes). PGOID is the
// real OID (catalog headers: CATALOG(..., oid), DECLARE_TOAST,
// DECLARE_UNIQUE_INDEX); GreptimeID is the frozen ID the same relation has
// under the greptime profile, whose reserved range ends at 1024. Never
// renumber: clients see both.
var pgRelations = []struct {
	PGOID, GreptimeID uint64
	Name              string
	Kind              string
	Shared            bool
}{
	// Per database.
	{1259, 600, "pg_class", engine.RelKindTable, false},
	{1249, 601, "pg_attribute", engine.RelKindTable, false},
	{1255, 602, "pg_proc", engine.RelKindTable, false},
	{1247, 603, "pg_type", engine.RelKindTable, false},
	{2836, 604, "pg_toast_1255", engine.RelKindToast, false},
	{2837, 605, "pg_toast_1255_index", engine.RelKindIndex, false},
	{4171, 606, "pg_toast_1247", engine.RelKindToast, false},
	{4172, 607, "pg_toast_1247_index", engine.RelKindIndex, false},
	{2662, 608, "pg_class_oid_index", engine.RelKindIndex, false},
	{2663, 609, "pg_class_relname_nsp_index", engine.RelKindIndex, false},
	{3455, 610, "pg_class_tblspc_relfilenode_index", engine.RelKindIndex, false},
	{2658, 611, "pg_attribute_relid_attnam_index", engine.RelKindIndex, false},
	{2659, 612, "pg_attribute_relid_attnum_index", engine.RelKindIndex, false},
	{2690, 613, "pg_proc_oid_index", engine.RelKindIndex, false},
	{2691, 614, "pg_proc_proname_args_nsp_index", engine.RelKindIndex, false},
	{2703, 615, "pg_type_oid_index", engine.RelKindIndex, false},
	{2704, 616, "pg_type_typname_nsp_index", engine.RelKindIndex, false},
	// Shared (global/, tablespace 1664).
	{1262, 630, "pg_database", engine.RelKindTable, true},
	{1260, 631, "pg_authid", engine.RelKindTable, true},
	{1213, 632, "pg_tablespace", engine.RelKindTable, true},
	{1261, 633, "pg_auth_members", engine.RelKindTable, true},
	{1214, 634, "pg_shdepend", engine.RelKindTable, true},
	{2396, 635, "pg_shdescription", engine.RelKindTable, true},
	{3592, 636, "pg_shseclabel", engine.RelKindTable, true},
	{2964, 637, "pg_db_role_setting", engine.RelKindTable, true},
	{6100, 638, "pg_subscription", engine.RelKindTable, true},
	{6000, 639, "pg_replication_origin", engine.RelKindTable, true},
	{4175, 640, "pg_toast_1260", engine.RelKindToast, true},
	{4176, 641, "pg_toast_1260_index", engine.RelKindIndex, true},
	{4177, 642, "pg_toast_1262", engine.RelKindToast, true},
	{4178, 643, "pg_toast_1262_index", engine.RelKindIndex, true},
	{4185, 644, "pg_toast_1213", engine.RelKindToast, true},
	{4186, 645, "pg_toast_1213_index", engine.RelKindIndex, true},
	{2846, 646, "pg_toast_2396", engine.RelKindToast, true},
	{2847, 647, "pg_toast_2396_index", engine.RelKindIndex, true},
	{4060, 648, "pg_toast_3592", engine.RelKindToast, true},
	{4061, 649, "pg_toast_3592_index", engine.RelKindIndex, true},
	{2966, 650, "pg_toast_2964", engine.RelKindToast, true},
	{2967, 651, "pg_toast_2964_index", engine.RelKindIndex, true},
	{4183, 652, "pg_toast_6100", engine.RelKindToast, true},
	{4184, 653, "pg_toast_6100_index", engine.RelKindIndex, true},
	{4181, 654, "pg_toast_6000", engine.RelKindToast, true},
	{4182, 655, "pg_toast_6000_index", engine.RelKindIndex, true},
	{2676, 656, "pg_authid_rolname_index", engine.RelKindIndex, true},
	{2677, 657, "pg_authid_oid_index", engine.RelKindIndex, true},
	{2694, 658, "pg_auth_members_role_member_index", engine.RelKindIndex, true},
	{2695, 659, "pg_auth_members_member_role_index", engine.RelKindIndex, true},
	{2671, 660, "pg_database_datname_index", engine.RelKindIndex, true},
	{2672, 661, "pg_database_oid_index", engine.RelKindIndex, true},
	{2697, 662, "pg_tablespace_oid_index", engine.RelKindIndex, true},
	{2698, 663, "pg_tablespace_spcname_index", engine.RelKindIndex, true},
	{1232, 664, "pg_shdepend_depender_index", engine.RelKindIndex, true},
	{1233, 665, "pg_shdepend_reference_index", engine.RelKindIndex, true},
	{2397, 666, "pg_shdescription_o_c_index", engine.RelKindIndex, true},
	{3593, 667, "pg_shseclabel_object_index", engine.RelKindIndex, true},
	{2965, 668, "pg_db_role_setting_databaseid_rol_index", engine.RelKindIndex, true},
	{6114, 669, "pg_subscription_oid_index", engine.RelKindIndex, true},
	{6115, 670, "pg_subscription_subname_index", engine.RelKindIndex, true},
	{6001, 671, "pg_replication_origin_roiident_index", engine.RelKindIndex, true},
	{6002, 672, "pg_replication_origin_roname_index", engine.RelKindIndex, true},
}

// addPG adds the pg_catalog database, PG_CLASS and the mapped catalogs to
// p; real selects PostgreSQL's OIDs instead of the greptime block 600-699.
// The mapped relations of kind 'r' are tables: they get TABLE_IDs.
func addPG(p *engine.Profile, real bool) {
	p.SystemDatabases = append(p.SystemDatabases, engine.Database{ID: PGCatalogID, Name: engine.PGCatalogDatabase})
	p.SystemTables = append(p.SystemTables, engine.Table{ID: SysPGClassID, DatabaseID: SystemID,
		Database: SystemDatabase, Name: "PG_CLASS", Type: engine.SystemView})
	for _, r := range pgRelations {
		id := r.GreptimeID
		if real {
			id = r.PGOID
		}
		p.PGRelations = append(p.PGRelations, engine.PGRelation{OID: id, Name: r.Name, Kind: r.Kind, Shared: r.Shared})
		if r.Kind == engine.RelKindTable {
			p.SystemTables = append(p.SystemTables, engine.Table{ID: id, DatabaseID: PGCatalogID,
				Database: engine.PGCatalogDatabase, Name: r.Name, Type: engine.SystemView})
		}
	}
}

// Postgres is PostgreSQL's bootstrap catalog: OIDs (table IDs and
// relfilenodes, one counter as in GetNewObjectId) and database OIDs start at
// FirstNormalObjectId 16384, every ID below is reserved, and the mapped
// catalogs have their real OIDs. The counter reserves VAR_OID_PREFETCH =
// 8192 OIDs at a time: the durable high-water mark is what a restart
// resumes from, as PostgreSQL resumes from its last XLogPutNextOid.
func Postgres() *engine.Profile {
	p := sysemuProfile("postgres", 16384, 8192, 16384)
	addPG(p, true)
	return p
}
