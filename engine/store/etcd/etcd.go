// Package etcd is the cluster store.Store, over go.etcd.io/etcd/client/v3:
// every node of a cluster runs its transactions on one etcd.
//
// Transactions are optimistic and serializable. A transaction reads at one
// etcd revision R (the revision of its first request) and buffers its writes;
// the commit is one etcd Txn whose compares check that nothing it depended on
// moved after R: the mod revision of every key it read (0 for an absent key),
// and for every range it scanned, that no key in the range and no tombstone
// of a key deleted from it is newer than R. A failed compare re-runs fn at a
// new revision. Deleting a key also writes its tombstone; tombstones are swept
// by Sweep, which moves a horizon key that every scanning transaction
// compares, so a scan older than a sweep retries instead of missing a delete.
//
// Updates of one Store run one at a time (a local lock), so the nodes'
// own transactions do not conflict among themselves; transactions of
// different nodes conflict only on what they share.
//
// A transaction whose writes do not fit in one etcd request (Options.MaxTxnOps
// operations, Options.MaxRequestBytes bytes) commits in two phases: its
// writes are staged in chunks under a transaction ID, then one Txn checks the
// compares and sets a fence naming the ID — that is the commit point — and
// the chunks are applied, each under the condition that the fence still names
// the ID, and the fence is removed. While a fence is set, no other
// transaction commits (they compare the fence's absence), and any transaction
// that starts and finds it first finishes the apply itself, so a crashed
// writer leaves nothing half-applied for longer than the next transaction
// takes to start. A single key-value too big for one request is refused with
// store.ErrTooLarge.
//
// When etcd has no quorum or cannot be reached within Options.RequestTimeout,
// transactions fail with store.ErrUnavailable; a commit whose outcome is
// unknown (the request timed out) is reported so, never retried. Views then
// fall back to serializable reads from a member that is still up: they may
// be behind the cluster (a node refreshing its State ignores an older one).
//
// Key layout under Options.Prefix: "k/" + key holds the data, "t/" + key a
// tombstone, "x/" the fence, the horizon and staged chunks. Keys written
// outside the store (leases) may be read with Get but must not be scanned: their
// deletes leave no tombstone.
package etcd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/btree"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sysemu/sysemu/engine/store"
)

// Defaults for Options, etcd's own defaults for the limits.
const (
	DefaultPrefix          = "/sysemu/"
	DefaultMaxTxnOps       = 128
	DefaultMaxRequestBytes = 1536 * 1024
	DefaultRequestTimeout  = 5 * time.Second
)

// degradedFor is how long Views read serializably after a View found etcd
// without quorum, before they try a linearizable read again.
const degradedFor = 3 * time.Second

// pageSize is how many keys a scan reads per request.
const pageSize = 512

// Options configure New.
type Options struct {
	// Prefix is the store's namespace in etcd (default DefaultPrefix).
	Prefix string
	// MaxTxnOps and MaxRequestBytes must not exceed the server's
	// --max-txn-ops and --max-request-bytes (default: etcd's defaults).
	MaxTxnOps       int
	MaxRequestBytes int
	// RequestTimeout bounds each etcd request (default
	// DefaultRequestTimeout); past it, the store is unavailable.
	RequestTimeout time.Duration
}

// Store is a store.Store in etcd.
type Store struct {
	c    *clientv3.Client
	opts Options
	gate store.Gate
	mu   sync.Mutex // one Update at a time; guards handoff
	// handoff is the snapshot the last commit's answer brought, for the
	// next Update.
	handoff *handoff
	// degraded is when (Unix ns) Views stop going straight to serializable
	// reads after etcd was found without quorum.
	degraded atomic.Int64

	data, tomb, fence, horizon, stage string
}

var _ store.Store = (*Store)(nil)

// New returns the store in cli's etcd under opts.Prefix. The caller owns cli
// and closes it after the store.
func New(cli *clientv3.Client, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.MaxTxnOps == 0 {
		opts.MaxTxnOps = DefaultMaxTxnOps
	}
	if opts.MaxRequestBytes == 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	p := opts.Prefix
	return &Store{c: cli, opts: opts,
		data: p + "k/", tomb: p + "t/", fence: p + "x/fence", horizon: p + "x/horizon", stage: p + "x/stage/"}
}

// Key returns the etcd key that holds the store's key k, for watches and
// leased keys written outside transactions.
func (s *Store) Key(k []byte) string { return s.data + string(k) }

// Client is the etcd client the store runs on.
func (s *Store) Client() *clientv3.Client { return s.c }

