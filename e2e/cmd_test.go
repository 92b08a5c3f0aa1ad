package e2e

import (
	"os"
	cmdexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// binRun runs the sysemu binary with args and returns its combined output.
func binRun(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	out, err := cmdexec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

// The operator commands against a running binary: seed apply, snapshot save
// (never overwrites) and restore (refuses a non-clean target without --force).
func TestOperatorCommands(t *testing.T) {
	bin := binBuild(t)
	p := binStart(t, bin, t.TempDir())
	conn := []string{"--mysql-addr", p.mysqlAddr, "--http-addr", p.httpAddr}

	if out, err := binRun(t, bin, append([]string{"seed", "apply", "stale-next-table-id"}, conn...)...); err != nil {
		t.Fatalf("seed apply: %v\n%s", err, out)
	}
	c := openDB(t, p.dsn(""))
	var next, maxID string
	if err := c.QueryRow("SELECT next_table_id()").Scan(&next); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow("SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_ID DESC LIMIT 1").Scan(&maxID); err != nil {
		t.Fatal(err)
	}
	if next != "1026" || maxID != "1030" {
		t.Fatalf("after seed apply: next %s max %s", next, maxID)
	}

	file := filepath.Join(t.TempDir(), "meta.json")
	if out, err := binRun(t, bin, append([]string{"snapshot", "save", file}, conn...)...); err != nil {
		t.Fatalf("snapshot save: %v\n%s", err, out)
	}
	out, err := binRun(t, bin, append([]string{"snapshot", "save", file}, conn...)...)
	if err == nil || !strings.Contains(out, "already exists. Please choose a different name or remove the existing file before proceeding.") {
		t.Fatalf("second save must refuse to overwrite: %v\n%s", err, out)
	}
	out, err = binRun(t, bin, append([]string{"snapshot", "restore", file}, conn...)...)
	if err == nil || !strings.Contains(out, "The target source is not clean") {
		t.Fatalf("restore without --force: %v\n%s", err, out)
	}
	if out, err := binRun(t, bin, append([]string{"snapshot", "restore", file, "--force"}, conn...)...); err != nil {
		t.Fatalf("restore --force: %v\n%s", err, out)
	}

	// Listening beyond loopback without a password is refused.
	out, err = binRun(t, bin, "serve", "--data-dir", t.TempDir(), "--mysql-addr", "0.0.0.0:0", "--http-addr", "-")
	if err == nil || !strings.Contains(out, "without a password") {
		t.Fatalf("serve on 0.0.0.0 without a password: %v\n%s", err, out)
	}
}

// The binary reads its config file and the environment: flags > env > file.
func TestConfigFileAndEnvironment(t *testing.T) {
	bin := binBuild(t)
	file := filepath.Join(t.TempDir(), "sysemu.toml")
	if err := os.WriteFile(file, []byte("nodes = 5\ncopy_num = 2\nhttp_addr = \"0.0.0.0:0\"\npassword = \"pw\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := cmdexec.Command(bin, "config", "print", "--copy-num", "1")
	cmd.Env = append(os.Environ(), "SYSEMU_CONFIG="+file, "SYSEMU_NODES=6")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("config print: %v\n%s", err, out)
	}
	for _, want := range []string{"nodes = 6\n", "copy_num = 1\n", `http_addr = "0.0.0.0:0"`, `password = "<set>"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("config print lacks %q:\n%s", want, out)
		}
	}
	// A non-loopback HTTP address from the file without a token is refused.
	cmd = cmdexec.Command(bin, "serve", "--data-dir", t.TempDir(), "--mysql-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "SYSEMU_CONFIG="+file)
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "without a token") {
		t.Fatalf("serve with a public HTTP address and no token: %v\n%s", err, out)
	}
}
