// Package servertest starts real sysemu servers for tests: bbolt in a
// temporary directory, MySQL and HTTP on 127.0.0.1:0, stopped by t.Cleanup.
package servertest

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/sirupsen/logrus"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/engine/pgfiles"
	"github.com/sysemu/sysemu/engine/store/bolt"
	"github.com/sysemu/sysemu/seed"
	"github.com/sysemu/sysemu/server"
)

// Options configure Start.
type Options struct {
	// DataDir holds the store; empty means a fresh t.TempDir().
	DataDir string
	// Password of the administrator root (default empty).
	Password string
	// Profile is the bootstrap catalog (default seed.DefaultProfile).
	Profile string
	// Engine configures the engine (nodes, replica count, store size).
	Engine engine.Options
	// MapLayout is the pg_filenode.map layout (default PostgreSQL <= 15's).
	MapLayout pgfiles.Layout
}

// Instance is a running server.
type Instance struct {
	DataDir string
	// MySQLAddr and HTTPAddr are the bound loopback addresses.
	MySQLAddr, HTTPAddr string
	Password            string
	Engine              *engine.Engine
	Server              *server.Server

	st   *bolt.Store
	done chan error
}

// Start runs a server until the test ends (or Stop).
func Start(t testing.TB, opts Options) *Instance {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.Profile == "" {
		opts.Profile = seed.DefaultProfile
	}
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	server.RouteLibraryLogs(logrus.StandardLogger(), log)
	p, err := seed.Profile(opts.Profile)
	if err != nil {
		t.Fatal(err)
	}
	st, err := bolt.Open(filepath.Join(opts.DataDir, "sysemu.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts.Engine.Dir, opts.Engine.MapLayout = opts.DataDir, opts.MapLayout
	eng, err := engine.Open(context.Background(), st, p, log, opts.Engine)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	mysqlLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{
		MySQLAddr: mysqlLn.Addr().String(), HTTPAddr: httpLn.Addr().String(),
		Password: opts.Password, MySQLListener: mysqlLn, HTTPListener: httpLn,
	}, eng, log)
	if err != nil {
		t.Fatal(err)
	}
	in := &Instance{DataDir: opts.DataDir, MySQLAddr: mysqlLn.Addr().String(), HTTPAddr: httpLn.Addr().String(),
		Password: opts.Password, Engine: eng, Server: srv, st: st, done: make(chan error, 1)}
	go func() { in.done <- srv.Serve() }()
	t.Cleanup(in.Stop)
	return in
}

// Stop shuts the server down and closes its store; it is idempotent.
func (in *Instance) Stop() {
	if in.st == nil {
		return
	}
	_ = in.Server.Close(5 * time.Second)
	<-in.done
	_ = in.st.Close()
	in.st = nil
}

// DSN returns a go-sql-driver DSN for user/password on database db.
func (in *Instance) DSN(user, password, db string) string {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, password, "tcp", in.MySQLAddr, db
	cfg.MultiStatements = true
	return cfg.FormatDSN()
}

// RootDSN is the administrator's DSN on database db.
func (in *Instance) RootDSN(db string) string { return in.DSN("root", in.Password, db) }
