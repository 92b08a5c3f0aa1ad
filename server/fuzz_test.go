package server_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/sysemu/sysemu/server/servertest"
)

// Fuzz targets over a real server (in-process, loopback): the HTTP admin API
// and the admin routines' arguments. Each worker process starts its own
// server once; inputs run against it one after the other, so the state
// they leave behind is part of the next input's world.

const fuzzPassword = "fuzz-pw"

// FuzzHTTPAdmin sends any method, path, content type, body and credentials.
// Every answer is one of the documented statuses (a 500 carries GreptimeDB's
// JSON error body), a change without the administrator's credentials is
// refused with 401 and changes nothing, and the server keeps answering.
func FuzzHTTPAdmin(f *testing.F) {
	in := servertest.Start(f, servertest.WithPassword(fuzzPassword))
	base := "http://" + in.HTTPAddr
	for _, c := range []struct {
		method, path, ctype, body string
		auth                      uint8
	}{
		{"GET", "/admin/sequence/table/next-id", "", "", 0},
		{"POST", "/admin/sequence/table/set-next-id", "application/json", `{"next_table_id":5000}`, 1},
		{"POST", "/admin/sequence/table/set-next-id", "application/json", `{"next_table_id":-1}`, 1},
		{"POST", "/admin/sequence/table/set-next-id", "application/json", `{"next_table_id":1e99}`, 1},
		{"POST", "/admin/sequence/table/set-next-id", "text/plain", `{}`, 1},
		{"POST", "/admin/recovery/enable", "", "", 1},
		{"POST", "/admin/recovery/disable", "", "", 2},
		{"POST", "/admin/procedure-manager/pause", "", "", 3},
		{"GET", "/admin/maintenance", "", "", 0},
		{"GET", "/admin/snapshot", "", "", 0},
		{"POST", "/admin/snapshot/restore?force=true", "application/json", `{"format":"sysemu-metadata-snapshot/1"}`, 1},
		{"DELETE", "/metrics", "", "", 0},
		{"GET", "/%2e%2e/admin", "", "", 0},
	} {
		f.Add(c.method, c.path, c.ctype, []byte(c.body), c.auth)
	}
	client := &http.Client{}
	f.Fuzz(func(t *testing.T, method, path, ctype string, body []byte, auth uint8) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, base+path, strings.NewReader(string(body)))
		if err != nil {
			return // not a request a client could send
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		switch auth % 4 {
		case 1:
			req.SetBasicAuth("root", fuzzPassword)
		case 2:
			req.SetBasicAuth("root", "wrong")
		case 3:
			req.Header.Set("Authorization", "Bearer "+fuzzPassword)
		}
		before := httpState(t, client, base)
		resp, err := client.Do(req)
		if err != nil {
			if strings.Contains(err.Error(), "invalid") || strings.Contains(err.Error(), "malformed") {
				return // refused by the client library
			}
			t.Fatalf("%s %q: %v", method, path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case 200, 400, 401, 404, 405, 415, 422:
		case 500:
			var e struct {
				Code  int    `json:"code"`
				Error string `json:"error"`
			}
			if json.Unmarshal(b, &e) != nil || e.Code != 1002 || e.Error == "" {
				t.Fatalf("%s %q: 500 without GreptimeDB's error body: %q", method, path, b)
			}
		default:
			t.Fatalf("%s %q: status %d: %q", method, path, resp.StatusCode, b)
		}
		if resp.StatusCode == 200 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && !json.Valid(b) {
			t.Fatalf("%s %q: 200 with invalid JSON %q", method, path, b)
		}
		if after := httpState(t, client, base); auth%4 != 1 && after != before {
			t.Fatalf("%s %q without credentials (%d): state %s -> %s", method, path, resp.StatusCode, before, after)
		}
	})
}

