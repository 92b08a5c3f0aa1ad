package engine

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/btree"

	"github.com/sysemu/sysemu/engine/pgfiles"
)

// State is an immutable snapshot of the catalog, the sequences' durable
// high-water marks, the switches and the ID-event log. Readers hold on to one
// as long as they like; a change publishes a new State after its commit.
type State struct {
	// Revision grows by one with every published change.
	Revision uint64
	Profile  *Profile
	meta     metaRev // the stored metadata revision this State reflects
	// Sequences maps a sequence name to its durable high-water mark: what
	// GreptimeDB's peek() returns (the next ID a fresh node would hand out).
	Sequences map[string]uint64
	Switches  map[string]bool

	dbs    *btree.BTreeG[*Database] // by lower-case name
	byID   *btree.BTreeG[*Table]    // by ID
	byName *btree.BTreeG[*Table]    // by (database ID, lower-case name)
	events *btree.BTreeG[*Event]    // by sequence number
	gstos  *btree.BTreeG[gstoRun]   // every store, in runs of consecutive GSTO_NOs
	stores int                      // stores in gstos

	nodes      []*Node        // by ID, dropped ones included
	nodeEvents []NodeEvent    // in order; never rewritten, only appended
	nodeLoad   map[uint64]int // store versions placed per node
	sysStores  map[uint32]uint32
	partitions int // of every table

	relmaps map[uint64][]pgfiles.Mapping // stored relation maps by database ID (0: global); copy on write

	legacyTables int // table records loaded from JSON (Open converts them)
}

// lessFold reports whether strings.ToLower(a) < strings.ToLower(b), without
// lowering either while both are ASCII (the catalog's B-trees compare names
// this way on every lookup and insert).
func lessFold(a, b string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if ca >= utf8.RuneSelf || cb >= utf8.RuneSelf {
			return strings.ToLower(a[i:]) < strings.ToLower(b[i:])
		}
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return ca < cb
		}
	}
	// One is a prefix of the other up to case; lowering never empties a
	// non-empty rest.
	return len(a) < len(b)
}

// gstoRun locates a run of stores with consecutive GSTO_NOs inside their
// table's catalog entry: t.Stores[i:i+n] are numbered no..no+n-1. A table
// draws its stores' numbers in one go, so it is usually one run: the index
// holds one entry per table rather than one per store.
type gstoRun struct {
	t    *Table
	no   uint32 // the first store's GSTO_NO
	i, n uint32 // the first store's index in t.Stores, and the run's length
}

// storeRuns calls fn for each run of t's stores.
func storeRuns(t *Table, fn func(gstoRun)) {
	for i := 0; i < len(t.Stores); {
		j := i + 1
		for j < len(t.Stores) && uint64(t.Stores[j].No) == uint64(t.Stores[j-1].No)+1 {
			j++
		}
		fn(gstoRun{t: t, no: t.Stores[i].No, i: uint32(i), n: uint32(j - i)})
		i = j
	}
}

const btreeDegree = 32

func newState(p *Profile, nodes []*Node, nodeEvents []NodeEvent) *State {
	s := &State{
		nodes:      nodes,
		nodeEvents: nodeEvents,
		nodeLoad:   map[uint64]int{},
		sysStores:  map[uint32]uint32{},
		gstos:      btree.NewG(btreeDegree, func(a, b gstoRun) bool { return a.no < b.no }),
		Profile:    p,
		Sequences:  map[string]uint64{},
		Switches:   map[string]bool{},
		dbs:        btree.NewG(btreeDegree, func(a, b *Database) bool { return lessFold(a.Name, b.Name) }),
		byID:       btree.NewG(btreeDegree, func(a, b *Table) bool { return a.ID < b.ID }),
		byName: btree.NewG(btreeDegree, func(a, b *Table) bool {
			if a.DatabaseID != b.DatabaseID {
				return a.DatabaseID < b.DatabaseID
			}
			return lessFold(a.Name, b.Name)
		}),
		events: btree.NewG(btreeDegree, func(a, b *Event) bool { return a.Seq < b.Seq }),
	}
	for i := range p.SystemDatabases {
		d := p.SystemDatabases[i]
		d.System = true
		s.dbs.ReplaceOrInsert(&d)
	}
	sys := make([]*Table, len(p.SystemTables))
	for i := range p.SystemTables {
		t := p.SystemTables[i]
		t.System = true
		if d := s.Database(t.Database); d != nil {
			t.DatabaseID = d.ID
		}
		sys[i] = &t
	}
	s.systemStores(sys)
	for _, t := range sys {
		s.putTable(t)
	}
	return s
}

