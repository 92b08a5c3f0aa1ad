package e2e

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/sysemu/sysemu/server"
)

var flagLinKills = flag.Int("lin-kills", 3, "TestSequenceLinearizable: kill -9 of the server during the history")

// The history of TestSequenceLinearizable: operations on the table-ID
// sequence (key "table_id") and on one identity counter (key "identity").
type linKind int

const (
	linPeek    linKind = iota // SELECT next_table_id() -> the durable high-water mark
	linCreate                 // CREATE TABLE -> its TABLE_ID
	linSet                    // CALL set_next_table_id(n) in recovery mode -> accepted or 30003
	linRestart                // the server was killed and started again
	linInsert                 // identity INSERT -> the generated value
)

type linInput struct {
	key  string
	kind linKind
	n    uint64 // linSet: the value asked for
}

type linOutput struct {
	v       uint64 // peek, create, insert: the value returned
	ok      bool   // linSet: accepted (false: refused with 30003)
	unknown bool   // the connection was cut: the op may or may not have happened
}

// linState is what a history proves about a sequence: lower bounds only.
// next: every ID handed out from now on is at least next; hw: the durable
// high-water mark (what next_table_id() returns) is at least hw.
type linState struct{ next, hw uint64 }

// linModel is the sequence's specification (spec/SEMANTICS.md 1.1): IDs
// strictly increase in linearization order (so none twice); a peek is never
// below a value peeked before nor below an ID already handed out (persist
// before use); set_next_table_id(n) is accepted only above the current
// value and the next ID is then at least n; after a restart the cached
// range is gone and IDs resume at the durable mark. An op whose result is
// unknown may or may not have happened.
var linModel = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(linInput).key
			if by[k] == nil {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() []any { return []any{linState{}} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(linState), input.(linInput), output.(linOutput)
		if out.unknown {
			if in.kind == linSet && in.n > s.hw {
				return []any{s, linState{next: in.n, hw: in.n}}
			}
			return []any{s} // a create or insert that happened only raises bounds we cannot know
		}
		switch in.kind {
		case linPeek:
			if out.v < s.hw || out.v < s.next {
				return nil
			}
			return []any{linState{next: s.next, hw: out.v}}
		case linCreate, linInsert:
			if out.v < s.next {
				return nil
			}
			return []any{linState{next: out.v + 1, hw: max(s.hw, out.v+1)}}
		case linSet:
			if !out.ok {
				return []any{s}
			}
			if in.n <= s.hw {
				return nil
			}
			return []any{linState{next: in.n, hw: in.n}}
		case linRestart:
			return []any{linState{next: max(s.next, s.hw), hw: s.hw}}
		}
		return nil
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		res := fmt.Sprint(out.v)
		if in.kind == linSet {
			res = fmt.Sprint(out.ok)
		}
		if out.unknown {
			res = "?"
		}
		return fmt.Sprintf("%s %s(%d) -> %s", in.key, [...]string{"peek", "create", "set", "restart", "insert"}[in.kind], in.n, res)
	},
}

// linRecorder collects the history with timestamps from one clock.
type linRecorder struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
}

func (r *linRecorder) now() int64 { return time.Since(r.start).Nanoseconds() }

func (r *linRecorder) add(client int, in linInput, call int64, out linOutput) {
	ret := r.now()
	if out.unknown {
		ret = math.MaxInt64 // may take effect at any time after the call
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

// TestSequenceLinearizable records concurrent operations on the table-ID
// sequence and an identity counter from 8 clients, across kill -9 of the
// server, and checks the history with porcupine against linModel.
func TestSequenceLinearizable(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	quietMySQLDriver(t)
	bin := binBuild(t)
	dataDir := t.TempDir()
	proc := binStart(t, bin, dataDir)
	db := crashOpen(t, proc.dsn(""))
	clMustExec(t, db, "CREATE DATABASE lin")
	clMustExec(t, db, "CREATE TABLE lin.ident (id BIGINT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(32))")
	db.Close()

	rec := &linRecorder{start: time.Now()}
	unknown := 0
	for phase := 0; phase <= *flagLinKills; phase++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var errMu sync.Mutex
		var errs []string
		for c := 0; c < 8; c++ {
			crng := rand.New(rand.NewSource(rng.Int63()))
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := linClient(proc.dsn("lin"), 0, linStandaloneRole(c), c, phase, crng, rec, stop); err != nil {
					errMu.Lock()
					errs = append(errs, err.Error())
					errMu.Unlock()
				}
			}()
		}
		time.Sleep(500*time.Millisecond + time.Duration(rng.Int63n(int64(time.Second))))
		if phase == *flagLinKills {
			close(stop)
			wg.Wait()
			break
		}
		call := rec.now()
		proc.Kill()
		wg.Wait()
		close(stop)
		proc = binStart(t, bin, dataDir)
		rec.add(-1, linInput{key: "table_id", kind: linRestart}, call, linOutput{})
		for _, e := range errs {
			t.Errorf("phase %d: %s", phase, e)
		}
	}
	proc.Stop()
	for _, op := range rec.ops {
		if op.Output.(linOutput).unknown {
			unknown++
		}
	}
	for i := range rec.ops {
		if rec.ops[i].ClientId < 0 {
			rec.ops[i].ClientId = 8 // porcupine's visualization wants client IDs >= 0
		}
	}
	began := time.Now()
	res, _ := porcupine.CheckOperationsVerbose(linModel.ToModel(), rec.ops, 2*time.Minute)
	t.Logf("%d operations (%d with unknown outcome), %d kills: porcupine says %s in %v",
		len(rec.ops), unknown, *flagLinKills, res, time.Since(began).Round(time.Millisecond))
	if res != porcupine.Ok {
		t.Errorf("the history of the ID sequences is not linearizable (%s)", res)
	}
}

