package server

import (
	"io"
	"strings"
	"time"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/sirupsen/logrus"
)

// RouteLibraryLogs sends what go-mysql-server and vitess write to logrus's
// standard logger (they take no logger) to log, at sysemu's levels: their
// per-connection lines drop to trace (the server logs one line per
// connection at debug itself) and failed statements to debug (the client
// gets the error; /metrics counts it). It changes process-wide state, so
// only main and test helpers call it.
func RouteLibraryLogs(std, log *logrus.Logger) {
	std.SetOutput(io.Discard)
	std.SetLevel(log.GetLevel())
	std.ReplaceHooks(logrus.LevelHooks{})
	std.AddHook(forwardHook{log})
}

type forwardHook struct{ to *logrus.Logger }

func (h forwardHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h forwardHook) Fire(e *logrus.Entry) error {
	lvl := e.Level
	switch {
	case e.Message == "NewConnection" || e.Message == "ConnectionClosed" || strings.HasPrefix(e.Message, "ConnectionAborted"):
		lvl = logrus.TraceLevel
	case e.Message == "Starting query" || strings.HasPrefix(e.Message, "Query finished"):
		lvl = logrus.TraceLevel
	case e.Message == "error running query":
		lvl = logrus.DebugLevel
	}
	if !h.to.IsLevelEnabled(lvl) {
		return nil
	}
	data := e.Data
	if q, ok := data["query"].(string); ok {
		data = logrus.Fields{}
		for k, v := range e.Data {
			data[k] = v
		}
		data["query"] = redact(q)
	}
	h.to.WithFields(data).WithTime(e.Time).Log(lvl, e.Message)
	return nil
}

// logSlow logs a statement that ran for Config.SlowQuery or longer, at info.
// Account statements are not printed: they may carry a password.
func (s *Server) logSlow(c *mysql.Conn, query string, start time.Time, err error) {
	d := time.Since(start)
	if s.cfg.SlowQuery <= 0 || d < s.cfg.SlowQuery {
		return
	}
	f := logrus.Fields{"conn": c.ConnectionID, "ms": d.Milliseconds(), "statement": redact(query)}
	if err != nil {
		f["error"] = err.Error()
	}
	s.log.WithFields(f).Info("slow statement")
}

// redact hides statements that may carry a password.
func redact(query string) string {
	u := strings.ToUpper(query)
	if strings.Contains(u, "IDENTIFIED") || strings.Contains(u, "PASSWORD") {
		return "<account statement, not logged>"
	}
	if len(query) > 2000 {
		return query[:2000] + "..."
	}
	return query
}