// View implements store.Store.
func (s *Store) View(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := s.gate.Enter(ctx); err != nil {
		return err
	}
	defer s.gate.Leave()
	var t *tx
	var err error
	if time.Now().UnixNano() < s.degraded.Load() {
		t, err = s.beginSerializable(ctx)
	} else {
		t, err = s.begin(ctx, false)
		if errors.Is(err, store.ErrUnavailable) && ctx.Err() == nil {
			// No quorum: read what a reachable member has, and for a while
			// do so at once rather than wait for the timeout every time.
			s.degraded.Store(time.Now().Add(degradedFor).UnixNano())
			t, err = s.beginSerializable(ctx)
		}
	}
	if err != nil {
		return err
	}
	return fn(t)
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := s.gate.Enter(ctx); err != nil {
		return err
	}
	defer s.gate.Leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh := false
	for attempt := 0; ; {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The transaction starts at the snapshot the last commit's answer
		// brought (handoff), or else with its first read (start), which
		// may bring the keys fn announces with Prefetch in the same round
		// trip.
		t := s.newTx(ctx, 0, true, false)
		if h := s.handoff; h != nil && !fresh && time.Since(h.at) < handoffFor {
			t.rev, t.pre, t.pages, t.handed = h.rev, h.pre, h.pages, true
		}
		s.handoff, fresh = nil, false
		err := fn(t)
		if t.handed && (err != nil || t.writes.Len() == 0) {
			// fn decided on a snapshot that may be old, and no commit
			// will check what it read: it decides again on a fresh one.
			fresh = true
			continue
		}
		if err == nil {
			if err = ctx.Err(); err == nil {
				err = t.commit()
			}
		}
		if err == nil && t.writes.Len() > 0 {
			// A commit reached a quorum: Views read linearizably again, so
			// that they see it (a serializable read may be served by a
			// member that has not caught up yet).
			s.degraded.Store(0)
		}
		if !errors.Is(err, errConflict) {
			return err
		}
		// After repeated conflicts, back off a little, then start on a fresh
		// snapshot: the one the failed commit's answer brought (handoff) has
		// aged meanwhile, and against a node that commits back to back every
		// attempt on an aged snapshot conflicts again: this one would starve.
		if attempt++; attempt > 4 {
			time.Sleep(time.Duration(min(attempt, 20)) * time.Millisecond)
			s.handoff = nil
		}
	}
}

// handoffFor is how long a commit's answer may start the next Update: an
// older snapshot would likely only conflict.
const handoffFor = 500 * time.Millisecond

// handoff is a snapshot a commit's answer brought: what the committed
// transaction announced with PrefetchNext, read after its writes at its
// revision, or, when its compares failed, what it had prefetched, read at
// the revision that failed them. The next Update starts there without a
// round trip; its commit's compares check everything it read.
type handoff struct {
	rev   int64
	at    time.Time
	pre   map[string]*mvccpb.KeyValue
	pages map[span]prePage
}

// Close implements store.Store. It does not close the client.
func (s *Store) Close() error {
	s.gate.Close()
	return nil
}

// errConflict reports a failed commit compare: fn runs again.
var errConflict = errors.New("etcd: transaction conflict")

// call runs one etcd request with the store's timeout, mapping a timeout or
// an unreachable cluster to store.ErrUnavailable. It retries the transient
// errors of a leader election while the timeout lasts.
func (s *Store) call(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	rctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	for {
		err := fn(rctx)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case rctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("%w: %s: no answer from etcd within %v (no quorum or unreachable): %v",
				store.ErrUnavailable, what, s.opts.RequestTimeout, err)
		case errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrLeaderChanged),
			errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail):
			select {
			case <-time.After(50 * time.Millisecond):
			case <-rctx.Done():
			}
		case errors.Is(err, rpctypes.ErrTimeout), errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost):
			return fmt.Errorf("%w: %s: %v", store.ErrUnavailable, what, err)
		default:
			return fmt.Errorf("etcd: %s: %w", what, err)
		}
	}
}

// begin starts a transaction at the current revision, first finishing a
// two-phase commit that another transaction left under way.
func (s *Store) begin(ctx context.Context, writable bool) (*tx, error) {
	for {
		var resp *clientv3.GetResponse
		err := s.call(ctx, "begin", func(ctx context.Context) (err error) {
			resp, err = s.c.Get(ctx, s.fence)
			return err
		})
		if err != nil {
			return nil, err
		}
		if len(resp.Kvs) > 0 {
			if err := s.rollForward(ctx, string(resp.Kvs[0].Value)); err != nil {
				return nil, err
			}
			continue
		}
		return s.newTx(ctx, resp.Header.Revision, writable, false), nil
	}
}