// linRole is what a client of the linearizability tests does.
type linRole int

const (
	linRoleSet    linRole = iota // set_next_table_id in recovery mode
	linRoleCreate                // CREATE TABLE, then its TABLE_ID
	linRolePeek                  // SELECT next_table_id()
	linRoleInsert                // identity INSERT into lin.ident
)

// linKey names a sequence in the history: per server, or per cluster node
// (node > 0) so that the model is checked for each node on its own.
func linKey(seq string, node int) string {
	if node == 0 {
		return seq
	}
	return fmt.Sprintf("%s@node%d", seq, node)
}

// linSeq is the sequence a key names, whatever node recorded it.
func linSeq(key string) string { return strings.SplitN(key, "@", 2)[0] }

// linStandaloneRole follows the client's number: 0 sets the next table ID,
// 1-4 create tables, 5-6 peek, 7 inserts.
func linStandaloneRole(client int) linRole {
	switch {
	case client == 0:
		return linRoleSet
	case client <= 4:
		return linRoleCreate
	case client <= 6:
		return linRolePeek
	}
	return linRoleInsert
}

// linClient runs one client's operations on the server at dsn (cluster node
// node, or 0) until stop closes or the connection is cut (the server was
// killed). A write that fails with 30040 (no etcd quorum in reach) has an
// unknown outcome and the client goes on. It returns an unexpected error.
func linClient(dsn string, node int, role linRole, client, phase int, rng *rand.Rand, rec *linRecorder, stop <-chan struct{}) error {
	ctx := context.Background()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := db.Conn(ctx)
	if err != nil {
		return nil // already killed
	}
	defer c.Close()
	tableKey, identKey := linKey("table_id", node), linKey("identity", node)
	// cut: the statement's fate is unknown (gone: and the connection with
	// it); other MySQL errors are unexpected unless listed.
	cut := func(err error, ok ...uint16) (unknown, gone bool, _ error) {
		if err == nil {
			return false, false, nil
		}
		if connLost(err) {
			return true, true, nil
		}
		n, _ := errno(err)
		if n == server.ErClusterUnavailable {
			return true, false, nil
		}
		for _, o := range ok {
			if n == o {
				return false, false, err
			}
		}
		return false, false, fmt.Errorf("client %d: %w", client, err)
	}
	// write records a write whose result is v, or unknown; it says whether
	// the client stops.
	write := func(in linInput, call int64, v uint64, err error) (bool, error) {
		unknown, gone, err := cut(err)
		switch {
		case err != nil:
			return true, err
		case unknown:
			rec.add(client, in, call, linOutput{unknown: true})
		default:
			rec.add(client, in, call, linOutput{v: v})
		}
		return gone, nil
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return nil
		default:
		}
		switch role {
		case linRoleSet:
			if unknown, _, err := cut(clExec(ctx, c, "CALL recovery_mode('on')")); unknown || err != nil {
				return err
			}
			var cur uint64
			peekCall := rec.now()
			if err := c.QueryRowContext(ctx, "SELECT next_table_id()").Scan(&cur); err != nil {
				_, _, err = cut(err)
				return err
			}
			rec.add(client, linInput{key: tableKey, kind: linPeek}, peekCall, linOutput{v: cur})
			n := cur + uint64(rng.Intn(4)) // 0: must be refused
			in := linInput{key: tableKey, kind: linSet, n: n}
			call := rec.now()
			lost, _, err := cut(clExec(ctx, c, fmt.Sprintf("CALL set_next_table_id(%d)", n)), 30003)
			if err != nil && n != cur {
				return fmt.Errorf("client %d: set_next_table_id(%d) with next_table_id() = %d: %w", client, n, cur, err)
			}
			if lost {
				rec.add(client, in, call, linOutput{unknown: true})
				return nil
			}
			rec.add(client, in, call, linOutput{ok: err == nil})
			if unknown, _, err := cut(clExec(ctx, c, "CALL recovery_mode('off')")); unknown || err != nil {
				return err
			}
			time.Sleep(time.Duration(10+rng.Intn(30)) * time.Millisecond)
		case linRoleCreate:
			name := fmt.Sprintf("t%d_%d_%d", phase, client, i)
			in := linInput{key: tableKey, kind: linCreate}
			call := rec.now()
			err := clExec(ctx, c, "CREATE TABLE "+name+" (id INT PRIMARY KEY)")
			if n, _ := errno(err); n == 30004 {
				continue // refused in recovery mode: nothing happened
			}
			var id uint64
			if err == nil {
				err = c.QueryRowContext(ctx, "SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'lin' AND TABLE_NAME = ?", name).Scan(&id)
			}
			if stopNow, err := write(in, call, id, err); stopNow {
				return err
			}
		case linRolePeek:
			in := linInput{key: tableKey, kind: linPeek}
			call := rec.now()
			var v uint64
			if err := c.QueryRowContext(ctx, "SELECT next_table_id()").Scan(&v); err != nil {
				_, gone, err := cut(err) // a read that failed changed nothing
				if gone || err != nil {
					return err
				}
				continue
			}
			rec.add(client, in, call, linOutput{v: v})
			time.Sleep(time.Millisecond) // peeks are cheap: keep them from swamping the history
		case linRoleInsert:
			in := linInput{key: identKey, kind: linInsert}
			call := rec.now()
			res, err := c.ExecContext(ctx, "INSERT INTO ident (v) VALUES (?)", fmt.Sprintf("p%d_%d_%d", phase, client, i))
			var id int64
			if err == nil {
				id, err = res.LastInsertId()
			}
			if stopNow, err := write(in, call, uint64(id), err); stopNow {
				return err
			}
		}
	}
}

