// Package server assembles go-mysql-server around the engine: the provider,
// user tables with durable rows, the system tables, the admin functions and
// procedures, accounts and privileges, the MySQL listener and the HTTP admin
// API. It never touches the store; everything goes through engine.
package server

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	sqle "github.com/dolthub/go-mysql-server"
	gms "github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/analyzer"
	"github.com/dolthub/go-mysql-server/sql/information_schema"
	"github.com/dolthub/go-mysql-server/sql/mysql_db"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/sirupsen/logrus"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/systables"
)

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// MySQLAddr is the MySQL protocol listen address (default 127.0.0.1:3306).
	MySQLAddr string
	// HTTPAddr is the HTTP admin API listen address (default 127.0.0.1:4000;
	// "-" disables it).
	HTTPAddr string
	// User and Password are the administrator account (default root, empty).
	User, Password string
	// Version is reported as @@version.
	Version string
	// MySQLListener and HTTPListener, when set, are used instead of listening
	// on the addresses (tests pass 127.0.0.1:0 listeners).
	MySQLListener, HTTPListener net.Listener
	// TLSCert and TLSKey are PEM files; with them the server offers TLS
	// (and caching_sha2_password accounts can log in).
	TLSCert, TLSKey string
	// FileDir is secure_file_priv: the only directory LOAD DATA INFILE,
	// LOAD_FILE() and SELECT ... INTO OUTFILE may use (empty: anywhere the
	// process can read, which go-mysql-server warns about at start).
	FileDir string
	// Socket, when set, is a Unix socket path served beside MySQLAddr
	// (caching_sha2_password accounts log in over it without TLS).
	Socket string
	// RequireTLS refuses connections that do not switch to TLS (and do not
	// come over the socket).
	RequireTLS bool
	// HTTPToken, when set, is the bearer token every HTTP request needs. It
	// is required when the HTTP address is not loopback.
	HTTPToken string
	// Metrics is the registry /metrics serves (nil: a new one). cmd makes
	// it first to time the store's transactions.
	Metrics *Metrics
	// SlowQuery is the duration from which a statement is logged at info
	// and counted as slow (default 1s; negative disables).
	SlowQuery time.Duration
}

func (c *Config) defaults() {
	if c.MySQLAddr == "" {
		c.MySQLAddr = "127.0.0.1:3306"
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:4000"
	}
	if c.User == "" {
		c.User = "root"
	}
	if c.Version == "" {
		c.Version = "8.0.33-sysemu"
	}
	if c.SlowQuery == 0 {
		c.SlowQuery = time.Second
	}
}

