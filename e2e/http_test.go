package e2e

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sysemu/sysemu/server/servertest"
)

type httpResult struct {
	status int
	body   string
	header http.Header
}

func httpDo(t testing.TB, in *servertest.Instance, method, path, contentType, body string, auth ...string) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+in.HTTPAddr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResult{resp.StatusCode, string(b), resp.Header}
}

func httpGet(t testing.TB, in *servertest.Instance, path string) httpResult {
	return httpDo(t, in, "GET", path, "", "")
}

const jsonType = "application/json"

// Every GreptimeDB admin route, byte for byte (SEMANTICS §1.2).
func TestHTTPAdminRoutes(t *testing.T) {
	in := servertest.Start(t, servertest.Options{})
	type step struct {
		method, path, ctype, body string
		status                    int
		want                      string
		contains                  bool
	}
	steps := []step{
		{"GET", "/admin/sequence/table/next-id", "", "", 200, `{"next_table_id":1024}`, false},
		{"POST", "/admin/sequence/table/set-next-id", jsonType, `{"next_table_id":2000}`, 500,
			`{"code":1002,"error":"Unexpected, violated: Setting next table id is only allowed in recovery mode","execution_time_ms":0}`, false},
		{"GET", "/admin/recovery/status", "", "", 200, `{"enabled":false}`, false},
		{"POST", "/admin/recovery/enable", "", "", 200, `{"enabled":true}`, false},
		{"GET", "/admin/recovery/status", "", "", 200, `{"enabled":true}`, false},
		{"POST", "/admin/sequence/table/set-next-id", jsonType, `{"next_table_id":0}`, 500,
			`{"code":1002,"error":"Unexpected: The next value 0 is not greater than the current next value 1024","execution_time_ms":0}`, false},
		{"POST", "/admin/sequence/table/set-next-id", jsonType, `{"next_table_id":1024}`, 500, "is not greater than the current next value", true},
		{"POST", "/admin/sequence/table/set-next-id", "", `{"next_table_id":2000}`, 415, "Expected request with `Content-Type: application/json`", false},
		{"POST", "/admin/sequence/table/set-next-id", "text/plain", `{"next_table_id":2000}`, 415, "Expected request with `Content-Type: application/json`", false},
		{"POST", "/admin/sequence/table/set-next-id", jsonType, ``, 400, "Failed to parse the request body as JSON: EOF while parsing a value at line 1 column 0", false},
		{"POST", "/admin/sequence/table/set-next-id", jsonType, `{"next_table_id":`, 400, "Failed to parse the request body as JSON: ", true},
		{"POST", "/admin/sequence/table/set-next-id", jsonType, `{"next_table_id":-1}`, 422, "Failed to deserialize the JSON body into the target type: ", true},
		{"POST", "/admin/sequence/table/set-next-id", jsonType, `{"next_table_id":4294967296}`, 422, "expected u32", true},
		{"POST", "/admin/sequence/table/set-next-id", jsonType, `{}`, 422, "missing field `next_table_id`", true},
		{"POST", "/admin/sequence/table/set-next-id", jsonType, `{"next_table_id":"5"}`, 422, "invalid type", true},
		{"POST", "/admin/sequence/table/set-next-id", "application/json; charset=utf-8", `{"next_table_id":2000}`, 200, `{"next_table_id":2000}`, false},
		{"GET", "/admin/sequence/table/next-id", "", "", 200, `{"next_table_id":2000}`, false},
		{"GET", "/admin/sequence/table/set-next-id", "", "", 405, "", false},
		{"POST", "/admin/sequence/table/next-id", "", "", 405, "", false},
		{"POST", "/admin/recovery/disable", "", "", 200, `{"enabled":false}`, false},
		{"GET", "/admin/maintenance", "", "", 200, `{"enabled":false}`, false},
		{"POST", "/admin/maintenance/enable", "", "", 200, `{"enabled":true}`, false},
		{"GET", "/admin/maintenance/status", "", "", 200, `{"enabled":true}`, false},
		{"POST", "/admin/maintenance/disable", "", "", 200, `{"enabled":false}`, false},
		{"GET", "/admin/procedure-manager/status", "", "", 200, `{"status":"running"}`, false},
		{"POST", "/admin/procedure-manager/pause", "", "", 200, `{"status":"paused"}`, false},
		{"GET", "/admin/procedure-manager/status", "", "", 200, `{"status":"paused"}`, false},
		{"POST", "/admin/procedure-manager/resume", "", "", 200, `{"status":"running"}`, false},
		{"GET", "/admin/nope", "", "", 404, "", false},
	}
	for _, s := range steps {
		got := httpDo(t, in, s.method, s.path, s.ctype, s.body)
		ok := got.status == s.status && (got.body == s.want || (s.contains && strings.Contains(got.body, s.want)))
		if !ok {
			t.Fatalf("%s %s %q: got %d %q, want %d %q", s.method, s.path, s.body, got.status, got.body, s.status, s.want)
		}
		if got.status == 500 {
			if got.header.Get("x-greptime-err-code") != "1002" || got.header.Get("x-greptime-err-msg") == "" ||
				!strings.HasPrefix(got.header.Get("x-greptime-err-msg"), "error: ") {
				t.Fatalf("%s: greptime error headers %v", s.path, got.header)
			}
		}
		if got.status == 405 && got.header.Get("Allow") == "" {
			t.Fatalf("%s: 405 without Allow", s.path)
		}
	}
	// The HTTP route and the SQL function read the same engine.
	c := conn(t, openDB(t, in.RootDSN("")))
	if got := one(t, c, "SELECT next_table_id()"); got != "2000" {
		t.Fatalf("SQL sees %s after the HTTP set", got)
	}
	ev := mustRows(t, c, "SELECT KIND, OLD_VALUE, NEW_VALUE FROM system.SYS_ID_EVENTS WHERE KIND = 'sequence_jump'")
	if len(ev) != 1 || ev[0][1] != "1024" || ev[0][2] != "2000" {
		t.Fatalf("jump event %v", ev)
	}
}