// systemStores fills the profile's reserved gsto_no ranges with the system
// tables' stores, handed to the system tables in ID order (round robin).
// Their versions are on nodes 1..3 (those the data directory was created
// with), version 1 primary; their store numbers are each node's first.
func (s *State) systemStores(sys []*Table) {
	if len(sys) == 0 {
		return
	}
	owners := slices.Clone(sys)
	slices.SortFunc(owners, func(a, b *Table) int { return cmp.Compare(a.ID, b.ID) })
	var on []uint32
	for _, n := range s.nodes {
		if n.ID <= 3 {
			on = append(on, uint32(n.ID))
		}
	}
	k := 0
	for _, r := range s.Profile.StoreRanges {
		for no := r.Lo; no <= r.Hi; no++ {
			st := Store{No: no, Kind: r.Kind, Copies: uint8(len(on))}
			for v, node := range on {
				s.sysStores[node]++
				st.Nodes[v], st.StoreNos[v] = node, s.sysStores[node]
			}
			t := owners[k%len(owners)]
			t.Stores = append(t.Stores, st)
			k++
		}
	}
}

// clone returns a copy that shares structure with s until either changes.
func (s *State) clone() *State {
	c := *s
	c.Revision++
	c.Sequences = make(map[string]uint64, len(s.Sequences))
	for k, v := range s.Sequences {
		c.Sequences[k] = v
	}
	c.Switches = make(map[string]bool, len(s.Switches))
	for k, v := range s.Switches {
		c.Switches[k] = v
	}
	c.dbs, c.byID, c.byName, c.events = s.dbs.Clone(), s.byID.Clone(), s.byName.Clone(), s.events.Clone()
	c.gstos, c.nodeLoad = s.gstos.Clone(), cloneLoad(s.nodeLoad)
	return &c
}

func (s *State) putTable(t *Table) {
	if old, ok := s.byID.Get(t); ok {
		s.byName.Delete(old)
		s.unindex(old)
	}
	s.indexTable(t)
	s.indexStores(t)
}

// indexTable puts t in the table indexes; a table with t's ID must not be
// there (putTable replaces one).
func (s *State) indexTable(t *Table) {
	s.byID.ReplaceOrInsert(t)
	s.byName.ReplaceOrInsert(t)
	if t.Partition != nil {
		s.partitions += t.Partition.Count
	}
}

// indexStores puts t's stores in the GSTO_NO index and the node loads. It
// touches nothing indexTable does, so the two may run at the same time.
func (s *State) indexStores(t *Table) {
	storeRuns(t, func(r gstoRun) {
		if old, ok := s.gstos.ReplaceOrInsert(r); ok {
			s.stores -= int(old.n)
		}
		s.stores += int(r.n)
	})
	for i := range t.Stores {
		for _, n := range t.Stores[i].Nodes {
			if n != 0 {
				s.nodeLoad[uint64(n)]++
			}
		}
	}
}

func (s *State) deleteTable(t *Table) {
	s.byID.Delete(t)
	s.byName.Delete(t)
	s.unindex(t)
}

func (s *State) unindex(t *Table) {
	if t.Partition != nil {
		s.partitions -= t.Partition.Count
	}
	storeRuns(t, func(r gstoRun) {
		if old, ok := s.gstos.Delete(r); ok {
			s.stores -= int(old.n)
		}
	})
	for i := range t.Stores {
		for _, n := range t.Stores[i].Nodes {
			if n != 0 && s.nodeLoad[uint64(n)] > 0 {
				s.nodeLoad[uint64(n)]--
			}
		}
	}
}

// Gstore returns the store numbered no and its table, or nils.
func (s *State) Gstore(no uint64) (*Table, *Store) {
	if no > math.MaxUint32 {
		return nil, nil
	}
	var r gstoRun
	s.gstos.DescendLessOrEqual(gstoRun{no: uint32(no)}, func(x gstoRun) bool { r = x; return false })
	if r.t == nil || no >= uint64(r.no)+uint64(r.n) {
		return nil, nil
	}
	return r.t, &r.t.Stores[r.i+uint32(no)-r.no]
}

// PartitionCount is the number of partitions of every table.
func (s *State) PartitionCount() int { return s.partitions }

// GstoreCount is the number of stores, system stores included.
func (s *State) GstoreCount() int { return s.stores }