// Validate refuses to expose an account without a password beyond loopback.
func (c Config) Validate() error {
	c.defaults()
	if c.HTTPAddr != "-" && !isLoopback(c.HTTPAddr) && c.HTTPToken == "" {
		return fmt.Errorf("refusing to serve HTTP on %s without a token: set --http-token (or listen on 127.0.0.1)", c.HTTPAddr)
	}
	if c.Password != "" {
		return nil
	}
	for _, addr := range []string{c.MySQLAddr, c.HTTPAddr} {
		if addr == "-" {
			continue
		}
		if !isLoopback(addr) {
			return fmt.Errorf("refusing to listen on %s without a password: set --password (or listen on 127.0.0.1)", addr)
		}
	}
	return nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Server is one sysemu node's SQL and HTTP faces.
type Server struct {
	cfg     Config
	tls     *tls.Config
	eng     *engine.Engine
	log     *logrus.Logger
	gms     *sqle.Engine
	procs   sql.ExternalStoredProcedureRegistry
	schemas schemaCache
	stats   *wireStats
	fast    *fastPath
	// retryMu makes statements run again after a lost race take turns.
	retryMu sync.Mutex

	mysqlLn, httpLn net.Listener
	mysqlSrv        *gms.Server
	httpSrv         *http.Server
	closeOnce       sync.Once
}

// New builds a server over eng. Nothing listens until Serve.
func New(cfg Config, eng *engine.Engine, log *logrus.Logger) (*Server, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, tls: tlsCfg, eng: eng, log: log, procs: sql.NewExternalStoredProcedureRegistry(),
		stats: &wireStats{started: time.Now(), slowAfter: cfg.SlowQuery, onQuery: cfg.Metrics.queryDone}}
	s.fast = &fastPath{s: s}
	cfg.Metrics.registerServer(s)
	for _, p := range append(append(append(s.procedures(), s.pgProcedures()...), s.identityProcedures()...), s.restoreProcedures()...) {
		s.procs.Register(p)
	}
	a := analyzer.NewBuilder(&provider{s}).AddPostAnalyzeRule(rejectNullArgsID, rejectNullArgs).AddOverrides(sql.EngineOverrides{
		Hooks: sql.ExecutionHooks{CreateTable: sql.CreateTable{PreSQLExecution: rememberCreate}},
	}).Build()
	s.gms = sqle.New(a, &sqle.Config{})
	a.Catalog.InfoSchema = &infoSchema{Database: a.Catalog.InfoSchema, s: s}
	ctx := s.newContext(context.Background())
	a.Catalog.RegisterFunction(ctx, append(append(s.functions(), s.pgFunctions()...), s.identityFunctions()...)...)
	if err := s.setupAccounts(ctx); err != nil {
		return nil, err
	}
	sql.SystemVariables.AddSystemVariables(identityVariables)
	sql.SystemVariables.AddSystemVariables(extraSystemVariables(cfg.Version, tlsCfg != nil))
	if err := sql.SystemVariables.AssignValues(map[string]any{
		"socket":           cfg.Socket,
		"secure_file_priv": cfg.FileDir,
		varNodeID:          int64(eng.NodeID()),
		"version":          cfg.Version,
		"version_comment":  "sysemu: resource-ID allocator emulator",
	}); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) mdb() *mysql_db.MySQLDb { return s.gms.Analyzer.Catalog.MySQLDb }

// newContext is a context for work the server does itself, as the admin.
func (s *Server) newContext(ctx context.Context) *sql.Context {
	sess := newSession(sql.NewBaseSessionWithClientServer("", sql.Client{User: s.cfg.User, Address: "localhost"}, 0))
	sctx := sql.NewContext(ctx, sql.WithSession(sess))
	sctx.SetCurrentDatabase("")
	return sctx
}

// setupAccounts loads the stored accounts, makes sure the administrator
// exists with the configured password, and persists every account change.
func (s *Server) setupAccounts(ctx *sql.Context) error {
	mdb := s.mdb()
	mdb.SetPersister(usersPersister{s.eng})
	data, err := s.eng.Users(ctx)
	if err != nil {
		return err
	}
	if len(data) > 0 {
		if err := mdb.LoadData(ctx, data); err != nil {
			return fmt.Errorf("load accounts: %w", err)
		}
	}
	ed := mdb.Editor()
	defer ed.Close()
	for _, host := range []string{"localhost", "%"} {
		ed.RemoveUser(mysql_db.UserPrimaryKey{Host: host, User: s.cfg.User})
		mdb.AddSuperUser(ed, s.cfg.User, host, s.cfg.Password)
	}
	mdb.SetEnabled(true)
	return mdb.Persist(ctx, ed)
}

type usersPersister struct{ eng *engine.Engine }

func (p usersPersister) Persist(ctx *sql.Context, data []byte) error {
	return p.eng.SaveUsers(ctx, data)
}

// userTable returns the go-mysql-server table for a catalog table.
func (s *Server) userTable(ctx *sql.Context, t *engine.Table) (*userTable, error) {
	ts, err := s.schemas.get(ctx, t)
	if err != nil {
		return nil, err
	}
	return &userTable{t: t, ts: ts, eng: s.eng, srv: s}, nil
}

