package cluster_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	logtest "github.com/sirupsen/logrus/hooks/test"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/engine/cluster"
	"github.com/sysemu/sysemu/engine/store/etcd"
	"github.com/sysemu/sysemu/engine/store/etcd/etcdtest"
	"github.com/sysemu/sysemu/seed"
)

// Cluster ID throughput beside raw etcd compare-and-swap, on one 3-member
// etcd (fsync on) in this process. Run:
//
//	go test -run - -bench . -benchtime 3s ./engine/cluster/
//
// Each reports ops/s and etcd requests per op; compare BenchmarkTableIDs and BenchmarkIdentity with
// BenchmarkEtcdCASSingle (one client's read-then-CAS loop, the issue's
// yardstick) and BenchmarkEtcdCAS (3 concurrent writers on one key).

func engines(b *testing.B, c *etcdtest.Cluster, cache int) []*engine.Engine {
	es, _ := nodes(b, c, cache)
	return es
}

// nodes opens the 3 engines with database db, and their stores.
func nodes(b *testing.B, c *etcdtest.Cluster, cache int) ([]*engine.Engine, []*etcd.Store) {
	p, err := seed.Profile(seed.DefaultProfile)
	if err != nil {
		b.Fatal(err)
	}
	var es []*engine.Engine
	var sts []*etcd.Store
	for id := uint64(1); id <= 3; id++ {
		log, _ := logtest.NewNullLogger()
		st := etcd.New(countingClient(b, c, &requests), etcd.Options{Prefix: "/bench/"})
		e, err := engine.Open(ctx, st, p, log, engine.Options{NodeID: id, IdentityCache: cache})
		if err != nil {
			b.Fatal(err)
		}
		es, sts = append(es, e), append(sts, st)
	}
	if _, err := es[0].CreateDatabase(ctx, "db", ""); err != nil {
		b.Fatal(err)
	}
	return es, sts
}

// requests counts the etcd requests of the benchmarks' clients.
var requests atomic.Int64

// parallel runs n ops spread over 3 workers, worker i calling fn(i).
func parallel(b *testing.B, fn func(w int) error) { parallelN(b, 3, fn) }

// parallelN runs n ops spread over workers, worker i calling fn(i).
func parallelN(b *testing.B, workers int, fn func(w int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	requests.Store(0)
	for w := range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := fn(w); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(requests.Load())/float64(b.N), "etcd-req/op")
}

// BenchmarkTableIDs: CREATE TABLE on 3 nodes at once (one table ID each,
// from the nodes' cached step-10 ranges).
func BenchmarkTableIDs(b *testing.B) {
	es := engines(b, etcdtest.Start(b, 3, etcdtest.Options{}), 0)
	var n atomic.Int64
	parallel(b, func(w int) error {
		_, err := es[w].CreateTable(ctx, engine.TableSpec{Database: "db", Name: "t" + strconv.FormatInt(n.Add(1), 10),
			Columns: []engine.Column{{Name: "id", Type: "bigint"}}, PrimaryKey: []string{"id"}})
		return err
	})
}