// RangeGstores calls fn for every store with lo <= GSTO_NO < hi (hi 0: no
// bound), ascending or descending, until fn returns false.
func (s *State) RangeGstores(lo, hi uint64, reverse bool, fn func(*Table, *Store) bool) {
	if hi == 0 || hi > math.MaxUint32+1 {
		hi = math.MaxUint32 + 1
	}
	if lo >= hi {
		return
	}
	// visit calls fn for the stores of run r inside [lo, hi).
	visit := func(r gstoRun) bool {
		first, end := uint64(r.no), uint64(r.no)+uint64(r.n)
		a, b := max(first, lo), min(end, hi)
		if a >= b {
			return true
		}
		for k := range b - a {
			no := a + k
			if reverse {
				no = b - 1 - k
			}
			if !fn(r.t, &r.t.Stores[r.i+uint32(no-first)]) {
				return false
			}
		}
		return true
	}
	if reverse {
		s.gstos.DescendLessOrEqual(gstoRun{no: uint32(hi - 1)}, func(r gstoRun) bool {
			return uint64(r.no)+uint64(r.n) > lo && visit(r)
		})
		return
	}
	more := true
	s.gstos.DescendLessOrEqual(gstoRun{no: uint32(lo)}, func(r gstoRun) bool { // the run holding lo may start below it
		if uint64(r.no) < lo {
			more = visit(r)
		}
		return false
	})
	if more {
		s.gstos.AscendGreaterOrEqual(gstoRun{no: uint32(lo)}, func(r gstoRun) bool {
			return uint64(r.no) < hi && visit(r)
		})
	}
}

// Database returns the database named name (case-insensitive), or nil.
func (s *State) Database(name string) *Database {
	d, _ := s.dbs.Get(&Database{Name: name})
	return d
}

// Databases returns every database, system ones included, ordered by name.
func (s *State) Databases() []*Database {
	out := make([]*Database, 0, s.dbs.Len())
	s.dbs.Ascend(func(d *Database) bool { out = append(out, d); return true })
	return out
}

// Table returns the table db.name (case-insensitive), or nil.
func (s *State) Table(db, name string) *Table {
	d := s.Database(db)
	if d == nil {
		return nil
	}
	p := probes.Get().(*Table)
	p.DatabaseID, p.Name = d.ID, name
	t, _ := s.byName.Get(p)
	p.DatabaseID, p.Name = 0, ""
	probes.Put(p)
	return t
}

// TableByID returns the table with the given TABLE_ID, or nil.
func (s *State) TableByID(id uint64) *Table {
	p := probes.Get().(*Table)
	p.ID = id
	t, _ := s.byID.Get(p)
	p.ID = 0
	probes.Put(p)
	return t
}

// probes are the keys the two lookups above search with: a Table is large
// (~290 bytes), and each statement looks its tables up, so a key made for
// each lookup was a good part of the garbage per statement.
var probes = sync.Pool{New: func() any { return new(Table) }}

// Tables returns the tables of database db ordered by lower-case name.
func (s *State) Tables(db string) []*Table {
	d := s.Database(db)
	if d == nil {
		return nil
	}
	var out []*Table
	s.byName.AscendRange(&Table{DatabaseID: d.ID}, &Table{DatabaseID: d.ID + 1}, func(t *Table) bool {
		out = append(out, t)
		return true
	})
	return out
}

// TableCount is the number of tables, system tables included.
func (s *State) TableCount() int { return s.byID.Len() }

// RangeTables calls fn for every table with lo <= ID < hi (hi 0: no bound), in
// ascending ID order or descending when reverse is set, until fn returns false.
func (s *State) RangeTables(lo, hi uint64, reverse bool, fn func(*Table) bool) {
	rangeBTree(s.byID, func(id uint64) *Table { return &Table{ID: id} }, lo, hi, reverse, math.MaxUint64, fn)
}

// rangeBTree visits the items of bt keyed lo <= key < hi (hi 0: up to top),
// ascending or descending; key makes a probe item for an ID.
func rangeBTree[T any](bt *btree.BTreeG[T], key func(uint64) T, lo, hi uint64, reverse bool, top uint64, fn func(T) bool) {
	if hi != 0 && hi <= lo {
		return
	}
	if !reverse {
		if hi == 0 {
			bt.AscendGreaterOrEqual(key(lo), fn)
		} else {
			bt.AscendRange(key(lo), key(hi), fn)
		}
		return
	}
	if hi != 0 {
		top = hi - 1
	}
	if lo == 0 {
		bt.DescendLessOrEqual(key(top), fn)
	} else {
		bt.DescendRange(key(top), key(lo-1), fn)
	}
}

// NextTableID is the table-ID sequence's durable high-water mark.
func (s *State) NextTableID() uint64 { return s.Sequences[SeqTableID] }

// Events returns the ID-event log in order.
func (s *State) Events() []*Event {
	out := make([]*Event, 0, s.events.Len())
	s.events.Ascend(func(e *Event) bool { out = append(out, e); return true })
	return out
}
