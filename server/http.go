package server

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"

	"github.com/sysemu/sysemu/engine"
)

// GreptimeDB's error body and status for StatusCode::Unexpected (1002),
// which its admin handlers return for every failure we reproduce.
const greptimeUnexpected = 1002

// route is one HTTP admin route: a method and a handler; admin routes need
// the administrator's credentials.
type route struct {
	method string
	admin  bool
	h      func(w http.ResponseWriter, r *http.Request)
}

// httpHandler serves GreptimeDB's metasrv admin routes (byte-compatible
// bodies), plus sysemu's snapshot routes.
func (s *Server) httpHandler() http.Handler {
	switchRoutes := func(base, name string) map[string]route {
		status := route{"GET", false, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]bool{"enabled": s.eng.State().Switches[name]})
		}}
		set := func(on bool) route {
			return route{"POST", true, func(w http.ResponseWriter, r *http.Request) {
				if err := s.eng.SetSwitch(r.Context(), httpActor(r), name, on); err != nil {
					writeGreptimeError(w, err.Error())
					return
				}
				writeJSON(w, map[string]bool{"enabled": on})
			}}
		}
		return map[string]route{base + "/status": status, base + "/enable": set(true), base + "/disable": set(false)}
	}
	routes := map[string]route{
		"/admin/sequence/table/next-id": {"GET", false, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]uint32{"next_table_id": uint32(s.eng.NextTableID())})
		}},
		"/admin/sequence/table/set-next-id": {"POST", true, s.httpSetNextTableID},
		"/admin/procedure-manager/status": {"GET", false, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]string{"status": procStatus(s.eng.State().Switches[engine.SwitchPauseProcedure])})
		}},
		"/metrics":                {"GET", false, s.cfg.Metrics.handler(s.log).ServeHTTP},
		"/":                       {"GET", false, s.httpStatusPage},
		"/admin/snapshot":         {"GET", false, s.httpSnapshotSave},
		"/admin/snapshot/restore": {"POST", true, s.httpSnapshotRestore},
	}
	for _, pm := range []struct {
		path  string
		pause bool
	}{{"/admin/procedure-manager/pause", true}, {"/admin/procedure-manager/resume", false}} {
		pause := pm.pause
		routes[pm.path] = route{"POST", true, func(w http.ResponseWriter, r *http.Request) {
			if err := s.eng.SetSwitch(r.Context(), httpActor(r), engine.SwitchPauseProcedure, pause); err != nil {
				writeGreptimeError(w, err.Error())
				return
			}
			writeJSON(w, map[string]string{"status": procStatus(pause)})
		}}
	}
	for path, rt := range switchRoutes("/admin/recovery", engine.SwitchRecovery) {
		routes[path] = rt
	}
	for path, rt := range switchRoutes("/admin/maintenance", engine.SwitchMaintenance) {
		routes[path] = rt
	}
	routes["/admin/maintenance"] = routes["/admin/maintenance/status"]
	// Go's profiler, for the administrator: go tool pprof http://ADDR/debug/pprof/profile
	routes["/debug/pprof/"] = route{"GET", true, pprof.Index}
	routes["/debug/pprof/profile"] = route{"GET", true, pprof.Profile}
	routes["/debug/pprof/trace"] = route{"GET", true, pprof.Trace}
	for _, name := range []string{"heap", "allocs", "goroutine", "mutex", "block"} {
		routes["/debug/pprof/"+name] = route{"GET", true, pprof.Handler(name).ServeHTTP}
	}

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := s.cfg.HTTPToken != ""
		if token && !s.bearerOK(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sysemu"`)
			http.Error(w, "a bearer token is required (Authorization: Bearer <--http-token>)", http.StatusUnauthorized)
			return
		}
		rt, ok := routes[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if r.Method != rt.method && !(rt.method == "GET" && r.Method == "HEAD") {
			w.Header().Set("Allow", rt.method)
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		// With a token configured, the token is the credential.
		if rt.admin && !token && !s.httpAuthorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="sysemu admin"`)
			http.Error(w, "the administrator's credentials are required (HTTP basic auth)", http.StatusUnauthorized)
			return
		}
		rt.h(w, r)
	})
}

// httpAuthorized accepts the administrator's basic-auth credentials; a
// request without credentials counts as the administrator with an empty
// password, so it passes only while that is the password.
func (s *Server) httpAuthorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		user, pass = s.cfg.User, ""
	}
	return s.adminCredentials(user, pass)
}

// bearerOK reports whether r carries the configured bearer token.
func (s *Server) bearerOK(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(s.cfg.HTTPToken)) == 1
}

func httpActor(r *http.Request) engine.Actor {
	user, _, ok := r.BasicAuth()
	switch {
	case ok:
	case strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "):
		user = "token"
	default:
		user = "anonymous"
	}
	return engine.Actor{User: user + "@http:" + r.RemoteAddr, Statement: r.Method + " " + r.URL.Path}
}

func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// writeGreptimeError writes GreptimeDB's ErrorResponse for an Unexpected
// error: HTTP 500, the JSON body and the two x-greptime-err headers.
func writeGreptimeError(w http.ResponseWriter, msg string) {
	w.Header().Set("x-greptime-err-code", strconv.Itoa(greptimeUnexpected))
	w.Header().Set("x-greptime-err-msg", "error: "+msg+", execution_time_ms: 0")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		Code  int    `json:"code"`
		Error string `json:"error"`
		Ms    int    `json:"execution_time_ms"`
	}{greptimeUnexpected, msg, 0})
	_, _ = w.Write(bytes.TrimRight(b.Bytes(), "\n"))
}

// greptimeMessage is the innermost error's display text, as GreptimeDB
// renders it.
func greptimeMessage(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{engine.ErrNotRecoveryMode, engine.ErrNotGreater} {
		if errors.Is(err, sentinel) {
			msg = strings.TrimPrefix(msg, sentinel.Error()+": ")
		}
	}
	if errors.Is(err, engine.ErrNotGreater) {
		msg = "Unexpected: " + msg
	}
	return msg
}

// plainError writes an axum extractor rejection: plain text.
func plainError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

func isJSONContentType(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

func (s *Server) httpSetNextTableID(w http.ResponseWriter, r *http.Request) {
	if !isJSONContentType(r) {
		plainError(w, http.StatusUnsupportedMediaType, "Expected request with `Content-Type: application/json`")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		plainError(w, http.StatusBadRequest, "Failed to buffer the request body: "+err.Error())
		return
	}
	next, status, msg := parseSetNextID(body)
	if status != 0 {
		plainError(w, status, msg)
		return
	}
	if err := s.eng.SetNextTableID(r.Context(), httpActor(r), uint64(next)); err != nil {
		writeGreptimeError(w, greptimeMessage(err))
		return
	}
	writeJSON(w, map[string]uint32{"next_table_id": next})
}

// parseSetNextID decodes {"next_table_id": u32} with axum's Json rejections:
// 400 for bytes that are not JSON, 422 for JSON of the wrong shape.
func parseSetNextID(body []byte) (uint32, int, string) {
	col := len(body)
	if len(bytes.TrimSpace(body)) == 0 {
		return 0, http.StatusBadRequest, fmt.Sprintf("Failed to parse the request body as JSON: EOF while parsing a value at line 1 column %d", col)
	}
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		return 0, http.StatusBadRequest, "Failed to parse the request body as JSON: " + serdeSyntax(err, col)
	}
	const prefix = "Failed to deserialize the JSON body into the target type: "
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return 0, http.StatusUnprocessableEntity, prefix + fmt.Sprintf("invalid type: %s, expected struct SetNextTableIdRequest at line 1 column %d", jsonKind(body), col)
	}
	raw, ok := obj["next_table_id"]
	if !ok {
		return 0, http.StatusUnprocessableEntity, prefix + fmt.Sprintf("missing field `next_table_id` at line 1 column %d", col)
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	switch {
	case err != nil:
		if f, ferr := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64); ferr == nil {
			return 0, http.StatusUnprocessableEntity, prefix + fmt.Sprintf("next_table_id: invalid type: floating point `%v`, expected u32 at line 1 column %d", f, col)
		}
		if u, uerr := strconv.ParseUint(string(bytes.TrimSpace(raw)), 10, 64); uerr == nil {
			return 0, http.StatusUnprocessableEntity, prefix + fmt.Sprintf("next_table_id: invalid value: integer `%d`, expected u32 at line 1 column %d", u, col)
		}
		return 0, http.StatusUnprocessableEntity, prefix + fmt.Sprintf("next_table_id: invalid type: %s, expected u32 at line 1 column %d", jsonKind(raw), col)
	case n < 0 || n > math.MaxUint32:
		return 0, http.StatusUnprocessableEntity, prefix + fmt.Sprintf("next_table_id: invalid value: integer `%d`, expected u32 at line 1 column %d", n, col)
	}
	return uint32(n), 0, ""
}

func jsonKind(raw []byte) string {
	var v any
	_ = json.Unmarshal(raw, &v)
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case bool:
		return "boolean `" + strconv.FormatBool(x) + "`"
	case nil:
		return "null"
	case []any:
		return "sequence"
	case map[string]any:
		return "map"
	}
	return "value"
}

func serdeSyntax(err error, col int) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("expected value at line 1 column %d", se.Offset)
	}
	return fmt.Sprintf("EOF while parsing a value at line 1 column %d", col)
}

func (s *Server) httpSnapshotSave(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	if _, err := s.eng.SaveSnapshot(r.Context(), &b); err != nil {
		writeGreptimeError(w, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b.Bytes())
}

func (s *Server) httpSnapshotRestore(w http.ResponseWriter, r *http.Request) {
	force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
	n, err := s.eng.RestoreSnapshot(r.Context(), httpActor(r), r.Body, force)
	if err != nil {
		writeGreptimeError(w, err.Error())
		return
	}
	writeJSON(w, map[string]int{"restored_keys": n})
}
