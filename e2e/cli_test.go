package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	clicmd "os/exec"
	"strings"
	"testing"
	"time"
)

// cliClient finds the real MariaDB (or MySQL) command-line client.
func cliClient(t testing.TB) string {
	t.Helper()
	return mustLookPath(t, "apt-get install mariadb-client", "mariadb", "mysql")
}

// mysqlPorter is a running server the CLI connects to: a binProc, or an
// in-process servertest instance (inProc).
type mysqlPorter interface{ mysqlPort() string }

// inProc adapts a servertest instance to the CLI helpers.
type inProc struct{ addr string }

func (p inProc) mysqlPort() string {
	_, port, _ := net.SplitHostPort(p.addr)
	return port
}

// cliRun runs the client in batch mode without column names against p,
// with stdin as the script (or extra args such as -e), and returns its
// combined output and exit error.
func cliRun(t testing.TB, client string, p mysqlPorter, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := []string{"--no-defaults", "--protocol=tcp", "-h127.0.0.1", "-P" + p.mysqlPort(),
		"-uroot", "--connect-timeout=10", "--batch", "--skip-column-names"}
	cmd := clicmd.CommandContext(ctx, client, append(base, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v timed out; output so far:\n%s", client, args, out.String())
	}
	return out.String(), err
}

// cliMust runs the client and fails the test unless it exits 0 with
// exactly want as output.
func cliMust(t testing.TB, client string, p mysqlPorter, stdin string, want string, args ...string) {
	t.Helper()
	got, err := cliRun(t, client, p, stdin, args...)
	if err != nil {
		t.Fatalf("client failed: %v\nstdin:\n%s\nargs: %q\noutput:\n%s", err, stdin, args, got)
	}
	if got != want {
		t.Fatalf("client output mismatch\nstdin:\n%s\nargs: %q\ngot:\n%q\nwant:\n%q", stdin, args, got, want)
	}
}

func cliHTTPGet(t testing.TB, p *binProc, path string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + p.httpAddr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// TestMariaDBCLITour drives the sysemu binary with the real mariadb client,
// restarts it with SIGTERM and checks the data and the table-ID sequence.
func TestMariaDBCLITour(t *testing.T) {
	client := cliClient(t)
	bin := binBuild(t)
	dataDir := t.TempDir()
	p := binStart(t, bin, dataDir)

	// The tour, fed on stdin.
	cliMust(t, client, p, `CREATE DATABASE shop;
USE shop;
CREATE TABLE orders (id BIGINT PRIMARY KEY AUTO_INCREMENT, note VARCHAR(64));
INSERT INTO orders (note) VALUES ('a'), ('b');
SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_ID DESC LIMIT 1;
SELECT next_table_id();
SELECT * FROM orders ORDER BY id;
`, "1024\n1034\n1\ta\n2\tb\n")
	// The same through -e on a database given on the command line.
	cliMust(t, client, p, "", "1\ta\n2\tb\n", "shop", "-e", "SELECT * FROM orders")
	cliMust(t, client, p, "", "shop\torders\t1024\n", "-e",
		"SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_ID >= 1024")

	if code, body := cliHTTPGet(t, p, "/admin/sequence/table/next-id"); code != http.StatusOK || body != `{"next_table_id":1034}` {
		t.Errorf("GET /admin/sequence/table/next-id = %d %q, want 200 %q", code, body, `{"next_table_id":1034}`)
	}

	// An error prints the MySQL error number and SQLSTATE, and the client
	// exits non-zero.
	out, err := cliRun(t, client, p, "", "shop", "-e", "SELECT * FROM nope_table")
	var ee *clicmd.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("SELECT * FROM nope_table: exit %v, want exit status 1; output:\n%s", err, out)
	}
	if !strings.Contains(out, "ERROR 1146 (42S02)") {
		t.Errorf("SELECT * FROM nope_table: output does not contain \"ERROR 1146 (42S02)\":\n%s", out)
	}

	// Graceful stop, restart on the same data directory.
	p.Stop()
	p = binStart(t, bin, dataDir)

	cliMust(t, client, p, "", "1\ta\n2\tb\n", "shop", "-e", "SELECT * FROM orders ORDER BY id")
	cliMust(t, client, p, "", "1034\n", "-e", "SELECT next_table_id()")
	cliMust(t, client, p, `USE shop;
CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(32));
SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'shop' AND TABLE_NAME = 'items';
SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_ID DESC LIMIT 1;
SELECT next_table_id();
`, "1034\n1034\n1044\n")
	cliMust(t, client, p, "", "shop\titems\t1034\nshop\torders\t1024\n", "-e",
		"SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_ID >= 1024 ORDER BY TABLE_NAME")
	// AUTO_INCREMENT continues after the restart.
	cliMust(t, client, p, "INSERT INTO orders (note) VALUES ('c');\nSELECT * FROM orders ORDER BY id;\n",
		"1\ta\n2\tb\n3\tc\n", "shop")
	if code, body := cliHTTPGet(t, p, "/admin/sequence/table/next-id"); code != http.StatusOK || body != `{"next_table_id":1044}` {
		t.Errorf("after restart: GET /admin/sequence/table/next-id = %d %q, want 200 %q", code, body, `{"next_table_id":1044}`)
	}
	p.Stop()
}
