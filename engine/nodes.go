package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/sysemu/sysemu/engine/store"
)

// Node is one emulated storage node (SYS_CLUSTERS). Standalone, a server
// emulates nodes 1..N in one process; a node ID is never reused, not even
// after the node is dropped.
type Node struct {
	ID      uint64 `json:"id"`
	Addr    string `json:"addr"`
	Port    int    `json:"port"`
	Online  bool   `json:"online"`
	Dropped bool   `json:"dropped,omitempty"`
	// HTTP is the admin API address a cluster node registered.
	HTTP string `json:"http,omitempty"`
}

// Node-event kinds: what happened to a node. The store versions' states are
// the replay of these events over each store's placement (see versions).
const (
	NodeWentOffline = "offline"
	NodeCameOnline  = "online"
	NodeWasDropped  = "drop"
)

// NodeEvent is one entry of the durable node log.
type NodeEvent struct {
	Seq  uint64 `json:"seq"`
	Node uint64 `json:"node"`
	Kind string `json:"kind"`
}

// Event kinds of node changes in SYS_ID_EVENTS (NEW_VALUE is the node ID).
const (
	EventNodeOffline = "node_offline"
	EventNodeOnline  = "node_online"
	EventNodeDrop    = "node_drop"
)

// DefaultNodes is the node count of a new data directory.
const DefaultNodes = 3

// xuguPort is XuguDB's default listener port; emulated node k shows
// 127.0.0.1:(xuguPort+k-1).
const xuguPort = 5138

func emulatedNode(id uint64) *Node {
	return &Node{ID: id, Addr: "127.0.0.1", Port: xuguPort + int(id) - 1, Online: true}
}

// ensureNodes creates nodes 1..want that do not exist yet (want 0: as stored,
// DefaultNodes for a new data directory). Asking for fewer nodes than exist is
// refused: their stores would lose their placement.
func ensureNodes(tx store.Tx, have []*Node, want uint64) error {
	var top uint64
	for _, n := range have {
		top = max(top, n.ID)
	}
	if want == 0 {
		if top > 0 {
			return nil
		}
		want = DefaultNodes
	}
	if want < top {
		return fmt.Errorf("%w: the data directory has nodes 1..%d; start with --nodes %d or more", ErrInvalid, top, top)
	}
	for id := top + 1; id <= want; id++ {
		if err := putJSON(tx, idKey(nodePrefix, id), emulatedNode(id)); err != nil {
			return err
		}
	}
	return nil
}

// Nodes returns the nodes that were not dropped, by ID.
func (s *State) Nodes() []*Node {
	var out []*Node
	for _, n := range s.nodes {
		if !n.Dropped {
			out = append(out, n)
		}
	}
	return out
}

// Node returns the node with the given ID (nil if unknown or dropped).
func (s *State) Node(id uint64) *Node {
	for _, n := range s.nodes {
		if n.ID == id && !n.Dropped {
			return n
		}
	}
	return nil
}

// NodeStores is the number of store versions placed on node id.
func (s *State) NodeStores(id uint64) int { return s.nodeLoad[id] }

// NodeOffline marks node id offline: every store version it holds turns
// invalid, and a store whose primary it held promotes its first valid
// replica. Taking the last online node offline is refused.
func (e *Engine) NodeOffline(ctx context.Context, a Actor, id uint64) error {
	return e.nodeChange(ctx, a, id, NodeWentOffline, func(s *State, n *Node) error {
		if !n.Online {
			return errUnchanged
		}
		for _, o := range s.Nodes() {
			if o.Online && o.ID != id {
				return nil
			}
		}
		return fmt.Errorf("%w: node %d is the last online node", ErrLastOnlineNode, id)
	})
}

// NodeOnline brings node id back: its invalid versions become valid replicas.
func (e *Engine) NodeOnline(ctx context.Context, a Actor, id uint64) error {
	return e.nodeChange(ctx, a, id, NodeCameOnline, func(_ *State, n *Node) error {
		if n.Online {
			return errUnchanged
		}
		return nil
	})
}

// NodeDrop removes an offline node for good: the versions it held become
// absent ((0,0), state 00). Its ID is never given to another node.
func (e *Engine) NodeDrop(ctx context.Context, a Actor, id uint64) error {
	return e.nodeChange(ctx, a, id, NodeWasDropped, func(_ *State, n *Node) error {
		if n.Online {
			return fmt.Errorf("%w: node %d is online; CALL node_offline(%d) first", ErrNodeOnline, id, id)
		}
		return nil
	})
}

// errUnchanged ends a node change that has nothing to do, successfully.
var errUnchanged = errors.New("unchanged")

