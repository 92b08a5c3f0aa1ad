package engine

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sysemu/sysemu/engine/store"
)

// XuguDB's global stores (SYS_GSTORES). Every storage object has a global
// store number (GSTO_NO) from one global sequence: each partition, the table
// itself, each secondary index and each LOB column, in that order. A store has
// up to three versions (replicas) on distinct nodes, each with a store number
// from its node's local sequence. The stores are part of their table's
// catalog entry, so a table and its stores are written in one transaction.

// Store kinds. The numbers are stored: never renumber.
const (
	StorePartition uint8 = 1
	StoreTable     uint8 = 2
	StoreIndex     uint8 = 3
	StoreLOB       uint8 = 4
	StoreSysHeap   uint8 = 5
	StoreSysIndex  uint8 = 6
	StoreSysLOB    uint8 = 7
)

// Store is one global store of a table.
type Store struct {
	No   uint32 `json:"no"`
	Kind uint8  `json:"kind"`
	// Part is the partition, index or column position the store belongs to.
	Part uint16 `json:"part,omitempty"`
	// Head is the first store of the chain this store was split off; 0 for
	// a chain's head. Next is the following store of the chain (0: tail).
	Head uint32 `json:"head,omitempty"`
	Next uint32 `json:"next,omitempty"`
	// Copies is STORE_NUM: how many versions the store was created with.
	Copies   uint8     `json:"copies"`
	Nodes    [3]uint32 `json:"nodes"`
	StoreNos [3]uint32 `json:"store_nos"`
	// Epoch is the number of node events that had happened when the store
	// was placed; later ones change its versions' states.
	Epoch uint32 `json:"epoch"`
}

// HeadNo is the GSTO_NO of the store's chain head.
func (s *Store) HeadNo() uint32 {
	if s.Head == 0 {
		return s.No
	}
	return s.Head
}

// StoreRange is a block of reserved gsto_nos that the bootstrap catalog fills
// with system stores.
type StoreRange struct {
	Lo, Hi uint32
	Kind   uint8
}

// Sequence names of the store numbers: one global, one per node.
const SeqGstoNo = "gsto_no"

const storeNoPrefix = "store_no-"

func storeNoSeq(node uint32) string { return storeNoPrefix + strconv.FormatUint(uint64(node), 10) }

// DefaultCopyNum is a table's replica count unless configured.
const DefaultCopyNum = 3

// DefaultStoreRows is how many rows a store holds before it splits.
const DefaultStoreRows = 100000

var copyNumRE = regexp.MustCompile(`(?i)\bcopy_num\s*=\s*(\d+)`)

// copyNum is the replica count a table asks for: `copy_num=N` in its
// comment, else the server default, capped by the node count. Asking for more
// replicas than there are nodes is refused.
func (c *change) copyNum(comment string) (int, error) {
	nodes := len(c.old.Nodes())
	want := c.e.copyNum
	explicit := false
	if m := copyNumRE.FindStringSubmatch(comment); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n < 1 || n > 3 {
			return 0, fmt.Errorf("%w: copy_num must be 1, 2 or 3, got %s", ErrInvalid, m[1])
		}
		want, explicit = n, true
	}
	if want > nodes {
		if explicit {
			return 0, fmt.Errorf("%w: copy_num=%d is above the node count %d", ErrTooManyReplicas, want, nodes)
		}
		want = nodes
	}
	return want, nil
}

// isLOB reports whether a column type is stored in LOB stores.
func isLOB(typ string) bool {
	t := strings.ToLower(typ)
	return strings.Contains(t, "blob") || strings.Contains(t, "text") || strings.HasPrefix(t, "json")
}

// counter draws n consecutive numbers from a durable counter whose stored
// value (u64 little-endian, like every sequence) is the next free number.
// The new value is written in the same transaction, so a number is never
// handed out twice, not after a crash either.
func (c *change) counter(name string, initial, n uint64) (uint64, error) {
	v, err := readCounter(c.tx, name, initial)
	if err != nil {
		return 0, err
	}
	if v+n > math.MaxUint32 {
		return 0, fmt.Errorf("%w: %s", ErrSequenceExhausted, name)
	}
	if err := c.tx.Put(seqKey(name), binary.LittleEndian.AppendUint64(nil, v+n)); err != nil {
		return 0, err
	}
	c.next.Sequences[name] = v + n
	return v, nil
}

func readCounter(tx store.Tx, name string, initial uint64) (uint64, error) {
	b, err := tx.Get(seqKey(name))
	if err != nil || b == nil {
		return initial, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("sequence %s: stored value has %d bytes, want 8", name, len(b))
	}
	return max(binary.LittleEndian.Uint64(b), initial), nil
}

// storeNoInitial is node's first store number for user stores: the system
// stores on it took the ones below.
func (s *State) storeNoInitial(node uint32) uint64 { return uint64(s.sysStores[node]) + 1 }

