package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/sysemu/sysemu/engine/pgfiles"
	"github.com/sysemu/sysemu/engine/store"
)

// PostgreSQL relfilenodes. Every table's OID is its TABLE_ID; its
// relfilenode starts equal to it and moves on every rewrite (TRUNCATE,
// VACUUM FULL, CLUSTER, REINDEX), taking a new number from the same counter
// (the table-ID sequence is the OID counter, as GetNewRelFileNumber takes
// numbers from GetNewObjectId) and skipping any number whose file exists.
// The mapped catalogs keep relfilenode 0 in pg_class; their real filenode is
// in the relation map, stored in the catalog and written to the
// pg_filenode.map files in PostgreSQL's binary layout.

// Fixed PostgreSQL OIDs (pg_namespace.h, pg_tablespace.h).
const (
	PGCatalogNamespace = 11
	PGToastNamespace   = 99
	PGPublicNamespace  = 2200
)

// PGCatalogDatabase is the (hidden) system database holding the mapped
// catalogs in every profile.
const PGCatalogDatabase = "pg_catalog"

// Relation kinds, as pg_class.relkind.
const (
	RelKindTable = "r"
	RelKindIndex = "i"
	RelKindToast = "t"
	RelKindView  = "v"
)

// PGRelation is one of PostgreSQL's mapped catalogs: a relation whose
// pg_class.relfilenode is 0 because its filenode is in a relation map —
// per database (base/<db oid>/pg_filenode.map) or, when Shared, the global
// one (global/pg_filenode.map, tablespace pg_global 1664).
type PGRelation struct {
	OID    uint64
	Name   string
	Kind   string // RelKindTable, RelKindIndex or RelKindToast
	Shared bool
}

// PGClassRow is one relation as PG_CLASS shows it.
type PGClassRow struct {
	OID       uint64
	Name      string
	Namespace uint64
	Kind      string
	// RelFileNode is pg_class.relfilenode: 0 for mapped catalogs and for
	// relations without storage.
	RelFileNode uint64
	// Filenode is the real one (pg_relation_filenode); 0: no storage.
	Filenode   uint64
	Tablespace uint64 // 0 (the database's default) or 1664 (pg_global)
	// DatabaseOID is the database whose base/ directory holds the
	// relation; 0 for shared relations and relations without storage.
	DatabaseOID uint64
	Mapped      bool
	Table       *Table // the catalog entry, nil for mapped indexes and toast tables
}

// Path is pg_relation_filepath: relative to the data directory, "" when the
// relation has no storage.
func (r *PGClassRow) Path() string {
	if r.Filenode == 0 {
		return ""
	}
	if r.Tablespace == pgfiles.GlobalTablespace {
		return pgfiles.RelationPath(0, r.Filenode)
	}
	return pgfiles.RelationPath(r.DatabaseOID, r.Filenode)
}

// RelFileNode is a user table's current relfilenode.
func (t *Table) RelFileNode() uint64 {
	if t.FileNode != 0 {
		return t.FileNode
	}
	return t.ID
}

// Relmap returns the relation map of database dbID (0: the global map) as
// the catalog holds it: what rebuild_filenode_map writes.
func (s *State) Relmap(dbID uint64) []pgfiles.Mapping {
	if m, ok := s.relmaps[dbID]; ok {
		return m
	}
	var out []pgfiles.Mapping
	for _, r := range s.Profile.PGRelations {
		if r.Shared == (dbID == 0) {
			out = append(out, pgfiles.Mapping{OID: uint32(r.OID), Filenode: uint32(r.OID)})
		}
	}
	return out
}

func mappedFilenode(m []pgfiles.Mapping, oid uint64) uint64 {
	for _, x := range m {
		if uint64(x.OID) == oid {
			return uint64(x.Filenode)
		}
	}
	return 0
}

