package e2e

import (
	"flag"
	"math"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

var flagClusterLinFaults = flag.Int("cluster-lin-faults", 2, "TestClusterSequenceLinearizable: faults during the history, alternately kill -9 of a node and a stop of an etcd member")

// TestClusterSequenceLinearizable is TestSequenceLinearizable on a 3-node
// cluster over a 3-member etcd: 8 clients spread over the nodes create
// tables, peek next_table_id() and insert identity rows while a node is
// killed -9 and restarted and an etcd member is stopped and restarted. Each
// node hands out IDs from its own cached ranges, so IDs do not increase in
// real time across nodes: the history is checked with linModel per node and
// for uniqueness across them (linClusterCheck).
func TestClusterSequenceLinearizable(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	quietMySQLDriver(t)
	began := time.Now()
	c := startCluster(t, 3)
	c1 := c.conn(1)
	exec(t, c1, "CREATE DATABASE lin", "CREATE TABLE lin.ident (id BIGINT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(32))")
	c1.Close()
	for node := 2; node <= 3; node++ {
		c.poll(node, 5*time.Second, "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'lin' AND TABLE_NAME = 'ident'", "1")
	}
	// Every node has creating and inserting clients; nodes 1 and 2 peekers.
	roles := [8]linRole{linRoleCreate, linRoleCreate, linRoleCreate, linRolePeek, linRolePeek, linRoleInsert, linRoleInsert, linRoleInsert}
	nodeOf := func(client int) int { return client%3 + 1 }

	t.Logf("cluster up in %v", time.Since(began).Round(time.Millisecond))
	rec := &linRecorder{start: time.Now()}
	kills, etcdStops := 0, 0
	var errMu sync.Mutex
	var errs []string
	for phase := 0; phase <= *flagClusterLinFaults; phase++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for cl := range 8 {
			crng := rand.New(rand.NewSource(rng.Int63()))
			dsn := c.nodes[nodeOf(cl)].dsn("lin")
			wg.Go(func() {
				if err := linClient(dsn, nodeOf(cl), roles[cl], cl, phase, crng, rec, stop); err != nil {
					errMu.Lock()
					errs = append(errs, err.Error())
					errMu.Unlock()
				}
			})
		}
		time.Sleep(500*time.Millisecond + time.Duration(rng.Int63n(int64(time.Second))))
		switch {
		case phase == *flagClusterLinFaults:
		case phase%2 == 0:
			// kill -9 a node; restart it once the others saw it go (a live
			// node's ID is refused).
			node := 1 + rng.Intn(3)
			call := rec.now()
			c.nodes[node].Kill()
			c.waitNodeState(node%3+1, node, "0")
			c.nodes[node] = c.start(node)
			rec.add(8, linInput{key: linKey("table_id", node), kind: linRestart}, call, linOutput{})
			c.waitNodeState(node%3+1, node, "2")
			kills++
			t.Logf("phase %d: node %d killed -9 and restarted", phase, node)
		default:
			// stop one etcd member of three (a majority stays), start it again.
			m := rng.Intn(3)
			c.etcd.Stop(m)
			time.Sleep(500*time.Millisecond + time.Duration(rng.Int63n(int64(time.Second))))
			c.etcd.Restart(m)
			etcdStops++
			t.Logf("phase %d: etcd member %d stopped and restarted", phase, m)
		}
		time.Sleep(300 * time.Millisecond)
		close(stop)
		wg.Wait()
	}
	for _, e := range errs {
		t.Errorf("client: %s", e)
	}

	// The catalog and the identity table agree: nothing twice on any node.
	for node := 1; node <= 3; node++ {
		cn := c.conn(node)
		for q, want := range map[string]string{
			"SELECT COUNT(*) - COUNT(DISTINCT TABLE_ID) FROM INFORMATION_SCHEMA.TABLES": "0",
			"SELECT COUNT(*) - COUNT(DISTINCT id) FROM lin.ident":                       "0",
		} {
			if got := one(t, cn, q); got != want {
				t.Errorf("node %d: %s = %s, want %s", node, q, got, want)
			}
		}
		cn.Close()
	}

	unknown, kinds := 0, map[string]int{}
	for _, op := range rec.ops {
		if op.Output.(linOutput).unknown {
			unknown++
		}
		kinds[[...]string{"peek", "create", "set", "restart", "insert"}[op.Input.(linInput).kind]]++
	}
	t0 := time.Now()
	res, dups := linClusterCheck(rec.ops, 2*time.Minute)
	t.Logf("%d operations %v (%d with unknown outcome), %d node kills, %d etcd member stops: porcupine per node says %s in %v, %d duplicates; %v in all",
		len(rec.ops), kinds, unknown, kills, etcdStops, res, time.Since(t0).Round(time.Millisecond), len(dups), time.Since(began).Round(time.Millisecond))
	if res != porcupine.Ok {
		t.Errorf("the history of a node's ID sequences is not linearizable (%s)", res)
	}
	for _, d := range dups {
		t.Errorf("duplicate: %s", d)
	}
}

