package server

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/mysql"
)

// extraSystemVariables are MySQL 8 variables that connectors and BI tools
// read at connect time and go-mysql-server does not declare. Values are
// MySQL 8.0's defaults; have_ssl follows the server's TLS setting.
func extraSystemVariables(version string, tlsOn bool) []sql.SystemVariable {
	global := sql.GetMysqlScope(sql.SystemVariableScope_Global)
	str := func(name, val string) sql.SystemVariable {
		return &sql.MysqlSystemVariable{Name: name, Scope: global, Type: types.NewSystemStringType(name), Default: val}
	}
	ssl := "DISABLED"
	if tlsOn {
		ssl = "YES"
	}
	innodb, _, _ := strings.Cut(version, "-")
	return []sql.SystemVariable{
		str("have_ssl", ssl),
		str("have_openssl", ssl),
		str("innodb_version", innodb),
		str("authentication_policy", "*,,"),
		&sql.MysqlSystemVariable{Name: "innodb_file_per_table", Scope: global, Type: types.NewSystemBoolType("innodb_file_per_table"), Default: int8(1)},
	}
}

// wireStats counts what COM_STATISTICS reports and /metrics exports about
// connections and statements. It is go-mysql-server's
// ServerEventListener.
type wireStats struct {
	started     time.Time
	connections atomic.Int64
	questions   atomic.Int64
	slow        atomic.Int64
	slowAfter   time.Duration
	onQuery     func(success bool, d time.Duration)
}

func (w *wireStats) ClientConnected()    { w.connections.Add(1) }
func (w *wireStats) ClientDisconnected() { w.connections.Add(-1) }
func (w *wireStats) QueryStarted()       {}
func (w *wireStats) QueryCompleted(success bool, d time.Duration) {
	w.questions.Add(1)
	if w.slowAfter > 0 && d >= w.slowAfter {
		w.slow.Add(1)
	}
	if w.onQuery != nil {
		w.onQuery(success, d)
	}
}

// statistics is MySQL's COM_STATISTICS answer, the line the CLI's `status`
// prints.
func (w *wireStats) statistics(*mysql.Conn) string {
	up := time.Since(w.started)
	secs := int64(up / time.Second)
	q := w.questions.Load()
	qps := 0.0
	if up > 0 {
		qps = float64(q) / up.Seconds()
	}
	return fmt.Sprintf("Uptime: %d  Threads: %d  Questions: %d  Slow queries: %d  Opens: 0  Open tables: 0  Queries per second avg: %.3f",
		secs, w.connections.Load(), q, w.slow.Load(), qps)
}
