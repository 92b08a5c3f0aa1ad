package server

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/sysemu/sysemu/engine"
)

// status is what the status page and /metrics show. It is read through
// SQL from the system tables, so both show exactly what a client sees.
type status struct {
	Version string
	Uptime  time.Duration
	Conns   int64
	Spaces  []idSpace
	Ranges  []identityRange
	Nodes   []int64
	Stores  []storeRow
	// StoresShown is how many of StoresTotal stores the grid lists.
	StoresShown, StoresTotal int
	Events                   []idEvent
}

// idSpace is one ID space: a sequence or an identity column's counter.
type idSpace struct {
	Name, Kind string
	Next       int64 // the next value it hands out
	Used       int64 // the highest value in use
	Max        int64
}

func (s idSpace) UsedPct() float64 {
	if s.Max <= 0 {
		return 0
	}
	return 100 * float64(s.Used) / float64(s.Max)
}

func (s idSpace) Headroom() int64 { return s.Max - s.Used }

type identityRange struct {
	Table            string
	Node             int64
	Kind             string
	Start, End       int64
	Next, Current    string // "" when the node does not draw from it
	UsagePct, Thresh int64
	OverThreshold    bool
}

type storeRow struct {
	GstoNo int64
	Sta    int64
	Roles  []string // per Nodes entry: "P" primary, "R" replica, "X" invalid, "" none
}

type idEvent struct {
	ID                 int64
	Time, User, Kind   string
	Sequence, Old, New string
}

// storeNoPrefix names the per-node store-number sequences (store_no-N).
const storeNoPrefix = "store_no-"

// maxStoresShown bounds the STORE_STA grid (the newest stores).
const maxStoresShown = 200

// spaceMax is each sequence's upper bound where the emulated system has one:
// GreptimeDB's table and database IDs are u32, XuguDB's gsto_no an INTEGER.
var spaceMax = map[string]int64{
	engine.SeqTableID:    math.MaxUint32,
	engine.SeqDatabaseID: math.MaxUint32,
	engine.SeqGstoNo:     math.MaxInt32,
}

// spaceUsed is the statement that reads a sequence's highest value in use.
var spaceUsed = map[string]string{
	engine.SeqTableID: "SELECT MAX(TABLE_ID) FROM information_schema.TABLES",
	engine.SeqGstoNo:  "SELECT MAX(GSTO_NO) FROM `SYSTEM`.SYS_GSTORES",
}

// query runs a statement as the administrator and returns its rows.
func (s *Server) query(ctx context.Context, q string) ([]sql.Row, error) {
	sctx := s.newContext(ctx)
	_, iter, _, err := s.gms.Query(sctx, q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q, err)
	}
	rows, err := sql.RowIterToRows(sctx, iter)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q, err)
	}
	return rows, nil
}

// toInt reads an integer cell of a system table (its Go type varies with
// the column type).
func toInt(v any) int64 {
	if v == nil {
		return 0
	}
	n, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
	if err != nil {
		f, _ := strconv.ParseFloat(fmt.Sprint(v), 64)
		n = int64(f)
	}
	return n
}

func toStr(v any) string {
	if v == nil {
		return ""
	}
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format("2006-01-02 15:04:05")
	}
	return fmt.Sprint(v)
}

