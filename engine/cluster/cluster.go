// Package cluster runs an engine as one node of a cluster that shares its
// store in etcd: it registers the node under a lease (its liveness key, which
// holds the node's addresses), keeps the lease alive, and watches etcd so
// that the engine refreshes its State when another node changes the metadata
// and moves a node offline or online when its liveness key goes or comes.
//
// It owns no data: everything shared lives in the store (engine/store/etcd);
// what liveness does to NODE_STATE and STORE_STA is the engine's (SyncNode).
// It must not import go-mysql-server.
package cluster

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/engine/store/etcd"
)

// DefaultTTL is the liveness lease's default time to live.
const DefaultTTL = 10 * time.Second

// resyncEvery is how often a node re-reads everything it watches, in case
// a watch missed an event (a broken connection, no quorum for a while).
const resyncEvery = 5 * time.Second

// ErrNodeIDInUse is returned by Join when another live node holds the ID.
var ErrNodeIDInUse = errors.New("node id is held by a live node")

// Connect opens a client of the etcd endpoints (comma-separated).
func Connect(endpoints string) (*clientv3.Client, error) {
	var eps []string
	for _, ep := range strings.Split(endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("cluster: no etcd endpoints in %q", endpoints)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("cluster: etcd %s: %w", endpoints, err)
	}
	return cli, nil
}

// The Engine methods a node drives.
type Engine interface {
	NodeID() uint64
	State() *engine.State
	Refresh(ctx context.Context) error
	RefreshTo(ctx context.Context, metaRev []byte) error
	SyncNode(ctx context.Context, id uint64) error
}

// Config configures Join.
type Config struct {
	// TTL is the liveness lease's time to live (default DefaultTTL): a node
	// that stops renewing it is offline that long after.
	TTL time.Duration
	// Addrs are the addresses the node registers (shown in SYS_CLUSTERS).
	Addrs engine.NodeAddrs
}

// Node is this process's membership in the cluster.
type Node struct {
	eng  Engine
	st   *etcd.Store
	cli  *clientv3.Client
	log  logrus.FieldLogger
	cfg  Config
	key  string // the liveness key in etcd
	val  string
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu    sync.Mutex
	lease clientv3.LeaseID
}

// Join registers eng's node under a lease, brings it online and starts
// watching. It fails with ErrNodeIDInUse if a live node holds the ID.
func Join(ctx context.Context, eng Engine, st *etcd.Store, log logrus.FieldLogger, cfg Config) (*Node, error) {
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < time.Second {
		return nil, fmt.Errorf("cluster: node TTL %v: want at least 1s", cfg.TTL)
	}
	val, err := json.Marshal(cfg.Addrs)
	if err != nil {
		return nil, err
	}
	n := &Node{eng: eng, st: st, cli: st.Client(), log: log, cfg: cfg,
		key: st.Key(engine.LiveKey(eng.NodeID())), val: string(val)}
	if err := n.register(ctx); err != nil {
		return nil, err
	}
	if err := eng.SyncNode(ctx, eng.NodeID()); err != nil {
		n.revoke()
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	n.wg.Go(func() { n.keepAlive(wctx) })
	n.wg.Go(func() { n.watch(wctx) })
	return n, nil
}

// register takes the liveness key under a new lease, unless another node
// holds it.
func (n *Node) register(ctx context.Context) error {
	ttl := int64((n.cfg.TTL + time.Second - 1) / time.Second)
	lease, err := n.cli.Grant(ctx, ttl)
	if err != nil {
		return fmt.Errorf("cluster: lease: %w", err)
	}
	resp, err := n.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(n.key), "=", 0)).
		Then(clientv3.OpPut(n.key, n.val, clientv3.WithLease(lease.ID))).
		Else(clientv3.OpGet(n.key)).Commit()
	if err != nil {
		_, _ = n.cli.Revoke(context.Background(), lease.ID)
		return fmt.Errorf("cluster: register node %d: %w", n.eng.NodeID(), err)
	}
	if !resp.Succeeded {
		_, _ = n.cli.Revoke(context.Background(), lease.ID)
		holder := ""
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			holder = string(kvs[0].Value)
		}
		return fmt.Errorf("cluster: %w: node %d is registered by %s (it is released when that node stops, or %v after it dies)",
			ErrNodeIDInUse, n.eng.NodeID(), holder, n.cfg.TTL)
	}
	n.mu.Lock()
	n.lease = lease.ID
	n.mu.Unlock()
	return nil
}