func TestHTTPNeedsCredentialsWhenPasswordSet(t *testing.T) {
	in := servertest.Start(t, servertest.Options{Password: "s3cret"})
	if got := httpGet(t, in, "/admin/recovery/status"); got.status != 200 {
		t.Fatalf("reading needs no credentials: %d", got.status)
	}
	if got := httpDo(t, in, "POST", "/admin/recovery/enable", "", ""); got.status != 401 {
		t.Fatalf("anonymous change: %d %s", got.status, got.body)
	}
	if got := httpDo(t, in, "POST", "/admin/recovery/enable", "", "", "root", "wrong"); got.status != 401 {
		t.Fatalf("wrong password: %d", got.status)
	}
	if got := httpDo(t, in, "POST", "/admin/recovery/enable", "", "", "root", "s3cret"); got.status != 200 || got.body != `{"enabled":true}` {
		t.Fatalf("admin: %d %s", got.status, got.body)
	}
}

// Snapshot save, tables created afterwards, restore: the stale-ID hazard,
// refused with the ID and the fix, then fixed.
func TestSnapshotRestoreOrphanedStorage(t *testing.T) {
	in := servertest.Start(t, servertest.Options{})
	c := conn(t, openDB(t, in.RootDSN("")))
	exec(t, c, "CREATE DATABASE db", "CREATE TABLE db.base (id INT PRIMARY KEY)")
	snap := httpGet(t, in, "/admin/snapshot")
	if snap.status != 200 {
		t.Fatalf("save: %d %s", snap.status, snap.body)
	}
	for i := 0; i < 12; i++ { // 1025..1036, past the snapshot's mark of 1034
		exec(t, c, "CREATE TABLE db.late"+strings.Repeat("x", i)+" (id INT PRIMARY KEY)",
			"INSERT INTO db.late"+strings.Repeat("x", i)+" VALUES (1)")
	}
	got := httpDo(t, in, "POST", "/admin/snapshot/restore", jsonType, snap.body)
	if got.status != 500 || !strings.Contains(got.body, "please use --force option") {
		t.Fatalf("restore into a non-clean target: %d %s", got.status, got.body)
	}
	got = httpDo(t, in, "POST", "/admin/snapshot/restore?force=true", jsonType, snap.body)
	if got.status != 200 {
		t.Fatalf("forced restore: %d %s", got.status, got.body)
	}
	if n := one(t, c, "SELECT next_table_id()"); n != "1034" {
		t.Fatalf("restored next id %s", n)
	}
	if n := one(t, c, "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'db'"); n != "1" {
		t.Fatalf("tables after restore: %s", n)
	}
	_, err := rows(t, c, "CREATE TABLE db.fresh (id INT)")
	if n, _ := errno(err); n != 30001 || !strings.Contains(err.Error(), "table id 1034 is already in use by orphaned storage") ||
		!strings.Contains(err.Error(), "CALL set_next_table_id(1037)") {
		t.Fatalf("create over orphaned storage: %v", err)
	}
	exec(t, c, "CALL recovery_mode('on')", "CALL set_next_table_id(1037)", "CALL recovery_mode('off')", "CREATE TABLE db.fresh (id INT)")
	if n := one(t, c, "SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = 'fresh'"); n != "1037" {
		t.Fatalf("fresh got %s", n)
	}
	if !bytes.Contains([]byte(snap.body), []byte("sysemu-metadata-snapshot/1")) {
		t.Fatal("snapshot format marker missing")
	}
}