// readStatus collects the status; events is how many recent SYS_ID_EVENTS
// rows to include.
func (s *Server) readStatus(ctx context.Context, events int) (*status, error) {
	st := &status{Version: s.cfg.Version, Uptime: time.Since(s.stats.started), Conns: s.stats.connections.Load()}
	state := s.eng.State()
	names := make([]string, 0, len(state.Sequences))
	for name := range state.Sequences {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		sp := idSpace{Name: name, Kind: "sequence", Next: int64(state.Sequences[name]), Max: math.MaxInt64}
		if m, ok := spaceMax[name]; ok {
			sp.Max = m
		}
		sp.Used = sp.Next - 1
		q, ok := spaceUsed[name]
		if node, isStore := strings.CutPrefix(name, storeNoPrefix); isStore {
			// A node's store numbers: the largest any version on it holds.
			q, ok = fmt.Sprintf("SELECT GREATEST(MAX(IF(NODE_ID1 = %[1]s, STORE_NO1, 0)), MAX(IF(NODE_ID2 = %[1]s, STORE_NO2, 0)), "+
				"MAX(IF(NODE_ID3 = %[1]s, STORE_NO3, 0))) FROM `SYSTEM`.SYS_GSTORES", strconv.Quote(node)), true
		}
		if name == engine.SeqDatabaseID {
			sp.Used = 0
			for _, db := range state.Databases() {
				sp.Used = max(sp.Used, int64(db.ID))
			}
		}
		if ok {
			rows, err := s.query(ctx, q)
			if err != nil {
				return nil, err
			}
			if len(rows) == 1 {
				sp.Used = toInt(rows[0][0])
			}
		}
		st.Spaces = append(st.Spaces, sp)
	}
	rows, err := s.query(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, NODE_ID, CURRENT_VALUE, NEXT_VALUE, MAX_VALUE FROM `SYSTEM`.SYS_IDENTITIES ORDER BY TABLE_ID, NODE_ID")
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		name := fmt.Sprintf("%s.%s.%s", r[0], r[1], r[2])
		if n := toInt(r[3]); n != 0 {
			name += fmt.Sprintf("@node%d", n)
		}
		st.Spaces = append(st.Spaces, idSpace{Name: name, Kind: "identity", Used: toInt(r[4]), Next: toInt(r[5]), Max: toInt(r[6])})
	}
	rows, err = s.query(ctx, "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME), NODE_ID, RANGE_KIND, RANGE_START, RANGE_END, NEXT_VALUE, CURRENT_MAX, USAGE_PCT, THRESHOLD FROM `SYSTEM`.SYS_IDENTITY_RANGES ORDER BY TABLE_ID, NODE_ID, RANGE_KIND")
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		ir := identityRange{Table: toStr(r[0]), Node: toInt(r[1]), Kind: toStr(r[2]), Start: toInt(r[3]), End: toInt(r[4]),
			Next: toStr(r[5]), Current: toStr(r[6]), UsagePct: toInt(r[7]), Thresh: toInt(r[8])}
		ir.OverThreshold = ir.UsagePct >= ir.Thresh
		st.Ranges = append(st.Ranges, ir)
	}
	rows, err = s.query(ctx, "SELECT NODE_ID FROM `SYSTEM`.SYS_CLUSTERS ORDER BY NODE_ID")
	if err != nil {
		return nil, err
	}
	col := map[int64]int{}
	for i, r := range rows {
		st.Nodes = append(st.Nodes, toInt(r[0]))
		col[toInt(r[0])] = i
	}
	rows, err = s.query(ctx, "SELECT COUNT(*) FROM `SYSTEM`.SYS_GSTORES")
	if err != nil {
		return nil, err
	}
	st.StoresTotal = int(toInt(rows[0][0]))
	rows, err = s.query(ctx, fmt.Sprintf("SELECT GSTO_NO, STORE_STA, NODE_ID1, NODE_ID2, NODE_ID3 FROM `SYSTEM`.SYS_GSTORES ORDER BY GSTO_NO DESC LIMIT %d", maxStoresShown))
	if err != nil {
		return nil, err
	}
	for i := len(rows) - 1; i >= 0; i-- {
		r := rows[i]
		sr := storeRow{GstoNo: toInt(r[0]), Sta: toInt(r[1]), Roles: make([]string, len(st.Nodes))}
		for v := 0; v < 3; v++ {
			role := [4]string{"", "P", "R", "X"}[(sr.Sta>>(2*v))&3]
			if c, ok := col[toInt(r[2+v])]; ok && role != "" {
				sr.Roles[c] += role
			}
		}
		st.Stores = append(st.Stores, sr)
	}
	st.StoresShown = len(st.Stores)
	rows, err = s.query(ctx, fmt.Sprintf("SELECT EVENT_ID, EVENT_TIME, USER, KIND, SEQUENCE_NAME, OLD_VALUE, NEW_VALUE FROM `SYSTEM`.SYS_ID_EVENTS ORDER BY EVENT_ID DESC LIMIT %d", events))
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		st.Events = append(st.Events, idEvent{ID: toInt(r[0]), Time: toStr(r[1]), User: toStr(r[2]), Kind: toStr(r[3]),
			Sequence: toStr(r[4]), Old: toStr(r[5]), New: toStr(r[6])})
	}
	return st, nil
}
