package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	binexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory until the test
// ends. The test runs as root in CI; a failed mount fails the test.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := binexec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("mount tmpfs on %s (the disk-fault tests need root): %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := binexec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func remount(t *testing.T, dir, mode string) {
	t.Helper()
	if out, err := binexec.Command("mount", "-o", "remount,"+mode, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v: %s", dir, mode, err, out)
	}
}

// fill writes a file until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := 0; ; i++ {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", path, err)
			}
			return
		}
		if i > 4096 {
			t.Fatal("the file system did not fill up after 4 GiB")
		}
	}
}

// The data directory on a full file system: every write that needs space
// fails with 1021 and changes nothing, reads keep answering, and once space
// is back everything works and nothing acknowledged is missing, also after
// a restart.
func TestDiskFull(t *testing.T) {
	bin := binBuild(t)
	mnt := mountTmpfs(t, 48<<20)
	data := filepath.Join(mnt, "data")
	p := binStart(t, bin, data)
	db := openDB(t, p.dsn(""))
	c := conn(t, db)
	exec(t, c, "CREATE DATABASE d", "USE d", "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
	ctx := context.Background()
	acked := map[int]bool{}
	next := 0
	// insert writes a batch of 100 rows of 4 KiB each.
	insert := func() error {
		var vals []string
		for i := range 100 {
			vals = append(vals, fmt.Sprintf("(%d, REPEAT('x', 4096))", next+i))
		}
		_, err := c.ExecContext(ctx, "INSERT INTO t VALUES "+strings.Join(vals, ","))
		if err == nil {
			for i := range 100 {
				acked[next+i] = true
			}
		}
		next += 100
		return err
	}
	for range 5 {
		if err := insert(); err != nil {
			t.Fatal(err)
		}
	}
	state := func() string {
		return fmt.Sprint(mustRows(t, c, "SELECT next_table_id(), (SELECT COUNT(*) FROM SYSTEM.SYS_ID_EVENTS), (SELECT COUNT(*) FROM SYS_GSTORES), (SELECT COUNT(*) FROM d.t)"))
	}
	// checkWritesFail: every kind of write fails with want and changes
	// nothing; reads answer.
	checkWritesFail := func(want uint16) {
		t.Helper()
		before := state()
		var failed bool
		for range 50 { // the file may have free pages left: write until it needs new ones
			err := insert()
			if err == nil {
				before = state()
				continue
			}
			if n, _ := errno(err); n != want {
				t.Fatalf("INSERT: %v, want error %d", err, want)
			}
			if after := state(); after != before {
				t.Fatalf("a failed INSERT changed the state: %s -> %s", before, after)
			}
			failed = true
			break
		}
		if !failed {
			t.Fatalf("50 inserts of 400 KiB succeeded on a full or read-only file system")
		}
		for _, q := range []string{
			"CREATE TABLE t2 (id INT PRIMARY KEY, v TEXT) PARTITION BY HASH(id) PARTITIONS 50",
			"INSERT INTO t VALUES (1000000, REPEAT('y', 60000))",
			"CALL maintenance_mode('off')",
		} {
			before := state()
			_, err := c.ExecContext(ctx, q)
			if err == nil {
				continue // it fit in the file's free pages: a write that succeeds is durable
			}
			if n, _ := errno(err); n != want {
				t.Errorf("%.60s: %v, want error %d", q, err, want)
			}
			if after := state(); after != before {
				t.Errorf("%.60s failed but changed the state: %s -> %s", q, before, after)
			}
		}
		// Reads keep answering.
		if got := one(t, c, "SELECT COUNT(*) FROM t WHERE id < 500"); got != "500" {
			t.Fatalf("rows readable: %s", got)
		}
		mustRows(t, c, "SELECT * FROM SYS_GSTORES ORDER BY GSTO_NO DESC LIMIT 5")
		mustRows(t, c, "SELECT TABLE_NAME, TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'd'")
		one(t, c, "SELECT next_table_id()")
	}
	checkAcked := func(c *sql.Conn) {
		t.Helper()
		got := map[int]bool{}
		for _, r := range mustRows(t, c, "SELECT id FROM d.t") {
			var id int
			fmt.Sscan(r[0].(string), &id)
			got[id] = true
		}
		for id := range acked {
			if !got[id] {
				t.Fatalf("acknowledged row %d is missing", id)
			}
		}
	}

	// Full.
	fill(t, filepath.Join(mnt, "filler"))
	checkWritesFail(1021)
	if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := insert(); err != nil {
			t.Fatalf("insert after space came back: %v", err)
		}
	}
	exec(t, c, "CREATE TABLE t3 (id INT PRIMARY KEY)")
	checkAcked(c)

	// A restart keeps every acknowledged row, and the IDs check out.
	c.Close()
	db.Close()
	p.Stop()
	p = binStart(t, bin, data)
	c = conn(t, openDB(t, p.dsn("d")))
	checkAcked(c)
	if probs := mustRows(t, c, "CALL check_ids()"); len(probs) != 0 {
		t.Fatalf("check_ids after the disk faults: %v", probs)
	}

	// Read only. Linux refuses to remount a file system read-only while a
	// file on it is open for writing (sysemu's store is), so the data
	// directory goes read-only between two runs: the server refuses to
	// start with a clear message, and starts with every row once the file
	// system is writable again.
	c.Close()
	p.Stop()
	remount(t, mnt, "ro")
	ctx2, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := binexec.CommandContext(ctx2, bin, "serve", "--data-dir", data, "--mysql-addr", fmt.Sprintf("127.0.0.1:%d", binFreePort(t)), "--http-addr", "-").CombinedOutput()
	if err == nil || ctx2.Err() != nil || !strings.Contains(string(out), "read-only file system") {
		t.Fatalf("start on a read-only data directory: %v: %s", err, out)
	}
	remount(t, mnt, "rw")
	p = binStart(t, bin, data)
	checkAcked(conn(t, openDB(t, p.dsn("d"))))
}

