package e2e

import (
	"bytes"
	"context"
	"os"
	clicmd "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sysemu/sysemu/server/servertest"
)

// The client programs under testdata/clients each run their own checks
// against a fresh server and print "OK n checks" last; .ci/test installs
// what they need (python3-pymysql, python3-sqlalchemy, libmariadb-java,
// default-jdk, npm's mysql2). A missing tool fails the test: nothing skips.

// runClient runs a client program and fails unless it exits 0 with an OK
// line.
func runClient(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := clicmd.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	last := strings.TrimSpace(out.String())
	if i := strings.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	if err != nil || !strings.HasPrefix(last, "OK ") {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out.String())
	}
	t.Log(last)
}

// mustLookPath returns the first of names found in PATH, or fails the test
// with the package that installs it.
func mustLookPath(t testing.TB, install string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := clicmd.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("%s not found (%s)", strings.Join(names, " or "), install)
	return ""
}

func hostPort(in *servertest.Instance) (string, string) {
	i := strings.LastIndexByte(in.MySQLAddr, ':')
	return in.MySQLAddr[:i], in.MySQLAddr[i+1:]
}

// TestPythonClients: PyMySQL and SQLAlchemy reflection with every warning
// turned into an error.
func TestPythonClients(t *testing.T) {
	t.Parallel()
	// Debian's interpreter has python3-pymysql and python3-sqlalchemy; a
	// python3 earlier in PATH (pyenv, venv) may not.
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = mustLookPath(t, "apt-get install python3", "python3")
	}
	if err := clicmd.Command(py, "-c", "import pymysql, sqlalchemy").Run(); err != nil {
		t.Fatalf("%s cannot import pymysql and sqlalchemy (apt-get install python3-pymysql python3-sqlalchemy): %v", py, err)
	}
	in := servertest.Start(t, servertest.Options{})
	host, port := hostPort(in)
	runClient(t, "testdata/clients", py, "python_client.py", host, port)
}

// TestJDBCClient: MariaDB Connector/J, client- and server-side prepared
// statements, the DatabaseMetaData walk and {call ...}.
func TestJDBCClient(t *testing.T) {
	t.Parallel()
	const jar = "/usr/share/java/mariadb-java-client.jar"
	if _, err := os.Stat(jar); err != nil {
		t.Fatalf("%s missing (apt-get install libmariadb-java)", jar)
	}
	javac := mustLookPath(t, "apt-get install default-jdk-headless", "javac")
	java := mustLookPath(t, "apt-get install default-jdk-headless", "java")
	classes := t.TempDir()
	src, err := filepath.Abs("testdata/clients/JdbcClient.java")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := clicmd.Command(javac, "-d", classes, "-cp", jar, src).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	in := servertest.Start(t, servertest.Options{})
	host, port := hostPort(in)
	runClient(t, classes, java, "-cp", jar+string(os.PathListSeparator)+classes, "JdbcClient", host, port)
}

// TestNodeClient: mysql2's execute(), query() and prepare().
func TestNodeClient(t *testing.T) {
	t.Parallel()
	node := mustLookPath(t, "apt-get install nodejs", "node")
	if _, err := os.Stat("testdata/clients/node/node_modules/mysql2"); err != nil {
		t.Fatalf("mysql2 is not installed: run `npm install` in e2e/testdata/clients/node (.ci/test does)")
	}
	in := servertest.Start(t, servertest.Options{})
	host, port := hostPort(in)
	runClient(t, "testdata/clients/node", node, "client.js", host, port)
}
