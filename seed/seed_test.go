package seed

import (
	"reflect"
	"testing"
)

func TestStatements(t *testing.T) {
	got := Statements("-- c\nSELECT 'a;b'; # x\nSELECT \"q\\\"\";\n\nCALL f(1) ;")
	want := []string{"SELECT 'a;b'", "SELECT \"q\\\"\"", "CALL f(1)"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
}

func TestProfilesReserveTheirRanges(t *testing.T) {
	for _, name := range ProfileNames() {
		p, err := Profile(name)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[uint64]string{}
		for _, tb := range p.SystemTables {
			if tb.ID >= p.FirstUserTableID {
				t.Errorf("%s: system table %s has id %d, not reserved", name, tb.Name, tb.ID)
			}
			if other, dup := seen[tb.ID]; dup {
				t.Errorf("%s: id %d used by %s and %s", name, tb.ID, other, tb.Name)
			}
			seen[tb.ID] = tb.Name
		}
	}
	p, _ := Profile("greptime")
	for _, tb := range p.SystemTables {
		if tb.Name == "tables" && tb.ID != 3 {
			t.Fatalf("information_schema.tables is %d, GreptimeDB has 3", tb.ID)
		}
	}
	if p.FirstUserTableID != 1024 || p.TableIDStep != 10 {
		t.Fatal("greptime profile must start user tables at 1024 with step 10")
	}
}

func TestScenariosParse(t *testing.T) {
	for _, name := range Scenarios() {
		stmts, err := Scenario(name)
		if err != nil || len(stmts) == 0 {
			t.Fatalf("%s: %v %d", name, err, len(stmts))
		}
	}
	if _, err := Scenario("nope"); err == nil {
		t.Fatal("unknown scenario accepted")
	}
}
