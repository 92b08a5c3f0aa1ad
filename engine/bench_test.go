package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/bolt"
	"github.com/sysemu/sysemu/engine/store/mem"
)

// benchTables is the catalog size of the State benchmarks: big enough for
// the B-tree depth to show, small enough that setup stays a few ms in CI
// (-benchtime=1x).
const benchTables = 20000

// benchState builds a State of benchTables tables in one database, every
// tenth with ten partitions and each table with one store per partition
// plus its own, without going through the store.
func benchState(b *testing.B) *State {
	b.Helper()
	s := newState(testProfile, nil, nil)
	db := &Database{ID: 1024, Name: "bench"}
	s.dbs.ReplaceOrInsert(db)
	gsto := uint32(201)
	for i := range benchTables {
		t := &Table{ID: uint64(1024 + i), DatabaseID: db.ID, Database: db.Name, Name: fmt.Sprintf("t%d", i), Type: BaseTable}
		parts := 0
		if i%10 == 0 {
			parts = 10
			t.Partition = &Partition{Type: "HASH", Count: parts}
		}
		for range parts + 1 {
			t.Stores = append(t.Stores, Store{No: gsto, Copies: 1})
			gsto++
		}
		s.putTable(t)
	}
	return s
}

// Handing out one table ID: the sequence's cached range, refilled in a
// store transaction every step IDs (GreptimeDB's Sequence::next).
func BenchmarkSequenceNext(b *testing.B) {
	st := mem.New()
	seq := newSequence(SeqTableID, 1024, 10)
	ctx := context.Background()
	for b.Loop() {
		var c seqCache
		if err := st.Update(ctx, func(tx store.Tx) error {
			var err error
			_, c, err = seq.next(tx)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		seq.cache = c
	}
}

// Publishing a change: clone the State (copy-on-write B-trees) and put one
// table, as every CREATE TABLE does before it publishes.
func BenchmarkStatePublish(b *testing.B) {
	s := benchState(b)
	id := uint64(1024 + benchTables)
	for b.Loop() {
		c := s.clone()
		c.putTable(&Table{ID: id, DatabaseID: 1024, Database: "bench", Name: fmt.Sprintf("t%d", id), Type: BaseTable,
			Stores: []Store{{No: uint32(id * 20), Copies: 1}}})
		s = c
		id++
	}
}

// A system-table scan: every table in ID order (what an unindexed
// INFORMATION_SCHEMA.TABLES or SYS_OBJECTS read walks).
func BenchmarkStateScan(b *testing.B) {
	s := benchState(b)
	for b.Loop() {
		n := 0
		s.RangeTables(0, 0, false, func(*Table) bool { n++; return true })
		if n < benchTables {
			b.Fatalf("scanned %d tables", n)
		}
	}
}

// The index lookups behind the ID checks: top-1 TABLE_ID, a table by ID, a
// table by name, a store by GSTO_NO.
func BenchmarkStateLookup(b *testing.B) {
	s := benchState(b)
	mid := uint64(1024 + benchTables/2)
	for b.Loop() {
		var top *Table
		s.RangeTables(0, 0, true, func(t *Table) bool { top = t; return false })
		if top == nil || s.TableByID(mid) == nil || s.Table("bench", "t10000") == nil {
			b.Fatal("lookup missed")
		}
		if t, _ := s.Gstore(5000); t == nil {
			b.Fatal("store lookup missed")
		}
	}
}

// Opening a catalog from disk: the State built from every stored table
// (cold start), with the memory it keeps and the ID checks' latencies on it.
// The catalog has $SYSEMU_BENCH_TABLES tables (default 2,000; every tenth, or
// every $SYSEMU_BENCH_PARTITIONED-th, with ten hash partitions; three replicas
// per store), created through the engine
// (CreateTable on 4 sessions, so group commit batches them) on a bbolt file
// without fsync. $SYSEMU_BENCH_DB names that file: built there if it does not
// exist, else reused, so a large catalog is built once and every later run is
// a cold start in a fresh process (its rss-peak-MiB is then the start's own).
// For the scale target:
//
//	SYSEMU_BENCH_TABLES=1000000 SYSEMU_BENCH_DB=/tmp/cat1m.db go test -run - -bench ColdStart -benchtime 1x -timeout 1h ./engine
//
// (SYSEMU_BENCH_PARTITIONED=1 makes every table partitioned: 11 stores each.)
func BenchmarkColdStart(b *testing.B) {
	n, every := benchEnv(b, "SYSEMU_BENCH_TABLES", 2000), benchEnv(b, "SYSEMU_BENCH_PARTITIONED", 10)
	path := os.Getenv("SYSEMU_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "sysemu.db")
	}
	ctx := context.Background()
	log, _ := logtest.NewNullLogger()
	rate := 0.0
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		rate = buildCatalog(b, path, n, every)
	} else if err != nil {
		b.Fatal(err)
	}
	var (
		e     *Engine
		st    store.Store
		start time.Duration
		cpu   time.Duration
	)
	for b.Loop() {
		if e != nil {
			if err := st.Close(); err != nil {
				b.Fatal(err)
			}
			e = nil
		}
		t0, c0 := time.Now(), cpuTime(b)
		var err error
		if st, err = bolt.Open(path, bolt.Options{NoSync: true}); err != nil {
			b.Fatal(err)
		}
		if e, err = Open(ctx, st, testProfile, log, Options{}); err != nil {
			b.Fatal(err)
		}
		start, cpu = time.Since(t0), cpuTime(b)-c0
	}
	b.StopTimer()
	defer st.Close()
	s := e.State()
	tables := s.TableCount() - len(testProfile.SystemTables)
	if tables < n {
		b.Fatalf("reopened with %d tables, want %d", tables, n)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if rate > 0 {
		b.ReportMetric(rate, "creates/s")
	}
	b.ReportMetric(start.Seconds(), "open-s")
	b.ReportMetric(cpu.Seconds(), "open-cpu-s")
	b.ReportMetric(float64(tables), "tables")
	b.ReportMetric(float64(s.GstoreCount()), "stores")
	b.ReportMetric(float64(ms.HeapAlloc)/float64(tables), "heap-B/table")
	mem := procMemory(b)
	b.ReportMetric(float64(mem["VmRSS"])/(1<<20), "rss-MiB")
	b.ReportMetric(float64(mem["VmHWM"])/(1<<20), "rss-peak-MiB")
	b.ReportMetric(float64(mem["RssFile"])/(1<<20), "rss-file-MiB")
	idCheckLatencies(b, s, tables, every)
	runtime.KeepAlive(e)
}

func benchEnv(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// buildCatalog creates database bench with n tables, one in every every
// with ten hash partitions, in a new bbolt file at path and returns the creation
// rate.
func buildCatalog(b *testing.B, path string, n, every int) float64 {
	ctx := context.Background()
	log, _ := logtest.NewNullLogger()
	st, err := bolt.Open(path, bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e, err := Open(ctx, st, testProfile, log, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.CreateDatabase(ctx, "bench", ""); err != nil {
		b.Fatal(err)
	}
	const sessions = 4
	t0 := time.Now()
	errs := make(chan error, sessions)
	for w := range sessions {
		go func() {
			errs <- func() error {
				for i := w; i < n; i += sessions {
					spec := TableSpec{Database: "bench", Name: "t" + strconv.Itoa(i),
						Columns: []Column{{Name: "id", Type: "bigint"}, {Name: "v", Type: "varchar(32)"}}, PrimaryKey: []string{"id"}}
					if i%every == 0 {
						spec.Partition = &Partition{Type: "HASH", Expr: "id", Count: 10}
					}
					if _, err := e.CreateTable(ctx, spec); err != nil {
						return err
					}
				}
				return nil
			}()
		}()
	}
	for range sessions {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(t0).Seconds()
}

// cpuTime is the CPU time (user and system) the process has used: on a
// shared machine the open's wall time depends on what else runs.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procMemory returns the process's memory figures from /proc/self/status in
// bytes: VmRSS (resident), VmHWM (its peak), RssFile (the resident part that
// is mapped files: bbolt's pages); none where there is no such file.
func procMemory(b *testing.B) map[string]uint64 {
	out := map[string]uint64{}
	f, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(f), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if v, isKB := strings.CutSuffix(strings.TrimSpace(v), " kB"); ok && isKB {
			kb, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			out[k] = kb << 10
		}
	}
	return out
}

// idCheckLatencies reports the mean time of the State reads behind the ID
// checks on a catalog of bench tables t0..t(n-1): the top TABLE_ID, a table
// by name, a store by GSTO_NO and the partition count.
func idCheckLatencies(b *testing.B, s *State, n, every int) {
	const rounds = 10000
	rnd := rand.New(rand.NewPCG(1, 2))
	names := make([]string, rounds)
	for i := range names {
		names[i] = "t" + strconv.Itoa(rnd.IntN(n))
	}
	lo, hi := uint64(testProfile.FirstUserGsto), s.Sequences[SeqGstoNo]
	measure := func(unit string, fn func(i int) bool) {
		t0 := time.Now()
		for i := range rounds {
			if !fn(i) {
				b.Fatalf("%s: lookup %d missed", unit, i)
			}
		}
		b.ReportMetric(float64(time.Since(t0).Nanoseconds())/rounds, unit)
	}
	measure("top1-ns", func(int) bool {
		var top *Table
		s.RangeTables(0, 0, true, func(t *Table) bool { top = t; return false })
		return top != nil
	})
	measure("byname-ns", func(i int) bool { return s.Table("bench", names[i]) != nil })
	measure("gsto-ns", func(i int) bool {
		t, _ := s.Gstore(lo + uint64(i)*(hi-lo)/rounds)
		return t != nil
	})
	if want := (n + every - 1) / every * 10; s.PartitionCount() != want {
		b.Fatalf("%d partitions, want %d", s.PartitionCount(), want)
	}
	measure("parts-ns", func(int) bool { return s.PartitionCount() > 0 })
}