// BenchmarkTableIDsWatching: BenchmarkTableIDs with the nodes joined to the
// cluster, as a server runs them: each watches the metadata revision and
// refreshes its State when another node changes it.
func BenchmarkTableIDsWatching(b *testing.B) {
	es, sts := nodes(b, etcdtest.Start(b, 3, etcdtest.Options{}), 0)
	for i, e := range es {
		log, _ := logtest.NewNullLogger()
		m, err := cluster.Join(ctx, e, sts[i], log, cluster.Config{Addrs: engine.NodeAddrs{MySQL: "127.0.0.1:330" + strconv.Itoa(i+1)}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(m.Leave)
	}
	var n atomic.Int64
	parallel(b, func(w int) error {
		_, err := es[w].CreateTable(ctx, engine.TableSpec{Database: "db", Name: "t" + strconv.FormatInt(n.Add(1), 10),
			Columns: []engine.Column{{Name: "id", Type: "bigint"}}, PrimaryKey: []string{"id"}})
		return err
	})
}

// BenchmarkTableIDsOneNode: CREATE TABLE from one session on one node of
// the three: no other node's commits to conflict with.
func BenchmarkTableIDsOneNode(b *testing.B) {
	es := engines(b, etcdtest.Start(b, 3, etcdtest.Options{}), 0)
	var n atomic.Int64
	parallelN(b, 1, func(int) error {
		_, err := es[0].CreateTable(ctx, engine.TableSpec{Database: "db", Name: "t" + strconv.FormatInt(n.Add(1), 10),
			Columns: []engine.Column{{Name: "id", Type: "bigint"}}, PrimaryKey: []string{"id"}})
		return err
	})
}

// BenchmarkTableIDs8PerNode: CREATE TABLE from 8 sessions on each of the 3
// nodes: a node's concurrent DDL shares one etcd transaction (the engine's
// group commit of metadata changes).
func BenchmarkTableIDs8PerNode(b *testing.B) {
	es := engines(b, etcdtest.Start(b, 3, etcdtest.Options{}), 0)
	var n atomic.Int64
	parallelN(b, 24, func(w int) error {
		_, err := es[w%3].CreateTable(ctx, engine.TableSpec{Database: "db", Name: "t" + strconv.FormatInt(n.Add(1), 10),
			Columns: []engine.Column{{Name: "id", Type: "bigint"}}, PrimaryKey: []string{"id"}})
		return err
	})
}

// BenchmarkIdentity: identity values on 3 nodes sharing a table's counter,
// from per-node cached blocks of 1000.
func BenchmarkIdentity(b *testing.B) {
	es := engines(b, etcdtest.Start(b, 3, etcdtest.Options{}), engine.DefaultIdentityCache)
	maxV, _ := engine.IdentityMax("bigint")
	t, err := es[0].CreateTable(ctx, engine.TableSpec{Database: "db", Name: "t",
		Columns:    []engine.Column{{Name: "id", Type: "bigint", AutoIncrement: true}},
		PrimaryKey: []string{"id"}, Identity: &engine.Identity{Column: "id", Type: "bigint", Seed: 1, Incr: 1, Max: maxV}})
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range es {
		if err := e.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
	}
	parallel(b, func(w int) error {
		_, err := es[w].NextIdentity(ctx, t.ID, engine.IdentityCaller{Node: 1, Admin: func() bool { return true }}, false, nil)
		return err
	})
}

// BenchmarkEtcdCAS: 3 clients compare-and-swap one counter key (read, then
// a Txn comparing its mod revision), retrying on conflict; ops/s counts
// successful swaps.
func BenchmarkEtcdCAS(b *testing.B) {
	c := etcdtest.Start(b, 3, etcdtest.Options{})
	clis := []*clientv3.Client{countingClient(b, c, &requests), countingClient(b, c, &requests), countingClient(b, c, &requests)}
	parallel(b, func(w int) error { return cas(clis[w]) })
}

// BenchmarkEtcdCASSingle: one client's read-then-CAS loop on one key, the
// issue's "etcd's single-client CAS rate".
func BenchmarkEtcdCASSingle(b *testing.B) {
	cli := countingClient(b, etcdtest.Start(b, 3, etcdtest.Options{}), &requests)
	parallelN(b, 1, func(int) error { return cas(cli) })
}

// cas increments the counter key: read, then a Txn comparing its mod
// revision, again until the swap succeeds.
func cas(cli *clientv3.Client) error {
	for {
		r, err := cli.Get(context.Background(), "cas")
		if err != nil {
			return err
		}
		var mod int64
		v := 0
		if len(r.Kvs) > 0 {
			mod = r.Kvs[0].ModRevision
			v, _ = strconv.Atoi(string(r.Kvs[0].Value))
		}
		t, err := cli.Txn(context.Background()).If(clientv3.Compare(clientv3.ModRevision("cas"), "=", mod)).
			Then(clientv3.OpPut("cas", fmt.Sprint(v+1))).Commit()
		if err != nil {
			return err
		}
		if t.Succeeded {
			return nil
		}
	}
}
