package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/engine/pgfiles"
	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/bolt"
	"github.com/sysemu/sysemu/seed"
	"github.com/sysemu/sysemu/server"
)

// clientFlags are the connection flags every subcommand shares.
type clientFlags struct {
	mysqlAddr, httpAddr, user, password string
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.mysqlAddr, "mysql-addr", "127.0.0.1:3306", "MySQL protocol address")
	fs.StringVar(&c.httpAddr, "http-addr", "127.0.0.1:4000", "HTTP admin API address (\"-\" disables it)")
	fs.StringVar(&c.user, "user", "root", "administrator account")
	fs.StringVar(&c.password, "password", os.Getenv("SYSEMU_PASSWORD"), "administrator password (default $SYSEMU_PASSWORD)")
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	dataDir := fs.String("data-dir", "./sysemu-data", "data directory (bbolt file sysemu.db)")
	profile := fs.String("profile", seed.DefaultProfile, fmt.Sprintf("bootstrap catalog %v", seed.ProfileNames()))
	scenario := fs.String("scenario", "", fmt.Sprintf("scenario to apply after start %v", seed.Scenarios()))
	level := fs.String("log-level", "info", "log level (debug, info, warn, error)")
	var eo engine.Options
	fs.Uint64Var(&eo.Nodes, "nodes", 0, fmt.Sprintf("emulated storage nodes 1..N (default %d for a new data directory, else as stored)", engine.DefaultNodes))
	fs.IntVar(&eo.CopyNum, "copy-num", engine.DefaultCopyNum, "replicas per store unless a table's COMMENT says copy_num=N (capped by the node count)")
	fs.Uint64Var(&eo.StoreRows, "store-rows", engine.DefaultStoreRows, "rows a store holds before it splits")
	fs.IntVar(&eo.IdentityCache, "identity-cache", engine.DefaultIdentityCache, "identity values a counter reserves per durable write (a crash skips at most this many)")
	pgMapVersion := pgMapVersionFlag(fs)
	var cl clusterFlags
	cl.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := logrus.New()
	lvl, err := logrus.ParseLevel(*level)
	if err != nil {
		return err
	}
	log.SetLevel(lvl)
	// go-mysql-server logs every connection on the global logger.
	logrus.SetLevel(max(lvl, logrus.ErrorLevel))
	if lvl >= logrus.DebugLevel {
		logrus.SetLevel(lvl)
	}

	cfg := server.Config{MySQLAddr: cf.mysqlAddr, HTTPAddr: cf.httpAddr, User: cf.user, Password: cf.password}
	if err := cfg.Validate(); err != nil {
		return err
	}
	p, err := seed.Profile(*profile)
	if err != nil {
		return err
	}
	mapLayout, err := pgfiles.ParseLayout(*pgMapVersion)
	if err != nil {
		return err
	}
	if *scenario != "" {
		if _, err := seed.Scenario(*scenario); err != nil {
			return err
		}
	}
	ctx := context.Background()
	var st store.Store
	if cl.etcd != "" {
		if err := cl.validate(); err != nil {
			return err
		}
		cli, est, err := cl.open()
		if err != nil {
			return err
		}
		defer cli.Close()
		defer est.Close()
		st = est
		// Every node shares the store; relation files are not shared, so
		// cluster mode writes none.
		eo.NodeID, eo.MapLayout = cl.nodeID, mapLayout
		if cl.nodeID > engine.DefaultNodes || eo.Nodes > 0 {
			eo.Nodes = max(eo.Nodes, cl.nodeID)
		}
	} else {
		if err := os.MkdirAll(*dataDir, 0o700); err != nil {
			return err
		}
		bst, err := bolt.Open(filepath.Join(*dataDir, "sysemu.db"), bolt.Options{})
		if err != nil {
			return err
		}
		defer bst.Close()
		st = bst
		eo.Dir, eo.MapLayout = *dataDir, mapLayout
	}
	eng, err := engine.Open(ctx, st, p, log, eo)
	if err != nil {
		return err
	}
	if cl.etcd != "" {
		node, err := cl.join(ctx, eng, st, log, cf)
		if err != nil {
			return err
		}
		defer node.Leave()
	}
	srv, err := server.New(cfg, eng, log)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()

	if *scenario != "" {
		if err := waitAndApply(ctx, cf, *scenario, done); err != nil {
			_ = srv.Close(5 * time.Second)
			return err
		}
		log.WithField("scenario", *scenario).Info("scenario applied")
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-done:
		return err
	case s := <-sig:
		log.WithField("signal", s.String()).Info("draining connections")
	}
	if err := srv.Close(10 * time.Second); err != nil {
		log.WithError(err).Warn("close")
	}
	<-done
	log.Info("stopped")
	return nil
}