// infoSchema is go-mysql-server's information_schema with TABLES replaced
// by the indexed declaration that carries TABLE_ID.
type infoSchema struct {
	sql.Database
	s *Server
}

func (i *infoSchema) GetTableInsensitive(ctx *sql.Context, name string) (sql.Table, bool, error) {
	if strings.EqualFold(name, information_schema.TablesTableName) {
		return systables.New(systables.InformationSchemaTables, i.s.eng, "information_schema"), true, nil
	}
	return i.Database.GetTableInsensitive(ctx, name)
}

// Serve listens on the MySQL and HTTP addresses and serves until Close.
func (s *Server) Serve() error {
	var err error
	if s.mysqlLn = s.cfg.MySQLListener; s.mysqlLn == nil {
		if s.mysqlLn, err = net.Listen("tcp", s.cfg.MySQLAddr); err != nil {
			return err
		}
	}
	var ln net.Listener = s.mysqlLn
	if s.cfg.Socket != "" {
		sock, err := listenSocket(s.cfg.Socket)
		if err != nil {
			s.mysqlLn.Close()
			return err
		}
		ln = newMultiListener(s.mysqlLn, sock)
	}
	var ic gms.InterceptorChain
	ic.WithInterceptor(&interceptor{s: s})
	s.mysqlSrv, err = gms.NewServer(gms.Config{
		Protocol: "tcp", Address: s.mysqlLn.Addr().String(), Listener: ln,
		Version: s.cfg.Version, Options: []gms.Option{s.fast.option, ic.Option()},
		MaxLoggedQueryLen: -1,
		TLSConfig:         s.tls, RequireSecureTransport: s.cfg.RequireTLS,
	}, s.gms, sql.NewContext, s.sessionBuilder, s.stats)
	if err != nil {
		return err
	}
	if l, ok := s.mysqlSrv.Listener.(*mysql.Listener); ok {
		l.Statistics = s.stats.statistics
	}
	errc := make(chan error, 2)
	go func() { errc <- s.mysqlSrv.Start() }()
	if s.cfg.HTTPAddr != "-" || s.cfg.HTTPListener != nil {
		if s.httpLn = s.cfg.HTTPListener; s.httpLn == nil {
			if s.httpLn, err = net.Listen("tcp", s.cfg.HTTPAddr); err != nil {
				s.mysqlSrv.Close()
				return err
			}
		}
		s.httpSrv = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- s.httpSrv.Serve(s.httpLn) }()
	}
	s.log.WithFields(logrus.Fields{"mysql": s.mysqlLn.Addr().String(), "http": s.HTTPAddr()}).Info("sysemu serving")
	err = <-errc
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// MySQLAddr is the address the MySQL listener is bound to ("" before Serve).
func (s *Server) MySQLAddr() string {
	if s.mysqlLn == nil {
		return ""
	}
	return s.mysqlLn.Addr().String()
}

// HTTPAddr is the address the HTTP listener is bound to ("" if none).
func (s *Server) HTTPAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// Close stops accepting, lets running statements finish for up to timeout,
// then closes the remaining connections.
func (s *Server) Close(timeout time.Duration) error {
	var err error
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if s.httpSrv != nil {
			_ = s.httpSrv.Shutdown(ctx)
		}
		if s.mysqlSrv != nil {
			err = s.mysqlSrv.Close()
			done := make(chan struct{})
			go func() { s.mysqlSrv.SessionManager().WaitForClosedConnections(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
			}
		}
		s.gms.Close()
		if ferr := s.eng.FlushIdentities(context.Background()); ferr != nil {
			s.log.WithError(ferr).Warn("writing identity counters back")
		}
	})
	return err
}

// adminCredentials reports whether user/password name the administrator.
func (s *Server) adminCredentials(user, password string) bool {
	return subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.User)) == 1 &&
		subtle.ConstantTimeCompare([]byte(password), []byte(s.cfg.Password)) == 1
}
