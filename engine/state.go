package engine

import (
	"math"
	"strings"

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
	// Sequences maps a sequence name to its durable high-water mark: what
	// GreptimeDB's peek() returns (the next ID a fresh node would hand out).
	Sequences map[string]uint64
	Switches  map[string]bool

	dbs    *btree.BTreeG[*Database] // by lower-case name
	byID   *btree.BTreeG[*Table]    // by ID
	byName *btree.BTreeG[*Table]    // by (database ID, lower-case name)
	events *btree.BTreeG[*Event]    // by sequence number

	relmaps map[uint64][]pgfiles.Mapping // stored relation maps by database ID (0: global); copy on write
}

const btreeDegree = 32

func newState(p *Profile) *State {
	s := &State{
		Profile:   p,
		Sequences: map[string]uint64{},
		Switches:  map[string]bool{},
		dbs: btree.NewG(btreeDegree, func(a, b *Database) bool {
			return strings.ToLower(a.Name) < strings.ToLower(b.Name)
		}),
		byID: btree.NewG(btreeDegree, func(a, b *Table) bool { return a.ID < b.ID }),
		byName: btree.NewG(btreeDegree, func(a, b *Table) bool {
			if a.DatabaseID != b.DatabaseID {
				return a.DatabaseID < b.DatabaseID
			}
			return strings.ToLower(a.Name) < strings.ToLower(b.Name)
		}),
		events: btree.NewG(btreeDegree, func(a, b *Event) bool { return a.Seq < b.Seq }),
	}
	for i := range p.SystemDatabases {
		d := p.SystemDatabases[i]
		d.System = true
		s.dbs.ReplaceOrInsert(&d)
	}
	for i := range p.SystemTables {
		t := p.SystemTables[i]
		t.System = true
		if d := s.Database(t.Database); d != nil {
			t.DatabaseID = d.ID
		}
		s.putTable(&t)
	}
	return s
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
	return &c
}

func (s *State) putTable(t *Table) {
	if old, ok := s.byID.Get(t); ok {
		s.byName.Delete(old)
	}
	s.byID.ReplaceOrInsert(t)
	s.byName.ReplaceOrInsert(t)
}

func (s *State) deleteTable(t *Table) {
	s.byID.Delete(t)
	s.byName.Delete(t)
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
	t, _ := s.byName.Get(&Table{DatabaseID: d.ID, Name: name})
	return t
}

// TableByID returns the table with the given TABLE_ID, or nil.
func (s *State) TableByID(id uint64) *Table {
	t, _ := s.byID.Get(&Table{ID: id})
	return t
}

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
	if hi != 0 && hi <= lo {
		return
	}
	if !reverse {
		if hi == 0 {
			s.byID.AscendGreaterOrEqual(&Table{ID: lo}, fn)
		} else {
			s.byID.AscendRange(&Table{ID: lo}, &Table{ID: hi}, fn)
		}
		return
	}
	top := &Table{ID: math.MaxUint64}
	if hi != 0 {
		top = &Table{ID: hi - 1}
	}
	if lo == 0 {
		s.byID.DescendLessOrEqual(top, fn)
	} else {
		s.byID.DescendRange(top, &Table{ID: lo - 1}, fn)
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
