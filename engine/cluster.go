package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/sysemu/sysemu/engine/pgfiles"
	"github.com/sysemu/sysemu/engine/store"
)

// Several engines (the nodes of a cluster) may share one store. Each keeps
// its State in memory; the stored metadata revision (metaRevKey) tells
// whose State is current:
//   - every metadata change checks, inside its transaction, that the
//     revision it read is the one its State reflects, and bumps it (update);
//   - every change also writes what it did to the State's keys as an entry
//     of the change log (logPrefix, keyed by the revision it made, the last
//     logKeep kept), so that a node whose State is behind catches up by
//     applying the entries it missed — in the same transaction, which then
//     runs its change on the caught-up State (group.go), or in Refresh, which
//     a cluster node calls when its watch sees the revision move. A node
//     reloads the whole State only when an entry it needs is gone (trimmed,
//     too big to log, or a writer that logs nothing, such as Open);
//   - the revision also carries the sequence epoch, bumped when a sequence
//     jumps or is rewritten: a node that sees it move drops its cached ID
//     ranges, as a restarted GreptimeDB metasrv would.
//
// The revision key stays every change's one point of conflict on purpose:
// a change decides on the State as a whole (a name is free, a node is
// online, the least loaded nodes), and what CREATE TABLE writes would
// conflict anyway — every CREATE takes the next GSTO_NO and STORE_NOs from
// cluster-wide counters. What a conflict costs is one more round trip (the
// retry's first read brings the log entries it missed), never a reload.

// metaRev is the value at metaRevKey: 16 bytes, big-endian rev then epoch.
type metaRev struct {
	rev, seqEpoch uint64
}

// errStaleState reports, inside update, that another engine changed the
// metadata after this one loaded its State.
var errStaleState = errors.New("state is stale")

func readMeta(tx store.Tx) (metaRev, error) {
	b, err := tx.Get(metaRevKey)
	if err != nil {
		return metaRev{}, err
	}
	return decodeMeta(b)
}

func decodeMeta(b []byte) (metaRev, error) {
	switch {
	case b == nil:
		return metaRev{}, nil
	case len(b) != 16:
		return metaRev{}, fmt.Errorf("corrupt metadata revision %x", b)
	}
	return metaRev{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}, nil
}

func writeMeta(tx store.Tx, m metaRev) error {
	return tx.Put(metaRevKey, binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, m.rev), m.seqEpoch))
}

func bumpMeta(tx store.Tx) error {
	m, err := readMeta(tx)
	if err != nil {
		return err
	}
	m.rev++
	return writeMeta(tx, m)
}

// MetaRevKey is the store key a cluster node watches to know when to
// Refresh.
func MetaRevKey() []byte { return append([]byte(nil), metaRevKey...) }

// Reflects reports whether the State already reflects v, a value of
// MetaRevKey (as a watch delivers it): then Refresh has nothing to do.
func (e *Engine) Reflects(v []byte) bool {
	m, err := decodeMeta(v)
	return err == nil && m.rev <= e.State().meta.rev
}

// RefreshTo is Refresh for a watch that saw the revision become v: nothing
// if the State reflects v, or does once this node's running change ends
// (it catches up inside its own transaction).
func (e *Engine) RefreshTo(ctx context.Context, v []byte) error {
	if e.Reflects(v) {
		return nil
	}
	e.mu.Lock()
	reflects := e.Reflects(v)
	e.mu.Unlock()
	if reflects {
		return nil
	}
	return e.Refresh(ctx)
}

