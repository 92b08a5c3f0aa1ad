package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sysemu/sysemu/engine/pgfiles"
	"github.com/sysemu/sysemu/engine/store"
)

// Log field names.
const (
	logSeq   = "seq"
	logNext  = "next"
	logTable = "table"
	logUser  = "user"
)

// Engine owns the catalog, the sequences and the rows of one node.
type Engine struct {
	st   store.Store
	log  logrus.FieldLogger
	node uint64
	now  func() time.Time

	mu sync.Mutex // serializes metadata changes and guards seqs' caches
	// queueMu guards queue, the metadata changes waiting for a group (group.go).
	queueMu sync.Mutex
	queue   []*pendingChange
	seqs    map[string]*sequence
	state   atomic.Pointer[State]

	rtMu sync.Mutex
	rt   map[uint64]*tableRuntime

	restoreMu    sync.Mutex // held by the running restore (one at a time)
	restoreState sync.Mutex // guards running and restoring
	running      *restoreRun
	restoring    map[uint64]uint64 // table ID -> restore ID, while a restore writes it

	copyNum       int
	storeRows     uint64
	identityCache int
	dir           pgfiles.Dir // the data directory for base/ and global/; "" writes no files
	fileMu        sync.Mutex  // guards unsynced and syncing (relfiles.go)
	unsynced      []newFile
	syncing       bool
	mapLayout     pgfiles.Layout
}

// Options configure Open.
type Options struct {
	// NodeID is this node's NODE_ID (default 1).
	NodeID uint64
	// Now is the clock (default time.Now); tests may fix it.
	Now func() time.Time
	// Nodes is the number of emulated storage nodes, 1..Nodes (0: as the
	// store has them, DefaultNodes for a new one). Nodes are never removed by
	// asking for fewer: that is refused.
	Nodes uint64
	// CopyNum is a table's replica count unless its comment says
	// copy_num=N (default DefaultCopyNum, capped by the node count).
	CopyNum int
	// StoreRows is how many rows a store holds before it splits (default
	// DefaultStoreRows).
	StoreRows uint64
	// Dir is the data directory where PostgreSQL's base/<db oid>/ and
	// global/ live: one empty file per relation filenode and the
	// pg_filenode.map files. Empty: no files are written or checked.
	Dir string
	// MapLayout is the pg_filenode.map layout (default pgfiles.Layout15,
	// PostgreSQL <= 15's 512 bytes).
	MapLayout pgfiles.Layout
	// IdentityCache is how many identity values a counter reserves per
	// durable write (default DefaultIdentityCache).
	IdentityCache int
}

