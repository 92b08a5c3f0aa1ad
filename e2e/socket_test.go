package e2e

import (
	clicmd "os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/sysemu/sysemu/server/servertest"
)

// The Unix socket: served beside TCP, secure enough for
// caching_sha2_password and --require-tls, as in MySQL.
func TestUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "mysql.sock")
	in := servertest.Start(t, servertest.Options{Socket: sock, RequireTLS: true})
	root := conn(t, openDB(t, dsnFor(in, "root", "", true)))
	exec(t, root, "CREATE USER 'sha'@'%' IDENTIFIED WITH caching_sha2_password BY 'sha-pw'", "GRANT SELECT ON *.* TO 'sha'@'%'")
	if got := one(t, root, "SELECT @@socket"); got != sock {
		t.Fatalf("@@socket = %q", got)
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = "sha", "sha-pw", "unix", sock
	c := conn(t, openDB(t, cfg.FormatDSN()))
	if got := one(t, c, "SELECT CURRENT_USER()"); got != "sha@%" {
		t.Fatalf("CURRENT_USER() over the socket = %q", got)
	}
	outb, err := clicmd.Command(cliClient(t), "--no-defaults", "--protocol=socket", "--socket="+sock, "-usha", "-psha-pw", "-e", "status").CombinedOutput()
	out := string(outb)
	if err != nil || !strings.Contains(out, "Localhost via UNIX socket") || !strings.Contains(out, "UNIX socket:\t\t"+sock) {
		t.Fatalf("mariadb over the socket: %v\n%s", err, out)
	}
	// TCP without TLS is still refused.
	if n, _ := errno(pingErr(dsnFor(in, "root", "", false))); n != 3159 {
		t.Fatalf("plain TCP under --require-tls: %d", n)
	}
}
