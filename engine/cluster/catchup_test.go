package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/engine/cluster"
	"github.com/sysemu/sysemu/engine/store/etcd"
	"github.com/sysemu/sysemu/engine/store/etcd/etcdtest"
	"github.com/sysemu/sysemu/seed"
)

// The metadata catch-up: a node whose State is behind applies the change
// log's entries it missed (inside its own change's transaction, or in
// Refresh) instead of reloading the whole State.

// reloaded is what the engine logs when it reloads its State in full.
const reloaded = "metadata reloaded in full"

// countingNode is an engine on its own etcd client, whose requests it
// counts, and whose log it keeps.
type countingNode struct {
	eng   *engine.Engine
	st    *etcd.Store
	hook  *logtest.Hook
	calls atomic.Int64
}

// countingClient is a client of c's members that adds every request it
// sends to calls.
func countingClient(t testing.TB, c *etcdtest.Cluster, calls *atomic.Int64) *clientv3.Client {
	t.Helper()
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		calls.Add(1)
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(count)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func openCounting(t *testing.T, c *etcdtest.Cluster, id uint64) *countingNode {
	t.Helper()
	n := &countingNode{}
	cli := countingClient(t, c, &n.calls)
	p, err := seed.Profile(seed.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	var log *logrus.Logger
	log, n.hook = logtest.NewNullLogger()
	n.st = etcd.New(cli, etcd.Options{})
	if n.eng, err = engine.Open(ctx, n.st, p, log, engine.Options{NodeID: id}); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *countingNode) reloads() int {
	k := 0
	for _, e := range n.hook.AllEntries() {
		if e.Message == reloaded {
			k++
		}
	}
	return k
}

func spec(name string) engine.TableSpec {
	return engine.TableSpec{Database: "db", Name: name,
		Columns: []engine.Column{{Name: "id", Type: "bigint"}}, PrimaryKey: []string{"id"}}
}

// twoNodes opens nodes 1 and 2 with database db, each having made a change
// since the other opened (an Open logs nothing: the first change after
// another node's Open reloads), its hook then reset.
func twoNodes(t *testing.T) (*etcdtest.Cluster, *countingNode, *countingNode) {
	c := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	a, b := openCounting(t, c, 1), openCounting(t, c, 2)
	if _, err := a.eng.CreateDatabase(ctx, "db", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.eng.CreateTable(ctx, spec("b0")); err != nil {
		t.Fatal(err)
	}
	a.hook.Reset()
	b.hook.Reset()
	return c, a, b
}

// An uncontended CREATE TABLE is one etcd request, the commit, when it
// follows another change closely: the last commit's answer brought every
// key it reads. After a pause it is two: the first read brings them.
func TestCreateTableRoundTrips(t *testing.T) {
	_, a, _ := twoNodes(t)
	if _, err := a.eng.CreateTable(ctx, spec("warm")); err != nil { // catches up with node 2's CREATE
		t.Fatal(err)
	}
	for i := range 4 {
		want := int64(1)
		if i == 3 {
			time.Sleep(time.Second) // the snapshot is too old to start from
			want = 2
		}
		before := a.calls.Load()
		if _, err := a.eng.CreateTable(ctx, spec(fmt.Sprint("t", i))); err != nil {
			t.Fatal(err)
		}
		if got := a.calls.Load() - before; got != want {
			t.Errorf("CREATE TABLE %d: %d etcd requests, want %d", i, got, want)
		}
	}
	if n := a.reloads(); n != 0 {
		t.Errorf("node 1 reloaded its State %d times", n)
	}
}

// Two nodes creating different tables at once all succeed, with distinct
// table IDs and GSTO_NOs, each catching up with the other's tables through
// the change log: no reload.
func TestConcurrentCreatesCatchUp(t *testing.T) {
	_, a, b := twoNodes(t)
	const each = 15
	var wg sync.WaitGroup
	for _, n := range []*countingNode{a, b} {
		wg.Go(func() {
			for i := range each {
				if _, err := n.eng.CreateTable(ctx, spec(fmt.Sprintf("n%d_%d", n.eng.NodeID(), i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := a.eng.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.eng.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*countingNode{a, b} {
		if r := n.reloads(); r != 0 {
			t.Errorf("node %d reloaded its State %d times", n.eng.NodeID(), r)
		}
		s := n.eng.State()
		ids, gstos := map[uint64]string{}, map[uint32]string{}
		for _, tb := range s.Tables("db") {
			if was, ok := ids[tb.ID]; ok {
				t.Errorf("node %d: table ID %d held by %s and %s", n.eng.NodeID(), tb.ID, was, tb.Name)
			}
			ids[tb.ID] = tb.Name
			for _, st := range tb.Stores {
				if was, ok := gstos[st.No]; ok {
					t.Errorf("node %d: GSTO_NO %d held by %s and %s", n.eng.NodeID(), st.No, was, tb.Name)
				}
				gstos[st.No] = tb.Name
			}
		}
		if len(ids) != 2*each+1 {
			t.Errorf("node %d sees %d tables, want %d", n.eng.NodeID(), len(ids), 2*each+1)
		}
	}
	if a.eng.State().NextTableID() != b.eng.State().NextTableID() {
		t.Errorf("next table ID: node 1 %d, node 2 %d", a.eng.State().NextTableID(), b.eng.State().NextTableID())
	}
}

// The same name on two nodes at once: exactly one CREATE wins; the other
// fails with ErrTableExists (MySQL's 1050), having caught up with the
// winner's table.
func TestConcurrentSameName(t *testing.T) {
	_, a, b := twoNodes(t)
	for i := range 8 {
		name := fmt.Sprint("same", i)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for k, n := range []*countingNode{a, b} {
			wg.Go(func() {
				<-start
				_, errs[k] = n.eng.CreateTable(ctx, spec(name))
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, engine.ErrTableExists):
				t.Errorf("%s: %v, want success or %v", name, err, engine.ErrTableExists)
			}
		}
		if won != 1 {
			t.Errorf("%s: %d nodes created it (errors %v), want exactly 1", name, won, errs)
		}
	}
	if r := a.reloads() + b.reloads(); r != 0 {
		t.Errorf("%d full reloads", r)
	}
}

// A watching node sees another node's table once the watch delivers the
// revision, by the change log.
func TestWatchCatchesUp(t *testing.T) {
	c, a, b := twoNodes(t)
	for _, n := range []*countingNode{a, b} {
		m, err := cluster.Join(ctx, n.eng, n.st, logrus.New(), cluster.Config{TTL: 2 * time.Second,
			Addrs: engine.NodeAddrs{MySQL: fmt.Sprint("127.0.0.1:330", n.eng.NodeID())}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Leave)
	}
	_ = c
	// Joining changed node rows (a reload each); wait until both settled.
	eventually(t, 3*time.Second, "both nodes online on both", func() bool {
		for _, n := range []*countingNode{a, b} {
			for _, id := range []uint64{1, 2} {
				if nd := n.eng.State().Node(id); nd == nil || !nd.Online {
					return false
				}
			}
		}
		return a.eng.State().NextTableID() == b.eng.State().NextTableID()
	})
	time.Sleep(100 * time.Millisecond)
	a.hook.Reset()
	b.hook.Reset()
	if _, err := a.eng.CreateTable(ctx, spec("seen")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "node 2 sees db.seen", func() bool { return b.eng.State().Table("db", "seen") != nil })
	if r := b.reloads(); r != 0 {
		t.Errorf("node 2 reloaded its State %d times", r)
	}
}

// set_next_table_id on one node fences the other's cached range: the
// other's next CREATE, which catches up inside its transaction, takes the
// new value, not the rest of its old range.
func TestJumpFencesOtherRange(t *testing.T) {
	_, a, b := twoNodes(t) // node 2 holds [1024,1034) after b0
	admin := engine.Actor{User: "root"}
	if err := a.eng.SetSwitch(ctx, admin, engine.SwitchRecovery, true); err != nil {
		t.Fatal(err)
	}
	if err := a.eng.SetNextTableID(ctx, admin, 5000); err != nil {
		t.Fatal(err)
	}
	if err := a.eng.SetSwitch(ctx, admin, engine.SwitchRecovery, false); err != nil {
		t.Fatal(err)
	}
	tb, err := b.eng.CreateTable(ctx, spec("b1"))
	if err != nil {
		t.Fatal(err)
	}
	if tb.ID != 5000 {
		t.Errorf("node 2 after node 1's jump: table ID %d, want 5000", tb.ID)
	}
	if got := b.eng.NextTableID(); got != 5010 {
		t.Errorf("node 2's next_table_id %d, want 5010", got)
	}
	if r := a.reloads() + b.reloads(); r != 0 {
		t.Errorf("%d full reloads", r)
	}
}
