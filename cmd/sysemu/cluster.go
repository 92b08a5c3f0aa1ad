package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/engine/cluster"
	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/bolt"
	"github.com/sysemu/sysemu/engine/store/etcd"
)

// clusterFlags select cluster mode: the store in etcd.
type clusterFlags struct {
	etcd   string
	prefix string
	nodeID uint64
	ttl    time.Duration
}

func (f *clusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.etcd, "etcd", "", "cluster mode: etcd endpoints, comma-separated (the store lives there, not in --data-dir)")
	fs.StringVar(&f.prefix, "etcd-prefix", etcd.DefaultPrefix, "the cluster's key prefix in etcd")
	fs.Uint64Var(&f.nodeID, "node-id", 0, "cluster mode: this node's NODE_ID (1, 2, ...)")
	fs.DurationVar(&f.ttl, "node-ttl", cluster.DefaultTTL, "cluster mode: liveness lease TTL; a dead node turns offline this long after")
}

func (f *clusterFlags) validate() error {
	if f.nodeID == 0 {
		return errors.New("--etcd needs --node-id N (N >= 1)")
	}
	return nil
}

// open connects to etcd and returns the store; close the store, then the
// client.
func (f *clusterFlags) open() (*clientv3.Client, *etcd.Store, error) {
	cli, err := cluster.Connect(f.etcd)
	if err != nil {
		return nil, nil, err
	}
	return cli, etcd.New(cli, etcd.Options{Prefix: f.prefix}), nil
}

func (f *clusterFlags) join(ctx context.Context, eng *engine.Engine, st store.Store, log logrus.FieldLogger, cf clientFlags) (*cluster.Node, error) {
	addrs := engine.NodeAddrs{MySQL: cf.mysqlAddr}
	if cf.httpAddr != "-" {
		addrs.HTTP = cf.httpAddr
	}
	node, err := cluster.Join(ctx, eng, st.(*etcd.Store), log, cluster.Config{TTL: f.ttl, Addrs: addrs})
	if err != nil {
		return nil, err
	}
	log.WithFields(logrus.Fields{"node": f.nodeID, "etcd": f.etcd}).Info("joined the cluster")
	return node, nil
}

// migrate copies a standalone data directory's store into an empty etcd
// prefix, in one transaction (the etcd store commits it in two phases if it
// is big): the nodes then start from it with every ID intact.
func migrate(args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	from := fs.String("from", "", "the standalone data directory (sysemu.db in it); no server may be running on it")
	var cl clusterFlags
	fs.StringVar(&cl.etcd, "etcd", "", "etcd endpoints, comma-separated")
	fs.StringVar(&cl.prefix, "etcd-prefix", etcd.DefaultPrefix, "the cluster's key prefix in etcd")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || cl.etcd == "" {
		return errors.New("migrate needs --from DATA_DIR and --etcd ENDPOINTS")
	}
	src, err := bolt.Open(filepath.Join(*from, "sysemu.db"), bolt.Options{})
	if err != nil {
		return err
	}
	defer src.Close()
	cli, dst, err := cl.open()
	if err != nil {
		return err
	}
	defer cli.Close()
	defer dst.Close()
	ctx := context.Background()
	n, err := copyStore(ctx, src, dst)
	if err != nil {
		return err
	}
	fmt.Printf("migrated %d keys from %s to etcd %s (prefix %s)\n", n, *from, cl.etcd, cl.prefix)
	return nil
}

// copyStore copies every key of src into dst, which must be empty.
func copyStore(ctx context.Context, src, dst store.Store) (int, error) {
	type kv struct{ k, v []byte }
	var all []kv
	err := src.View(ctx, func(tx store.Tx) error {
		return tx.Scan(nil, nil, false, func(k, v []byte) (bool, error) {
			all = append(all, kv{append([]byte(nil), k...), append([]byte(nil), v...)})
			return true, nil
		})
	})
	if err != nil {
		return 0, err
	}
	err = dst.Update(ctx, func(tx store.Tx) error {
		empty := true
		if err := tx.Scan(nil, nil, false, func(k, _ []byte) (bool, error) {
			empty = false
			return false, nil
		}); err != nil {
			return err
		}
		if !empty {
			return fmt.Errorf("%w: the etcd prefix already holds a store; migrate into an empty one", engine.ErrTargetNotClean)
		}
		for _, p := range all {
			if err := tx.Put(p.k, p.v); err != nil {
				return err
			}
		}
		return nil
	})
	return len(all), err
}