// clExec runs a statement (or CALL) and drains its results.
func clExec(ctx context.Context, c *sql.Conn, stmt string, args ...any) error {
	rs, err := c.QueryContext(ctx, stmt, args...)
	if err != nil {
		return err
	}
	for rs.Next() {
	}
	err = rs.Err()
	rs.Close()
	return err
}

// The model rejects what it must: each history here breaks one rule.
func TestSequenceModelRejects(t *testing.T) {
	op := func(client int, call, ret int64, kind linKind, n, v uint64, ok bool) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Call: call, Return: ret,
			Input: linInput{key: "table_id", kind: kind, n: n}, Output: linOutput{v: v, ok: ok}}
	}
	cases := map[string][]porcupine.Operation{
		"an ID twice":                       {op(0, 0, 1, linCreate, 0, 1024, false), op(1, 2, 3, linCreate, 0, 1024, false)},
		"peek below a handed-out ID":        {op(0, 0, 1, linCreate, 0, 1030, false), op(1, 2, 3, linPeek, 0, 1030, false)},
		"peek going back":                   {op(0, 0, 1, linPeek, 0, 1044, false), op(1, 2, 3, linPeek, 0, 1034, false)},
		"set accepted at the current value": {op(0, 0, 1, linPeek, 0, 1044, false), op(1, 2, 3, linSet, 1044, 0, true)},
		"ID below an accepted set":          {op(0, 0, 1, linSet, 2000, 0, true), op(1, 2, 3, linCreate, 0, 1999, false)},
		"cached ID reused after a restart": {op(0, 0, 1, linCreate, 0, 1024, false), op(1, 2, 3, linPeek, 0, 1034, false),
			op(2, 4, 5, linRestart, 0, 0, false), op(0, 6, 7, linCreate, 0, 1025, false)},
	}
	for name, h := range cases {
		if porcupine.CheckOperations(linModel.ToModel(), h) {
			t.Errorf("%s: accepted", name)
		}
	}
	good := []porcupine.Operation{op(0, 0, 10, linCreate, 0, 1025, false), op(1, 1, 9, linCreate, 0, 1024, false),
		op(2, 2, 3, linPeek, 0, 1034, false), op(0, 11, 12, linRestart, 0, 0, false), op(1, 13, 14, linCreate, 0, 1034, false),
		{ClientId: 2, Call: 15, Return: math.MaxInt64, Input: linInput{key: "table_id", kind: linSet, n: 1100}, Output: linOutput{unknown: true}},
		op(0, 16, 17, linPeek, 0, 1100, false)}
	if !porcupine.CheckOperations(linModel.ToModel(), good) {
		t.Error("a linearizable history was rejected")
	}
}

// linDuplicates lists every value handed out twice by a sequence, whatever
// nodes handed it out: the check the per-node partitions of linModel cannot
// make.
func linDuplicates(h []porcupine.Operation) []string {
	seen := map[string]map[uint64]string{}
	var dups []string
	for _, op := range h {
		in, out := op.Input.(linInput), op.Output.(linOutput)
		if out.unknown || (in.kind != linCreate && in.kind != linInsert) {
			continue
		}
		seq := linSeq(in.key)
		if seen[seq] == nil {
			seen[seq] = map[uint64]string{}
		}
		if prev, ok := seen[seq][out.v]; ok {
			dups = append(dups, fmt.Sprintf("%s %d handed out on %s and on %s", seq, out.v, prev, in.key))
		}
		seen[seq][out.v] = in.key
	}
	return dups
}

// linClusterCheck checks a cluster history: linModel on each node's
// sequences (a node's IDs increase; its peeks never go below what it handed
// out), and every value unique across the nodes.
func linClusterCheck(h []porcupine.Operation, timeout time.Duration) (porcupine.CheckResult, []string) {
	res, _ := porcupine.CheckOperationsVerbose(linModel.ToModel(), h, timeout)
	return res, linDuplicates(h)
}
