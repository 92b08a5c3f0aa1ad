package e2e

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/sysemu/sysemu/server/servertest"
)

// dsnFor is user@in with optional TLS (the server's certificate is
// self-signed, so it is not verified).
func dsnFor(in *servertest.Instance, user, pw string, tls bool) string {
	cfg, _ := mysql.ParseDSN(in.DSN(user, pw, ""))
	if tls {
		cfg.TLSConfig = "skip-verify"
	}
	return cfg.FormatDSN()
}

func pingErr(dsn string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(context.Background())
}

// TLS, caching_sha2_password, and accounts and grants across a restart.
func TestTLSAndAccounts(t *testing.T) {
	dir := t.TempDir()
	in := servertest.Start(t, servertest.Options{DataDir: dir})
	root := conn(t, openDB(t, dsnFor(in, "root", "", true)))
	if got := one(t, root, "SELECT @@have_ssl"); got != "YES" {
		t.Fatalf("@@have_ssl = %s", got)
	}
	// secure_file_priv keeps file functions inside <data-dir>/files.
	if got := mustRows(t, root, "SELECT LOAD_FILE('/etc/passwd')"); len(got) != 1 || got[0][0] != nil {
		t.Fatalf("LOAD_FILE outside secure_file_priv: %v", got)
	}
	exec(t, root,
		"CREATE USER 'sha'@'%' IDENTIFIED WITH caching_sha2_password BY 'sha-pw'",
		"GRANT SELECT ON *.* TO 'sha'@'%'",
		"CREATE USER 'dba'@'%' IDENTIFIED BY 'dba-pw'",
		"GRANT SUPER ON *.* TO 'dba'@'%'",
		"CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'",
		"GRANT SELECT, EXECUTE ON *.* TO 'app'@'%'",
		"CREATE USER 'reader'@'%' IDENTIFIED BY 'reader-pw'",
		"GRANT SELECT ON *.* TO 'reader'@'%'",
		"CREATE USER 'gone'@'%' IDENTIFIED BY 'gone-pw'",
		"DROP USER 'gone'@'%'")

	// caching_sha2_password needs TLS (or a Unix socket) for the full
	// authentication, as in MySQL.
	if err := pingErr(dsnFor(in, "sha", "sha-pw", true)); err != nil {
		t.Fatalf("caching_sha2_password over TLS: %v", err)
	}
	if err := pingErr(dsnFor(in, "sha", "wrong", true)); err == nil {
		t.Fatal("caching_sha2_password with a wrong password connected")
	}

	check := func(in *servertest.Instance) {
		t.Helper()
		dba := conn(t, openDB(t, dsnFor(in, "dba", "dba-pw", false)))
		// The admin privilege is grantable: dba may reseed.
		exec(t, dba, "CALL recovery_mode('on')", "CALL recovery_mode('off')")
		app := conn(t, openDB(t, dsnFor(in, "app", "app-pw", false)))
		_, err := app.ExecContext(context.Background(), "CALL recovery_mode('on')")
		if n, _ := errno(err); n != 1227 {
			t.Fatalf("app without SUPER: %v", err)
		}
		reader := conn(t, openDB(t, dsnFor(in, "reader", "reader-pw", false)))
		_, err = reader.ExecContext(context.Background(), "CALL recovery_mode('on')")
		if n, state := errno(err); n != 1142 || state != "42000" {
			t.Fatalf("reader without EXECUTE: %v", err)
		}
		if err := pingErr(dsnFor(in, "gone", "gone-pw", false)); err == nil {
			t.Fatal("a dropped user connected")
		}
		if err := pingErr(dsnFor(in, "app", "wrong", false)); err == nil {
			t.Fatal("a wrong password connected")
		}
	}
	check(in)
	in.Stop()
	in = servertest.Start(t, servertest.Options{DataDir: dir})
	check(in)
	if err := pingErr(dsnFor(in, "sha", "sha-pw", true)); err != nil {
		t.Fatalf("caching_sha2_password after restart: %v", err)
	}
}

func TestRequireTLS(t *testing.T) {
	in := servertest.Start(t, servertest.WithRequireTLS())
	err := pingErr(dsnFor(in, "root", "", false))
	if n, _ := errno(err); n != 3159 {
		t.Fatalf("plain connection with --require-tls: %v, want error 3159", err)
	}
	if err := pingErr(dsnFor(in, "root", "", true)); err != nil {
		t.Fatalf("TLS connection: %v", err)
	}
}

func TestHTTPToken(t *testing.T) {
	in := servertest.Start(t, servertest.WithHTTPToken("s3cret"))
	do := func(method, path, token string) int {
		req, _ := http.NewRequest(method, "http://"+in.HTTPAddr+path, strings.NewReader(""))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/admin/sequence/table/next-id", "", 401},
		{"GET", "/admin/sequence/table/next-id", "wrong", 401},
		{"GET", "/admin/sequence/table/next-id", "s3cret", 200},
		{"POST", "/admin/recovery/enable", "", 401},
		{"POST", "/admin/recovery/enable", "s3cret", 200},
		{"POST", "/admin/recovery/disable", "s3cret", 200},
		{"GET", "/metrics", "", 401},
		{"GET", "/", "", 401},
	} {
		if got := do(c.method, c.path, c.token); got != c.want {
			t.Errorf("%s %s token %q: %d, want %d", c.method, c.path, c.token, got, c.want)
		}
	}
}