// place gives a new store its versions: distinct online nodes holding the
// fewest versions (ties: lower node ID), version 1 being the primary. A
// version that finds no online node is left unplaced (0,0) and shows invalid.
func (c *change) place(st *Store, copies int, load map[uint64]int) error {
	var online []*Node
	for _, n := range c.old.Nodes() {
		if n.Online {
			online = append(online, n)
		}
	}
	slices.SortStableFunc(online, func(a, b *Node) int { return cmp.Compare(load[a.ID], load[b.ID]) })
	st.Copies, st.Epoch = uint8(copies), uint32(len(c.next.nodeEvents))
	for k := 0; k < copies && k < len(online); k++ {
		id := uint32(online[k].ID)
		no, err := c.counter(storeNoSeq(id), c.old.storeNoInitial(id), 1)
		if err != nil {
			return err
		}
		st.Nodes[k], st.StoreNos[k] = id, uint32(no)
		load[uint64(id)]++
	}
	return nil
}

// addStores allocates t's stores: partitions first, then the table itself,
// then each secondary index and each LOB column (XuguDB's order: after 216,
// ten hash partitions get 217..226 and the table 227).
func (c *change) addStores(t *Table) error {
	var ws []storeWant
	if t.Partition != nil {
		for p := 0; p < t.Partition.Count; p++ {
			ws = append(ws, storeWant{StorePartition, p})
		}
	}
	ws = append(ws, storeWant{StoreTable, 0})
	for i := range t.Indexes {
		ws = append(ws, storeWant{StoreIndex, i})
	}
	for i, col := range t.Columns {
		if isLOB(col.Type) {
			ws = append(ws, storeWant{StoreLOB, i})
		}
	}
	return c.newStores(t, ws...)
}

// storeWant is a store to allocate: its kind and position.
type storeWant struct {
	kind uint8
	part int
}

func (c *change) newStores(t *Table, ws ...storeWant) error {
	first, err := c.counter(SeqGstoNo, uint64(c.old.Profile.FirstUserGsto), uint64(len(ws)))
	if err != nil {
		return err
	}
	load := cloneLoad(c.next.nodeLoad)
	t.Stores = slices.Clip(t.Stores)
	for i, w := range ws {
		st := Store{No: uint32(first) + uint32(i), Kind: w.kind, Part: uint16(w.part)}
		if err := c.place(&st, t.CopyNum, load); err != nil {
			return err
		}
		t.Stores = append(t.Stores, st)
	}
	return nil
}

// dataHead is the head store holding the rows of partition p (the table's
// own store when it is not partitioned).
func (t *Table) dataHead(p int) *Store {
	kind := StoreTable
	if t.Partition != nil {
		kind = StorePartition
	} else {
		p = 0
	}
	for i := range t.Stores {
		s := &t.Stores[i]
		if s.Kind == kind && int(s.Part) == p && s.Head == 0 {
			return s
		}
	}
	return nil
}

// Chain returns the tail and split count of the chain st belongs to.
func (t *Table) Chain(st *Store) (tail uint32, splits int) {
	head := st.HeadNo()
	tail = head
	for i := range t.Stores {
		if s := &t.Stores[i]; s.Head == head {
			splits++
			tail = max(tail, s.No)
		}
	}
	return tail, splits
}

// split appends a new store to the chain headed by head: the old tail's NEXT
// points to it, it becomes the tail. It returns the new store's number.
func (c *change) split(t *Table, head uint32) (uint32, error) {
	var h *Store
	tail := head
	for i := range t.Stores {
		s := &t.Stores[i]
		if s.No == head {
			h = s
		}
		if s.HeadNo() == head {
			tail = max(tail, s.No)
		}
	}
	if h == nil {
		return 0, fmt.Errorf("table %d has no store %d", t.ID, head)
	}
	kind, part := h.Kind, int(h.Part)
	if err := c.newStores(t, storeWant{kind, part}); err != nil {
		return 0, err
	}
	n := &t.Stores[len(t.Stores)-1]
	n.Head = head
	for i := range t.Stores {
		if t.Stores[i].No == tail {
			t.Stores[i].Next = n.No
		}
	}
	return n.No, nil
}

// storeStat is the counters kept beside a table's rows for one store: for a
// chain's head, the chain's rows, its tail and member count; for every store
// its LSN (committed writes).
type storeStat struct {
	Rows    uint64
	LSN     uint64
	Tail    uint32
	Members uint32
}

func storeStatKey(table uint64, gsto uint32) []byte {
	return binary.BigEndian.AppendUint32(append(storageKey(table), 's'), gsto)
}

func getStoreStat(tx store.Tx, table uint64, gsto uint32) (storeStat, error) {
	b, err := tx.Get(storeStatKey(table, gsto))
	if err != nil || b == nil {
		return storeStat{Tail: gsto, Members: 1}, err
	}
	if len(b) != 24 {
		return storeStat{}, fmt.Errorf("table %d store %d: corrupt counters", table, gsto)
	}
	return storeStat{
		Rows: binary.BigEndian.Uint64(b), LSN: binary.BigEndian.Uint64(b[8:]),
		Tail: binary.BigEndian.Uint32(b[16:]), Members: binary.BigEndian.Uint32(b[20:]),
	}, nil
}

