package server

import (
	"testing"

	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
)

func TestRewriteDistinctOrdinal(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// Grafana's value suggestions: aliased with their own text.
		{"SELECT DISTINCT QUOTE(c) FROM t WHERE x > 1 ORDER BY 1 LIMIT 100",
			"select distinct QUOTE(c) `QUOTE(c)` from t where x > 1 order by `QUOTE(c)` asc limit 100"},
		{"select distinct quote(`c`) from `db`.`t` order by 1 desc",
			"select distinct quote(c) `quote(``c``)` from db.t order by `quote(``c``)` desc"},
		// Untouched: columns, aliases, no DISTINCT, out-of-range ordinals, no ORDER BY.
		{"SELECT DISTINCT c FROM t ORDER BY 1", "SELECT DISTINCT c FROM t ORDER BY 1"},
		{"SELECT DISTINCT QUOTE(c) AS q FROM t ORDER BY 1", "SELECT DISTINCT QUOTE(c) AS q FROM t ORDER BY 1"},
		{"SELECT QUOTE(c) FROM t ORDER BY 1", "SELECT QUOTE(c) FROM t ORDER BY 1"},
		{"SELECT DISTINCT QUOTE(c) FROM t ORDER BY 2", "SELECT DISTINCT QUOTE(c) FROM t ORDER BY 2"},
		{"SELECT DISTINCT QUOTE(c) FROM t", "SELECT DISTINCT QUOTE(c) FROM t"},
		{"not sql DISTINCT ORDER BY", "not sql DISTINCT ORDER BY"},
	} {
		if got := rewriteDistinctOrdinal(c.in); got != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestRewriteMariaDBComment(t *testing.T) {
	for in, want := range map[string]string{
		`/*M!999999\- enable the sandbox mode */`:                  `/* M!999999\- enable the sandbox mode */`,
		"  /*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY */": "/* M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY */",
		"/*!40101 SET NAMES utf8mb4 */":                            "/*!40101 SET NAMES utf8mb4 */",
		"SELECT '/*M!1 x */'":                                      "SELECT '/*M!1 x */'",
	} {
		if got := rewriteMariaDBComment(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestUnquoteDefaults(t *testing.T) {
	str := func(s string) sqltypes.Value { return sqltypes.MakeTrusted(sqltypes.VarChar, []byte(s)) }
	res := &sqltypes.Result{
		Fields: []*querypb.Field{{Name: "Field"}, {Name: "Default"}},
		Rows: [][]sqltypes.Value{
			{str("a"), str("'x'")}, {str("b"), str("''")}, {str("c"), str("'it''s'")},
			{str("d"), str("3")}, {str("e"), sqltypes.NULL}, {str("f"), str("CURRENT_TIMESTAMP")},
		},
	}
	var got []string
	err := unquoteDefaults(func(r *sqltypes.Result, _ bool) error {
		for _, row := range r.Rows {
			if row[1].IsNull() {
				got = append(got, "NULL")
			} else {
				got = append(got, row[1].ToString())
			}
		}
		return nil
	})(res, false)
	want := []string{"x", "", "it's", "3", "NULL", "CURRENT_TIMESTAMP"}
	if err != nil || len(got) != len(want) {
		t.Fatalf("%v %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: %q, want %q", i, got[i], want[i])
		}
	}
}

func TestRedact(t *testing.T) {
	for q, hidden := range map[string]bool{
		"CREATE USER u IDENTIFIED BY 'pw'": true,
		"ALTER USER u IDENTIFIED BY 'pw'":  true,
		"SET PASSWORD FOR u = 'pw'":        true,
		"SELECT next_table_id()":           false,
	} {
		if got := redact(q); (got != q) != hidden {
			t.Errorf("redact(%q) = %q", q, got)
		}
	}
}

func TestConfigValidateHTTPToken(t *testing.T) {
	for _, c := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{HTTPAddr: "127.0.0.1:4000"}, true},
		{Config{HTTPAddr: "0.0.0.0:4000", Password: "pw"}, false},
		{Config{HTTPAddr: "0.0.0.0:4000", Password: "pw", HTTPToken: "t"}, true},
		{Config{HTTPAddr: "-", MySQLAddr: "0.0.0.0:3306", Password: "pw"}, true},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.cfg, err)
		}
	}
}