var nodeEventKinds = map[string]string{
	NodeWentOffline: EventNodeOffline,
	NodeCameOnline:  EventNodeOnline,
	NodeWasDropped:  EventNodeDrop,
}

func (e *Engine) nodeChange(ctx context.Context, a Actor, id uint64, kind string, check func(*State, *Node) error) error {
	err := e.update(ctx, func(c *change) error {
		n := c.old.Node(id)
		if n == nil {
			return fmt.Errorf("%w: %d", ErrNoSuchNode, id)
		}
		if err := check(c.old, n); err != nil {
			return err
		}
		return c.nodeEvent(a, n, kind)
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// nodeEvent records kind happening to node n (as it should be stored,
// apart from the change kind makes).
func (c *change) nodeEvent(a Actor, n *Node, kind string) error {
	m := *n
	switch kind {
	case NodeWentOffline:
		m.Online = false
	case NodeCameOnline:
		m.Online = true
	case NodeWasDropped:
		m.Dropped = true
	}
	id := m.ID
	if err := putJSON(c.tx, idKey(nodePrefix, id), &m); err != nil {
		return err
	}
	ev := NodeEvent{Seq: uint64(len(c.old.nodeEvents)) + 1, Node: id, Kind: kind}
	if err := putJSON(c.tx, idKey(nodeEventPrefix, ev.Seq), &ev); err != nil {
		return err
	}
	c.next.setNode(&m)
	c.next.nodeEvents = append(slices.Clip(c.old.nodeEvents), ev)
	if kind == NodeWasDropped {
		delete(c.next.nodeLoad, id) // clone() copied the map
	}
	c.event(a, nodeEventKinds[kind], "", int64(id), int64(id))
	return nil
}

func (s *State) setNode(n *Node) {
	nodes := make([]*Node, 0, len(s.nodes)+1)
	for _, o := range s.nodes {
		if o.ID != n.ID {
			nodes = append(nodes, o)
		}
	}
	nodes = append(nodes, n)
	slices.SortFunc(nodes, func(a, b *Node) int { return cmp.Compare(a.ID, b.ID) })
	s.nodes = nodes
}

func cloneLoad(m map[uint64]int) map[uint64]int {
	c := make(map[uint64]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Version states, two bits each in STORE_STA (version 1 in the low bits).
const (
	VersionAbsent  = 0 // 00: the version does not exist
	VersionPrimary = 1 // 01
	VersionReplica = 2 // 10
	VersionInvalid = 3 // 11
)

// Version is one replica of a store as SYS_GSTORES shows it.
type Version struct {
	Node, StoreNo uint32
	State         uint8
}

// Versions returns the current versions of store st: its placement replayed
// through the node events that happened after it was placed.
//
// Placement gives version 1 the primary, the others replicas, and a version
// that found no online node (node 0) is invalid. Then, per event on a node
// holding a version: offline makes the version invalid, and if it was the
// primary the first valid replica becomes primary; online makes an invalid
// version a valid replica (a store left with no primary keeps none, as the
// version that comes back has missed writes); drop makes it absent (0,0).
func (s *State) Versions(st *Store) [3]Version {
	var vs [3]Version
	for k := 0; k < int(st.Copies) && k < 3; k++ {
		vs[k] = Version{Node: st.Nodes[k], StoreNo: st.StoreNos[k], State: VersionReplica}
		switch {
		case st.Nodes[k] == 0:
			vs[k].State = VersionInvalid
		case k == 0:
			vs[k].State = VersionPrimary
		}
	}
	if int(st.Epoch) >= len(s.nodeEvents) {
		return vs
	}
	for _, ev := range s.nodeEvents[st.Epoch:] {
		for k := range vs {
			v := &vs[k]
			if v.Node != uint32(ev.Node) || v.State == VersionAbsent {
				continue
			}
			switch ev.Kind {
			case NodeWentOffline:
				if v.State == VersionInvalid {
					continue
				}
				wasPrimary := v.State == VersionPrimary
				v.State = VersionInvalid
				if wasPrimary {
					promote(&vs)
				}
			case NodeCameOnline:
				if v.State == VersionInvalid {
					v.State = VersionReplica
				}
			case NodeWasDropped:
				*v = Version{}
			}
		}
	}
	return vs
}

func promote(vs *[3]Version) {
	for k := range vs {
		if vs[k].State == VersionReplica {
			vs[k].State = VersionPrimary
			return
		}
	}
}

// StoreSta packs the versions' states into STORE_STA.
func StoreSta(vs [3]Version) uint8 {
	return vs[0].State | vs[1].State<<2 | vs[2].State<<4
}
