package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/sysemu/sysemu/engine/store"
)

// Several engines (the nodes of a cluster) may share one store. Each keeps
// its State in memory; the stored metadata revision (metaRevKey) tells
// whose State is current:
//   - every metadata change checks, inside its transaction, that the
//     revision it read is the one its State was loaded at, and bumps it
//     (update); a stale State is reloaded and the change runs again;
//   - a node that learns the revision moved (cluster mode watches the key)
//     calls Refresh, which reloads the State;
//   - the revision also carries the sequence epoch, bumped when a sequence
//     jumps or is rewritten: a node that sees it move drops its cached ID
//     ranges, as a restarted GreptimeDB metasrv would.

// metaRev is the value at metaRevKey: 16 bytes, big-endian rev then epoch.
type metaRev struct {
	rev, seqEpoch uint64
}

// errStaleState reports, inside update, that another engine changed the
// metadata after this one loaded its State.
var errStaleState = errors.New("state is stale")

func readMeta(tx store.Tx) (metaRev, error) {
	b, err := tx.Get(metaRevKey)
	switch {
	case err != nil || b == nil:
		return metaRev{}, err
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

// Refresh reloads the State if another engine on the same store changed the
// metadata since it was loaded. It is cheap when nothing changed.
func (e *Engine) Refresh(ctx context.Context) error {
	var m metaRev
	err := e.st.View(ctx, func(tx store.Tx) (err error) {
		m, err = readMeta(tx)
		return err
	})
	if err != nil || m == e.State().meta {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reload(ctx)
}

// reload replaces the State with the stored one. e.mu must be held.
func (e *Engine) reload(ctx context.Context) error {
	old := e.state.Load()
	var s *State
	err := e.st.View(ctx, func(tx store.Tx) (err error) {
		s, err = e.load(tx, old.Profile)
		return err
	})
	if err != nil {
		return err
	}
	if s.meta.rev <= old.meta.rev {
		// Nothing new, or an older revision (a View served by a member
		// that lags, when etcd has no quorum): keep what we have.
		return nil
	}
	s.Revision = old.Revision + 1
	if s.meta.seqEpoch != old.meta.seqEpoch {
		for _, seq := range e.seqs {
			seq.reset()
		}
		e.log.WithField(logSeq, SeqTableID).Info("sequence moved on another node: cached ranges dropped")
	}
	e.state.Store(s)
	// Identity runtimes of tables that are gone, or whose counters another
	// node rewrote, are dropped: the next use loads them afresh.
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