// PGClass returns the relations PG_CLASS shows from database db, ordered by
// OID: db's tables and mapped catalogs, the shared mapped catalogs, and the
// system views (relkind 'v', no storage). With db "" (or a system database)
// there is no per-database catalog: every user table is listed instead.
func (s *State) PGClass(db string) []PGClassRow {
	var out []PGClassRow
	d := s.Database(db)
	if d != nil && d.System {
		d = nil
	}
	var local []pgfiles.Mapping
	if d != nil {
		local = s.Relmap(d.ID)
	}
	global := s.Relmap(0)
	mapped := map[uint64]bool{}
	for _, r := range s.Profile.PGRelations {
		mapped[r.OID] = true
		row := PGClassRow{OID: r.OID, Name: r.Name, Namespace: PGCatalogNamespace, Kind: r.Kind, Mapped: true,
			Table: s.TableByID(r.OID)}
		if strings.HasPrefix(r.Name, "pg_toast_") {
			row.Namespace = PGToastNamespace
		}
		switch {
		case r.Shared:
			row.Tablespace, row.Filenode = pgfiles.GlobalTablespace, mappedFilenode(global, r.OID)
		case d != nil:
			row.DatabaseOID, row.Filenode = d.ID, mappedFilenode(local, r.OID)
		default:
			continue
		}
		out = append(out, row)
	}
	s.byID.Ascend(func(t *Table) bool {
		switch {
		case mapped[t.ID]:
		case t.System:
			out = append(out, PGClassRow{OID: t.ID, Name: t.Name, Namespace: t.DatabaseID, Kind: RelKindView, Table: t})
		case d == nil || t.DatabaseID == d.ID:
			out = append(out, PGClassRow{OID: t.ID, Name: t.Name, Namespace: PGPublicNamespace, Kind: RelKindTable,
				RelFileNode: t.RelFileNode(), Filenode: t.RelFileNode(), DatabaseOID: t.DatabaseID, Table: t})
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].OID < out[j].OID })
	return out
}

// PGRelation resolves a relation name as a regclass argument would, from
// database db: "t" or "db.t" for a user table, or a mapped catalog's name.
func (s *State) PGRelation(db, name string) (*PGClassRow, bool) {
	name = strings.ReplaceAll(strings.ReplaceAll(name, "`", ""), `"`, "")
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		if q := name[:i]; !strings.EqualFold(q, PGCatalogDatabase) && !strings.EqualFold(q, "public") {
			db = q
		}
		name = name[i+1:]
	}
	for _, r := range s.PGClass(db) {
		if r.Kind != RelKindView && strings.EqualFold(r.Name, name) {
			row := r
			return &row, true
		}
	}
	return nil, false
}

// PGFilenodeRelation is pg_filenode_relation(tablespace, filenode) from
// database db: tablespace 0 (or pg_default 1663) looks in db, 1664 among
// the shared catalogs. ok is false when nothing matches.
func (s *State) PGFilenodeRelation(db string, tablespace, filenode uint64) (*PGClassRow, bool) {
	if filenode == 0 {
		return nil, false
	}
	want := uint64(0)
	switch tablespace {
	case 0, pgfiles.DefaultTablespace:
	case pgfiles.GlobalTablespace:
		want = pgfiles.GlobalTablespace
	default:
		return nil, false
	}
	d := s.Database(db)
	for _, r := range s.PGClass(db) {
		if r.Filenode == filenode && r.Tablespace == want && (want != 0 || (d != nil && r.DatabaseOID == d.ID)) {
			row := r
			return &row, true
		}
	}
	return nil, false
}

func relmapKey(dbID uint64) []byte { return idKey(relmapPrefix, dbID) }

func loadRelmaps(tx store.Tx, s *State) error {
	return tx.Scan(relmapPrefix, store.PrefixEnd(relmapPrefix), false, func(k, v []byte) (bool, error) {
		var m []pgfiles.Mapping
		if err := json.Unmarshal(v, &m); err != nil || len(k) != len(relmapPrefix)+8 {
			return false, fmt.Errorf("decode %q: %v", k, err)
		}
		if s.relmaps == nil {
			s.relmaps = map[uint64][]pgfiles.Mapping{}
		}
		s.relmaps[binary.BigEndian.Uint64(k[len(relmapPrefix):])] = m
		return true, nil
	})
}

