package server

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"time"
)

//go:embed statuspage.html
var statusPageHTML string

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"pct": func(f float64) string { return fmt.Sprintf("%.4g", f) },
	"bar": func(f float64) string {
		// Visible even when tiny, never wider than the cell.
		return fmt.Sprintf("%.2f", min(100, max(f, 0.5)))
	},
	"int":     func(n int64) float64 { return float64(n) },
	"seconds": func(d time.Duration) string { return d.Truncate(time.Second).String() },
}).Parse(statusPageHTML))

// recentEvents is how many SYS_ID_EVENTS rows the status page lists.
const recentEvents = 50

// httpStatusPage serves the status page at /.
func (s *Server) httpStatusPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	st, err := s.readStatus(r.Context(), recentEvents)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	if err := statusPage.Execute(&b, st); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}
