// Package etcdtest starts real etcd servers (go.etcd.io/etcd/server/v3/embed)
// inside the test process, on loopback ports, for tests of the etcd store and
// of cluster mode. A member can be stopped and restarted on the same ports and
// data directory, to test quorum loss.
package etcdtest

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Cluster is a running etcd cluster of one or more members.
type Cluster struct {
	t       testing.TB
	mu      sync.Mutex
	members []*member
}

type member struct {
	cfg *embed.Config
	etc *embed.Etcd // nil while stopped
}

// Options tune the servers. The zero value is etcd's defaults with fsync on.
type Options struct {
	// NoFsync sets etcd's --unsafe-no-fsync: commits are not flushed to disk
	// (quicker tests; a killed member may lose recent writes).
	NoFsync bool
	// MaxTxnOps and MaxRequestBytes are etcd's limits (0: etcd's defaults,
	// 128 and 1.5 MiB).
	MaxTxnOps, MaxRequestBytes uint
}

// Start starts an n-member cluster and stops it when t ends.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	var initial []string
	for i := range n {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = filepath.Join(t.TempDir(), cfg.Name)
		peer, client := freeURL(t), freeURL(t)
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.LogLevel = "error"
		cfg.LogOutputs = []string{filepath.Join(cfg.Dir + ".log")}
		cfg.UnsafeNoFsync = opts.NoFsync
		if opts.MaxTxnOps > 0 {
			cfg.MaxTxnOps = opts.MaxTxnOps
		}
		if opts.MaxRequestBytes > 0 {
			cfg.MaxRequestBytes = opts.MaxRequestBytes
		}
		initial = append(initial, cfg.Name+"="+peer.String())
		c.members = append(c.members, &member{cfg: cfg})
	}
	for _, m := range c.members {
		m.cfg.InitialCluster = strings.Join(initial, ",")
		m.cfg.InitialClusterToken = "sysemu-test"
	}
	t.Cleanup(c.stopAll)
	// Members of a new cluster wait for each other: start them together.
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range c.members {
		wg.Go(func() { errs[i] = c.start(i) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func freeURL(t testing.TB) url.URL {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return url.URL{Scheme: "http", Host: l.Addr().String()}
}

func (c *Cluster) start(i int) error {
	c.mu.Lock()
	m := c.members[i]
	c.mu.Unlock()
	e, err := embed.StartEtcd(m.cfg)
	if err != nil {
		return fmt.Errorf("etcd member %s: %w", m.cfg.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("etcd member %s: %w", m.cfg.Name, err)
	case <-time.After(60 * time.Second):
		e.Close()
		return fmt.Errorf("etcd member %s: not ready after 60s", m.cfg.Name)
	}
	c.mu.Lock()
	m.etc = e
	c.mu.Unlock()
	return nil
}

// Endpoints are the members' client URLs, stopped members included.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.members {
		out = append(out, m.cfg.AdvertiseClientUrls[0].String())
	}
	return out
}

// Stop stops member i (a clean stop; its data directory stays).
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	e := c.members[i].etc
	c.members[i].etc = nil
	c.mu.Unlock()
	if e != nil {
		e.Close()
	}
}

// Restart starts the stopped member i again with its data. With no quorum
// among the running members it returns once the server is up, without
// waiting for it to join (that needs another member).
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	m := c.members[i]
	e, err := embed.StartEtcd(m.cfg)
	if err != nil {
		c.t.Fatalf("restart etcd member %s: %v", m.cfg.Name, err)
	}
	c.mu.Lock()
	m.etc = e
	c.mu.Unlock()
}

func (c *Cluster) stopAll() {
	for i := range c.members {
		c.Stop(i)
	}
}

// Client returns a client of every member, closed when t ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}
