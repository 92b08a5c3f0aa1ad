package seed

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed scenarios/*.sql
var scenarioFS embed.FS

// Scenarios lists the scenario names (file names without .sql), sorted.
func Scenarios() []string {
	entries, _ := fs.ReadDir(scenarioFS, "scenarios")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".sql"))
	}
	sort.Strings(out)
	return out
}

// Scenario returns the statements of the named scenario script, in order.
func Scenario(name string) ([]string, error) {
	b, err := scenarioFS.ReadFile("scenarios/" + name + ".sql")
	if err != nil {
		return nil, fmt.Errorf("unknown scenario %q (have %v)", name, Scenarios())
	}
	return Statements(string(b)), nil
}

// Statements splits a script into statements at semicolons outside quotes,
// dropping "--" and "#" line comments and empty statements.
func Statements(script string) []string {
	var out []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(script); i++ {
		c := script[i]
		switch {
		case quote != 0:
			cur.WriteByte(c)
			if c == '\\' && quote != '`' && i+1 < len(script) {
				i++
				cur.WriteByte(script[i])
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
			cur.WriteByte(c)
		case c == '#' || (c == '-' && strings.HasPrefix(script[i:], "-- ")):
			for i < len(script) && script[i] != '\n' {
				i++
			}
			cur.WriteByte('\n')
		case c == ';':
			if s := strings.TrimSpace(cur.String()); s != "" {
				out = append(out, s)
			}
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