// beginSerializable starts a read-only transaction on a member's local data,
// which may be behind the cluster.
func (s *Store) beginSerializable(ctx context.Context) (*tx, error) {
	var resp *clientv3.GetResponse
	err := s.call(ctx, "begin (serializable)", func(ctx context.Context) (err error) {
		resp, err = s.c.Get(ctx, s.fence, clientv3.WithSerializable())
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) > 0 {
		return nil, fmt.Errorf("%w: a commit is being applied and etcd has no quorum to finish it", store.ErrUnavailable)
	}
	return s.newTx(ctx, resp.Header.Revision, false, true), nil
}

func (s *Store) newTx(ctx context.Context, rev int64, writable, serializable bool) *tx {
	return &tx{s: s, ctx: ctx, rev: rev, writable: writable, serializable: serializable,
		writes: btree.NewG(16, func(a, b write) bool { return a.key < b.key }), reads: map[string]int64{}, vals: map[string][]byte{}}
}

// tx is one transaction: reads at rev, writes buffered until the commit.
// An Update's tx has rev 0 until its first read or Prefetch starts it.
type tx struct {
	s                      *Store
	ctx                    context.Context
	rev                    int64
	writable, serializable bool

	writes *btree.BTreeG[write]
	reads  map[string]int64  // key → mod revision at rev (0: absent)
	vals   map[string][]byte // key → value at rev (nil: absent), for keys in reads
	ranges []span            // scanned ranges

	// What Prefetch (or the handoff) brought and no read used yet: it
	// becomes a read (and a compare at the commit) only when Get or Scan
	// asks for it.
	pre     map[string]*mvccpb.KeyValue // key → its pair at rev (nil: absent)
	pages   map[span]prePage            // range → its first ascending page at rev
	handed  bool                        // started at a handoff
	fetched readSet                     // what Prefetch asked for: read again if the commit fails
	ahead   readSet                     // what PrefetchNext announced: read with the commit
}

// readSet is keys and ranges, whose first ascending page is read.
type readSet struct {
	keys   []string
	ranges []span
	seen   map[any]bool // what add added
}

// add adds what o has and r has not.
func (r *readSet) add(o readSet) {
	if r.seen == nil {
		r.seen = map[any]bool{}
	}
	for _, k := range o.keys {
		if !r.seen[k] {
			r.seen[k] = true
			r.keys = append(r.keys, k)
		}
	}
	for _, sp := range o.ranges {
		if !r.seen[sp] {
			r.seen[sp] = true
			r.ranges = append(r.ranges, sp)
		}
	}
}

// ops are the reads of r at rev (0: the Txn's own), at most limit of them.
func (r readSet) ops(s *Store, rev int64, limit int) []clientv3.Op {
	var opts []clientv3.OpOption
	if rev != 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	var ops []clientv3.Op
	for _, k := range r.keys {
		ops = append(ops, clientv3.OpGet(s.data+k, opts...))
	}
	for _, sp := range r.ranges {
		ops = append(ops, clientv3.OpGet(s.data+sp.start, append(slices.Clip(opts), s.pageOpts(sp, false)...)...))
	}
	return ops[:max(min(len(ops), limit), 0)]
}

// keep files away what r.ops answered (resps, possibly cut short).
func (r readSet) keep(s *Store, pre map[string]*mvccpb.KeyValue, pages map[span]prePage, resps []*etcdserverpb.ResponseOp) {
	for i, resp := range resps {
		rr := resp.GetResponseRange()
		if i < len(r.keys) {
			var kv *mvccpb.KeyValue
			if len(rr.Kvs) > 0 {
				kv = rr.Kvs[0]
			}
			pre[r.keys[i]] = kv
			continue
		}
		pages[r.ranges[i-len(r.keys)]] = prePage{s.pairs(rr.Kvs), rr.More}
	}
}

func newReadSet(keys [][]byte, ranges [][2][]byte) readSet {
	var r readSet
	for _, k := range keys {
		r.keys = append(r.keys, string(k))
	}
	for _, sp := range ranges {
		r.ranges = append(r.ranges, span{string(sp[0]), string(sp[1])})
	}
	return r
}

// prefetched is the first page of r from what was prefetched: a page of
// the same range, or of one that ends with r and starts before it, whose
// keys from r's start on are r's (all of them, or a first page that has
// some).
func (t *tx) prefetched(r span) (prePage, bool) {
	if p, ok := t.pages[r]; ok {
		return p, true
	}
	for pr, p := range t.pages {
		if pr.end != r.end || pr.start > r.start {
			continue
		}
		i, _ := slices.BinarySearchFunc(p.kvs, r.start, func(kv kvPair, k string) int { return strings.Compare(kv.k, k) })
		if p.more && i == len(p.kvs) {
			continue
		}
		return prePage{p.kvs[i:], p.more}, true
	}
	return prePage{}, false
}

type prePage struct {
	kvs  []kvPair
	more bool
}

// start begins a transaction that has not begun: one Txn reads the fence,
// at the current revision, with what r names. A two-phase commit left
// under way is finished first.
func (t *tx) start(r readSet) error {
	if t.rev != 0 {
		return nil
	}
	s := t.s
	for {
		ops := append([]clientv3.Op{clientv3.OpGet(s.fence)}, r.ops(s, 0, s.opts.MaxTxnOps-1)...)
		var resp *clientv3.TxnResponse
		err := s.call(t.ctx, "begin", func(ctx context.Context) (err error) {
			resp, err = s.c.Txn(ctx).Then(ops...).Commit()
			return err
		})
		if err != nil {
			return err
		}
		if f := resp.Responses[0].GetResponseRange().Kvs; len(f) > 0 {
			if err := s.rollForward(t.ctx, string(f[0].Value)); err != nil {
				return err
			}
			continue
		}
		t.rev = resp.Header.Revision
		t.keep(r, resp.Responses[1:])
		return nil
	}
}

func (t *tx) keep(r readSet, resps []*etcdserverpb.ResponseOp) {
	if t.pre == nil {
		t.pre, t.pages = map[string]*mvccpb.KeyValue{}, map[span]prePage{}
	}
	r.keep(t.s, t.pre, t.pages, resps)
}

// Prefetch reads keys and the first page of each range [start, end) (end
// nil: no bound) in one round trip — the one that starts the transaction,
// if it has not started — so that the Gets and Scans that follow need
// none; what the transaction has already needs no round trip at all. It
// reads nothing the transaction depends on until they ask for it. It does
// nothing in a serializable View (it would need a quorum).
func (t *tx) Prefetch(keys [][]byte, ranges [][2][]byte) error {
	r := newReadSet(keys, ranges)
	t.fetched.add(r)
	switch {
	case t.rev == 0:
		return t.start(r)
	case t.serializable:
		return nil
	}
	var missing readSet
	for _, k := range r.keys {
		_, pre := t.pre[k]
		if _, read := t.vals[k]; !pre && !read {
			missing.keys = append(missing.keys, k)
		}
	}
	for _, sp := range r.ranges {
		if _, ok := t.prefetched(sp); !ok {
			missing.ranges = append(missing.ranges, sp)
		}
	}
	ops := missing.ops(t.s, t.rev, t.s.opts.MaxTxnOps)
	if len(ops) == 0 {
		return nil
	}
	var resp *clientv3.TxnResponse
	err := t.s.call(t.ctx, "prefetch", func(ctx context.Context) (err error) {
		resp, err = t.s.c.Txn(ctx).Then(ops...).Commit()
		return err
	})
	if err != nil {
		return t.readErr(err)
	}
	t.keep(missing, resp.Responses)
	return nil
}

// PrefetchNext announces what the next Update will likely read: the
// commit reads it after its writes, and the next Update starts at that
// snapshot (handoff) instead of a round trip of its own.
func (t *tx) PrefetchNext(keys [][]byte, ranges [][2][]byte) {
	t.ahead = newReadSet(keys, ranges)
}

type write struct {
	key string
	val []byte
	del bool
}

// span is a key range [start, end); end "" means no upper bound.
type span struct{ start, end string }

// get reads key (a range with opts) at the transaction's revision. That
// revision was read linearizably, and what etcd holds at it never changes,
// so a member's local copy is as good as the leader's: the read is served
// serializably, without a ReadIndex round, and linearizably only when the
// member has not applied the revision yet.
func (t *tx) get(what, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if err := t.start(readSet{}); err != nil {
		return nil, err
	}
	opts = append(opts, clientv3.WithRev(t.rev))
	var resp *clientv3.GetResponse
	err := t.s.call(t.ctx, what, func(ctx context.Context) (err error) {
		resp, err = t.s.c.Get(ctx, key, append(opts, clientv3.WithSerializable())...)
		if errors.Is(err, rpctypes.ErrFutureRev) && !t.serializable {
			resp, err = t.s.c.Get(ctx, key, opts...)
		}
		return err
	})
	return resp, err
}

// Get implements store.Tx.
func (t *tx) Get(key []byte) ([]byte, error) {
	if w, ok := t.writes.Get(write{key: string(key)}); ok {
		if w.del {
			return nil, nil
		}
		return bytes.Clone(w.val), nil
	}
	// A key read before is read at the same revision again: no round trip.
	if v, ok := t.vals[string(key)]; ok {
		return bytes.Clone(v), nil
	}
	var kvs []*mvccpb.KeyValue
	if kv, ok := t.pre[string(key)]; ok {
		if kv != nil {
			kvs = []*mvccpb.KeyValue{kv}
		}
	} else {
		resp, err := t.get("get", t.s.data+string(key))
		if err != nil {
			return nil, t.readErr(err)
		}
		kvs = resp.Kvs
	}
	if len(kvs) == 0 {
		t.reads[string(key)], t.vals[string(key)] = 0, nil
		return nil, nil
	}
	kv := kvs[0]
	t.reads[string(key)], t.vals[string(key)] = kv.ModRevision, kv.Value
	return append([]byte{}, kv.Value...), nil
}

// readErr turns a read of a compacted revision into a conflict: the
// transaction restarts at a newer revision.
func (t *tx) readErr(err error) error {
	if t.writable && errors.Is(err, rpctypes.ErrCompacted) {
		return errConflict
	}
	return err
}

// Put implements store.Tx.
func (t *tx) Put(key, value []byte) error {
	if !t.writable {
		return store.ErrReadOnly
	}
	t.writes.ReplaceOrInsert(write{key: string(key), val: append([]byte{}, value...)})
	return nil
}

// Delete implements store.Tx.
func (t *tx) Delete(key []byte) error {
	if !t.writable {
		return store.ErrReadOnly
	}
	t.writes.ReplaceOrInsert(write{key: string(key), del: true})
	return nil
}

// Scan implements store.Tx. It merges pages of etcd's keys at rev with the
// transaction's own writes, looking the writes up afresh at every step, so
// that Put and Delete made by fn are honoured.
func (t *tx) Scan(start, end []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	lo, hi := string(start), ""
	if end != nil {
		hi = string(end)
		if hi <= lo {
			return nil
		}
	}
	var (
		page    []kvPair
		next    int
		more    = true
		pos     string // the last key visited
		visited bool
	)
	inRange := func(k string) bool { return k >= lo && (hi == "" || k < hi) }
	// beyond reports whether k comes after pos in scan order.
	beyond := func(k string) bool {
		if !visited {
			return true
		}
		if reverse {
			return k < pos
		}
		return k > pos
	}
	for {
		// The next key from etcd that the writes do not override.
		var ek *kvPair
		for ek == nil {
			if next == len(page) {
				if !more {
					break
				}
				var err error
				page, more, err = t.page(lo, hi, reverse, page)
				if err != nil {
					return err
				}
				next = 0
				continue
			}
			p := &page[next]
			if _, own := t.writes.Get(write{key: p.k}); own || !beyond(p.k) {
				next++
				continue
			}
			ek = p
		}
		// The next key the transaction wrote.
		var wk *write
		visit := func(w write) bool {
			switch {
			case reverse && hi != "" && w.key >= hi, !reverse && w.key < lo:
				return true // not yet in the range
			case !inRange(w.key):
				return false // past it
			case w.del || !beyond(w.key):
				return true
			}
			wk = &w
			return false
		}
		switch {
		case reverse && visited:
			t.writes.DescendLessOrEqual(write{key: pos}, visit)
		case reverse && hi != "":
			t.writes.DescendLessOrEqual(write{key: hi}, visit)
		case reverse:
			t.writes.Descend(visit)
		case visited:
			t.writes.AscendGreaterOrEqual(write{key: pos}, visit)
		default:
			t.writes.AscendGreaterOrEqual(write{key: lo}, visit)
		}
		var k string
		var v []byte
		switch {
		case ek == nil && wk == nil:
			t.ranges = append(t.ranges, span{lo, hi})
			return nil
		case ek == nil || wk != nil && (wk.key < ek.k) != reverse:
			k, v = wk.key, wk.val
		default:
			k, v = ek.k, ek.v
			next++
		}
		pos, visited = k, true
		more2, err := fn([]byte(k), v)
		if err != nil || !more2 {
			// Only the part visited so far was read.
			if reverse {
				t.ranges = append(t.ranges, span{k, hi})
			} else {
				t.ranges = append(t.ranges, span{lo, k + "\x00"})
			}
			return err
		}
	}
}

type kvPair struct {
	k string
	v []byte
}

// page reads the next page of [lo, hi) at rev after the last key of prev.
func (t *tx) page(lo, hi string, reverse bool, prev []kvPair) ([]kvPair, bool, error) {
	r := span{lo, hi}
	if len(prev) > 0 {
		// Resume after prev's last key (before it, descending).
		if last := prev[len(prev)-1].k; reverse {
			r.end = last
		} else {
			r.start = last + "\x00"
		}
	} else if p, ok := t.prefetched(r); ok && !reverse {
		return p.kvs, p.more, nil
	}
	resp, err := t.get("scan", t.s.data+r.start, t.s.pageOpts(r, reverse)...)
	if err != nil {
		return nil, false, t.readErr(err)
	}
	return t.s.pairs(resp.Kvs), resp.More, nil
}

// pageOpts are the options of the read of a page of r from its start
// (from its end when reverse).
func (s *Store) pageOpts(r span, reverse bool) []clientv3.OpOption {
	to := s.data + r.end
	if r.end == "" {
		to = clientv3.GetPrefixRangeEnd(s.data)
	}
	opts := []clientv3.OpOption{clientv3.WithRange(to), clientv3.WithLimit(pageSize)}
	if reverse {
		opts = append(opts, clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	}
	return opts
}

// pairs strips the store's prefix from kvs' keys.
func (s *Store) pairs(kvs []*mvccpb.KeyValue) []kvPair {
	out := make([]kvPair, len(kvs))
	for i, kv := range kvs {
		out[i] = kvPair{k: string(kv.Key[len(s.data):]), v: append([]byte{}, kv.Value...)}
	}
	return out
}

// commit writes the buffered writes if nothing the transaction read moved.
func (t *tx) commit() error {
	if t.writes.Len() == 0 {
		return nil // read-only: serializable at rev as it stands
	}
	if err := t.start(readSet{}); err != nil { // blind writes: finish a pending commit first
		return err
	}
	s := t.s
	budget := s.opts.MaxTxnOps - 2 // the fence and the horizon
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(s.fence), "=", 0)}, t.compares(budget)...)
	var ops []clientv3.Op
	size := 0
	t.writes.Ascend(func(w write) bool {
		if w.del {
			ops = append(ops, clientv3.OpDelete(s.data+w.key), clientv3.OpPut(s.tomb+w.key, ""))
			size += 2*len(w.key) + 16
		} else {
			ops = append(ops, clientv3.OpPut(s.data+w.key, string(w.val)))
			size += len(w.key) + len(w.val) + 16
		}
		return true
	})
	limit := s.opts.MaxRequestBytes * 3 / 4 // room for compares and framing
	for _, c := range cmps {
		size += len(c.Key) + len(c.RangeEnd) + 16
	}
	if len(ops) > s.opts.MaxTxnOps || size > limit {
		return t.commitStaged(cmps, ops)
	}
	// The answer brings the next transaction's snapshot (handoff).
	then := append(ops, t.ahead.ops(s, 0, s.opts.MaxTxnOps-len(ops))...)
	els := append([]clientv3.Op{clientv3.OpGet(s.fence)}, t.fetched.ops(s, 0, s.opts.MaxTxnOps-1)...)
	var resp *clientv3.TxnResponse
	err := s.call(t.ctx, "commit", func(ctx context.Context) (err error) {
		resp, err = s.c.Txn(ctx).If(cmps...).Then(then...).Else(els...).Commit()
		return err
	})
	if errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("%w (the commit's outcome is unknown)", err)
	}
	if err != nil {
		return err
	}
	h := &handoff{rev: resp.Header.Revision, at: time.Now(), pre: map[string]*mvccpb.KeyValue{}, pages: map[span]prePage{}}
	if !resp.Succeeded {
		if len(resp.Responses[0].GetResponseRange().Kvs) == 0 { // else the retry's start finishes that commit
			t.fetched.keep(s, h.pre, h.pages, resp.Responses[1:])
			s.handoff = h
		}
		return errConflict
	}
	if len(then) > len(ops) {
		t.ahead.keep(s, h.pre, h.pages, resp.Responses[len(ops):])
		s.handoff = h
	}
	return nil
}

