package e2e

import (
	"database/sql"
	"reflect"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/sysemu/sysemu/server/servertest"
)

// TestGoDriverGroup drives go-sql-driver/mysql with server-side prepared
// statements (its default) and with client-side interpolation.
func TestGoDriverGroup(t *testing.T) {
	in := servertest.Start(t, servertest.Options{})
	setup := conn(t, openDB(t, in.RootDSN("")))
	exec(t, setup, "CREATE DATABASE app", "CREATE TABLE app.items (id BIGINT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(32), price DECIMAL(10,2), seen DATETIME, blob_col VARBINARY(16))")
	for _, mode := range []struct {
		name        string
		interpolate bool
	}{{"server-side prepare", false}, {"interpolated", true}} {
		t.Run(mode.name, func(t *testing.T) {
			cfg, err := mysql.ParseDSN(in.RootDSN("app"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.InterpolateParams, cfg.ParseTime, cfg.MultiStatements = mode.interpolate, true, false
			db := openDB(t, cfg.FormatDSN())
			seen := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
			res, err := db.Exec("INSERT INTO items (name, price, seen, blob_col) VALUES (?, ?, ?, ?)", "it's \"quoted\"", 12.5, seen, []byte{0, 1, 0xff})
			if err != nil {
				t.Fatal(err)
			}
			id, err := res.LastInsertId()
			if err != nil || id < 1 {
				t.Fatalf("LastInsertId = %d, %v", id, err)
			}
			var (
				name  string
				price float64
				when  time.Time
				blob  []byte
				null  sql.NullString
			)
			// A trailing ';' is accepted, as MySQL does.
			err = db.QueryRow("SELECT name, price, seen, blob_col, NULL FROM items WHERE id = ? AND name = ?;", id, "it's \"quoted\"").Scan(&name, &price, &when, &blob, &null)
			if err != nil {
				t.Fatal(err)
			}
			if name != "it's \"quoted\"" || price != 12.5 || !when.Equal(seen) || !reflect.DeepEqual(blob, []byte{0, 1, 0xff}) || null.Valid {
				t.Fatalf("round trip: %q %v %v %v %v", name, price, when, blob, null)
			}
			stmt, err := db.Prepare("SELECT COUNT(*) FROM items WHERE price > ?")
			if err != nil {
				t.Fatal(err)
			}
			defer stmt.Close()
			var n int
			if err := stmt.QueryRow(1).Scan(&n); err != nil || n < 1 {
				t.Fatalf("prepared count: %d %v", n, err)
			}
			if err := db.QueryRow("SELECT next_table_id()").Scan(&n); err != nil || n != 1034 {
				t.Fatalf("next_table_id() = %d, %v", n, err)
			}
			// Errors keep their numbers through either path.
			_, err = db.Exec("INSERT INTO items (id, name) VALUES (?, ?)", id, "dup")
			if num, state := errno(err); num != 1062 || state != "23000" {
				t.Fatalf("duplicate: %v", err)
			}
			_, err = db.Query("SELECT * FROM missing WHERE id = ?", 1)
			if num, state := errno(err); num != 1146 || state != "42S02" {
				t.Fatalf("missing table: %v", err)
			}
			if _, err := db.Exec("CALL recovery_mode(?)", "on"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("CALL recovery_mode(?)", "off"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