// setRelmap stores database dbID's relation map (nil: back to the default).
func (c *change) setRelmap(dbID uint64, m []pgfiles.Mapping) error {
	next := make(map[uint64][]pgfiles.Mapping, len(c.next.relmaps)+1)
	for k, v := range c.next.relmaps {
		next[k] = v
	}
	c.next.relmaps = next
	if m == nil {
		delete(next, dbID)
		return c.tx.Delete(relmapKey(dbID))
	}
	next[dbID] = m
	return putJSON(c.tx, relmapKey(dbID), m)
}

// Files. Everything below is a no-op when the engine has no directory.

func (e *Engine) files() bool { return e.dir != "" }

// initFiles lays out global/ and base/<oid>/ for what has none yet: a
// fresh data directory, or databases created before files were kept. A
// directory that exists is never touched: a missing map in it is damage,
// reported when the database is opened, not repaired behind the user's back.
func (e *Engine) initFiles(s *State) error {
	if !e.files() {
		return nil
	}
	if err := e.dir.MkdirAll("base"); err != nil {
		return err
	}
	if ok, err := e.dir.Exists(pgfiles.DatabasePath(0)); err != nil || ok {
		if err != nil {
			return err
		}
	} else if err := e.layoutDatabase(s, 0); err != nil {
		return err
	}
	for _, d := range s.Databases() {
		if d.System {
			continue
		}
		if ok, err := e.dir.Exists(pgfiles.DatabasePath(d.ID)); err != nil {
			return err
		} else if ok {
			continue
		}
		var tables []uint64
		for _, t := range s.Tables(d.Name) {
			tables = append(tables, t.RelFileNode())
		}
		if err := e.layoutDatabase(s, d.ID, tables...); err != nil {
			return err
		}
	}
	return nil
}

// layoutDatabase creates a database's directory (0: global/) with the files
// of its mapped catalogs and of the given filenodes, and its map file, all
// or nothing.
func (e *Engine) layoutDatabase(s *State, dbID uint64, filenodes ...uint64) error {
	m := s.Relmap(dbID)
	for _, x := range m {
		filenodes = append(filenodes, uint64(x.Filenode))
	}
	return e.dir.CreateDatabase(pgfiles.DatabasePath(dbID), filenodes, e.mapLayout, m)
}

// createRelation writes a relation file, accepting one that exists.
func (e *Engine) createRelation(dbID, filenode uint64) error {
	err := e.dir.CreateRelation(pgfiles.RelationPath(dbID, filenode))
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}

func (c *change) createDatabaseFiles(d *Database) error {
	if !c.e.files() {
		return nil
	}
	return c.e.layoutDatabase(c.next, d.ID)
}

func (c *change) dropDatabaseFiles(d *Database) error {
	if _, ok := c.old.relmaps[d.ID]; ok {
		if err := c.setRelmap(d.ID, nil); err != nil {
			return err
		}
	}
	if c.e.files() {
		c.after = append(c.after, func() { c.e.logFileErr(c.e.dir.RemoveAll(pgfiles.DatabasePath(d.ID))) })
	}
	return nil
}

// nextTableID draws a new table's ID (its OID and first relfilenode) in
// database d with both systems' rules: an ID that a table or leftover rows
// hold is refused with ErrIDInUse and the fix (GreptimeDB), and a number
// whose relation file exists is skipped (PostgreSQL's GetNewRelFileNumber).
// Such a file is left by a transaction that wrote it and never committed —
// a crash between the two — so its number was never durably handed out.
func (c *change) nextTableID(d *Database) (uint64, error) {
	for {
		id, err := c.nextID(SeqTableID)
		if err != nil {
			return 0, err
		}
		if err := c.prefetchIDs(id); err != nil {
			return 0, err
		}
		if err := c.checkIDFree(id); err != nil {
			return 0, err
		}
		if !c.e.files() {
			return id, nil
		}
		if found, err := c.e.dir.Exists(pgfiles.RelationPath(d.ID, id)); err != nil || !found {
			return id, err
		}
		c.e.log.WithField("oid", id).Warn("OID candidate skipped: its relation file exists")
	}
}