// httpState reads the next table ID and the three switches over HTTP.
func httpState(t *testing.T, client *http.Client, base string) string {
	t.Helper()
	var out []string
	for _, p := range []string{"/admin/sequence/table/next-id", "/admin/recovery/status", "/admin/maintenance/status", "/admin/procedure-manager/status"} {
		resp, err := client.Get(base + p)
		if err != nil {
			t.Fatalf("the server stopped answering: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !json.Valid(b) {
			t.Fatalf("GET %s: %d %q", p, resp.StatusCode, b)
		}
		out = append(out, string(b))
	}
	return strings.Join(out, " ")
}

// adminRoutines are every admin procedure (CALL) and function (SELECT).
var adminRoutines = []struct {
	name string
	call bool
}{
	{"set_next_table_id", true}, {"recovery_mode", true}, {"maintenance_mode", true}, {"procedure_manager", true},
	{"fault_set_sequence", true}, {"node_offline", true}, {"node_online", true}, {"node_drop", true},
	{"checkident", true}, {"identity_range_manage", true}, {"adjust_identity_range", true},
	{"vacuum_full", true}, {"cluster_table", true}, {"reindex_table", true}, {"fault_filenode_map", true},
	{"rebuild_filenode_map", true}, {"verify_filenode_maps", true},
	{"backup_database", true}, {"restore_backup", true}, {"check_ids", true}, {"set_next_gsto_no", true},
	{"fault_filenode", true}, {"fault_identity_range", true},
	{"next_table_id", false}, {"recovery_mode", false}, {"maintenance_mode", false}, {"procedure_manager", false},
	{"ident_current", false}, {"ident_seed", false}, {"ident_incr", false}, {"scope_identity", false},
	{"pg_relation_filenode", false}, {"pg_relation_filepath", false}, {"pg_filenode_relation", false},
}

// fuzzArg renders one argument: NULL, an integer, a string, a number in a
// string, a number too big for BIGINT, or a decimal.
func fuzzArg(kind uint8, i int64, s string) string {
	switch kind % 6 {
	case 0:
		return "NULL"
	case 1:
		return strconv.FormatInt(i, 10)
	case 2:
		return "'" + strings.NewReplacer(`\`, `\\`, "'", "''").Replace(s) + "'"
	case 3:
		return "'" + strconv.FormatInt(i, 10) + "'"
	case 4:
		return strconv.FormatUint(uint64(i), 10) + "0000000000"
	}
	return strconv.FormatInt(i, 10) + ".5"
}

// FuzzAdminRoutines calls every admin routine with any arguments (NULL,
// wrong types, huge and negative numbers, strings for numbers, any count).
// A call succeeds or fails with a specific MySQL error (not the generic
// 1105), a failed call logs no ID event and moves no sequence, and the
// connection survives.
func FuzzAdminRoutines(f *testing.F) {
	in := servertest.Start(f, servertest.WithPassword(fuzzPassword))
	db, err := sql.Open("mysql", in.RootDSN(""))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"CREATE DATABASE fz", "USE fz",
		"CREATE TABLE t (id INT IDENTITY(1, 1) PRIMARY KEY, v INT)",
		"INSERT INTO t (v) VALUES (1), (2)",
		"CREATE TABLE p (id INT PRIMARY KEY) PARTITION BY HASH(id) PARTITIONS 3",
	} {
		if _, err := c.ExecContext(ctx, s); err != nil {
			f.Fatalf("%s: %v", s, err)
		}
	}
	bkDir := f.TempDir()
	for i, r := range adminRoutines {
		f.Add(uint8(i), uint8(0), uint8(0), int64(0), "", uint8(0), int64(0), "", uint8(0), int64(0), "")
		f.Add(uint8(i), uint8(1), uint8(2), int64(0), "t", uint8(1), int64(5), "", uint8(0), int64(0), "")
		f.Add(uint8(i), uint8(2), uint8(2), int64(0), "fz.t", uint8(2), int64(0), "RESEED", uint8(1), int64(-1), "")
		f.Add(uint8(i), uint8(1), uint8(1), int64(1<<32), "", uint8(0), int64(0), "", uint8(0), int64(0), "")
		f.Add(uint8(i), uint8(3), uint8(4), int64(-1), "", uint8(0), int64(0), "", uint8(3), int64(7), "")
		if r.name == "set_next_table_id" || r.name == "recovery_mode" {
			f.Add(uint8(i), uint8(1), uint8(2), int64(0), "on", uint8(0), int64(0), "", uint8(0), int64(0), "")
		}
	}
	f.Fuzz(func(t *testing.T, routine, n, k1 uint8, i1 int64, s1 string, k2 uint8, i2 int64, s2 string, k3 uint8, i3 int64, s3 string) {
		r := adminRoutines[int(routine)%len(adminRoutines)]
		kinds, ints, strs := []uint8{k1, k2, k3}, []int64{i1, i2, i3}, []string{s1, s2, s3}
		var args []string
		for j := range int(n % 6) {
			k, i, s := kinds[j%3], ints[j%3], strs[j%3]
			if j == 0 && (r.name == "backup_database" || r.name == "restore_backup") || j == 1 && r.name == "backup_database" {
				// Directories stay inside the test's temporary directory.
				sum := sha256.Sum256([]byte(s))
				s, k = filepath.Join(bkDir, hex.EncodeToString(sum[:4])), 2
			}
			args = append(args, fuzzArg(k, i, s))
		}
		q := "SELECT " + r.name + "(" + strings.Join(args, ", ") + ")"
		if r.call {
			q = "CALL " + r.name + "(" + strings.Join(args, ", ") + ")"
		}
		before := routineState(t, c)
		rs, err := c.QueryContext(ctx, q)
		if err == nil {
			for rs.Next() {
			}
			err = rs.Err()
			rs.Close()
		}
		if err != nil {
			var me *mysql.MySQLError
			if !errors.As(err, &me) {
				t.Fatalf("%s: not a MySQL error: %v", q, err)
			}
			if me.Number == 1105 {
				t.Fatalf("%s: generic error 1105: %v", q, err)
			}
			if after := routineState(t, c); after != before {
				t.Fatalf("%s failed (%v) but changed %s -> %s", q, err, before, after)
			}
		}
	})
}

// routineState is the ID-event count and the table-ID high-water mark; it
// fails the test when the connection is gone.
func routineState(t *testing.T, c *sql.Conn) string {
	t.Helper()
	var events, next string
	if err := c.QueryRowContext(context.Background(), "SELECT (SELECT COUNT(*) FROM SYSTEM.SYS_ID_EVENTS), next_table_id()").Scan(&events, &next); err != nil {
		t.Fatalf("the connection did not survive: %v", err)
	}
	return fmt.Sprintf("events=%s next=%s", events, next)
}
