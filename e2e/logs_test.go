package e2e

import (
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/sysemu/sysemu/server/servertest"
)

// One line per connection at debug; admin changes and slow statements at
// info; no password in any line.
func TestConnectionAndAdminLogs(t *testing.T) {
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	in := servertest.Start(t, servertest.Options{Log: log, SlowQuery: 1})
	db := openDB(t, in.RootDSN(""))
	c := conn(t, db)
	exec(t, c, "CREATE USER 'logme'@'%' IDENTIFIED BY 'pw-must-not-appear'", "CALL recovery_mode('on')", "CALL recovery_mode('off')")
	c.Close()
	db.Close()
	in.Stop()

	// Server lifecycle lines are fine at info; nothing per connection is.
	lifecycle := map[string]bool{"sysemu serving": true, "Server ready. Accepting connections.": true,
		"Server closing listener. No longer accepting connections.": true}
	var conns, admin, slow int
	for _, e := range hook.AllEntries() {
		line, _ := e.String()
		if strings.Contains(line, "pw-must-not-appear") {
			t.Errorf("password in the log: %s", line)
		}
		switch {
		case e.Message == "connection":
			conns++
			if e.Level != logrus.DebugLevel || e.Data["user"] != "root" {
				t.Errorf("connection line: %s", line)
			}
		case e.Message == "admin change":
			admin++
			if e.Level != logrus.InfoLevel {
				t.Errorf("admin change not at info: %s", line)
			}
		case e.Message == "slow statement":
			slow++
			if e.Level != logrus.InfoLevel {
				t.Errorf("slow statement not at info: %s", line)
			}
		case e.Level <= logrus.InfoLevel && !lifecycle[e.Message]:
			t.Errorf("unexpected line at %s: %s", e.Level, line)
		}
	}
	if conns != 1 || admin != 2 || slow < 3 {
		t.Fatalf("%d connection lines (want 1), %d admin changes (want 2), %d slow statements (want >= 3)", conns, admin, slow)
	}
}