// The cluster check rejects a value twice across nodes and a node's own
// sequence going back, and accepts IDs that go down in real time across
// nodes (each hands out its own cached range) — which one model over all
// nodes would reject.
func TestClusterSequenceModelRejects(t *testing.T) {
	op := func(client int, call, ret int64, key string, kind linKind, v uint64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Call: call, Return: ret,
			Input: linInput{key: key, kind: kind}, Output: linOutput{v: v}}
	}
	n1, n2 := linKey("table_id", 1), linKey("table_id", 2)
	i1, i2 := linKey("identity", 1), linKey("identity", 2)
	accepted := func(h []porcupine.Operation) bool {
		res, dups := linClusterCheck(h, time.Minute)
		return res == porcupine.Ok && len(dups) == 0
	}
	for name, h := range map[string][]porcupine.Operation{
		"a table ID on two nodes":        {op(0, 0, 1, n1, linCreate, 1024), op(1, 2, 3, n2, linCreate, 1024)},
		"an identity value on two nodes": {op(0, 0, 1, i1, linInsert, 7), op(1, 2, 3, i2, linInsert, 7)},
		"a node's IDs going back":        {op(0, 0, 1, n1, linCreate, 1035), op(1, 2, 3, n1, linCreate, 1034)},
		"a node's peek below its own ID": {op(0, 0, 1, n1, linCreate, 1044), op(1, 2, 3, n1, linPeek, 1044)},
		"a node reusing its cache after a restart": {op(0, 0, 1, n1, linCreate, 1024), op(1, 2, 3, n1, linPeek, 1034),
			op(2, 4, 5, n1, linRestart, 0), op(0, 6, 7, n1, linCreate, 1025)},
	} {
		if accepted(h) {
			t.Errorf("%s: accepted", name)
		}
	}
	// Node 2 reserved [1024, 1034) first, node 1 [1034, 1044) after: node 1's
	// 1034 comes before node 2's 1024 in real time, and node 2's peek of
	// the global high-water mark is above its own IDs.
	good := []porcupine.Operation{op(0, 0, 1, n1, linCreate, 1034), op(1, 2, 3, n2, linCreate, 1024),
		op(2, 4, 5, n2, linPeek, 1044), op(1, 6, 7, n2, linCreate, 1025), op(0, 8, 9, n1, linCreate, 1035),
		op(3, 10, 11, i2, linInsert, 1001), op(4, 12, 13, i1, linInsert, 1),
		{ClientId: 0, Call: 14, Return: math.MaxInt64, Input: linInput{key: n1, kind: linCreate}, Output: linOutput{unknown: true}}}
	if !accepted(good) {
		t.Error("a history valid per node was rejected")
	}
	global := make([]porcupine.Operation, len(good))
	for i, o := range good {
		in := o.Input.(linInput)
		in.key = linSeq(in.key)
		o.Input = in
		global[i] = o
	}
	if porcupine.CheckOperations(linModel.ToModel(), global) {
		t.Error("one model over all nodes accepted IDs going down across nodes: the per-node partition proves nothing")
	}
}