// A data directory whose bolt file was truncated, or has a torn page, is
// refused at start with a clear message: the server never serves it.
func TestDamagedDataFileRefused(t *testing.T) {
	bin := binBuild(t)
	src := t.TempDir()
	p := binStart(t, bin, src)
	c := conn(t, openDB(t, p.dsn("")))
	exec(t, c, "CREATE DATABASE d", "USE d", "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
	for i := range 20 {
		exec(t, c, fmt.Sprintf("INSERT INTO t VALUES (%d, REPEAT('x', 8000))", i))
	}
	c.Close()
	p.Stop()
	good, err := os.ReadFile(filepath.Join(src, "sysemu.db"))
	if err != nil {
		t.Fatal(err)
	}
	for name, damage := range map[string]func([]byte) []byte{
		"truncated": func(b []byte) []byte { return b[:3*4096+100] },
		"torn meta and root pages": func(b []byte) []byte {
			b = append([]byte(nil), b...)
			for i := 0; i < 4*4096; i++ {
				b[i] ^= 0x5A
			}
			return b
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{"tls"} { // keep the certificate: only the store is damaged
				_ = os.CopyFS(filepath.Join(dir, f), os.DirFS(filepath.Join(src, f)))
			}
			if err := os.WriteFile(filepath.Join(dir, "sysemu.db"), damage(good), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := binexec.CommandContext(ctx, bin, "serve", "--data-dir", dir, "--mysql-addr", fmt.Sprintf("127.0.0.1:%d", binFreePort(t)), "--http-addr", "-")
			out, err := cmd.CombinedOutput()
			if err == nil || ctx.Err() != nil {
				t.Fatalf("sysemu served a damaged file (%v): %s", err, out)
			}
			if !strings.Contains(string(out), "damaged") || !strings.Contains(string(out), "restore it from a backup") {
				t.Fatalf("unclear message: %s", out)
			}
		})
	}
}