// compares checks what the transaction read, in at most budget compares:
// exact ones when they fit, else ranges over the keys read, which may also
// fail on changes the transaction did not depend on (a retry, never a miss).
func (t *tx) compares(budget int) []clientv3.Cmp {
	s := t.s
	if len(t.reads)+2*len(t.ranges)+1 > budget {
		return t.rangeCompares(budget)
	}
	var cmps []clientv3.Cmp
	for k, m := range t.reads {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(s.data+k), "=", m))
	}
	for _, r := range t.ranges {
		cmps = append(cmps, t.rangeCompare(r)...)
	}
	if len(t.ranges) > 0 {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(s.horizon), "<", t.rev+1))
	}
	return cmps
}

// rangeCompares merges the keys and ranges read into at most budget/2 - 1
// neighbouring ranges.
func (t *tx) rangeCompares(budget int) []clientv3.Cmp {
	spans := slices.Clone(t.ranges)
	for k := range t.reads {
		spans = append(spans, span{k, k + "\x00"})
	}
	slices.SortFunc(spans, func(a, b span) int { return strings.Compare(a.start, b.start) })
	groups := max(budget/2-1, 1)
	per := (len(spans) + groups - 1) / groups
	var cmps []clientv3.Cmp
	for i := 0; i < len(spans); i += per {
		g := spans[i:min(i+per, len(spans))]
		m := g[0]
		for _, r := range g[1:] {
			if m.end != "" && (r.end == "" || r.end > m.end) {
				m.end = r.end
			}
		}
		cmps = append(cmps, t.rangeCompare(m)...)
	}
	return append(cmps, clientv3.Compare(clientv3.ModRevision(t.s.horizon), "<", t.rev+1))
}