// Open loads (or, on an empty store, bootstraps) the catalog of profile p.
func Open(ctx context.Context, st store.Store, p *Profile, log logrus.FieldLogger, opts Options) (*Engine, error) {
	if opts.NodeID == 0 {
		opts.NodeID = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CopyNum == 0 {
		opts.CopyNum = DefaultCopyNum
	}
	if opts.CopyNum < 1 || opts.CopyNum > 3 {
		return nil, fmt.Errorf("%w: copy num %d: want 1, 2 or 3", ErrInvalid, opts.CopyNum)
	}
	if opts.StoreRows == 0 {
		opts.StoreRows = DefaultStoreRows
	}
	if opts.IdentityCache < 1 {
		opts.IdentityCache = DefaultIdentityCache
	}
	e := &Engine{
		st: st, log: log, node: opts.NodeID, now: opts.Now,
		seqs: map[string]*sequence{
			SeqTableID:    newSequence(SeqTableID, p.FirstUserTableID, p.TableIDStep),
			SeqDatabaseID: newSequence(SeqDatabaseID, p.FirstUserDatabaseID, 1),
		},
		rt:      map[uint64]*tableRuntime{},
		copyNum: opts.CopyNum, storeRows: opts.StoreRows, identityCache: opts.IdentityCache,
		dir: pgfiles.Dir(opts.Dir), mapLayout: opts.MapLayout,
	}
	if e.mapLayout == 0 {
		e.mapLayout = pgfiles.Layout15
	}
	err := st.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Get(profileKey)
		switch {
		case err != nil:
			return err
		case b == nil:
			if err := tx.Put(profileKey, []byte(p.Name)); err != nil {
				return err
			}
		case string(b) != p.Name:
			return fmt.Errorf("%w: it was created with profile %q, not %q", ErrProfileMismatch, b, p.Name)
		}
		var nodes []*Node
		if err := scanJSON(tx, nodePrefix, func(n *Node) { nodes = append(nodes, n) }); err != nil {
			return err
		}
		if err := ensureNodes(tx, nodes, opts.Nodes); err != nil {
			return err
		}
		return bumpMeta(tx)
	})
	if err != nil {
		return nil, err
	}
	var s *State
	err = st.View(ctx, func(tx store.Tx) error {
		s, err = e.load(tx, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	e.state.Store(s)
	if err := e.initFiles(s); err != nil {
		return nil, err
	}
	if err := e.redoFiles(ctx); err != nil {
		return nil, err
	}
	if err := e.storesForOldTables(ctx); err != nil {
		return nil, err
	}
	if s.legacyTables > 0 {
		if err := e.convertTables(ctx); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// load reads the whole metadata into a fresh State.
func (e *Engine) load(tx store.Tx, p *Profile) (*State, error) {
	var nodes []*Node
	var nodeEvents []NodeEvent
	err := scanJSON(tx, nodePrefix, func(n *Node) { nodes = append(nodes, n) })
	if err == nil {
		err = scanJSON(tx, nodeEventPrefix, func(ev *NodeEvent) { nodeEvents = append(nodeEvents, *ev) })
	}
	if err != nil {
		return nil, err
	}
	s := newState(p, nodes, nodeEvents)
	if s.meta, err = readMeta(tx); err != nil {
		return nil, err
	}
	err = scanJSON(tx, dbPrefix, func(d *Database) { s.dbs.ReplaceOrInsert(d) })
	if err == nil {
		s.legacyTables, err = loadTables(tx, s)
	}
	if err == nil {
		err = scanJSON(tx, eventPrefix, func(ev *Event) { s.events.ReplaceOrInsert(ev) })
	}
	if err == nil {
		err = loadRelmaps(tx, s)
	}
	if err != nil {
		return nil, err
	}
	for name, seq := range e.seqs {
		v, err := seq.peek(tx)
		if err != nil {
			return nil, err
		}
		s.Sequences[name] = v
	}
	if s.Sequences[SeqGstoNo], err = readCounter(tx, SeqGstoNo, uint64(p.FirstUserGsto)); err != nil {
		return nil, err
	}
	for _, n := range s.nodes {
		name := storeNoSeq(uint32(n.ID))
		if s.Sequences[name], err = readCounter(tx, name, s.storeNoInitial(uint32(n.ID))); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{SwitchRecovery, SwitchPauseProcedure, SwitchMaintenance} {
		b, err := tx.Get(switchKey(name))
		if err != nil {
			return nil, err
		}
		s.Switches[name] = b != nil
	}
	return s, nil
}

func scanJSON[T any](tx store.Tx, prefix []byte, fn func(*T)) error {
	return tx.Scan(prefix, store.PrefixEnd(prefix), false, func(k, v []byte) (bool, error) {
		x := new(T)
		if err := json.Unmarshal(v, x); err != nil {
			return false, fmt.Errorf("decode %q: %w", k, err)
		}
		fn(x)
		return true, nil
	})
}

func putJSON(tx store.Tx, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(key, b)
}

// State returns the current immutable snapshot. It never blocks.
func (e *Engine) State() *State { return e.state.Load() }

// NodeID is this node's NODE_ID.
func (e *Engine) NodeID() uint64 { return e.node }

// change is one metadata transaction being built: fn records what it did, and
// after the commit the engine installs the sequence caches and publishes the
// new State.
type change struct {
	e      *Engine
	tx     store.Tx
	old    *State
	next   *State
	caches map[string]seqCache
	resets bool // sequences were rewritten from outside: reset every cache
	jumped bool // a sequence jumped: other nodes drop their cached ranges
	events []*Event
	after  []func()  // file work to do once the transaction committed, in order
	files  []newFile // relation files to write before the commit
}

// nextID draws one ID from the named sequence inside the change.
func (c *change) nextID(name string) (uint64, error) {
	seq := c.e.seqs[name]
	saved := seq.cache
	if cache, ok := c.caches[name]; ok {
		seq.cache = cache
	}
	id, cache, err := seq.next(c.tx)
	seq.cache = saved
	if err != nil {
		return 0, err
	}
	c.caches[name] = cache
	return id, nil
}

// Event is one entry of the durable ID-event log (SYS_ID_EVENTS).
type Event struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	User      string    `json:"user"`
	Node      uint64    `json:"node"`
	Kind      string    `json:"kind"`
	Sequence  string    `json:"sequence,omitempty"`
	Old       int64     `json:"old"`
	New       int64     `json:"new"`
	Statement string    `json:"statement,omitempty"`
}

// Event kinds.
const (
	EventSequenceJump     = "sequence_jump"
	EventRecoveryMode     = "recovery_mode"
	EventProcedureManager = "procedure_manager"
	EventMaintenance      = "maintenance"
	EventFault            = "fault"
	EventSnapshotRestore  = "snapshot_restore"
	// PostgreSQL relfilenodes (filenode.go).
	EventRelfilenodeRewrite = "relfilenode_rewrite"
	EventFilenodeMapFault   = "filenode_map_fault"
	EventFilenodeMapRebuild = "filenode_map_rebuild"
	// SQL Server identity (identity.go).
	EventIdentityReseed = "identity_reseed"
	EventIdentityRanges = "identity_ranges" // management changed: old value, next seed
	EventIdentityRange  = "identity_range"  // a range (OLD_VALUE, NEW_VALUE] assigned to a node
)

func (c *change) event(a Actor, kind, seq string, old, new int64) {
	c.events = append(c.events, &Event{
		Time: c.e.now().UTC(), User: a.User, Node: c.e.node, Kind: kind,
		Sequence: seq, Old: old, New: new, Statement: a.Statement,
	})
}

func (c *change) writeEvents() error {
	if len(c.events) == 0 {
		return nil
	}
	var last uint64
	err := c.tx.Scan(eventPrefix, store.PrefixEnd(eventPrefix), true, func(k, v []byte) (bool, error) {
		var ev Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return false, err
		}
		last = ev.Seq
		return false, nil
	})
	if err != nil {
		return err
	}
	for _, ev := range c.events {
		last++
		ev.Seq = last
		if err := putJSON(c.tx, idKey(eventPrefix, ev.Seq), ev); err != nil {
			return err
		}
		c.next.events.ReplaceOrInsert(ev)
	}
	return nil
}