// addRelationFile has a new table's file written before its transaction
// commits, with the files of the other changes of its group (see
// createFiles); a failed commit leaves at most an orphan file, which a
// later CREATE skips.
func (c *change) addRelationFile(t *Table) {
	if c.e.files() {
		c.files = append(c.files, newFile{db: t.DatabaseID, filenode: t.RelFileNode(), oid: t.ID})
	}
}

// moveRelationFile follows a table renamed into another database: the file
// is created under the new base/ directory before the commit and removed
// from the old one after.
func (c *change) moveRelationFile(from, to *Table) error {
	if from.DatabaseID == to.DatabaseID || !c.e.files() {
		return nil
	}
	c.addRelationFile(to)
	c.removeRelationFileAfterCommit(from)
	return nil
}

func (c *change) removeRelationFileAfterCommit(t *Table) {
	if c.e.files() {
		rel := pgfiles.RelationPath(t.DatabaseID, t.RelFileNode())
		c.after = append(c.after, func() { c.e.logFileErr(c.e.dir.Remove(rel)) })
	}
}

func (e *Engine) logFileErr(err error) {
	if err != nil {
		e.log.WithError(err).Error("data directory")
	}
}

// Rewrite kinds: what gave the table its new relfilenode.
const (
	RewriteVacuumFull = "vacuum_full"
	RewriteCluster    = "cluster"
	RewriteReindex    = "reindex"
	RewriteTruncate   = "truncate"
)

// Rewrite is the outcome of one rewrite.
type Rewrite struct {
	OID         uint64
	Name        string
	OldFilenode uint64
	NewFilenode uint64
	Path        string // the new file, relative to the data directory
}

// RewriteTable gives relation name (a table of database db, or a mapped
// catalog) a new relfilenode, keeping its OID and rows: VACUUM FULL, CLUSTER
// and REINDEX. One transaction, logged in SYS_ID_EVENTS; the old file is
// removed after the commit (a crash in between leaves an orphan, never a
// missing file).
func (e *Engine) RewriteTable(ctx context.Context, a Actor, db, name, kind string) (*Rewrite, error) {
	var rw *Rewrite
	err := e.update(ctx, func(c *change) error {
		// A rewrite takes a number from the table-ID sequence: refused,
		// like DDL, while recovery mode holds the sequence still.
		if err := c.ddlAllowed(); err != nil {
			return err
		}
		rel, ok := c.old.PGRelation(db, name)
		if !ok {
			return fmt.Errorf("%w: %s.%s", ErrNoSuchTable, db, name)
		}
		var err error
		rw, err = c.rotate(a, rel, kind)
		return err
	})
	return rw, err
}

