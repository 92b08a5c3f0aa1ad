package seed

import (
	"slices"
	"strings"
	"testing"
)

// FuzzStatements splits any script: every statement is trimmed and
// non-empty, splits again to itself alone, and the statements joined with
// ";" split back to the same list (unless the last one leaves a quote open,
// which swallows whatever follows it).
func FuzzStatements(f *testing.F) {
	for _, name := range Scenarios() {
		b, err := scenarioFS.ReadFile("scenarios/" + name + ".sql")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	for _, s := range []string{"", ";", "a;b", "'a;b';c", `"a\";b"`, "`a;`;b", "-- c;\nx", "# c\ny;", "x -- c", "'open", `'\`, "a--b;c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		out := Statements(script)
		for _, st := range out {
			if st == "" || st != strings.TrimSpace(st) {
				t.Fatalf("statement %q is empty or untrimmed", st)
			}
			if again := Statements(st); len(again) != 1 || again[0] != st {
				t.Fatalf("statement %q splits to %q", st, again)
			}
		}
		if len(out) == 0 || len(Statements(out[len(out)-1]+";x")) != 2 {
			return
		}
		if again := Statements(strings.Join(out, ";\n")); !slices.Equal(again, out) {
			t.Fatalf("%q: joined statements split to %q", out, again)
		}
	})
}