// Refresh brings the State up to the stored revision if another engine on
// the same store changed the metadata: it applies the change log's entries
// it missed, or reloads everything if they are gone. It reads the revision
// and the log past the State in one transaction (two etcd requests), and
// waits for this node's own changes only to publish what it read.
func (e *Engine) Refresh(ctx context.Context) error {
	base := e.State()
	var s *State
	full := false
	err := e.st.View(ctx, func(tx store.Tx) error {
		if err := prefetch(tx, [][]byte{metaRevKey}, [][2][]byte{logRange(base)}); err != nil {
			return err
		}
		m, err := readMeta(tx)
		if err != nil || m.rev <= base.meta.rev {
			return err
		}
		s, err = e.catchUp(tx, base, m)
		full = s == nil
		return err
	})
	if err != nil || s == nil && !full {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if full {
		return e.reload(ctx)
	}
	e.adopt(s)
	return nil
}

// reload replaces the State with the stored one. e.mu must be held.
func (e *Engine) reload(ctx context.Context) error {
	var s *State
	err := e.st.View(ctx, func(tx store.Tx) (err error) {
		s, err = e.load(tx, e.state.Load().Profile)
		return err
	})
	if err != nil {
		return err
	}
	e.log.WithField("revision", s.meta.rev).Info(logReloaded)
	e.adopt(s)
	return nil
}

// logReloaded is what a full reload of the State logs (the change log
// could not bring it up to date).
const logReloaded = "metadata reloaded in full"

// adopt publishes s, a State read from the store, unless the published one
// is as new (a View served by a member that lags, when etcd has no quorum,
// may be older): cached ID ranges are dropped if the sequence epoch moved,
// and identity runtimes of tables that are gone or whose counters another
// node rewrote. e.mu must be held.
func (e *Engine) adopt(s *State) {
	old := e.state.Load()
	if s.meta.rev <= old.meta.rev {
		return
	}
	s.Revision = old.Revision + 1
	if s.meta.seqEpoch != old.meta.seqEpoch {
		for _, seq := range e.seqs {
			seq.reset()
		}
		e.log.WithField(logSeq, SeqTableID).Info("sequence moved on another node: cached ranges dropped")
	}
	e.state.Store(s)
	e.rtMu.Lock()
	ids := make([]uint64, 0, len(e.rt))
	for id := range e.rt {
		ids = append(ids, id)
	}
	e.rtMu.Unlock()
	for _, id := range ids {
		if s.TableByID(id) == nil || s.identityGen(id) != old.identityGen(id) {
			e.forgetRuntime(id)
		}
	}
}

// The change log. Entry rev (logKey) holds what the change that made
// revision rev wrote to the keys a State is loaded from (stateKey): a flag
// byte, then per key its uvarint length and bytes, 'p' or 'd', and for a put
// the value's uvarint length and bytes. The flag logReload instead says the
// writes were too many to log: a node that needs the entry reloads.
const (
	logKeep     = 512
	logMaxBytes = 256 << 10
	logWrites   = 0
	logReload   = 1
)

func logKey(rev uint64) []byte { return idKey(logPrefix, rev) }

// logRange is where the entries after s's revision are.
func logRange(s *State) [2][]byte {
	return [2][]byte{logKey(s.meta.rev + 1), store.PrefixEnd(logPrefix)}
}

// stateKey reports whether the State is loaded from key (see load).
func stateKey(k []byte) bool {
	return bytes.HasPrefix(k, metaPrefix) && !bytes.HasPrefix(k, identPrefix) || bytes.HasPrefix(k, eventPrefix)
}

// logTx records the writes a change makes to the State's keys.
type logTx struct {
	store.Tx
	entry []byte
}

func (t *logTx) Put(key, value []byte) error {
	if stateKey(key) {
		t.entry = append(binary.AppendUvarint(t.entry, uint64(len(key))), key...)
		t.entry = append(binary.AppendUvarint(append(t.entry, 'p'), uint64(len(value))), value...)
	}
	return t.Tx.Put(key, value)
}

func (t *logTx) Delete(key []byte) error {
	if stateKey(key) {
		t.entry = append(append(binary.AppendUvarint(t.entry, uint64(len(key))), key...), 'd')
	}
	return t.Tx.Delete(key)
}

// Prefetch and PrefetchNext pass through to the store's transaction.
func (t *logTx) Prefetch(keys [][]byte, ranges [][2][]byte) error {
	return prefetch(t.Tx, keys, ranges)
}

func (t *logTx) PrefetchNext(keys [][]byte, ranges [][2][]byte) {
	if p, ok := t.Tx.(prefetcher); ok {
		p.PrefetchNext(keys, ranges)
	}
}

// writeLog writes the entry of revision rev and drops the one logKeep before.
func writeLog(tx store.Tx, rev uint64, entry []byte) error {
	v := append([]byte{logWrites}, entry...)
	if len(v) > logMaxBytes {
		v = []byte{logReload}
	}
	if err := tx.Put(logKey(rev), v); err != nil {
		return err
	}
	if rev > logKeep {
		return tx.Delete(logKey(rev - logKeep))
	}
	return nil
}

// catchUp returns base brought to revision m by the log entries after it,
// read in tx, or nil if one is missing or says to reload.
func (e *Engine) catchUp(tx store.Tx, base *State, m metaRev) (*State, error) {
	s := base.clone()
	s.meta = m
	next := base.meta.rev + 1
	r := logRange(base)
	err := tx.Scan(r[0], r[1], false, func(k, v []byte) (bool, error) {
		if binary.BigEndian.Uint64(k[len(logPrefix):]) != next || len(v) == 0 || v[0] != logWrites {
			return false, nil
		}
		ok, err := e.applyEntry(s, v[1:])
		if err != nil || !ok {
			return false, err
		}
		next++
		return next <= m.rev, nil
	})
	if err != nil || next != m.rev+1 {
		return nil, err
	}
	return s, nil
}

// applyEntry applies one log entry's writes to s, as load would have read
// them; false if one needs a reload (a node's keys, an unknown key).
func (e *Engine) applyEntry(s *State, b []byte) (bool, error) {
	field := func() ([]byte, error) {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return nil, errors.New("corrupt change log entry")
		}
		f := b[w : w+int(n)]
		b = b[w+int(n):]
		return f, nil
	}
	for len(b) > 0 {
		k, err := field()
		if err != nil {
			return false, err
		}
		if len(b) == 0 {
			return false, errors.New("corrupt change log entry")
		}
		var v []byte
		kind := b[0]
		b = b[1:]
		if kind == 'p' {
			if v, err = field(); err != nil {
				return false, err
			}
		}
		if ok, err := e.applyKey(s, k, v, kind == 'p'); err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// applyKey sets key k of s to v (put) or removes it.
func (e *Engine) applyKey(s *State, k, v []byte, put bool) (bool, error) {
	id := func(prefix []byte) (uint64, bool) {
		if len(k) != len(prefix)+8 {
			return 0, false
		}
		return binary.BigEndian.Uint64(k[len(prefix):]), true
	}
	decode := func(x any) error {
		if err := json.Unmarshal(v, x); err != nil {
			return fmt.Errorf("decode %q: %w", k, err)
		}
		return nil
	}
	switch {
	case bytes.HasPrefix(k, tablePrefix):
		n, ok := id(tablePrefix)
		if !ok {
			return false, nil
		}
		if !put {
			if t := s.TableByID(n); t != nil {
				s.deleteTable(t)
			}
			break
		}
		t, err := newTableDecoder().decodeRecord(k, v)
		if err != nil {
			return false, err
		}
		s.putTable(t)
	case bytes.HasPrefix(k, dbPrefix):
		n, ok := id(dbPrefix)
		if !ok {
			return false, nil
		}
		var was *Database
		s.dbs.Ascend(func(d *Database) bool {
			if d.ID == n && !d.System {
				was = d
			}
			return was == nil
		})
		if was != nil {
			s.dbs.Delete(was)
		}
		if put {
			d := new(Database)
			if err := decode(d); err != nil {
				return false, err
			}
			s.dbs.ReplaceOrInsert(d)
		}
	case bytes.HasPrefix(k, eventPrefix):
		n, ok := id(eventPrefix)
		if !ok {
			return false, nil
		}
		s.events.Delete(&Event{Seq: n})
		if put {
			ev := new(Event)
			if err := decode(ev); err != nil {
				return false, err
			}
			s.events.ReplaceOrInsert(ev)
		}
	case bytes.HasPrefix(k, relmapPrefix):
		n, ok := id(relmapPrefix)
		if !ok {
			return false, nil
		}
		maps := make(map[uint64][]pgfiles.Mapping, len(s.relmaps)+1)
		for k, m := range s.relmaps {
			maps[k] = m
		}
		delete(maps, n)
		if put {
			var m []pgfiles.Mapping
			if err := decode(&m); err != nil {
				return false, err
			}
			maps[n] = m
		}
		s.relmaps = maps
	case bytes.HasPrefix(k, seqPrefix):
		return true, e.applySequence(s, string(k[len(seqPrefix):]), v, put)
	case bytes.HasPrefix(k, switchPrefix):
		if name := string(k[len(switchPrefix):]); slices.Contains([]string{SwitchRecovery, SwitchPauseProcedure, SwitchMaintenance}, name) {
			s.Switches[name] = put
		}
	default:
		return false, nil // nodes, their events, the profile: rare, reload
	}
	return true, nil
}

// applySequence sets s's high-water mark of the named sequence as load
// reads it from stored value v (absent unless put).
func (e *Engine) applySequence(s *State, name string, v []byte, put bool) error {
	var initial uint64
	if seq, ok := e.seqs[name]; ok {
		initial = seq.initial
	} else if name == SeqGstoNo {
		initial = uint64(s.Profile.FirstUserGsto)
	} else if node, err := strconv.ParseUint(strings.TrimPrefix(name, storeNoPrefix), 10, 32); err == nil && strings.HasPrefix(name, storeNoPrefix) {
		initial = s.storeNoInitial(uint32(node))
	} else {
		return nil
	}
	if !put {
		s.Sequences[name] = initial
		return nil
	}
	if len(v) != 8 {
		return fmt.Errorf("sequence %s: stored value has %d bytes, want 8", name, len(v))
	}
	s.Sequences[name] = max(binary.LittleEndian.Uint64(v), initial)
	return nil
}

// prefetcher is a store transaction that reads keys and the first page of
// key ranges in one round trip, and serves later reads of them from it;
// PrefetchNext has them read with the commit, for the next transaction
// (engine/store/etcd). Other stores need not implement it.
type prefetcher interface {
	Prefetch(keys [][]byte, ranges [][2][]byte) error
	PrefetchNext(keys [][]byte, ranges [][2][]byte)
}

func prefetch(tx store.Tx, keys [][]byte, ranges [][2][]byte) error {
	if p, ok := tx.(prefetcher); ok {
		return p.Prefetch(keys, ranges)
	}
	return nil
}

// LiveKey is node id's liveness key. In cluster mode the node holds it under
// an etcd lease while it runs; its value is a NodeAddrs in JSON.
func LiveKey(id uint64) []byte { return idKey(livePrefix, id) }

// NodeAddrs is what a live node registers: its MySQL and HTTP addresses.
type NodeAddrs struct {
	MySQL string `json:"mysql"`
	HTTP  string `json:"http,omitempty"`
}

// clusterActor is who node-state changes driven by liveness are logged as.
var clusterActor = Actor{User: "cluster"}

// SyncNode brings node id's NODE_STATE in line with its liveness key, in one
// transaction that reads the key: present, the node turns online (and its
// registered address is shown); absent, it turns offline and every store
// version it holds turns invalid, as node_offline does. The last online node
// is left online.
func (e *Engine) SyncNode(ctx context.Context, id uint64) error {
	// Most calls find nothing to do: check without the metadata lock first.
	var live []byte
	err := e.st.View(ctx, func(tx store.Tx) (err error) {
		live, err = tx.Get(LiveKey(id))
		return err
	})
	if err != nil {
		return err
	}
	if n := e.State().Node(id); n != nil && n.Online == (live != nil) && (live == nil || registered(n, live)) {
		return nil
	}
	err = e.update(ctx, func(c *change) error {
		n := c.old.Node(id)
		if n == nil {
			return fmt.Errorf("%w: %d", ErrNoSuchNode, id)
		}
		b, err := c.tx.Get(LiveKey(id))
		if err != nil {
			return err
		}
		if b == nil {
			if !n.Online {
				return errUnchanged
			}
			for _, o := range c.old.Nodes() {
				if o.Online && o.ID != id {
					return c.nodeEvent(clusterActor, n, NodeWentOffline)
				}
			}
			return errUnchanged
		}
		m, err := withAddrs(n, b)
		if err != nil {
			return err
		}
		if n.Online {
			if *m == *n {
				return errUnchanged
			}
			c.next.setNode(m)
			return putJSON(c.tx, idKey(nodePrefix, id), m)
		}
		return c.nodeEvent(clusterActor, m, NodeCameOnline)
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// withAddrs returns a copy of n with the addresses of its liveness key.
func withAddrs(n *Node, live []byte) (*Node, error) {
	var addrs NodeAddrs
	if err := json.Unmarshal(live, &addrs); err != nil {
		return nil, fmt.Errorf("node %d: corrupt liveness key: %w", n.ID, err)
	}
	m := *n
	if host, port, err := net.SplitHostPort(addrs.MySQL); err == nil {
		m.Addr = host
		m.Port, _ = strconv.Atoi(port)
	}
	m.HTTP = addrs.HTTP
	return &m, nil
}

// registered reports whether n shows the addresses of its liveness key.
func registered(n *Node, live []byte) bool {
	m, err := withAddrs(n, live)
	return err == nil && *m == *n
}