// keepAlive renews the lease; when it is lost (etcd unreachable for longer
// than the TTL) the node registers again as soon as it can.
func (n *Node) keepAlive(ctx context.Context) {
	for ctx.Err() == nil {
		n.mu.Lock()
		lease := n.lease
		n.mu.Unlock()
		if lease != 0 {
			ch, err := n.cli.KeepAlive(ctx, lease)
			if err == nil {
				for range ch {
				}
			}
			if ctx.Err() != nil {
				return
			}
			n.log.WithField("node", n.eng.NodeID()).Warn("liveness lease lost; registering again")
			n.mu.Lock()
			n.lease = 0
			n.mu.Unlock()
		}
		rctx, cancel := context.WithTimeout(ctx, n.cfg.TTL)
		err := n.register(rctx)
		if err == nil {
			err = n.eng.SyncNode(rctx, n.eng.NodeID())
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			n.log.WithError(err).Warn("register")
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
	}
}

// watch follows the metadata revision and the liveness keys, and re-reads
// both every resyncEvery.
func (n *Node) watch(ctx context.Context) {
	liveAll := n.st.Key(engine.LiveKey(0))
	livePrefix := liveAll[:len(liveAll)-8]
	metaKey := n.st.Key(engine.MetaRevKey())
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		meta := n.cli.Watch(wctx, metaKey, clientv3.WithCreatedNotify())
		live := n.cli.Watch(wctx, livePrefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		// Re-read only once both watches exist: a change between the read
		// and the watches' start would otherwise wait for the next resync.
		if watching(meta) && watching(live) {
			n.resync(ctx)
		} else {
			meta, live = nil, nil // closed or failed: start over below
		}
		tick := time.NewTicker(resyncEvery)
	events:
		for meta != nil {
			select {
			case resp, ok := <-meta:
				if !ok || resp.Err() != nil {
					break events
				}
				// One refresh covers every change queued meanwhile; none
				// is needed for the node's own changes, or when one of its
				// changes caught up already.
				last := lastValue(resp)
				for drained := false; !drained; {
					select {
					case r, ok := <-meta:
						if !ok || r.Err() != nil {
							break events
						}
						if v := lastValue(r); v != nil {
							last = v
						}
					default:
						drained = true
					}
				}
				if last == nil {
					n.refresh(ctx)
				} else if err := n.eng.RefreshTo(ctx, last); err != nil && ctx.Err() == nil {
					n.log.WithError(err).Warn("refresh")
				}
			case resp, ok := <-live:
				if !ok || resp.Err() != nil {
					break events
				}
				for _, ev := range resp.Events {
					k := ev.Kv.Key
					if len(k) == len(livePrefix)+8 {
						n.sync(ctx, binary.BigEndian.Uint64(k[len(livePrefix):]))
					}
				}
			case <-tick.C:
				n.resync(ctx)
			case <-ctx.Done():
				break events
			}
		}
		tick.Stop()
		cancel()
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// lastValue is the value the last event of resp put, or nil.
func lastValue(resp clientv3.WatchResponse) []byte {
	if len(resp.Events) == 0 || resp.Events[len(resp.Events)-1].Type != clientv3.EventTypePut {
		return nil
	}
	return resp.Events[len(resp.Events)-1].Kv.Value
}

// watching waits for a watch's creation notice.
func watching(ch clientv3.WatchChan) bool {
	resp, ok := <-ch
	return ok && resp.Err() == nil && resp.Created
}

func (n *Node) refresh(ctx context.Context) {
	if err := n.eng.Refresh(ctx); err != nil && ctx.Err() == nil {
		n.log.WithError(err).Warn("refresh")
	}
}

func (n *Node) sync(ctx context.Context, id uint64) {
	if err := n.eng.SyncNode(ctx, id); err != nil && ctx.Err() == nil {
		n.log.WithError(err).WithField("node", id).Warn("node liveness")
	}
}

// resync refreshes the State and every node's state from its liveness key
// (not while etcd is unreachable: nothing could change).
func (n *Node) resync(ctx context.Context) {
	if err := n.eng.Refresh(ctx); err != nil {
		if ctx.Err() == nil {
			n.log.WithError(err).Warn("refresh")
		}
		return
	}
	for _, node := range n.eng.State().Nodes() {
		n.sync(ctx, node.ID)
	}
}

// Leave stops watching and releases the node ID: the liveness key goes with
// the lease, and the other nodes take this one offline.
func (n *Node) Leave() {
	n.stop()
	n.wg.Wait()
	n.revoke()
}

func (n *Node) revoke() {
	n.mu.Lock()
	lease := n.lease
	n.lease = 0
	n.mu.Unlock()
	if lease == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := n.cli.Revoke(ctx, lease); err != nil {
		n.log.WithError(err).Warn("release node id")
	}
}
