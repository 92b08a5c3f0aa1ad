// Package servertest starts real sysemu servers for tests: bbolt in a
// temporary directory, MySQL and HTTP on 127.0.0.1:0, stopped by t.Cleanup.
package servertest

import (
	"context"
	"database/sql"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/sirupsen/logrus"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/engine/pgfiles"
	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/bolt"
	"github.com/sysemu/sysemu/seed"
	"github.com/sysemu/sysemu/server"
)

// Option configures Start: an Options value, or one of the With* options.
type Option interface{ apply(*Options) }

func (o Options) apply(to *Options) { *to = o }

type optionFunc func(*Options)

func (f optionFunc) apply(to *Options) { f(to) }

// WithScenario applies the named seed scenario (seed/scenarios) after start.
func WithScenario(name string) Option {
	return optionFunc(func(o *Options) { o.Scenarios = append(o.Scenarios, name) })
}

// WithHTTPToken makes the HTTP API require the bearer token.
func WithHTTPToken(token string) Option { return optionFunc(func(o *Options) { o.HTTPToken = token }) }

// WithRequireTLS refuses MySQL connections without TLS.
func WithRequireTLS() Option { return optionFunc(func(o *Options) { o.RequireTLS = true }) }

// WithPassword sets the administrator's password.
func WithPassword(pw string) Option { return optionFunc(func(o *Options) { o.Password = pw }) }

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
	// Scenarios are seed scenarios applied, in order, once the server is up.
	Scenarios []string
	// HTTPToken and RequireTLS are server.Config's. The server always offers
	// TLS with a self-signed certificate generated into DataDir.
	HTTPToken  string
	RequireTLS bool
	// Log receives the server's log (default: warnings and errors on
	// stderr). Start routes go-mysql-server's log lines to it too.
	Log *logrus.Logger
	// SlowQuery is server.Config's (default 1s).
	SlowQuery time.Duration
	// Socket is a Unix socket path to serve too (default none).
	Socket string
}

// Instance is a running server.
type Instance struct {
	DataDir string
	// MySQLAddr and HTTPAddr are the bound loopback addresses.
	MySQLAddr, HTTPAddr string
	Password            string
	RequireTLS          bool
	Engine              *engine.Engine
	Server              *server.Server

	st   *bolt.Store
	done chan error
}

// DSN starts a server (see Start) and returns the administrator's
// go-sql-driver DSN without a default database.
func DSN(t testing.TB, opts ...Option) string { return Start(t, opts...).RootDSN("") }

// Start runs a server on 127.0.0.1:0 (MySQL and HTTP) over a store in a
// temporary directory until the test ends (or Stop). Options apply in order.
func Start(t testing.TB, options ...Option) *Instance {
	t.Helper()
	var opts Options
	for _, o := range options {
		o.apply(&opts)
	}
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.Profile == "" {
		opts.Profile = seed.DefaultProfile
	}
	log := opts.Log
	if log == nil {
		log = logrus.New()
		log.SetLevel(logrus.WarnLevel)
	}
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
	metrics := server.NewMetrics()
	eng, err := engine.Open(context.Background(), store.Timed(st, metrics.ObserveStoreTx), p, log, opts.Engine)
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
	fileDir := filepath.Join(opts.DataDir, "files")
	if err := os.MkdirAll(fileDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cert, key, err := server.SelfSignedCert(opts.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{
		MySQLAddr: mysqlLn.Addr().String(), HTTPAddr: httpLn.Addr().String(),
		Password: opts.Password, MySQLListener: mysqlLn, HTTPListener: httpLn,
		TLSCert: cert, TLSKey: key, RequireTLS: opts.RequireTLS, HTTPToken: opts.HTTPToken, Metrics: metrics,
		SlowQuery: opts.SlowQuery, Socket: opts.Socket, FileDir: fileDir,
	}, eng, log)
	if err != nil {
		t.Fatal(err)
	}
	in := &Instance{DataDir: opts.DataDir, MySQLAddr: mysqlLn.Addr().String(), HTTPAddr: httpLn.Addr().String(),
		Password: opts.Password, RequireTLS: opts.RequireTLS, Engine: eng, Server: srv, st: st, done: make(chan error, 1)}
	go func() { in.done <- srv.Serve() }()
	t.Cleanup(in.Stop)
	if len(opts.Scenarios) > 0 {
		in.applyScenarios(t, opts.Scenarios)
	}
	return in
}

func (in *Instance) applyScenarios(t testing.TB, names []string) {
	t.Helper()
	dsn := in.RootDSN("")
	if in.RequireTLS {
		dsn += "&tls=skip-verify"
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, name := range names {
		stmts, err := seed.Scenario(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range stmts {
			if _, err := c.ExecContext(context.Background(), st); err != nil {
				t.Fatalf("scenario %s: %s: %v", name, st, err)
			}
		}
	}
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

// Metric reads the unlabelled sample name from the Prometheus /metrics page
// of the HTTP API at httpAddr (an Instance's HTTPAddr, or a sysemu process's).
func Metric(t testing.TB, httpAddr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}