// rangeCompare checks that no key of r and no tombstone in r is newer than
// the transaction's revision: nothing was written to or deleted from r.
func (t *tx) rangeCompare(r span) []clientv3.Cmp {
	s := t.s
	dEnd, tEnd := s.data+r.end, s.tomb+r.end
	if r.end == "" {
		dEnd, tEnd = clientv3.GetPrefixRangeEnd(s.data), clientv3.GetPrefixRangeEnd(s.tomb)
	}
	return []clientv3.Cmp{
		clientv3.Compare(clientv3.ModRevision(s.data+r.start), "<", t.rev+1).WithRange(dEnd),
		clientv3.Compare(clientv3.ModRevision(s.tomb+r.start), "<", t.rev+1).WithRange(tEnd),
	}
}

// commitStaged is the two-phase commit of a transaction too big for one
// request (see the package comment).
func (t *tx) commitStaged(cmps []clientv3.Cmp, ops []clientv3.Op) error {
	s := t.s
	limit := s.opts.MaxRequestBytes / 2
	var chunks [][]byte
	var chunk []byte
	n := 0
	for _, op := range ops {
		b := encodeOp(op)
		if len(b) > limit {
			return fmt.Errorf("%w: %q is %d bytes, over etcd's request limit (about %d per pair)", store.ErrTooLarge, op.KeyBytes(), len(b), limit)
		}
		if n == s.opts.MaxTxnOps || len(chunk)+len(b) > limit {
			chunks, chunk, n = append(chunks, chunk), nil, 0
		}
		chunk, n = append(chunk, b...), n+1
	}
	chunks = append(chunks, chunk)
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	for i, c := range chunks {
		err := s.call(t.ctx, "stage", func(ctx context.Context) error {
			_, err := s.c.Put(ctx, s.stageKey(id, i), string(c))
			return err
		})
		if err != nil {
			s.dropStage(id)
			return err
		}
	}
	fence := id + "/" + strconv.Itoa(len(chunks))
	var resp *clientv3.TxnResponse
	err := s.call(t.ctx, "commit (fence)", func(ctx context.Context) (err error) {
		resp, err = s.c.Txn(ctx).If(cmps...).Then(clientv3.OpPut(s.fence, fence)).Commit()
		return err
	})
	if errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("%w (the commit's outcome is unknown)", err)
	}
	if err != nil {
		s.dropStage(id)
		return err
	}
	if !resp.Succeeded {
		s.dropStage(id)
		return errConflict
	}
	// Committed. Whoever starts next finishes the apply if this fails.
	return s.rollForward(t.ctx, fence)
}

