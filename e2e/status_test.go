package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	clicmd "os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sysemu/sysemu/server/servertest"
)

// seedStatusScenario: an identity table in automatic range management with
// node 2 half through its primary range, a missing-table error, and a
// recovery-mode round trip in SYS_ID_EVENTS.
func seedStatusScenario(t *testing.T, in *servertest.Instance) {
	t.Helper()
	c := conn(t, openDB(t, in.RootDSN("")))
	exec(t, c, "CREATE DATABASE st", "USE st",
		"CREATE TABLE orders (id INT IDENTITY(1,1) PRIMARY KEY, v INT)",
		"CALL identity_range_manage('orders', 'auto', 100, 1000, 80)",
		"SET @@session.node_id = 2")
	var vals []string
	for i := 0; i < 50; i++ {
		vals = append(vals, fmt.Sprintf("(%d)", i))
	}
	exec(t, c, "INSERT INTO orders (v) VALUES "+strings.Join(vals, ","),
		"CALL recovery_mode('on')", "CALL recovery_mode('off')")
	if _, err := rows(t, c, "SELECT * FROM st.nope"); err == nil {
		t.Fatal("missing table did not fail")
	}
}

func TestMetrics(t *testing.T) {
	in := servertest.Start(t)
	seedStatusScenario(t, in)
	c := conn(t, openDB(t, in.RootDSN("")))
	next := one(t, c, "SELECT next_table_id()")
	got := httpGet(t, in, "/metrics")
	if got.status != 200 {
		t.Fatalf("/metrics: %d %s", got.status, got.body)
	}
	for _, want := range []string{
		`sysemu_id_next{kind="sequence",space="table_id"} ` + next + "\n",
		`sysemu_id_max{kind="sequence",space="table_id"} 4.294967295e+09` + "\n",
		`sysemu_id_highest_used{kind="identity",space="st.orders.id@node2"} 2050` + "\n",
		`sysemu_identity_range_usage_ratio{node="2",range="primary",table="st.orders"} 0.5` + "\n",
		`sysemu_identity_range_threshold_ratio{node="2",range="primary",table="st.orders"} 0.8` + "\n",
		`sysemu_query_errors_total{code="1146"} 1` + "\n",
		`sysemu_connections `,
	} {
		if !strings.Contains(got.body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !regexp.MustCompile(`sysemu_store_transaction_seconds_count\{op="update",outcome="ok"\} [1-9]`).MatchString(got.body) {
		t.Errorf("/metrics has no store update latencies")
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", got.body)
	}
}

// chromium runs Debian's chromium headless with a fresh profile.
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	bin := mustLookPath(t, "apt-get install chromium", "chromium", "chromium-browser")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir()}
	cmd := clicmd.CommandContext(ctx, bin, append(base, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return out.Bytes()
}

// The status page in a real browser: the seeded numbers are on it, and a
// screenshot is taken.
func TestStatusPageInChromium(t *testing.T) {
	in := servertest.Start(t)
	seedStatusScenario(t, in)
	c := conn(t, openDB(t, in.RootDSN("")))
	url := "http://" + in.HTTPAddr + "/"
	dom := string(chromium(t, "--dump-dom", url))

	cell := func(rowAttr, class string) string {
		t.Helper()
		re := regexp.MustCompile(`(?s)<tr ` + regexp.QuoteMeta(rowAttr) + `>.*?<td class="` + regexp.QuoteMeta(class) + `">([^<]*)</td>`)
		m := re.FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("status page has no %s cell in row %s:\n%s", class, rowAttr, dom)
		}
		return m[1]
	}
	if got, want := cell(`data-space="table_id"`, "next"), one(t, c, "SELECT next_table_id()"); got != want {
		t.Errorf("table_id next = %s, want %s", got, want)
	}
	if got, want := cell(`data-space="table_id"`, "used"), one(t, c, "SELECT MAX(TABLE_ID) FROM information_schema.TABLES"); got != want {
		t.Errorf("table_id highest used = %s, want %s", got, want)
	}
	if got := cell(`data-space="st.orders.id@node2"`, "used"); got != "2050" {
		t.Errorf("node 2 identity = %s, want 2050", got)
	}
	if got := cell(`data-space="st.orders.id@node2"`, "headroom"); got != fmt.Sprint(2147483647-2050) {
		t.Errorf("node 2 headroom = %s", got)
	}
	r := mustRows(t, c, "SELECT USAGE_PCT, THRESHOLD FROM `SYSTEM`.SYS_IDENTITY_RANGES WHERE TABLE_NAME = 'orders' AND NODE_ID = 2 AND RANGE_KIND = 'primary'")
	if got := []any{cell(`data-range="st.orders@2/primary"`, "usage"), cell(`data-range="st.orders@2/primary"`, "threshold")}; fmt.Sprint(got) != fmt.Sprint(r[0]) || r[0][0] != "50" {
		t.Errorf("node 2 primary range usage/threshold = %v, SYS_IDENTITY_RANGES has %v", got, r)
	}
	if got, want := regexp.MustCompile(`<span id="stores-total">(\d+)</span>`).FindStringSubmatch(dom), one(t, c, "SELECT COUNT(*) FROM `SYSTEM`.SYS_GSTORES"); got == nil || got[1] != want {
		t.Errorf("stores total %v, want %s", got, want)
	}
	// A store of st.orders: its primary on the node SYS_GSTORES names.
	g := mustRows(t, c, "SELECT g.GSTO_NO, g.NODE_ID1 FROM `SYSTEM`.SYS_GSTORES g, `SYSTEM`.SYS_OBJECTS o WHERE g.OBJ_ID = o.OBJ_ID AND o.OBJ_NAME = 'orders' ORDER BY g.GSTO_NO LIMIT 1")
	if len(g) != 1 || !regexp.MustCompile(`<tr data-gsto="`+g[0][0].(string)+`"><th>`).MatchString(dom) {
		t.Errorf("store row for %v missing", g)
	}
	last := one(t, c, "SELECT MAX(EVENT_ID) FROM `SYSTEM`.SYS_ID_EVENTS")
	if got := regexp.MustCompile(`(?s)<tr data-event="` + last + `">.*?<td class="name kind">([^<]*)</td>`).FindStringSubmatch(dom); got == nil || got[1] != "recovery_mode" {
		t.Errorf("latest event %s: %v", last, got)
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	if dir := os.Getenv("SYSEMU_SCREENSHOT_DIR"); dir != "" {
		shot = filepath.Join(dir, "status.png")
	}
	chromium(t, "--screenshot="+shot, "--window-size=1280,1600", "--hide-scrollbars", url)
	png, err := os.ReadFile(shot)
	if err != nil || len(png) < 10000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s: %d bytes, %v", shot, len(png), err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}