// TruncateTableAs is TruncateTable on behalf of a: the rows go, and the
// table gets a new relfilenode in the same transaction.
func (e *Engine) TruncateTableAs(ctx context.Context, a Actor, db, name string) (uint64, error) {
	t := e.State().Table(db, name)
	if t == nil || t.System {
		return 0, fmt.Errorf("%w: %s.%s", ErrNoSuchTable, db, name)
	}
	if err := e.checkNotRestoring(t.ID); err != nil {
		return 0, err
	}
	rt, err := e.lockedRuntime(ctx, t.ID)
	if err != nil {
		return 0, err
	}
	defer rt.mu.Unlock()
	var removed uint64
	var counters map[uint64]*identityCounter
	err = e.update(ctx, func(c *change) error {
		if err := c.ddlAllowed(); err != nil {
			return err // TRUNCATE is DDL, and its new relfilenode comes from the table-ID sequence
		}
		t := c.old.TableByID(t.ID)
		if t == nil {
			return fmt.Errorf("%w: %s.%s", ErrNoSuchTable, db, name)
		}
		s, ok, err := getStorage(c.tx, t.ID)
		if err != nil || !ok {
			return storageErr(t.ID, err)
		}
		removed = s.Rows
		for _, prefix := range [][]byte{rowPrefix(t.ID), append(storageKey(t.ID), 'u')} {
			if err := deletePrefix(c.tx, prefix); err != nil {
				return err
			}
		}
		if err := truncateStores(c.tx, t); err != nil {
			return err
		}
		if err := putStorage(c.tx, t.ID, storageInfo{}); err != nil {
			return err
		}
		if t.Identity != nil {
			if counters, err = c.resetIdentity(t, rt); err != nil {
				return err
			}
		}
		d := c.old.Database(t.Database)
		_, err = c.rotate(a, &PGClassRow{OID: t.ID, Name: t.Name, Kind: RelKindTable, Filenode: t.RelFileNode(),
			DatabaseOID: d.ID, Table: t}, RewriteTruncate)
		if err == nil && t.Identity != nil {
			err = c.identityMoved(t.ID)
		}
		return err
	})
	if err == nil && counters != nil {
		rt.counters = counters
	}
	return removed, err
}

// newFilenode is GetNewRelFileNumber for a rewrite: the next number of the
// OID counter whose file does not exist (and that no table holds as its
// OID, so one ID stays one table). The new file is written before the
// commit.
func (c *change) newFilenode(dbOID uint64) (uint64, error) {
	for {
		id, err := c.nextID(SeqTableID)
		if err != nil {
			return 0, err
		}
		if c.old.TableByID(id) != nil {
			continue
		}
		if !c.e.files() {
			return id, nil
		}
		err = c.e.dir.CreateRelation(pgfiles.RelationPath(dbOID, id))
		if errors.Is(err, fs.ErrExist) {
			c.e.log.WithField("filenode", id).Warn("relfilenode candidate skipped: its file exists")
			continue
		}
		return id, err
	}
}

func (c *change) rotate(a Actor, rel *PGClassRow, kind string) (*Rewrite, error) {
	dbOID := rel.DatabaseOID
	if rel.Tablespace == pgfiles.GlobalTablespace {
		dbOID = 0
	}
	if rel.Filenode == 0 {
		return nil, fmt.Errorf("%w: %s has no storage", ErrInvalid, rel.Name)
	}
	nf, err := c.newFilenode(dbOID)
	if err != nil {
		return nil, err
	}
	rw := &Rewrite{OID: rel.OID, Name: rel.Name, OldFilenode: rel.Filenode, NewFilenode: nf, Path: pgfiles.RelationPath(dbOID, nf)}
	oldPath := pgfiles.RelationPath(dbOID, rel.Filenode)
	var writeMap []pgfiles.Mapping
	if rel.Mapped {
		m := append([]pgfiles.Mapping(nil), c.next.Relmap(dbOID)...)
		for i := range m {
			if uint64(m[i].OID) == rel.OID {
				m[i].Filenode = uint32(nf)
			}
		}
		if err := c.setRelmap(dbOID, m); err != nil {
			return nil, err
		}
		writeMap = m
	} else {
		n := *rel.Table
		n.FileNode = nf
		c.next.putTable(&n)
		if err := putTableRecord(c.tx, &n); err != nil {
			return nil, err
		}
	}
	what := rel.Name
	if rel.Table != nil && !rel.Table.System {
		what = rel.Table.Database + "." + rel.Table.Name
	}
	c.event(a, EventRelfilenodeRewrite, what, int64(rel.Filenode), int64(nf))
	if c.e.files() {
		e := c.e
		c.after = append(c.after, func() {
			if writeMap != nil {
				// The map is written after the commit and before the old file
				// goes: a crash leaves the old map pointing at a file that
				// still exists.
				if err := e.dir.WriteMap(pgfiles.MapPath(dbOID), e.mapLayout, writeMap); err != nil {
					e.logFileErr(err)
					return
				}
			}
			e.logFileErr(e.dir.Remove(oldPath))
		})
	}
	e := c.e
	e.log.WithFields(map[string]any{logTable: what, "kind": kind, "old": rel.Filenode, "new": nf}).Info("relfilenode rewrite")
	return rw, nil
}