func (s *Store) stageKey(id string, i int) string { return fmt.Sprintf("%s%s/%08d", s.stage, id, i) }

// dropStage deletes the chunks of a transaction that did not commit.
func (s *Store) dropStage(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RequestTimeout)
	defer cancel()
	_, _ = s.c.Delete(ctx, s.stage+id+"/", clientv3.WithPrefix())
}

// rollForward applies the staged chunks of the committed transaction that
// fence names and removes the fence. Applying a chunk twice is harmless:
// while the fence stands, nothing else writes.
func (s *Store) rollForward(ctx context.Context, fence string) error {
	id, nstr, ok := strings.Cut(fence, "/")
	n, err := strconv.Atoi(nstr)
	if !ok || err != nil {
		return fmt.Errorf("etcd: corrupt fence %q", fence)
	}
	held := clientv3.Compare(clientv3.Value(s.fence), "=", fence)
	for i := range n {
		var resp *clientv3.GetResponse
		err := s.call(ctx, "roll forward", func(ctx context.Context) (err error) {
			resp, err = s.c.Get(ctx, s.stageKey(id, i))
			return err
		})
		if err != nil {
			return err
		}
		if len(resp.Kvs) == 0 {
			return nil // finished by someone else (checked below by the caller's next begin)
		}
		ops, err := decodeOps(s, resp.Kvs[0].Value)
		if err != nil {
			return err
		}
		var tr *clientv3.TxnResponse
		err = s.call(ctx, "roll forward", func(ctx context.Context) (err error) {
			tr, err = s.c.Txn(ctx).If(held).Then(ops...).Commit()
			return err
		})
		if err != nil {
			return err
		}
		if !tr.Succeeded {
			return nil
		}
	}
	return s.call(ctx, "roll forward", func(ctx context.Context) error {
		_, err := s.c.Txn(ctx).If(held).Then(
			clientv3.OpDelete(s.fence),
			clientv3.OpDelete(s.stage+id+"/", clientv3.WithPrefix()),
		).Commit()
		return err
	})
}

