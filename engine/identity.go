package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/sysemu/sysemu/engine/store"
)

// SQL Server identity columns (SEMANTICS.md section 3).
//
// A table's identity is declared once (seed, increment, type) and kept in
// the catalog. Its counters are durable records under identPrefix: one per
// node, where node 0 is the table's own counter in management mode "none"
// (every node shares it) and nodes 1..N have their own in modes "manual"
// and "auto" (the replicas of a replicated table each keep one). A counter
// hands values out of a cached block whose upper bound is persisted before
// any value in it is used, so a crash leaves a gap, never a duplicate.

// Identity management modes (@identityrangemanagementoption).
const (
	IdentityNone   = "none"
	IdentityManual = "manual"
	IdentityAuto   = "auto"
)

// PublisherNode is the node that plays the replication Publisher; the
// others are Subscribers.
const PublisherNode = 1

// DefaultIdentityCache is how many values a counter reserves at a time
// (SQL Server caches 1,000 values of an int identity).
const DefaultIdentityCache = 1000

// Identity is a table's identity column as declared. CHECKIDENT never
// changes it: IDENT_SEED and IDENT_INCR report it.
type Identity struct {
	Column string `json:"column"`
	// Type names the column's type in messages ("int", "tinyint", "decimal(5,0)").
	Type string `json:"type"`
	Seed int64  `json:"seed"`
	Incr int64  `json:"incr"`
	// Max is the largest value the type holds.
	Max int64 `json:"max"`
}

