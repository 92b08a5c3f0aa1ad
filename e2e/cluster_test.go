package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	binexec "os/exec"

	"github.com/sysemu/sysemu/engine/store/etcd/etcdtest"
	"github.com/sysemu/sysemu/server"
)

// clusterTTL is the nodes' --node-ttl in these tests.
const clusterTTL = 2 * time.Second

// testCluster is a 3-member etcd in the test process and sysemu node
// processes on it.
type testCluster struct {
	t     *testing.T
	bin   string
	etcd  *etcdtest.Cluster
	nodes map[int]*binProc
}

func startCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	c := &testCluster{t: t, bin: binBuild(t), nodes: map[int]*binProc{},
		etcd: etcdtest.Start(t, 3, etcdtest.Options{NoFsync: true})}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for id := 1; id <= n; id++ {
		wg.Go(func() {
			p := c.start(id)
			mu.Lock()
			c.nodes[id] = p
			mu.Unlock()
		})
	}
	wg.Wait()
	for id := 1; id <= n; id++ {
		c.waitNodeState(1, id, "2")
	}
	return c
}

// nodeArgs are the cluster flags of node id: the same as docker-compose.yml
// gives its nodes (TestComposeFile checks), with a short TTL.
func clusterNodeArgs(endpoints []string, id int) []string {
	return []string{"--etcd", strings.Join(endpoints, ","), "--node-id", strconv.Itoa(id),
		"--node-ttl", clusterTTL.String()}
}

func (c *testCluster) start(id int) *binProc {
	return binStart(c.t, c.bin, c.t.TempDir(), clusterNodeArgs(c.etcd.Endpoints(), id)...)
}

func (c *testCluster) conn(id int) *sql.Conn {
	return conn(c.t, openDB(c.t, c.nodes[id].dsn("SYSTEM")))
}

