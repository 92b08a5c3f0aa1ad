package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// flags > environment > file > defaults, for every kind of flag.
func TestSettlePrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sysemu.toml")
	if err := os.WriteFile(file, []byte(`
data_dir = "/from/file"
mysql_addr = "127.0.0.1:1111"
nodes = 5
require_tls = true
slow_query = "250ms"
log_level = "warn"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SYSEMU_CONFIG", file)
	t.Setenv("SYSEMU_MYSQL_ADDR", "127.0.0.1:2222")
	t.Setenv("SYSEMU_NODES", "7")
	f := newServeFlags()
	if err := settle(f.fs, []string{"--nodes", "9", "--profile", "postgres"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"data_dir from the file", *f.dataDir, "/from/file"},
		{"mysql_addr: env over file", f.cf.mysqlAddr, "127.0.0.1:2222"},
		{"nodes: flag over env over file", f.fs.Lookup("nodes").Value.String(), "9"},
		{"profile from the flag", *f.profile, "postgres"},
		{"require_tls (bool) from the file", f.fs.Lookup("require-tls").Value.String(), "true"},
		{"slow_query (duration) from the file", f.slowQuery.String(), "250ms"},
		{"log_level from the file", *f.level, "warn"},
		{"http_addr default", f.cf.httpAddr, "127.0.0.1:4000"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestSettleRefusesUnknownKeysAndBadValues(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown key": `no_such_setting = 1`,
		"bad value":   `nodes = "many"`,
		"not toml":    `nodes = `,
	} {
		file := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".toml")
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := settle(newServeFlags().fs, []string{"--config", file}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	t.Setenv("SYSEMU_COPY_NUM", "x")
	if err := settle(newServeFlags().fs, nil); err == nil || !strings.Contains(err.Error(), "SYSEMU_COPY_NUM") {
		t.Errorf("bad environment value: %v", err)
	}
}

func TestConfigPrintIsALoadableFileWithoutSecrets(t *testing.T) {
	t.Setenv("SYSEMU_PASSWORD", "hunter2")
	var b bytes.Buffer
	if err := configPrint(&b, []string{"--nodes", "4", "--http-token", "tok"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "hunter2") || strings.Contains(out, `"tok"`) || !strings.Contains(out, `password = "<set>"`) {
		t.Fatalf("secrets printed:\n%s", out)
	}
	if !strings.Contains(out, "nodes = 4\n") || !strings.Contains(out, `data_dir = "./sysemu-data"`) {
		t.Fatalf("config print:\n%s", out)
	}
	// The printed file (secrets removed) loads back with the same values.
	var kept []string
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "<set>") {
			kept = append(kept, line)
		}
	}
	file := filepath.Join(t.TempDir(), "printed.toml")
	if err := os.WriteFile(file, []byte(strings.Join(kept, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newServeFlags()
	if err := settle(f.fs, []string{"--config", file}); err != nil {
		t.Fatal(err)
	}
	if f.fs.Lookup("nodes").Value.String() != "4" {
		t.Fatalf("reloaded nodes = %s", f.fs.Lookup("nodes").Value.String())
	}
}