func putStoreStat(tx store.Tx, table uint64, gsto uint32, s storeStat) error {
	b := binary.BigEndian.AppendUint64(nil, s.Rows)
	b = binary.BigEndian.AppendUint64(b, s.LSN)
	b = binary.BigEndian.AppendUint32(b, s.Tail)
	b = binary.BigEndian.AppendUint32(b, s.Members)
	return tx.Put(storeStatKey(table, gsto), b)
}

func bumpLSN(tx store.Tx, table uint64, gsto uint32) error {
	s, err := getStoreStat(tx, table, gsto)
	if err != nil {
		return err
	}
	s.LSN++
	return putStoreStat(tx, table, gsto, s)
}

// errNeedSplit sends a write that fills a store to the path that may split it.
var errNeedSplit = errors.New("store full: split needed")

// storeWrites books one statement's writes on t's stores: each touched
// partition's chain counts its rows and its tail's LSN grows by one; every
// index and LOB store's LSN grows by one. A chain over its capacity is split
// by splitter, or, with splitter nil, the write fails with errNeedSplit.
func storeWrites(tx store.Tx, t *Table, deltas map[int]int64, capacity uint64, splitter func(head uint32) (uint32, error)) error {
	parts := make([]int, 0, len(deltas))
	for p := range deltas {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	for _, p := range parts {
		h := t.dataHead(p)
		if h == nil {
			return fmt.Errorf("table %d: no store for partition %d", t.ID, p)
		}
		s, err := getStoreStat(tx, t.ID, h.No)
		if err != nil {
			return err
		}
		s.Rows = uint64(max(int64(s.Rows)+deltas[p], 0))
		for s.Rows > capacity*uint64(s.Members) {
			if splitter == nil {
				return errNeedSplit
			}
			no, err := splitter(h.No)
			if err != nil {
				return err
			}
			s.Tail, s.Members = no, s.Members+1
		}
		if s.Tail == h.No {
			s.LSN++
		} else if err := bumpLSN(tx, t.ID, s.Tail); err != nil {
			return err
		}
		if err := putStoreStat(tx, t.ID, h.No, s); err != nil {
			return err
		}
	}
	if len(parts) == 0 {
		return nil
	}
	for i := range t.Stores {
		if k := t.Stores[i].Kind; k == StoreIndex || k == StoreLOB {
			if err := bumpLSN(tx, t.ID, t.Stores[i].No); err != nil {
				return err
			}
		}
	}
	return nil
}

// StoreStat is what SYS_GSTORES shows of a store's counters.
type StoreStat struct {
	Rows uint64 // rows of the chain (on its head)
	LSN  uint64
}

// StoreStats returns the counters of every store of table id, by GSTO_NO.
func (e *Engine) StoreStats(ctx context.Context, id uint64) (map[uint32]StoreStat, error) {
	out := map[uint32]StoreStat{}
	prefix := append(storageKey(id), 's')
	err := e.st.View(ctx, func(tx store.Tx) error {
		return tx.Scan(prefix, store.PrefixEnd(prefix), false, func(k, v []byte) (bool, error) {
			if len(k) != len(prefix)+4 || len(v) != 24 {
				return true, nil
			}
			out[binary.BigEndian.Uint32(k[len(prefix):])] = StoreStat{
				Rows: binary.BigEndian.Uint64(v), LSN: binary.BigEndian.Uint64(v[8:]),
			}
			return true, nil
		})
	})
	return out, err
}

// storesForOldTables gives the tables of a data directory written before
// stores existed their stores, once, in one transaction.
func (e *Engine) storesForOldTables(ctx context.Context) error {
	if len(tablesWithoutStores(e.State())) == 0 {
		return nil
	}
	return e.update(ctx, func(c *change) error { return c.addMissingStores() })
}

func tablesWithoutStores(s *State) []*Table {
	var old []*Table
	s.RangeTables(0, 0, false, func(t *Table) bool {
		if !t.System && len(t.Stores) == 0 {
			old = append(old, t)
		}
		return true
	})
	return old
}

// addMissingStores gives every user table without stores its stores.
func (c *change) addMissingStores() error {
	for _, t := range tablesWithoutStores(c.next) {
		n := *t
		copies, err := c.copyNum("")
		if err != nil {
			return err
		}
		n.CopyNum = copies
		if err := c.addStores(&n); err != nil {
			return err
		}
		if err := putTableRecord(c.tx, &n); err != nil {
			return err
		}
		c.next.putTable(&n)
	}
	return nil
}

// truncateStores empties t's chains (they keep their stores) and counts the
// truncation as one write on every store.
func truncateStores(tx store.Tx, t *Table) error {
	for i := range t.Stores {
		s, err := getStoreStat(tx, t.ID, t.Stores[i].No)
		if err != nil {
			return err
		}
		s.Rows, s.LSN = 0, s.LSN+1
		if err := putStoreStat(tx, t.ID, t.Stores[i].No, s); err != nil {
			return err
		}
	}
	return nil
}