// Relation map damage, with PostgreSQL's messages (see pgfiles.MapError).
var (
	// ErrMapFileMissing: a map file (or a mapped relation's file) is gone.
	ErrMapFileMissing = errors.New("could not open relation mapping file")
	// ErrMapFileCorrupt: a map file fails its size, data or CRC check.
	ErrMapFileCorrupt = errors.New("relation mapping file corrupt")
)

func mapErr(err error) error {
	var me *pgfiles.MapError
	if !errors.As(err, &me) {
		return err
	}
	if errors.Is(err, pgfiles.ErrShortRead) || errors.Is(err, pgfiles.ErrInvalidData) || errors.Is(err, pgfiles.ErrBadChecksum) {
		return fmt.Errorf("%w: %s", ErrMapFileCorrupt, me.Msg)
	}
	return fmt.Errorf("%w: %s", ErrMapFileMissing, me.Msg)
}

// checkMap reads and validates a map file, and checks that every mapped
// relation's file exists, as opening the relations would.
func (e *Engine) checkMap(dbID uint64) (*pgfiles.Map, error) {
	m, err := e.dir.ReadMap(pgfiles.MapPath(dbID), e.mapLayout)
	if err != nil {
		return nil, mapErr(err)
	}
	for _, x := range m.Mappings {
		rel := pgfiles.RelationPath(dbID, uint64(x.Filenode))
		if ok, err := e.dir.Exists(rel); err != nil {
			return nil, err
		} else if !ok {
			return m, fmt.Errorf("%w: could not open file \"%s\": No such file or directory", ErrMapFileMissing, rel)
		}
	}
	return m, nil
}

// CheckDatabase is what connecting to database db (USE, or a connection
// with db as its default) checks: the global map, then db's own, read from
// disk each time, so damage done on disk shows at once. It returns
// PostgreSQL's error for the first one that is unusable; system databases
// only need the global map.
func (e *Engine) CheckDatabase(db string) error {
	if !e.files() {
		return nil
	}
	if _, err := e.checkMap(0); err != nil {
		return err
	}
	d := e.State().Database(db)
	if d == nil || d.System {
		return nil
	}
	_, err := e.checkMap(d.ID)
	return err
}

// MapStatus is one map file as verify_filenode_maps reports it.
// MapOK is a readable map file that agrees with the catalog.
const MapOK = "ok"

type MapStatus struct {
	Path        string
	Database    string // "" for the global map
	DatabaseOID uint64
	Mappings    int    // in the file (-1: unreadable)
	CRC         uint32 // stored in the file
	// Status is "ok", "differs from catalog", or PostgreSQL's error text.
	Status string
}

// VerifyFilenodeMaps reads every map file: the global one, then each user
// database's in OID order.
func (e *Engine) VerifyFilenodeMaps() []MapStatus {
	if !e.files() {
		return nil
	}
	s := e.State()
	var dbs []*Database
	for _, d := range s.Databases() {
		if !d.System {
			dbs = append(dbs, d)
		}
	}
	sort.Slice(dbs, func(i, j int) bool { return dbs[i].ID < dbs[j].ID })
	out := []MapStatus{e.verifyOne(s, 0, "")}
	for _, d := range dbs {
		out = append(out, e.verifyOne(s, d.ID, d.Name))
	}
	return out
}