// IdentityMax is the largest identity value of a column of SQL type typ
// (as the server renders it: "int", "tinyint unsigned", "decimal(9,0)"),
// and false for a type that cannot be an identity.
func IdentityMax(typ string) (int64, bool) {
	t := strings.ToLower(strings.TrimSpace(typ))
	if strings.HasPrefix(t, "decimal(") || strings.HasPrefix(t, "numeric(") {
		var p, s int
		if _, err := fmt.Sscanf(t[strings.IndexByte(t, '('):], "(%d,%d)", &p, &s); err != nil || s != 0 || p < 1 {
			return 0, false
		}
		if p > 18 {
			return math.MaxInt64, true
		}
		return int64(math.Pow10(p)) - 1, true
	}
	unsigned := strings.HasSuffix(t, " unsigned")
	t = strings.TrimSuffix(t, " unsigned")
	if i := strings.IndexByte(t, '('); i >= 0 {
		t = t[:i]
	}
	bits := map[string]uint{"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "integer": 32, "bigint": 64}[t]
	switch {
	case bits == 0:
		return 0, false
	case bits == 64:
		return math.MaxInt64, true
	case unsigned:
		return 1<<bits - 1, true
	}
	return 1<<(bits-1) - 1, true
}

// validate checks a declaration: sysemu's identity values are never
// negative (go-mysql-server hands AUTO_INCREMENT values out as uint64).
func (id *Identity) validate(table string) error {
	if id.Incr < 1 {
		return fmt.Errorf("%w: identity column '%s' of '%s': increment %d must be positive", ErrInvalid, id.Column, table, id.Incr)
	}
	if id.Seed < 0 || id.Seed > id.Max {
		return fmt.Errorf("%w: identity column '%s' of '%s': seed %d is outside 0..%d", ErrInvalid, id.Column, table, id.Seed, id.Max)
	}
	return nil
}

// IdentityRange is a block of identity values a node holds: Lo < v <= Hi,
// as replication's check constraint states it.
type IdentityRange struct {
	Lo int64 `json:"lo"`
	Hi int64 `json:"hi"`
}

func (r IdentityRange) has(v int64) bool { return v > r.Lo && v <= r.Hi }

// identityPool is a table's range management (MSrepl_identity_range): the
// mode, the range sizes, the threshold, and where the next range starts.
type identityPool struct {
	Mode      string `json:"mode"`
	Range     int64  `json:"range,omitempty"`
	PubRange  int64  `json:"pub_range,omitempty"`
	Threshold int64  `json:"threshold,omitempty"`
	NextSeed  int64  `json:"next_seed,omitempty"`
}

// identityCounter is one node's identity state. Last is the current identity
// value (nil: never used, as SQL Server prints 'NULL'); Fresh says no row
// was inserted since creation or TRUNCATE, so the next value is Last itself
// (or the seed) rather than Last + increment. HW is the highest value
// reserved durably (-1: none).
type identityCounter struct {
	Last   *int64          `json:"last"`
	Fresh  bool            `json:"fresh"`
	HW     int64           `json:"hw"`
	Ranges []IdentityRange `json:"ranges,omitempty"`
}

func newCounter() *identityCounter { return &identityCounter{Fresh: true, HW: -1} }

// next is the value the counter hands out next, and false past MaxInt64.
func (c *identityCounter) next(id *Identity) (int64, bool) {
	switch {
	case c.Last == nil:
		return id.Seed, true
	case c.Fresh:
		return *c.Last, true
	case *c.Last > math.MaxInt64-id.Incr:
		return 0, false
	}
	return *c.Last + id.Incr, true
}

// current is IDENT_CURRENT: the last value, or the seed when never used.
func (c *identityCounter) current(id *Identity) int64 {
	if c.Last == nil {
		return id.Seed
	}
	return *c.Last
}

func (c *identityCounter) set(v int64) { c.Last = &v }

// resetHW sets HW after the counter was rewritten (reseed, mode change):
// the values up to Last are spoken for, unless the counter is Fresh — then
// Last is the next value, not handed out yet, and HW is -1 so the insert
// that takes it reserves a block first (with HW = Last it did not, and
// after a kill -9 the same value was handed out again).
func (c *identityCounter) resetHW() {
	c.HW = -1
	if c.Last != nil && !c.Fresh {
		c.HW = *c.Last
	}
}

func (c *identityCounter) clone() *identityCounter {
	n := *c
	if c.Last != nil {
		n.set(*c.Last)
	}
	n.Ranges = append([]IdentityRange(nil), c.Ranges...)
	return &n
}

func identKey(table uint64) []byte { return idKey(identPrefix, table) }

func counterKey(table uint64, node uint64) []byte {
	return binary.BigEndian.AppendUint32(identKey(table), uint32(node))
}

// tableRuntime is a table's loaded identity state, guarded by mu: the pool
// and the counters of the nodes used so far.
type tableRuntime struct {
	mu       sync.Mutex
	loaded   bool
	pool     identityPool
	counters map[uint64]*identityCounter
}

func (e *Engine) runtime(id uint64) *tableRuntime {
	e.rtMu.Lock()
	defer e.rtMu.Unlock()
	rt := e.rt[id]
	if rt == nil {
		rt = &tableRuntime{}
		e.rt[id] = rt
	}
	return rt
}

func (e *Engine) forgetRuntime(id uint64) {
	e.rtMu.Lock()
	delete(e.rt, id)
	e.rtMu.Unlock()
}

// lockedRuntime returns id's runtime locked, loading it on first use.
func (e *Engine) lockedRuntime(ctx context.Context, id uint64) (*tableRuntime, error) {
	rt := e.runtime(id)
	rt.mu.Lock()
	if rt.loaded {
		return rt, nil
	}
	rt.pool, rt.counters = identityPool{Mode: IdentityNone}, map[uint64]*identityCounter{}
	err := e.st.View(ctx, func(tx store.Tx) error {
		b, err := tx.Get(identKey(id))
		if err != nil || b == nil {
			return err
		}
		if err := json.Unmarshal(b, &rt.pool); err != nil {
			return fmt.Errorf("table %d: corrupt identity pool: %w", id, err)
		}
		return tx.Scan(counterKey(id, 0), store.PrefixEnd(identKey(id)), false, func(k, v []byte) (bool, error) {
			c := newCounter()
			if err := json.Unmarshal(v, c); err != nil {
				return false, fmt.Errorf("table %d: corrupt identity counter: %w", id, err)
			}
			// Values up to HW may have been handed out before a crash: skip them.
			if c.HW >= 0 && (c.Last == nil || *c.Last < c.HW) {
				c.set(c.HW)
				c.Fresh = false
			}
			rt.counters[uint64(binary.BigEndian.Uint32(k[len(k)-4:]))] = c
			return true, nil
		})
	})
	if err != nil {
		rt.mu.Unlock()
		return nil, err
	}
	rt.loaded = true
	return rt, nil
}

// NoIdentity is SQL Server's Msg 7997 for table.
func NoIdentity(table string) error {
	return fmt.Errorf("%w: '%s' does not contain an identity column.", ErrNoIdentity, table)
}

// identityTable returns table id and its identity, or ErrNoIdentity.
func (e *Engine) identityTable(id uint64) (*Table, error) {
	t := e.State().TableByID(id)
	if t == nil {
		return nil, storageErr(id, nil)
	}
	if t.Identity == nil {
		return nil, NoIdentity(t.Name)
	}
	return t, nil
}

// identityTableNamed returns db.name with its identity, or ErrNoSuchTable
// or ErrNoIdentity.
func (e *Engine) identityTableNamed(db, name string) (*Table, error) {
	t := e.State().Table(db, name)
	if t == nil {
		return nil, fmt.Errorf("%w: %s.%s", ErrNoSuchTable, db, name)
	}
	if t.Identity == nil {
		return nil, NoIdentity(t.Name)
	}
	return t, nil
}

// counterNode is the counter a session on node uses: node 0 in mode none.
func (e *Engine) counterNode(rt *tableRuntime, node uint64) (uint64, error) {
	if rt.pool.Mode == IdentityNone {
		return 0, nil
	}
	if n := e.State().Node(node); n == nil {
		return 0, fmt.Errorf("%w: %d", ErrNoSuchNode, node)
	}
	return node, nil
}

// counter returns node's counter; a node without one starts from the
// table's own counter (as a new replica starts from the published table).
func (rt *tableRuntime) counter(node uint64) *identityCounter {
	c := rt.counters[node]
	if c == nil {
		if base := rt.counters[0]; node != 0 && base != nil {
			c = base.clone()
			c.HW, c.Ranges = -1, nil
		} else {
			c = newCounter()
		}
		rt.counters[node] = c
	}
	return c
}

// IdentityCaller is who asks for identity values: the session's node, and
// whether ranges may be reassigned automatically on the Publisher (the
// inserting user has the admin privilege, as db_owner in SQL Server). Admin
// is asked only when it matters; nil means no.
type IdentityCaller struct {
	Node  uint64
	Admin func() bool
}

// replication is who assigns ranges automatically, in SYS_ID_EVENTS.
var replication = Actor{User: "replication"}

func (w IdentityCaller) mayAssign() bool {
	return w.Node != PublisherNode || w.Admin != nil && w.Admin()
}

// NextIdentity hands out the identity value of one inserted row of table id.
// given is the value the statement supplies (nil: none); a supplied value
// above the current one becomes the current one. first is set on the
// statement's first row: automatic ranges are maintained before it (the
// replication trigger runs once per statement). Values are never given back.
func (e *Engine) NextIdentity(ctx context.Context, id uint64, who IdentityCaller, first bool, given *int64) (int64, error) {
	t, err := e.identityTable(id)
	if err != nil {
		return 0, err
	}
	ident := t.Identity
	rt, err := e.lockedRuntime(ctx, id)
	if err != nil {
		return 0, err
	}
	defer rt.mu.Unlock()
	node, err := e.counterNode(rt, who.Node)
	if err != nil {
		return 0, err
	}
	if first {
		if _, err := e.reassign(ctx, replication, t, rt, node, who.mayAssign()); err != nil {
			return 0, err
		}
	}
	c := rt.counter(node)
	auto := rt.pool.Mode == IdentityAuto
	if given != nil {
		v := *given
		if auto && !inRanges(c.Ranges, v) {
			return 0, rangeConflict(t)
		}
		// A supplied value at or above the next one moves the counter past it.
		if next, ok := c.next(ident); !ok || v >= next {
			c.set(v)
			c.Fresh = false
		}
		if v > c.HW {
			_, err := e.reserve(ctx, id, node, c, v, ident, identityLimit(ident, c, auto), true)
			return v, err
		}
		return v, nil
	}
	v, ok := c.next(ident)
	if ok && auto && len(c.Ranges) > 0 && v > c.Ranges[0].Hi && len(c.Ranges) > 1 && v <= c.Ranges[1].Lo {
		// The primary range is used up: go on in the secondary.
		v, ok = c.Ranges[1].Lo+ident.Incr, c.Ranges[1].Lo <= math.MaxInt64-ident.Incr
	}
	if !ok || v > ident.Max {
		return 0, overflow(ident)
	}
	if auto && !inRanges(c.Ranges, v) {
		return 0, rangeConflict(t)
	}
	c.set(v)
	c.Fresh = false
	if v > c.HW {
		if v, err = e.reserve(ctx, id, node, c, v, ident, identityLimit(ident, c, auto), false); err != nil {
			return 0, err
		}
	}
	return v, nil
}

// identityLimit is the highest value c may ever reserve: the end of its
// ranges in mode auto, else the type's maximum.
func identityLimit(ident *Identity, c *identityCounter, auto bool) int64 {
	if auto && len(c.Ranges) > 0 {
		return c.Ranges[len(c.Ranges)-1].Hi
	}
	return ident.Max
}

// reserve persists a block of values from v up (at most the cache size, at
// most limit) before v is used: after a crash the counter resumes above
// the block, so a value is never handed out twice. The block starts above
// the stored high-water mark: when nodes of a cluster share the counter,
// one may have reserved past v; then the block (and, unless v was given
// explicitly, v itself) moves above that node's block. It returns v.
func (e *Engine) reserve(ctx context.Context, id, node uint64, c *identityCounter, v int64, ident *Identity, limit int64, given bool) (int64, error) {
	want := v
	err := e.st.Update(ctx, func(tx store.Tx) error {
		v = want
		b, err := tx.Get(counterKey(id, node))
		if err != nil {
			return err
		}
		if b != nil {
			stored := newCounter()
			if err := json.Unmarshal(b, stored); err != nil {
				return fmt.Errorf("table %d: corrupt identity counter: %w", id, err)
			}
			switch {
			case stored.HW < v:
			case !given:
				if stored.HW > math.MaxInt64-ident.Incr || stored.HW+ident.Incr > limit {
					return overflow(ident)
				}
				v = stored.HW + ident.Incr
			case c.Last == nil || *c.Last < stored.HW:
				// The next automatic value goes above the other node's block.
				c.set(stored.HW)
				c.Fresh = false
			}
		}
		if !given {
			c.set(v)
		}
		c.HW = v
		if n := int64(e.identityCache - 1); limit > v {
			c.HW = limit
			if (limit-v)/ident.Incr > n {
				c.HW = v + n*ident.Incr
			}
		}
		if c.Last != nil {
			c.HW = max(c.HW, *c.Last)
		}
		return putJSON(tx, counterKey(id, node), c)
	})
	return v, err
}

// identityMoved bumps table id's identity generation inside change ch,
// after its counters were rewritten (reseed, TRUNCATE, ranges): other nodes
// of a cluster drop their cached blocks of the table when they see it.
func (ch *change) identityMoved(id uint64) error {
	t := ch.next.TableByID(id)
	if t == nil {
		return nil
	}
	n := *t
	n.IdentityGen++
	ch.next.putTable(&n)
	return putTableRecord(ch.tx, &n)
}

// identityGen is table id's identity generation (0 for no table).
func (s *State) identityGen(id uint64) uint64 {
	if t := s.TableByID(id); t != nil {
		return t.IdentityGen
	}
	return 0
}

func inRanges(rs []IdentityRange, v int64) bool {
	for _, r := range rs {
		if r.has(v) {
			return true
		}
	}
	return false
}

func overflow(id *Identity) error {
	return fmt.Errorf("%w: Arithmetic overflow error converting IDENTITY to data type %s.", ErrIdentityOverflow, id.Type)
}

// rangeConflict is SQL Server's Msg 548.
func rangeConflict(t *Table) error {
	return fmt.Errorf("%w: The insert failed. It conflicted with an identity range check constraint in database '%s', replicated table '%s', column '%s'. "+
		"If the identity column is automatically managed by replication, update the range as follows: for the Publisher, execute sp_adjustpublisheridentityrange; "+
		"for the Subscriber, run the Distribution Agent or the Merge Agent.", ErrIdentityRange, t.Database, t.Name, t.Identity.Column)
}

// IdentityStatementDone runs the replication trigger after a statement that
// inserted into table id committed: a node whose primary range reached the
// threshold gets its next range.
func (e *Engine) IdentityStatementDone(ctx context.Context, id uint64, who IdentityCaller) error {
	t, err := e.identityTable(id)
	if err != nil {
		return err
	}
	rt, err := e.lockedRuntime(ctx, id)
	if err != nil {
		return err
	}
	defer rt.mu.Unlock()
	node, err := e.counterNode(rt, who.Node)
	if err != nil {
		return err
	}
	_, err = e.reassign(ctx, replication, t, rt, node, who.mayAssign())
	return err
}

// reassign maintains node's ranges in mode auto, if allowed:
//   - a node without ranges, or whose current value left them (a reseed),
//     gets a primary and a secondary range above every value used so far;
//   - a node whose primary range reached the threshold (or that already
//     draws from its secondary) switches to the secondary, leaving the rest
//     of the primary unused (a new range leaves a gap), and gets a new
//     secondary.
//
// It reports whether the ranges changed.
func (e *Engine) reassign(ctx context.Context, a Actor, t *Table, rt *tableRuntime, node uint64, allowed bool) (bool, error) {
	p := rt.pool
	if p.Mode != IdentityAuto || !allowed {
		return false, nil
	}
	ident := t.Identity
	c := rt.counter(node).clone()
	size := p.Range
	if node == PublisherNode {
		size = p.PubRange
	}
	last := ident.Seed - ident.Incr
	if c.Last != nil {
		last = *c.Last
	}
	take := func() (IdentityRange, bool) {
		if p.NextSeed > ident.Max-size {
			return IdentityRange{}, false
		}
		r := IdentityRange{Lo: p.NextSeed, Hi: p.NextSeed + size}
		p.NextSeed = r.Hi
		return r, true
	}
	rs := c.Ranges
	switch {
	case len(rs) == 0 || last < rs[0].Lo || last > rs[len(rs)-1].Hi:
		p.NextSeed = max(p.NextSeed, last)
		a, ok1 := take()
		b, ok2 := take()
		if !ok1 || !ok2 {
			return false, nil
		}
		c.Ranges = []IdentityRange{a, b}
		c.set(a.Lo)
	case last > rs[0].Hi || rs[0].Usage(last) >= p.Threshold:
		b, ok := take()
		if !ok {
			return false, nil
		}
		if len(rs) == 1 {
			c.Ranges = []IdentityRange{rs[0], b}
			break
		}
		c.Ranges = []IdentityRange{rs[1], b}
		if last < rs[1].Lo {
			c.set(rs[1].Lo)
		}
	default:
		return false, nil
	}
	if c.Last == nil {
		c.set(last)
	}
	c.Fresh, c.HW = false, *c.Last
	err := e.update(ctx, func(ch *change) error {
		if err := ch.identityMoved(t.ID); err != nil {
			return err
		}
		for _, r := range c.Ranges {
			if !inRanges(rs, r.Hi) {
				ch.event(a, EventIdentityRange, identitySeq(t, node), r.Lo, r.Hi)
			}
		}
		if err := putJSON(ch.tx, identKey(t.ID), &p); err != nil {
			return err
		}
		return putJSON(ch.tx, counterKey(t.ID, node), c)
	})
	if err != nil {
		return false, err
	}
	rt.pool, rt.counters[node] = p, c
	return true, nil
}

// Usage is how much of r is used, in percent, when last is the current value.
func (r IdentityRange) Usage(last int64) int64 {
	if last <= r.Lo || r.Hi <= r.Lo {
		return 0
	}
	if last >= r.Hi {
		return 100
	}
	return int64(float64(last-r.Lo) * 100 / float64(r.Hi-r.Lo))
}

// IdentityInfo is what IDENT_CURRENT, IDENT_SEED and IDENT_INCR report for a
// session on a node.
type IdentityInfo struct {
	Identity
	Current int64
	Next    int64
}

// IdentityOf returns table id's identity as a session on node sees it.
func (e *Engine) IdentityOf(ctx context.Context, id, node uint64) (IdentityInfo, error) {
	t, err := e.identityTable(id)
	if err != nil {
		return IdentityInfo{}, err
	}
	c, err := e.counterOf(ctx, t, node)
	if err != nil {
		return IdentityInfo{}, err
	}
	next, _ := c.next(t.Identity)
	return IdentityInfo{Identity: *t.Identity, Current: c.current(t.Identity), Next: next}, nil
}

// counterOf returns a copy of the counter a session on node uses.
func (e *Engine) counterOf(ctx context.Context, t *Table, node uint64) (*identityCounter, error) {
	rt, err := e.lockedRuntime(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	defer rt.mu.Unlock()
	n, err := e.counterNode(rt, node)
	if err != nil {
		return nil, err
	}
	return rt.counter(n).clone(), nil
}

// PeekAutoIncrement returns the next AUTO_INCREMENT value of table id on
// this node without using it (INFORMATION_SCHEMA.TABLES.AUTO_INCREMENT).
func (e *Engine) PeekAutoIncrement(ctx context.Context, id uint64) (uint64, error) {
	info, err := e.IdentityOf(ctx, id, e.node)
	return uint64(max(info.Next, 0)), err
}

// SetAutoIncrement makes n the next value of table id on this node (ALTER
// TABLE ... AUTO_INCREMENT = n).
func (e *Engine) SetAutoIncrement(ctx context.Context, a Actor, id, n uint64) error {
	t, err := e.identityTable(id)
	if err != nil {
		return err
	}
	if n > uint64(t.Identity.Max) {
		return overflow(t.Identity)
	}
	return e.reseed(ctx, a, t, e.node, func(c *identityCounter) bool {
		if c.Last == nil || c.Fresh {
			c.set(int64(n))
		} else {
			c.set(int64(n) - t.Identity.Incr)
		}
		return true
	})
}

// reseed changes node's counter of t under the table's lock: fn edits a
// copy and says whether it changed anything. A change is written durably,
// drops the cached block and is logged in SYS_ID_EVENTS.
func (e *Engine) reseed(ctx context.Context, a Actor, t *Table, node uint64, fn func(*identityCounter) bool) error {
	rt, err := e.lockedRuntime(ctx, t.ID)
	if err != nil {
		return err
	}
	defer rt.mu.Unlock()
	n, err := e.counterNode(rt, node)
	if err != nil {
		return err
	}
	c := rt.counter(n).clone()
	old := c.current(t.Identity)
	if !fn(c) {
		return nil
	}
	c.resetHW()
	err = e.update(ctx, func(ch *change) error {
		ch.event(a, EventIdentityReseed, identitySeq(t, n), old, c.current(t.Identity))
		return putJSON(ch.tx, counterKey(t.ID, n), c)
	})
	if err == nil {
		rt.counters[n] = c
	}
	return err
}

// identitySeq names a table's identity counter in SYS_ID_EVENTS.
func identitySeq(t *Table, node uint64) string {
	s := "identity:" + t.Database + "." + t.Name
	if node != 0 {
		s += "@node" + strconv.FormatUint(node, 10)
	}
	return s
}

// CheckIdent option forms.
const (
	CheckIdentDefault  = ""
	CheckIdentNoReseed = "NORESEED"
	CheckIdentReseed   = "RESEED"
)

// CheckIdent is DBCC CHECKIDENT on db.name for a session on node. mode is
// one of the CheckIdent forms; value is RESEED's new value (nil: none);
// colMax returns MAX(identity column), nil for an empty table. It returns
// the Msg 7998 line, which shows the values before any change.
func (e *Engine) CheckIdent(ctx context.Context, a Actor, db, name string, node uint64, mode string, value *int64, colMax func() (*int64, error)) (string, error) {
	t, err := e.identityTableNamed(db, name)
	if err != nil {
		return "", err
	}
	if value != nil && (*value < 0 || *value > t.Identity.Max) {
		return "", overflow(t.Identity)
	}
	var msg string
	if mode == CheckIdentReseed && value != nil {
		err := e.reseed(ctx, a, t, node, func(c *identityCounter) bool {
			msg = fmt.Sprintf("Checking identity information: current identity value '%s'.", showValue(c.Last))
			c.set(*value)
			return true
		})
		return msg, err
	}
	m, err := colMax()
	if err != nil {
		return "", err
	}
	err = e.reseed(ctx, a, t, node, func(c *identityCounter) bool {
		msg = fmt.Sprintf("Checking identity information: current identity value '%s', current column value '%s'.", showValue(c.Last), showValue(m))
		// Without NORESEED the value is raised to MAX(column), never lowered.
		if mode == CheckIdentNoReseed || m == nil || c.Last != nil && *c.Last >= *m {
			return false
		}
		c.set(*m)
		c.Fresh = false
		return true
	})
	return msg, err
}

func showValue(p *int64) string {
	if p == nil {
		return "NULL"
	}
	return strconv.FormatInt(*p, 10)
}

// ManageIdentityRange sets table db.name's range management (sp_addmergearticle's
// @identityrangemanagementoption). auto gives the Publisher (node 1) a
// primary and a secondary range of pubRange values and every other node
// two of rng values, above the current value; threshold is a percent.
// manual keeps a counter per node, reseeded by hand; none goes back to one
// counter above every value any node used.
func (e *Engine) ManageIdentityRange(ctx context.Context, a Actor, db, name, mode string, rng, pubRange, threshold int64) error {
	t, err := e.identityTableNamed(db, name)
	if err != nil {
		return err
	}
	mode = strings.ToLower(strings.TrimSpace(mode))
	switch {
	case mode != IdentityNone && mode != IdentityManual && mode != IdentityAuto:
		return fmt.Errorf("%w: identity range management option '%s': want 'auto', 'manual' or 'none'", ErrInvalid, mode)
	case mode == IdentityAuto && (rng < t.Identity.Incr || pubRange < t.Identity.Incr):
		return fmt.Errorf("%w: identity ranges of %d and %d values: each must hold at least one increment (%d)", ErrInvalid, rng, pubRange, t.Identity.Incr)
	case mode == IdentityAuto && (threshold < 1 || threshold > 100):
		return fmt.Errorf("%w: threshold %d: want a percent from 1 to 100", ErrInvalid, threshold)
	}
	rt, err := e.lockedRuntime(ctx, t.ID)
	if err != nil {
		return err
	}
	defer rt.mu.Unlock()
	ident := t.Identity
	// The highest value any counter reached: new counters start there.
	base := rt.counter(0).clone()
	for _, c := range rt.counters {
		if c.Last != nil && (base.Last == nil || *c.Last > *base.Last) {
			base.set(*c.Last)
			base.Fresh = base.Fresh && c.Fresh
		}
	}
	pool := identityPool{Mode: mode, NextSeed: rt.pool.NextSeed}
	var events []Event // the ranges assigned
	counters := map[uint64]*identityCounter{}
	switch mode {
	case IdentityNone:
		base.resetHW()
		counters[0] = base
	case IdentityManual, IdentityAuto:
		for _, n := range e.State().Nodes() {
			c := base.clone()
			c.Ranges = nil
			c.resetHW()
			counters[n.ID] = c
		}
	}
	if mode == IdentityAuto {
		pool.Range, pool.PubRange, pool.Threshold = rng, pubRange, threshold
		last := ident.Seed - ident.Incr
		if base.Last != nil {
			last = *base.Last
		}
		pool.NextSeed = max(pool.NextSeed, last)
		for _, n := range e.State().Nodes() {
			size := rng
			if n.ID == PublisherNode {
				size = pubRange
			}
			if pool.NextSeed > ident.Max-2*size {
				return overflow(ident)
			}
			c := counters[n.ID]
			c.Ranges = []IdentityRange{{pool.NextSeed, pool.NextSeed + size}, {pool.NextSeed + size, pool.NextSeed + 2*size}}
			for _, r := range c.Ranges {
				events = append(events, Event{Sequence: identitySeq(t, n.ID), Old: r.Lo, New: r.Hi})
			}
			c.set(pool.NextSeed)
			c.Fresh, c.HW = false, pool.NextSeed
			pool.NextSeed += 2 * size
		}
	}
	err = e.update(ctx, func(ch *change) error {
		if err := ch.identityMoved(t.ID); err != nil {
			return err
		}
		if err := deletePrefix(ch.tx, identKey(t.ID)); err != nil {
			return err
		}
		if err := putJSON(ch.tx, identKey(t.ID), &pool); err != nil {
			return err
		}
		for n, c := range counters {
			if err := putJSON(ch.tx, counterKey(t.ID, n), c); err != nil {
				return err
			}
		}
		ch.event(a, EventIdentityRanges, identitySeq(t, 0), base.current(ident), pool.NextSeed)
		for _, ev := range events {
			ch.event(a, EventIdentityRange, ev.Sequence, ev.Old, ev.New)
		}
		return nil
	})
	if err == nil {
		rt.pool, rt.counters = pool, counters
	}
	return err
}

// AdjustIdentityRange is sp_adjustpublisheridentityrange for db.name: the
// Publisher gets new ranges if its current value reached the threshold or
// left its ranges (after a restore and a reseed). It reports whether the
// ranges changed.
func (e *Engine) AdjustIdentityRange(ctx context.Context, a Actor, db, name string) (bool, error) {
	t, err := e.identityTableNamed(db, name)
	if err != nil {
		return false, err
	}
	rt, err := e.lockedRuntime(ctx, t.ID)
	if err != nil {
		return false, err
	}
	defer rt.mu.Unlock()
	if rt.pool.Mode != IdentityAuto {
		return false, fmt.Errorf("%w: '%s' does not have automatic identity range management", ErrInvalid, t.Name)
	}
	return e.reassign(ctx, a, t, rt, PublisherNode, true)
}

// IdentityNodeState is one counter of a table, for SYS_IDENTITIES and
// SYS_IDENTITY_RANGES.
type IdentityNodeState struct {
	Node    uint64 // 0: the table's own counter (mode none)
	Current int64
	Last    *int64
	Next    int64
	Ranges  []IdentityRange
}

// IdentityState is a table's identity management and counters.
type IdentityState struct {
	Mode      string
	Range     int64
	PubRange  int64
	Threshold int64
	NextSeed  int64
	Nodes     []IdentityNodeState
}

// IdentityStateOf returns table id's identity management and the counters
// in use: node 0 in mode none, every node otherwise.
func (e *Engine) IdentityStateOf(ctx context.Context, id uint64) (IdentityState, error) {
	t, err := e.identityTable(id)
	if err != nil {
		return IdentityState{}, err
	}
	rt, err := e.lockedRuntime(ctx, id)
	if err != nil {
		return IdentityState{}, err
	}
	defer rt.mu.Unlock()
	p := rt.pool
	s := IdentityState{Mode: p.Mode, Range: p.Range, PubRange: p.PubRange, Threshold: p.Threshold, NextSeed: p.NextSeed}
	nodes := []uint64{0}
	if p.Mode != IdentityNone {
		nodes = nodes[:0]
		for _, n := range e.State().Nodes() {
			nodes = append(nodes, n.ID)
		}
	}
	for _, n := range nodes {
		c := rt.counter(n)
		next, _ := c.next(t.Identity)
		ns := IdentityNodeState{Node: n, Current: c.current(t.Identity), Next: next, Ranges: append([]IdentityRange(nil), c.Ranges...)}
		if c.Last != nil {
			ns.Last = new(int64)
			*ns.Last = *c.Last
		}
		s.Nodes = append(s.Nodes, ns)
	}
	return s, nil
}

// FlushIdentities writes every loaded counter's current value back and
// releases its cached block, so a clean shutdown leaves no gap.
func (e *Engine) FlushIdentities(ctx context.Context) error {
	e.rtMu.Lock()
	rts := make(map[uint64]*tableRuntime, len(e.rt))
	for id, rt := range e.rt {
		rts[id] = rt
	}
	e.rtMu.Unlock()
	for id, rt := range rts {
		rt.mu.Lock()
		err := func() error {
			if !rt.loaded || e.State().TableByID(id) == nil {
				return nil
			}
			for n, c := range rt.counters {
				if c.Last == nil || c.HW <= *c.Last {
					continue
				}
				if err := e.releaseBlock(ctx, id, n, c); err != nil {
					return err
				}
			}
			return nil
		}()
		rt.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// releaseBlock gives the unused rest of c's block back, unless another node
// of a cluster reserved past it since (its high-water mark must stay).
func (e *Engine) releaseBlock(ctx context.Context, id, node uint64, c *identityCounter) error {
	hw := c.HW
	return e.st.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Get(counterKey(id, node))
		if err != nil || b == nil {
			return err
		}
		stored := newCounter()
		if err := json.Unmarshal(b, stored); err != nil {
			return fmt.Errorf("table %d: corrupt identity counter: %w", id, err)
		}
		if stored.HW != hw {
			return nil
		}
		c.HW = *c.Last
		return putJSON(tx, counterKey(id, node), c)
	})
}

// resetIdentity is TRUNCATE's reset inside change c: every counter of t
// forgets its value, so the next row gets the seed (or a RESEED value).
// Ranges and the pool stay.
func (c *change) resetIdentity(t *Table, rt *tableRuntime) (map[uint64]*identityCounter, error) {
	out := map[uint64]*identityCounter{}
	for n, old := range rt.counters {
		nc := newCounter()
		nc.Ranges = old.Ranges
		if err := putJSON(c.tx, counterKey(t.ID, n), nc); err != nil {
			return nil, err
		}
		out[n] = nc
	}
	if _, ok := out[0]; !ok {
		out[0] = newCounter()
		if err := putJSON(c.tx, counterKey(t.ID, 0), out[0]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// createIdentity declares t's identity inside CreateTable's change: a fresh
// table counter in mode none. Records an earlier table with this ID left
// (a metadata restore keeps identity counters) are removed first.
func (c *change) createIdentity(t *Table, ident *Identity) error {
	if err := deletePrefix(c.tx, identKey(t.ID)); err != nil || ident == nil {
		return err
	}
	if err := ident.validate(t.Name); err != nil {
		return err
	}
	t.Identity = ident
	if err := putJSON(c.tx, identKey(t.ID), &identityPool{Mode: IdentityNone}); err != nil {
		return err
	}
	return putJSON(c.tx, counterKey(t.ID, 0), newCounter())
}

// RangeKind names a node's range by its position: the primary, then the
// secondary.
func RangeKind(i int) string {
	if i == 0 {
		return "primary"
	}
	return "secondary"
}
