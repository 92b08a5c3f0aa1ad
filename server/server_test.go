package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/information_schema"
	"github.com/dolthub/vitess/go/mysql"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/seed"
)

// Every engine sentinel reaches the client with its own number and SQLSTATE,
// also when wrapped with context.
func TestErrorTable(t *testing.T) {
	seen := map[int]bool{}
	for _, ec := range engineErrors {
		err := toSQLError(fmt.Errorf("create x: %w", fmt.Errorf("%w: detail", ec.err)))
		var se *mysql.SQLError
		if !errors.As(err, &se) || se.Num != ec.code || se.State != ec.state {
			t.Errorf("%v: got %v", ec.err, err)
		}
		if se != nil && se.Num > 32767 {
			t.Errorf("%v: code %d does not fit a signed 16-bit client", ec.err, se.Num)
		}
		if ec.code >= 30000 && seen[ec.code] {
			t.Errorf("code %d used twice", ec.code)
		}
		seen[ec.code] = true
	}
	if err := toSQLError(fmt.Errorf("%w: shop.t", engine.ErrNoSuchTable)); err.Error() != "Table 'shop.t' doesn't exist (errno 1146) (sqlstate 42S02)" {
		t.Errorf("unknown table message: %v", err)
	}
	plain := errors.New("something else")
	if toSQLError(plain) != plain {
		t.Error("unmapped errors must pass through")
	}
}

func TestFixGMSError(t *testing.T) {
	cases := []struct {
		in         error
		db         string
		code       int
		state, msg string
	}{
		{sql.ErrTableNotFound.New("t"), "shop", 1146, "42S02", "Table 'shop.t' doesn't exist"},
		{sql.ErrDatabaseNotFound.New("nope"), "", 1049, "42000", "Unknown database 'nope'"},
		{sql.ErrDatabaseExists.New("shop"), "", 1007, "HY000", "Can't create database 'shop'; database exists"},
		{sql.NewUniqueKeyErr("'1' for key 't.PRIMARY'", true, nil), "", 1062, "23000", "Duplicate entry '1' for key 't.PRIMARY'"},
		{mysql.NewSQLError(1105, "HY000", "syntax error at position 6 near 'SELEC'"), "", 1064, "42000", "syntax error at position 6"},
		{mysql.NewSQLError(1105, "HY000", "no database selected"), "", 1046, "3D000", "No database selected"},
		{sql.ErrUnknownSystemVariable.New("@@have_nothing"), "", 1193, "HY000", "Unknown system variable 'have_nothing'"},
		{mysql.NewSQLError(1105, "HY000", "%s", "command denied to user 'app'@'%'"), "", 1142, "42000", "command denied to user 'app'@'%'"},
		{context.Canceled, "", 1317, "70100", "Query execution was interrupted"},
		{mysql.NewSQLError(1105, "HY000", "function 'ident_seed' expected 1 arguments, 0 received"), "", 1582, "42000", "Incorrect parameter count in the call to native function 'ident_seed'"},
		{mysql.NewSQLError(1105, "HY000", "%s", `Incorrect string value: '\x90' for column '<unknown>' at row 0`), "", 1366, "HY000", "Incorrect string value"},
		{mysql.NewSQLError(1105, "HY000", "%s", "Access denied for user 'nobody'@'%' to database 'ac'"), "", 1044, "42000", "Access denied for user 'nobody'@'%' to database 'ac'"},
		{sql.ErrInvalidIdentifier.New(strings.Repeat("n", 100)), "", 1059, "42000", "Identifier name '" + strings.Repeat("n", 64) + "...' is too long"},
	}
	for _, c := range cases {
		var se *mysql.SQLError
		if !errors.As(fixGMSError(c.in, c.db), &se) || se.Num != c.code || se.State != c.state || !strings.Contains(se.Message, c.msg) {
			t.Errorf("%v: got %v", c.in, se)
		}
	}
}

// Every information_schema table go-mysql-server serves has a fixed ID in
// the seed profile, so TABLE_ID never goes NULL or moves after an upgrade.
func TestEveryInformationSchemaTableHasAnID(t *testing.T) {
	ids := map[string]bool{}
	for _, tb := range seed.Greptime().SystemTables {
		if tb.Database == "information_schema" {
			ids[tb.Name] = true
		}
	}
	ctx := sql.NewEmptyContext()
	names, err := information_schema.NewInformationSchemaDatabase().GetTableNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !ids[strings.ToLower(n)] {
			t.Errorf("information_schema.%s has no reserved TABLE_ID in seed", n)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{MySQLAddr: "0.0.0.0:3306"}, false},
		{Config{HTTPAddr: "10.1.2.3:4000"}, false},
		{Config{MySQLAddr: "0.0.0.0:3306", Password: "x"}, true},
		{Config{MySQLAddr: "[::1]:3306", HTTPAddr: "-"}, true},
		{Config{MySQLAddr: "localhost:3306"}, true},
	}
	for _, c := range cases {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.cfg, err)
		}
	}
}

func TestRewriteSystem(t *testing.T) {
	cases := map[string]string{
		"SELECT * FROM SYSTEM.SYS_ID_EVENTS":            "SELECT * FROM `SYSTEM`.SYS_ID_EVENTS",
		"select * from system . sys_id_events":          "select * from `system` . sys_id_events",
		"SELECT 'SYSTEM.x', `SYSTEM`.t FROM mysystem.t": "SELECT 'SYSTEM.x', `SYSTEM`.t FROM mysystem.t",
		"SET SYSTEM_TIME = 1":                           "SET SYSTEM_TIME = 1",
	}
	for in, want := range cases {
		if got := rewriteSystem(in); got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}

func TestRenderPartition(t *testing.T) {
	p := &engine.Partition{Type: "RANGE", Expr: "`id`", Definitions: []engine.PartitionDef{{Name: "p0", Values: "(10)"}, {Name: "p1", Values: "MAXVALUE"}}}
	want := "/*!50100 PARTITION BY RANGE (`id`)\n(PARTITION p0 VALUES LESS THAN (10) ENGINE = InnoDB,\n PARTITION p1 VALUES LESS THAN MAXVALUE ENGINE = InnoDB) */"
	if got := renderPartition(p); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
