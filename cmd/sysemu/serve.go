package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/engine/pgfiles"
	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/bolt"
	"github.com/sysemu/sysemu/engine/store/etcd"
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

// serveFlags is every `sysemu serve` setting; each can also come from the
// config file and the environment (config.go).
type serveFlags struct {
	fs                         *flag.FlagSet
	cf                         clientFlags
	cl                         clusterFlags
	dataDir, profile, scenario *string
	level                      *string
	eo                         engine.Options
	pgMapVersion               *int
	tlsCert, tlsKey, httpToken *string
	socket                     *string
	requireTLS                 *bool
	slowQuery                  *time.Duration
}

func newServeFlags() *serveFlags {
	f := &serveFlags{fs: flag.NewFlagSet("serve", flag.ContinueOnError)}
	fs := f.fs
	f.cf.register(fs)
	f.dataDir = fs.String("data-dir", "./sysemu-data", "data directory (bbolt file sysemu.db)")
	f.profile = fs.String("profile", seed.DefaultProfile, fmt.Sprintf("bootstrap catalog %v", seed.ProfileNames()))
	f.scenario = fs.String("scenario", "", fmt.Sprintf("scenario to apply after start %v", seed.Scenarios()))
	f.level = fs.String("log-level", "info", "log level (debug, info, warn, error)")
	fs.Uint64Var(&f.eo.Nodes, "nodes", 0, fmt.Sprintf("emulated storage nodes 1..N (default %d for a new data directory, else as stored)", engine.DefaultNodes))
	fs.IntVar(&f.eo.CopyNum, "copy-num", engine.DefaultCopyNum, "replicas per store unless a table's COMMENT says copy_num=N (capped by the node count)")
	fs.Uint64Var(&f.eo.StoreRows, "store-rows", engine.DefaultStoreRows, "rows a store holds before it splits")
	fs.IntVar(&f.eo.IdentityCache, "identity-cache", engine.DefaultIdentityCache, "identity values a counter reserves per durable write (a crash skips at most this many)")
	f.pgMapVersion = pgMapVersionFlag(fs)
	f.cl.register(fs)
	f.tlsCert = fs.String("tls-cert", "", "TLS certificate (PEM); empty: a self-signed one generated into <data-dir>/tls")
	f.tlsKey = fs.String("tls-key", "", "TLS private key (PEM), with --tls-cert")
	f.requireTLS = fs.Bool("require-tls", false, "refuse MySQL connections that use neither TLS nor the Unix socket")
	f.socket = fs.String("socket", "", "also serve MySQL on this Unix socket path")
	f.httpToken = fs.String("http-token", "", "bearer token every HTTP request must carry (required when --http-addr is not loopback)")
	f.slowQuery = fs.Duration("slow-query", time.Second, "statements running this long or longer are logged at info")
	fs.String("config", "", "TOML config file (default $SYSEMU_CONFIG); flags > SYSEMU_* env > file > defaults")
	return f
}

// tuneGC trades memory for CPU unless GOGC or GOMEMLIMIT say otherwise: the
// collector lets the heap grow to 5x the live heap instead of 2x (every
// statement allocates hundreds of short-lived objects; collection was about
// 15% of a point select's CPU), under a 3 GiB soft limit, so a big catalog
// collects as often as it must to stay below it.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(3 << 30)
	}
}

func serve(args []string) error {
	f := newServeFlags()
	if err := settle(f.fs, args); err != nil {
		return err
	}
	cf, cl, eo, dataDir, profile, scenario, level, pgMapVersion := f.cf, f.cl, f.eo, f.dataDir, f.profile, f.scenario, f.level, f.pgMapVersion
	log := logrus.New()
	lvl, err := logrus.ParseLevel(*level)
	if err != nil {
		return err
	}
	log.SetLevel(lvl)
	server.RouteLibraryLogs(logrus.StandardLogger(), log)
	tuneGC()

	cfg := server.Config{MySQLAddr: cf.mysqlAddr, HTTPAddr: cf.httpAddr, User: cf.user, Password: cf.password,
		TLSCert: *f.tlsCert, TLSKey: *f.tlsKey, RequireTLS: *f.requireTLS, HTTPToken: *f.httpToken, SlowQuery: *f.slowQuery,
		Socket: *f.socket}
	if *f.slowQuery == 0 {
		cfg.SlowQuery = -1
	}
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
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return err
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if cfg.TLSCert == "" {
		if cfg.TLSCert, cfg.TLSKey, err = server.SelfSignedCert(*dataDir); err != nil {
			return fmt.Errorf("self-signed certificate: %w", err)
		}
	}
	cfg.FileDir = filepath.Join(*dataDir, "files")
	if err := os.MkdirAll(cfg.FileDir, 0o700); err != nil {
		return err
	}
	cfg.Metrics = server.NewMetrics()
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
		stopSweep := make(chan struct{})
		defer close(stopSweep)
		go sweepTombstones(est, log, stopSweep)
		// Every node shares the store; relation files are not shared, so
		// cluster mode writes none.
		eo.NodeID, eo.MapLayout = cl.nodeID, mapLayout
		if cl.nodeID > engine.DefaultNodes || eo.Nodes > 0 {
			eo.Nodes = max(eo.Nodes, cl.nodeID)
		}
	} else {
		bst, err := bolt.Open(filepath.Join(*dataDir, "sysemu.db"), bolt.Options{})
		if err != nil {
			return err
		}
		defer bst.Close()
		st = bst
		eo.Dir, eo.MapLayout = *dataDir, mapLayout
	}
	eng, err := engine.Open(ctx, store.Timed(st, cfg.Metrics.ObserveStoreTx), p, log, eo)
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

// sweepInterval is how often a cluster node clears the tombstones deletes
// leave in etcd (they let a scan notice a key removed under it).
const sweepInterval = 10 * time.Minute

func sweepTombstones(est *etcd.Store, log logrus.FieldLogger, stop <-chan struct{}) {
	tick := time.NewTicker(sweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			n, err := est.Sweep(context.Background())
			if err != nil {
				log.WithError(err).Warn("sweeping etcd tombstones")
				continue
			}
			log.WithField("tombstones", n).Debug("swept etcd tombstones")
		}
	}
}
