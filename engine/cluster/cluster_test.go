package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/engine/cluster"
	"github.com/sysemu/sysemu/engine/store/etcd"
	"github.com/sysemu/sysemu/engine/store/etcd/etcdtest"
	"github.com/sysemu/sysemu/seed"
)

var ctx = context.Background()

type node struct {
	eng *engine.Engine
	st  *etcd.Store
	m   *cluster.Node
}

func start(t *testing.T, c *etcdtest.Cluster, id uint64) (*node, error) {
	t.Helper()
	log, _ := logtest.NewNullLogger()
	st := etcd.New(c.Client(t), etcd.Options{})
	p, err := seed.Profile(seed.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(ctx, st, p, log, engine.Options{NodeID: id})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cluster.Join(ctx, eng, st, log, cluster.Config{TTL: 2 * time.Second,
		Addrs: engine.NodeAddrs{MySQL: "127.0.0.1:330" + string(rune('0'+id))}})
	if err != nil {
		return nil, err
	}
	t.Cleanup(m.Leave)
	return &node{eng, st, m}, nil
}

// eventually polls cond every 10 ms until it holds or d passed.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	t0 := time.Now()
	for !cond() {
		if time.Since(t0) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(t0)
}

func TestJoinWatchLeave(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	a, err := start(t, c, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := start(t, c, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := start(t, c, 2); !errors.Is(err, cluster.ErrNodeIDInUse) {
		t.Fatalf("second node 2: %v, want %v", err, cluster.ErrNodeIDInUse)
	}
	if _, err := a.eng.CreateDatabase(ctx, "db", ""); err != nil {
		t.Fatal(err)
	}
	_, err = a.eng.CreateTable(ctx, engine.TableSpec{Database: "db", Name: "t",
		Columns: []engine.Column{{Name: "id", Type: "bigint"}}, PrimaryKey: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	took := eventually(t, 200*time.Millisecond, "node 2 sees db.t", func() bool { return b.eng.State().Table("db", "t") != nil })
	t.Logf("node 2 saw the table after %v", took)
	if n := a.eng.State().Node(2); n == nil || !n.Online || n.Port != 3302 {
		t.Fatalf("node 2 on node 1: %+v, want online on port 3302", n)
	}
	b.m.Leave()
	eventually(t, 3*time.Second, "node 2 offline on node 1", func() bool { return !a.eng.State().Node(2).Online })
	// The ID is free again.
	b2, err := start(t, c, 2)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "node 2 online again", func() bool { return a.eng.State().Node(2).Online })
	_ = b2
}