// Chunk encoding: per op, a kind byte (p put, d delete), then the uvarint
// length and bytes of the key (relative to the prefix), then for a put the
// value's.
func encodeOp(op clientv3.Op) []byte {
	var b []byte
	if op.IsDelete() {
		b = append(b, 'd')
	} else {
		b = append(b, 'p')
	}
	b = binary.AppendUvarint(b, uint64(len(op.KeyBytes())))
	b = append(b, op.KeyBytes()...)
	if !op.IsDelete() {
		b = binary.AppendUvarint(b, uint64(len(op.ValueBytes())))
		b = append(b, op.ValueBytes()...)
	}
	return b
}

func decodeOps(s *Store, b []byte) ([]clientv3.Op, error) {
	var ops []clientv3.Op
	field := func() (string, error) {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) || n > math.MaxInt32 {
			return "", fmt.Errorf("etcd: corrupt staged chunk")
		}
		f := string(b[w : w+int(n)])
		b = b[w+int(n):]
		return f, nil
	}
	for len(b) > 0 {
		kind := b[0]
		b = b[1:]
		k, err := field()
		if err != nil {
			return nil, err
		}
		if kind == 'd' {
			ops = append(ops, clientv3.OpDelete(k))
			continue
		}
		v, err := field()
		if err != nil {
			return nil, err
		}
		ops = append(ops, clientv3.OpPut(k, v))
	}
	return ops, nil
}

