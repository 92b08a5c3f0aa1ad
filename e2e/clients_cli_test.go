package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	clicmd "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sysemu/sysemu/server/servertest"
)

// TestMariaDBCLIGroup is the mariadb command-line client as a DBA uses it:
// status (COM_STATISTICS), SHOW DATABASES, USE with name completion
// (COM_FIELD_LIST), DESCRIBE, SHOW CREATE TABLE, SQL PREPARE/EXECUTE, a
// compressed connection, and mariadb-dump of a user database loaded back.
func TestMariaDBCLIGroup(t *testing.T) {
	client := cliClient(t)
	in := servertest.Start(t, servertest.Options{})
	p := inProc{in.MySQLAddr}
	cliMust(t, client, p, `CREATE DATABASE shop;
USE shop;
CREATE TABLE orders (id BIGINT PRIMARY KEY AUTO_INCREMENT, zebra_note VARCHAR(64) NOT NULL DEFAULT '', qty INT, KEY qty_idx (qty));
INSERT INTO orders (zebra_note, qty) VALUES ('it''s a', 1), ('b', NULL), ('tab\there', 3);
`, "")

	t.Run("status", func(t *testing.T) {
		out, err := cliRun(t, client, p, "", "-e", "status")
		if err != nil {
			t.Fatalf("status: %v\n%s", err, out)
		}
		// The Uptime line and the statistics line come from COM_STATISTICS.
		for _, want := range []string{"Uptime:", "Threads: 1  Questions: ", "Slow queries: 0", "Server version:\t\t8.0.33-sysemu"} {
			if !strings.Contains(out, want) {
				t.Errorf("status output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("show databases", func(t *testing.T) {
		out, err := cliRun(t, client, p, "", "-e", "SHOW DATABASES")
		if err != nil {
			t.Fatal(err, out)
		}
		for _, db := range []string{"SYSTEM", "information_schema", "shop"} {
			if !strings.Contains("\n"+out, "\n"+db+"\n") {
				t.Errorf("SHOW DATABASES lacks %s:\n%s", db, out)
			}
		}
	})
	t.Run("describe and show create table", func(t *testing.T) {
		cliMust(t, client, p, "", "id\tbigint\tNO\tPRI\tNULL\tauto_increment\nzebra_note\tvarchar(64)\tNO\t\t\t\nqty\tint\tYES\tMUL\tNULL\t\n",
			"shop", "-e", "DESCRIBE orders")
		out, err := cliRun(t, client, p, "", "shop", "-e", "SHOW CREATE TABLE orders")
		if err != nil {
			t.Fatal(err, out)
		}
		for _, want := range []string{"orders\tCREATE TABLE `orders` (", "`zebra_note` varchar(64) NOT NULL DEFAULT ''", "PRIMARY KEY (`id`)", "KEY `qty_idx` (`qty`)"} {
			if !strings.Contains(out, want) {
				t.Errorf("SHOW CREATE TABLE lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("prepare execute", func(t *testing.T) {
		cliMust(t, client, p, `PREPARE s FROM 'SELECT zebra_note FROM orders WHERE id = ?';
SET @id = 2;
EXECUTE s USING @id;
SET @id = 3;
EXECUTE s USING @id;
DEALLOCATE PREPARE s;
`, "b\ntab\\there\n", "shop")
		// The OK packet's info ("Rows matched ...") reaches the client intact.
		out, err := cliRun(t, client, p, "UPDATE orders SET qty = 2 WHERE id = 2;\n", "shop", "-vv")
		if err != nil || !strings.Contains(out, "Rows matched: 1  Changed: 1  Warnings: 0") {
			t.Fatalf("UPDATE info: %v\n%s", err, out)
		}
	})
	t.Run("compressed connection", func(t *testing.T) {
		// The server does not advertise compression, so the client's
		// --compress falls back to an uncompressed session that works.
		cliMust(t, client, p, "", "3\n", "--compress", "shop", "-e", "SELECT COUNT(*) FROM orders")
	})
	t.Run("tls and caching_sha2_password", func(t *testing.T) {
		cliMust(t, client, p, "CREATE USER 'sha'@'%' IDENTIFIED WITH caching_sha2_password BY 'sha-pw';\n", "")
		out, err := cliRun(t, client, p, "", "-usha", "-psha-pw", "--ssl", "-e", "status")
		if err != nil || !strings.Contains(out, "SSL:\t\t\tCipher in use is ") || !strings.Contains(out, "Current user:\t\tsha@") {
			t.Fatalf("TLS session as a caching_sha2_password user: %v\n%s", err, out)
		}
		if out, err := cliRun(t, client, p, "", "-usha", "-psha-pw", "--skip-ssl", "-e", "SELECT 1"); err == nil || !strings.Contains(out, "ERROR 1045") {
			t.Fatalf("caching_sha2_password without TLS: %v\n%s", err, out)
		}
	})
	t.Run("use with completion", func(t *testing.T) {
		// script gives the client the terminal it needs for completion.
		script := mustLookPath(t, "apt-get install bsdutils", "script")
		// Under a terminal the client reads table and column names after USE
		// (SHOW TABLES, then COM_FIELD_LIST per table); TAB completes
		// zebra_n to zebra_note only if the field list arrived.
		line := fmt.Sprintf("%s --no-defaults --protocol=tcp -h127.0.0.1 -P%s -uroot", client, p.mysqlPort())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := clicmd.CommandContext(ctx, script, "-qc", line, "/dev/null")
		stdin, w := io.Pipe()
		cmd.Stdin = stdin
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"USE shop\n", "SELECT zebra_n\t FROM orders WHERE id = 1;\n", "exit\n"} {
			time.Sleep(300 * time.Millisecond)
			_, _ = io.WriteString(w, s)
		}
		w.Close()
		err := cmd.Wait()
		got := out.String()
		if err != nil || !strings.Contains(got, "Reading table information for completion") || !strings.Contains(got, "| it's a     |") {
			t.Fatalf("completion session: %v\n%s", err, got)
		}
	})
	t.Run("mariadb-dump", func(t *testing.T) {
		dump := mustLookPath(t, "apt-get install mariadb-client", "mariadb-dump", "mysqldump")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := clicmd.CommandContext(ctx, dump, "--no-defaults", "--protocol=tcp", "-h127.0.0.1", "-P"+p.mysqlPort(), "-uroot", "shop")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		sqlText, err := cmd.Output()
		if err != nil {
			t.Fatalf("mariadb-dump: %v\n%s", err, stderr.String())
		}
		file := filepath.Join(t.TempDir(), "shop.sql")
		if err := os.WriteFile(file, sqlText, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"CREATE TABLE `orders`", "INSERT INTO `orders` VALUES"} {
			if !bytes.Contains(sqlText, []byte(want)) {
				t.Fatalf("dump lacks %q:\n%s", want, sqlText)
			}
		}
		cliMust(t, client, p, "CREATE DATABASE shop_copy;\n", "")
		cliMust(t, client, p, string(sqlText), "", "shop_copy")
		cliMust(t, client, p, "", "1\tit's a\t1\n2\tb\t2\n3\ttab\\there\t3\n", "shop_copy", "-e", "SELECT * FROM orders ORDER BY id")
	})
}