func (e *Engine) verifyOne(s *State, dbID uint64, name string) MapStatus {
	st := MapStatus{Path: pgfiles.MapPath(dbID), Database: name, DatabaseOID: dbID, Mappings: -1, Status: MapOK}
	m, err := e.checkMap(dbID)
	if m != nil {
		st.Mappings, st.CRC = len(m.Mappings), m.CRC
	}
	switch {
	case err != nil:
		var me *pgfiles.MapError
		if errors.As(err, &me) {
			st.Status = me.Msg
		} else {
			st.Status = strings.TrimPrefix(strings.TrimPrefix(err.Error(), ErrMapFileMissing.Error()+": "), ErrMapFileCorrupt.Error()+": ")
		}
	case !pgfiles.SameMappings(m.Mappings, s.Relmap(dbID)):
		st.Status = "differs from catalog"
	}
	return st
}

// Fault modes for FaultFilenodeMap.
const (
	FaultDelete  = "delete"
	FaultCorrupt = "corrupt"
)

// mapDatabase resolves a database name to its map's database ID; "" is the
// global map.
func (s *State) mapDatabase(db string) (uint64, error) {
	if db == "" {
		return 0, nil
	}
	d := s.Database(db)
	if d == nil || d.System {
		return 0, fmt.Errorf("%w: %s", ErrNoSuchDatabase, db)
	}
	return d.ID, nil
}

// FaultFilenodeMap damages database db's map file ("" the global one), the
// way the document's accident does: mode "delete" removes it, "corrupt"
// flips a bit of the first mapping so the CRC check fails. It returns the
// map's path. Logged in SYS_ID_EVENTS.
func (e *Engine) FaultFilenodeMap(ctx context.Context, a Actor, db, mode string) (string, error) {
	if !e.files() {
		return "", fmt.Errorf("%w: the server keeps no data directory files", ErrInvalid)
	}
	var rel string
	err := e.update(ctx, func(c *change) error {
		dbID, err := c.old.mapDatabase(db)
		if err != nil {
			return err
		}
		rel = pgfiles.MapPath(dbID)
		c.event(a, EventFilenodeMapFault, rel, int64(dbID), int64(dbID))
		switch mode {
		case FaultDelete:
			return e.dir.Remove(rel)
		case FaultCorrupt:
			m, err := e.dir.ReadMap(rel, e.mapLayout)
			if err != nil {
				return mapErr(err)
			}
			b, err := pgfiles.Encode(m.Layout, m.Mappings)
			if err != nil {
				return err
			}
			b[8] ^= 0x01 // the first mapping's OID, under the CRC
			return e.dir.WriteFileAtomic(rel, b)
		}
		return fmt.Errorf("%w: fault mode %q, want 'delete' or 'corrupt'", ErrInvalid, mode)
	})
	return rel, err
}

// RebuildFilenodeMap writes database db's map file ("" the global one) from
// the catalog, as a repair tool would, and returns its path and mappings.
func (e *Engine) RebuildFilenodeMap(ctx context.Context, a Actor, db string) (string, []pgfiles.Mapping, error) {
	if !e.files() {
		return "", nil, fmt.Errorf("%w: the server keeps no data directory files", ErrInvalid)
	}
	var rel string
	var m []pgfiles.Mapping
	err := e.update(ctx, func(c *change) error {
		dbID, err := c.old.mapDatabase(db)
		if err != nil {
			return err
		}
		rel, m = pgfiles.MapPath(dbID), c.old.Relmap(dbID)
		if err := e.dir.MkdirAll(pgfiles.DatabasePath(dbID)); err != nil {
			return err
		}
		for _, x := range m {
			if err := e.createRelation(dbID, uint64(x.Filenode)); err != nil {
				return err
			}
		}
		c.event(a, EventFilenodeMapRebuild, rel, int64(dbID), int64(dbID))
		return e.dir.WriteMap(rel, e.mapLayout, m)
	})
	return rel, m, err
}

// MapLayout is the layout the engine writes map files in.
func (e *Engine) MapLayout() pgfiles.Layout { return e.mapLayout }