// Sweep deletes the tombstones of deletes older than now. It first moves the
// horizon, which makes every transaction that scanned before it retry, so
// that no running transaction needs the tombstones it removes.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	if err := s.gate.Enter(ctx); err != nil {
		return 0, err
	}
	defer s.gate.Leave()
	var h int64
	err := s.call(ctx, "sweep", func(ctx context.Context) error {
		resp, err := s.c.Put(ctx, s.horizon, "")
		if err == nil {
			h = resp.Header.Revision
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	swept := 0
	from, end := s.tomb, clientv3.GetPrefixRangeEnd(s.tomb)
	for {
		var resp *clientv3.GetResponse
		err := s.call(ctx, "sweep", func(ctx context.Context) (err error) {
			resp, err = s.c.Get(ctx, from, clientv3.WithRange(end), clientv3.WithKeysOnly(),
				clientv3.WithLimit(int64(s.opts.MaxTxnOps)))
			return err
		})
		if err != nil {
			return swept, err
		}
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		for _, kv := range resp.Kvs {
			if kv.ModRevision < h {
				cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision))
				ops = append(ops, clientv3.OpDelete(string(kv.Key)))
			}
		}
		if len(ops) > 0 {
			var tr *clientv3.TxnResponse
			err := s.call(ctx, "sweep", func(ctx context.Context) (err error) {
				tr, err = s.c.Txn(ctx).If(cmps...).Then(ops...).Commit()
				return err
			})
			if err != nil {
				return swept, err
			}
			if tr.Succeeded { // else a key was deleted again: the next sweep
				swept += len(ops)
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return swept, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
