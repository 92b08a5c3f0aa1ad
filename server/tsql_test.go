package server

import "testing"

func TestRewriteTSQL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"CREATE TABLE t (id INT IDENTITY(1000, 5) PRIMARY KEY, v INT)",
			"CREATE TABLE t (id INT AUTO_INCREMENT /*sysemu:identity col=id seed=1000 incr=5 type=int*/ PRIMARY KEY, v INT)"},
		{"create table t (v int, id int not null identity primary key)",
			"create table t (v int, id int not null AUTO_INCREMENT /*sysemu:identity col=id seed=1 incr=1 type=int*/ primary key)"},
		{"CREATE TABLE t (`id` tinyint IDENTITY(0,1), KEY (id))",
			"CREATE TABLE t (`id` TINYINT UNSIGNED AUTO_INCREMENT /*sysemu:identity col=id seed=0 incr=1 type=tinyint*/, KEY (id))"},
		{"CREATE TABLE t (id NUMERIC(5, 0) IDENTITY(1,1) PRIMARY KEY)",
			"CREATE TABLE t (id BIGINT AUTO_INCREMENT /*sysemu:identity col=id seed=1 incr=1 type=numeric(5,0)*/ PRIMARY KEY)"},
		// Quoted text and other statements are left alone.
		{"CREATE TABLE t (id INT PRIMARY KEY, note VARCHAR(20) DEFAULT 'IDENTITY(1,1)')",
			"CREATE TABLE t (id INT PRIMARY KEY, note VARCHAR(20) DEFAULT 'IDENTITY(1,1)')"},
		{"SELECT 'identity' FROM t", "SELECT 'identity' FROM t"},
		{"DBCC CHECKIDENT ('t', RESEED, 10)", "CALL checkident('t', 'RESEED', '10')"},
		{"dbcc checkident('t','reseed',10001);", "CALL checkident('t', 'RESEED', '10001')"},
		{"DBCC CHECKIDENT (orders)", "CALL checkident('orders')"},
		// A quote inside the name stays inside it: nothing can be smuggled.
		{"DBCC CHECKIDENT ('t''); DROP TABLE t; --', RESEED, 5)", "CALL checkident('t''); DROP TABLE t; --', 'RESEED', '5')"},
		{`DBCC CHECKIDENT ("o""k")`, `CALL checkident('o"k')`},
		{"DBCC CHECKIDENT ('dbo.t', NORESEED) WITH NO_INFOMSGS", "CALL checkident('dbo.t', 'NORESEED', '', 'NO_INFOMSGS')"},
		{"SET IDENTITY_INSERT dbo.t ON", "SET @sysemu_identity_insert = 'dbo.t ON'"},
		{"SELECT @@IDENTITY, @@identity + 1", "SELECT scope_identity(), scope_identity() + 1"},
		{"SELECT '@@IDENTITY', @@identity_x", "SELECT '@@IDENTITY', @@identity_x"},
	} {
		if got := rewriteTSQL(tc.in); got != tc.want {
			t.Errorf("rewriteTSQL(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestIdentityMarkerOf(t *testing.T) {
	stmt := rewriteTSQL("CREATE TABLE t (a INT, `Id` SMALLINT IDENTITY(7, 3) PRIMARY KEY)")
	m, ok := identityMarkerOf(stmt, "id")
	if !ok || m.seed != 7 || m.incr != 3 || m.typ != "smallint" {
		t.Fatalf("marker of %q = %+v, %v", stmt, m, ok)
	}
	if _, ok := identityMarkerOf(stmt, "a"); ok {
		t.Fatal("marker found for a column without one")
	}
}