// poll runs q on node on every 20 ms until it returns want, for at most d;
// it returns how long that took.
func (c *testCluster) poll(on int, d time.Duration, q, want string) time.Duration {
	c.t.Helper()
	cn := c.conn(on)
	defer cn.Close()
	t0 := time.Now()
	var got string
	for {
		r, err := rows(c.t, cn, q)
		if err == nil && len(r) == 1 && len(r[0]) == 1 {
			got, _ = r[0][0].(string)
			if got == want {
				return time.Since(t0)
			}
		}
		if time.Since(t0) > d {
			c.t.Fatalf("node %d: %s = %q (err %v), want %q within %v", on, q, got, err, want, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *testCluster) waitNodeState(on, node int, state string) time.Duration {
	return c.poll(on, 30*time.Second, fmt.Sprintf("SELECT NODE_STATE FROM SYS_CLUSTERS WHERE NODE_ID = %d", node), state)
}

// TestCluster: three node processes on one three-member etcd.
func TestCluster(t *testing.T) {
	c := startCluster(t, 3)
	c1 := c.conn(1)
	exec(t, c1, "CREATE DATABASE db", "USE db",
		"CREATE TABLE ids (id BIGINT AUTO_INCREMENT PRIMARY KEY, w INT)")

	t.Run("VisibleOnOtherNodes", func(t *testing.T) {
		// A CREATE TABLE on node 1 shows on node 2 through the watch: the
		// issue's bound is 200 ms; the poll allows 5x that on a loaded machine
		// and logs what it measured.
		for i := range 5 {
			exec(t, c1, fmt.Sprintf("CREATE TABLE db.seen%d (c INT)", i))
			d1 := c.poll(2, time.Second, fmt.Sprintf("SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'db' AND TABLE_NAME = 'seen%d'", i), "1")
			d2 := c.poll(3, time.Second, fmt.Sprintf("SELECT COUNT(*) > 0 FROM SYS_GSTORES a, SYS_OBJECTS b WHERE a.OBJ_ID = b.OBJ_ID AND b.OBJ_NAME = 'SEEN%d'", i), "1")
			t.Logf("seen%d: INFORMATION_SCHEMA.TABLES on node 2 after %v, SYS_GSTORES on node 3 after %v", i, d1, d2)
		}
	})

	t.Run("ConcurrentIDsUnique", func(t *testing.T) {
		// 6 connections over the 3 nodes create 300 tables and insert
		// 30,000 identity rows: every TABLE_ID, GSTO_NO and identity value
		// unique across the cluster.
		const workers, tables, perStmt = 6, 50, 100
		var wg sync.WaitGroup
		for w := range workers {
			node := w%3 + 1
			wg.Go(func() {
				cn := c.conn(node)
				defer cn.Close()
				vals := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("(%d),", w), perStmt), ",")
				for j := range tables {
					for _, q := range []string{
						fmt.Sprintf("CREATE TABLE db.t_%d_%d (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)", w, j),
						"INSERT INTO db.ids (w) VALUES " + vals,
					} {
						if _, err := cn.ExecContext(context.Background(), q); err != nil {
							t.Errorf("node %d: %s: %v", node, q[:min(len(q), 60)], err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		want := strconv.Itoa(workers * tables * perStmt)
		for node := 1; node <= 3; node++ {
			cn := c.conn(node)
			c.poll(node, 5*time.Second, "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'db' AND TABLE_NAME LIKE 't\\_%'", strconv.Itoa(workers*tables))
			for q, want := range map[string]string{
				"SELECT COUNT(*) - COUNT(DISTINCT TABLE_ID) FROM INFORMATION_SCHEMA.TABLES": "0",
				"SELECT COUNT(*) - COUNT(DISTINCT GSTO_NO) FROM SYS_GSTORES":                "0",
				"SELECT COUNT(DISTINCT id) FROM db.ids":                                     want,
				"SELECT COUNT(*) FROM db.ids":                                               want,
			} {
				if got := one(t, cn, q); got != want {
					t.Errorf("node %d: %s = %s, want %s", node, q, got, want)
				}
			}
			cn.Close()
		}
	})

	t.Run("Kill9", func(t *testing.T) {
		// kill -9 node 3: within the TTL plus 2 s its versions are invalid on
		// the other nodes, which keep serving; restarted, the bits clear.
		c.nodes[3].Kill()
		invalid := "SELECT COUNT(*) > 0 FROM SYS_GSTORES WHERE (NODE_ID1 = 3 AND STORE_STA & 3 = 3) OR (NODE_ID2 = 3 AND STORE_STA & 12 = 12) OR (NODE_ID3 = 3 AND STORE_STA & 48 = 48)"
		d := c.poll(1, clusterTTL+2*time.Second, invalid, "1")
		c.poll(2, time.Second, invalid, "1")
		t.Logf("node 3's versions invalid on node 1 %v after kill -9 (TTL %v)", d, clusterTTL)
		if got := one(t, c1, "SELECT NODE_STATE FROM SYS_CLUSTERS WHERE NODE_ID = 3"); got != "0" {
			t.Errorf("NODE_STATE of node 3 = %s, want 0", got)
		}
		c2 := c.conn(2)
		exec(t, c2, "CREATE TABLE db.during_kill (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)",
			"INSERT INTO db.during_kill (v) VALUES (1), (2)", "INSERT INTO db.ids (w) VALUES (9)")
		if got := one(t, c2, "SELECT COUNT(*) FROM db.during_kill"); got != "2" {
			t.Errorf("rows written with node 3 down: %s, want 2", got)
		}
		c.nodes[3] = c.start(3)
		c.waitNodeState(1, 3, "2")
		c.poll(1, 5*time.Second, invalid, "0")
	})

	t.Run("XuguOfflineExample", func(t *testing.T) {
		// The XuguDB page's offline example with a real node stopped: node 2
		// is down when the table is created, the third version has nowhere
		// to go: STORE_STA 57 (11 10 01), nodes 1, 3, 0.
		c.nodes[2].Stop()
		c.waitNodeState(1, 2, "0")
		exec(t, c1, "CREATE TABLE db.tab_gstore (c1 INT)")
		// (On the page the primary is node 1; here placement balances the
		// load of the tables created before, so it may be node 3.)
		got := one(t, c1, "SELECT CONCAT(a.STORE_STA, ' ', LEAST(a.NODE_ID1, a.NODE_ID2), ' ', GREATEST(a.NODE_ID1, a.NODE_ID2), ' ', a.NODE_ID3) FROM SYS_GSTORES a, SYS_OBJECTS b WHERE a.OBJ_ID = b.OBJ_ID AND b.OBJ_NAME = 'TAB_GSTORE'")
		if want := "57 1 3 0"; got != want {
			t.Errorf("offline example: STORE_STA and nodes %s, want %s", got, want)
		}
		c.nodes[2] = c.start(2)
		c.waitNodeState(3, 2, "2")
	})

	t.Run("EtcdMembersDown", func(t *testing.T) {
		// One etcd member of three down: the cluster works. Two down: writes
		// fail with our no-quorum error, reads of the last State answer;
		// nothing is lost when quorum returns.
		c.etcd.Stop(2)
		exec(t, c1, "INSERT INTO db.ids (w) VALUES (10)", "CREATE TABLE db.one_member_down (c INT)")
		before := one(t, c1, "SELECT COUNT(*) FROM db.ids")
		c.etcd.Stop(1)
		_, err := c1.ExecContext(context.Background(), "INSERT INTO db.ids (w) VALUES (11)")
		if n, state := errno(err); n != server.ErClusterUnavailable {
			t.Errorf("INSERT without quorum: %v (errno %d %s), want %d", err, n, state, server.ErClusterUnavailable)
		} else {
			t.Logf("INSERT without quorum: %v", err)
		}
		t0 := time.Now()
		_, err = c1.ExecContext(context.Background(), "CREATE TABLE db.no_quorum (c INT)")
		t.Logf("CREATE TABLE without quorum failed after %v: %v", time.Since(t0), err)
		if n, _ := errno(err); n != server.ErClusterUnavailable {
			t.Errorf("CREATE TABLE without quorum: %v, want errno %d", err, server.ErClusterUnavailable)
		}
		if got := one(t, c1, "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'db' AND TABLE_NAME = 'one_member_down'"); got != "1" {
			t.Errorf("INFORMATION_SCHEMA.TABLES without quorum: %s, want 1", got)
		}
		if got := one(t, c1, "SELECT COUNT(*) > 0 FROM SYS_GSTORES"); got != "1" {
			t.Errorf("SYS_GSTORES without quorum: %s", got)
		}
		c.etcd.Restart(1)
		c.etcd.Restart(2)
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := c1.ExecContext(context.Background(), "INSERT INTO db.ids (w) VALUES (12)")
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("INSERT after quorum returned: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		n, _ := strconv.Atoi(before)
		c.poll(3, 5*time.Second, "SELECT COUNT(*) FROM db.ids", strconv.Itoa(n+1))
		c.poll(3, 5*time.Second, "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'db' AND TABLE_NAME = 'one_member_down'", "1")
	})
}

// TestMigrate: a standalone server's store copied into etcd with `sysemu
// migrate`; a cluster node started on it shows the same tables, IDs, next-id
// and rows, and goes on above them.
func TestMigrate(t *testing.T) {
	bin := binBuild(t)
	dir := t.TempDir()
	p := binStart(t, bin, dir)
	c := conn(t, openDB(t, p.dsn("")))
	exec(t, c, "CREATE DATABASE db", "USE db", "CREATE TABLE a (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)",
		"CREATE TABLE b (c INT)", "INSERT INTO a (v) VALUES (1), (2), (3)")
	const q = "SELECT GROUP_CONCAT(CONCAT(TABLE_NAME, '=', TABLE_ID) ORDER BY TABLE_NAME) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'db'"
	tables := one(t, c, q)
	next := one(t, c, "SELECT next_table_id()")
	c.Close()
	p.Stop()

	e := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	eps := strings.Join(e.Endpoints(), ",")
	out, err := binexec.Command(bin, "migrate", "--from", dir, "--etcd", eps).CombinedOutput()
	if err != nil {
		t.Fatalf("migrate: %v: %s", err, out)
	}
	t.Logf("%s", out)
	if out, err := binexec.Command(bin, "migrate", "--from", dir, "--etcd", eps).CombinedOutput(); err == nil {
		t.Errorf("a second migrate into the same prefix succeeded: %s", out)
	}

	n := binStart(t, bin, t.TempDir(), clusterNodeArgs(e.Endpoints(), 1)...)
	c = conn(t, openDB(t, n.dsn("db")))
	if got := one(t, c, q); got != tables {
		t.Errorf("tables after migrate: %s, want %s", got, tables)
	}
	if got := one(t, c, "SELECT next_table_id()"); got != next {
		t.Errorf("next_table_id() after migrate: %s, want %s", got, next)
	}
	if got := one(t, c, "SELECT GROUP_CONCAT(id ORDER BY id) FROM a"); got != "1,2,3" {
		t.Errorf("rows after migrate: %s, want 1,2,3", got)
	}
	exec(t, c, "INSERT INTO a (v) VALUES (4)", "CREATE TABLE c (c INT)")
	if got := one(t, c, "SELECT MAX(id) > 3 FROM a"); got != "1" {
		t.Errorf("identity after migrate went back: max id %s", one(t, c, "SELECT MAX(id) FROM a"))
	}
	nextID, _ := strconv.ParseUint(next, 10, 64)
	tid, _ := strconv.ParseUint(one(t, c, "SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'db' AND TABLE_NAME = 'c'"), 10, 64)
	if tid < nextID {
		t.Errorf("table created after migrate got ID %d, below the migrated next-id %d", tid, nextID)
	}
}
