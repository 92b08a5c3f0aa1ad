// Command loadgen is the client of e2e/bench/compare.sh: the same load,
// over go-sql-driver/mysql, against sysemu or a MariaDB peer. Every loop is
// bounded by -n (and -budget for query).
//
//	loadgen -dsn DSN -db DB -mode create -n N -conns C   CREATE TABLE N tables (db created if missing;
//	                                                      -partitions P: PARTITION BY HASH(id) PARTITIONS P,
//	                                                      on every -every'th table, default every table)
//	loadgen -dsn DSN -db DB -mode insert -n N -conns C   N autocommit INSERTs into one AUTO_INCREMENT table
//	loadgen -dsn DSN -mode query -n N -query Q           run Q N times (after -warmup runs), latency stats;
//	                                                      stops early after -budget once 3 runs are done
//	loadgen -dsn DSN -mode rate -n N -conns C -query Q   run Q N times on C connections, throughput; a ? in Q
//	                                                      takes -arg: "seq:S" (S, S+1, ...) or "rand:LO:HI";
//	                                                      -prepared: server-side prepared statements
//	loadgen -dsn DSN -db DB -mode fill -n N              (re)create table sbtest1 as sysbench does, N rows
//	loadgen -dsn DSN -mode exec -query Q                 run Q once, print the first column of the first row
//	loadgen -mode freeport                               print a free loopback TCP port
//
// It prints one line of key=value pairs: ops, secs and rate (per second) for
// create/insert/rate (create adds plain_rate and part_rate, each kind's count
// over its share of the connections' busy time; rate adds p50_ms); n, p50_ms,
// min_ms, max_ms, rows and result for query.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

func main() {
	dsn := flag.String("dsn", "", "go-sql-driver DSN without a database, e.g. root@tcp(127.0.0.1:3306)/")
	db := flag.String("db", "", "database (create, insert, fill: created if missing; others: optional)")
	mode := flag.String("mode", "", "create | insert | query | rate | fill | exec | freeport")
	n := flag.Int("n", 1000, "tables (create), rows (insert, fill) or statements (query, rate)")
	conns := flag.Int("conns", 1, "concurrent connections (create, insert, rate)")
	prefix := flag.String("prefix", "t", "table name prefix (create)")
	start := flag.Int("start", 0, "first table number (create)")
	partitions := flag.Int("partitions", 0, "hash partitions per partitioned table (create; 0: none)")
	every := flag.Int("every", 1, "partition the tables whose number is a multiple of this (create)")
	table := flag.String("table", "ins", "table (insert); dropped and re-created")
	query := flag.String("query", "SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_ID DESC LIMIT 1", "statement (query, rate, exec)")
	arg := flag.String("arg", "", `value of the ? in -query (rate): "seq:S" or "rand:LO:HI"`)
	prepared := flag.Bool("prepared", false, "server-side prepared statements (rate)")
	warmup := flag.Int("warmup", 1, "untimed runs before timing (query)")
	budget := flag.Duration("budget", time.Minute, "time after which query stops once 3 runs are timed")
	timeout := flag.Duration("timeout", 2*time.Hour, "overall bound")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var err error
	switch *mode {
	case "freeport":
		err = freePort()
	case "create":
		err = create(ctx, *dsn, orDefault(*db, "bench"), *prefix, *start, *n, *conns, *partitions, max(*every, 1))
	case "insert":
		err = insert(ctx, *dsn, orDefault(*db, "bench"), *table, *n, *conns)
	case "query", "topid":
		err = timeQuery(ctx, *dsn, *db, *query, *n, *warmup, *budget)
	case "rate":
		err = rate(ctx, *dsn, *db, *query, *arg, *n, *conns, *prepared)
	case "fill":
		err = fill(ctx, *dsn, orDefault(*db, "sbtest"), *n)
	case "exec":
		err = execOnce(ctx, *dsn, *db, *query)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func freePort() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	return nil
}

// open returns a pool on database db ("" for none) with conns connections;
// interpolate makes the driver substitute ? itself (text protocol).
func open(dsn, db string, conns int, interpolate bool) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.DBName = db
	cfg.InterpolateParams = interpolate
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 10 * time.Minute
	}
	pool, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	pool.SetMaxOpenConns(conns)
	pool.SetMaxIdleConns(conns)
	return pool, nil
}

func ensureDB(ctx context.Context, dsn, db string) error {
	pool, err := open(dsn, "", 1, true)
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = pool.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+db)
	return err
}

// parallel runs op(i) for i in [0, n) on conns connections, each on its
// own pinned connection, and returns the wall time and each op's latency.
func parallel(ctx context.Context, pool *sql.DB, n, conns int, op func(ctx context.Context, c *sql.Conn, i int) error) (time.Duration, []time.Duration, error) {
	cs := make([]*sql.Conn, conns)
	for i := range cs {
		c, err := pool.Conn(ctx)
		if err != nil {
			return 0, nil, err
		}
		defer c.Close()
		cs[i] = c
	}
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	t0 := time.Now()
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				s := time.Now()
				if err := op(ctx, c, i); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("op %d: %w", i, err) })
					next.Store(int64(n)) // stop everyone
					return
				}
				lat[i] = time.Since(s)
			}
		}()
	}
	wg.Wait()
	return time.Since(t0), lat, firstErr
}

func printRate(n int, wall time.Duration, extra string) {
	fmt.Printf("ops=%d secs=%.3f rate=%.1f%s\n", n, wall.Seconds(), float64(n)/wall.Seconds(), extra)
}

func create(ctx context.Context, dsn, db, prefix string, start, n, conns, partitions, every int) error {
	if err := ensureDB(ctx, dsn, db); err != nil {
		return err
	}
	pool, err := open(dsn, db, conns, true)
	if err != nil {
		return err
	}
	defer pool.Close()
	partitioned := func(i int) bool { return partitions > 0 && (start+i)%every == 0 }
	wall, lat, err := parallel(ctx, pool, n, conns, func(ctx context.Context, c *sql.Conn, i int) error {
		clause := ""
		if partitioned(i) {
			clause = fmt.Sprintf(" PARTITION BY HASH(id) PARTITIONS %d", partitions)
		}
		_, err := c.ExecContext(ctx, fmt.Sprintf("CREATE TABLE %s%d (id BIGINT PRIMARY KEY, v VARCHAR(32))%s", prefix, start+i, clause))
		return err
	})
	if err != nil {
		return err
	}
	// Each kind's rate: its count over its share of the busy time, the busy
	// time being spread over the connections.
	var busy [2]time.Duration
	var count [2]int
	for i, d := range lat {
		k := 0
		if partitioned(i) {
			k = 1
		}
		busy[k] += d
		count[k]++
	}
	kindRate := func(k int) string {
		if count[k] == 0 || busy[k] == 0 {
			return "nan"
		}
		return fmt.Sprintf("%.1f", float64(count[k])*float64(conns)/busy[k].Seconds())
	}
	printRate(n, wall, fmt.Sprintf(" plain_rate=%s part_rate=%s", kindRate(0), kindRate(1)))
	return nil
}

func insert(ctx context.Context, dsn, db, table string, n, conns int) error {
	if err := ensureDB(ctx, dsn, db); err != nil {
		return err
	}
	pool, err := open(dsn, db, conns, true)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pool.ExecContext(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
		return err
	}
	if _, err := pool.ExecContext(ctx, "CREATE TABLE "+table+" (id BIGINT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(32))"); err != nil {
		return err
	}
	wall, _, err := parallel(ctx, pool, n, conns, func(ctx context.Context, c *sql.Conn, i int) error {
		_, err := c.ExecContext(ctx, "INSERT INTO "+table+" (v) VALUES (?)", fmt.Sprintf("row-%d", i))
		return err
	})
	if err != nil {
		return err
	}
	var count int
	if err := pool.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&count); err != nil {
		return err
	}
	if count != n {
		return fmt.Errorf("%s has %d rows after %d acknowledged INSERTs", table, count, n)
	}
	printRate(n, wall, "")
	return nil
}

// argFunc parses -arg: the value bound to the i-th statement's ?.
func argFunc(spec string) (func(i int) int64, error) {
	kind, rest, _ := strings.Cut(spec, ":")
	switch kind {
	case "":
		return nil, nil
	case "seq":
		s, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("-arg %q: %w", spec, err)
		}
		return func(i int) int64 { return s + int64(i) }, nil
	case "rand":
		a, b, _ := strings.Cut(rest, ":")
		lo, err1 := strconv.ParseInt(a, 10, 64)
		hi, err2 := strconv.ParseInt(b, 10, 64)
		if err1 != nil || err2 != nil || hi < lo {
			return nil, fmt.Errorf("-arg %q: want rand:LO:HI", spec)
		}
		return func(int) int64 { return lo + rand.Int64N(hi-lo+1) }, nil
	}
	return nil, fmt.Errorf("-arg %q: want seq:S or rand:LO:HI", spec)
}

// rate runs q n times on conns connections, reading every row.
func rate(ctx context.Context, dsn, db, q, argSpec string, n, conns int, prepared bool) error {
	argOf, err := argFunc(argSpec)
	if err != nil {
		return err
	}
	pool, err := open(dsn, db, conns, !prepared)
	if err != nil {
		return err
	}
	defer pool.Close()
	stmts := map[*sql.Conn]*sql.Stmt{}
	var mu sync.Mutex
	wall, lat, err := parallel(ctx, pool, n, conns, func(ctx context.Context, c *sql.Conn, i int) error {
		var args []any
		if argOf != nil {
			args = []any{argOf(i)}
		}
		if !prepared {
			return drain(c.QueryContext(ctx, q, args...))
		}
		mu.Lock()
		st := stmts[c]
		mu.Unlock()
		if st == nil {
			var err error
			if st, err = c.PrepareContext(ctx, q); err != nil {
				return err
			}
			mu.Lock()
			stmts[c] = st
			mu.Unlock()
		}
		return drain(st.QueryContext(ctx, args...))
	})
	for _, st := range stmts {
		st.Close()
	}
	if err != nil {
		return err
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	printRate(n, wall, fmt.Sprintf(" p50_ms=%.3f", float64(lat[len(lat)/2].Microseconds())/1000))
	return nil
}

func drain(rows *sql.Rows, err error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

// fill creates sysbench's sbtest1 with n rows (id 1..n), in multi-row INSERTs.
func fill(ctx context.Context, dsn, db string, n int) error {
	if err := ensureDB(ctx, dsn, db); err != nil {
		return err
	}
	pool, err := open(dsn, db, 1, true)
	if err != nil {
		return err
	}
	defer pool.Close()
	for _, q := range []string{"DROP TABLE IF EXISTS sbtest1",
		"CREATE TABLE sbtest1 (id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, " +
			"c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id))"} {
		if _, err := pool.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	const batch = 1000
	t0 := time.Now()
	for lo := 1; lo <= n; lo += batch {
		var b strings.Builder
		b.WriteString("INSERT INTO sbtest1 (id, k, c, pad) VALUES ")
		for id := lo; id < lo+batch && id <= n; id++ {
			if id > lo {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "(%d,%d,'%0120d','%060d')", id, rand.IntN(n)+1, id, id)
		}
		if _, err := pool.ExecContext(ctx, b.String()); err != nil {
			return err
		}
	}
	printRate(n, time.Since(t0), "")
	return nil
}

func execOnce(ctx context.Context, dsn, db, q string) error {
	pool, err := open(dsn, db, 1, true)
	if err != nil {
		return err
	}
	defer pool.Close()
	first, _, err := readAll(ctx, pool, q)
	if err != nil {
		return err
	}
	fmt.Println(first)
	return nil
}

func timeQuery(ctx context.Context, dsn, db, query string, n, warmup int, budget time.Duration) error {
	if n < 1 {
		return fmt.Errorf("-n must be at least 1")
	}
	pool, err := open(dsn, db, 1, true)
	if err != nil {
		return err
	}
	defer pool.Close()
	var result string
	var nrows int
	for i := 0; i < warmup; i++ {
		if result, nrows, err = readAll(ctx, pool, query); err != nil {
			return err
		}
	}
	lat := make([]float64, 0, n)
	t0 := time.Now()
	for i := 0; i < n && (i < 3 || time.Since(t0) < budget); i++ {
		s := time.Now()
		if result, nrows, err = readAll(ctx, pool, query); err != nil {
			return err
		}
		lat = append(lat, float64(time.Since(s).Microseconds())/1000)
	}
	sort.Float64s(lat)
	fmt.Printf("n=%d p50_ms=%.3f min_ms=%.3f max_ms=%.3f rows=%d result=%s\n", len(lat), lat[len(lat)/2], lat[0], lat[len(lat)-1], nrows, result)
	return nil
}

// readAll reads every row of q; first is the first column of the first row.
func readAll(ctx context.Context, pool *sql.DB, q string) (first string, n int, err error) {
	rows, err := pool.QueryContext(ctx, q)
	if err != nil {
		return "", 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", 0, err
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return "", 0, err
		}
		if n == 0 && len(vals) > 0 {
			first = string(vals[0])
		}
		n++
	}
	return first, n, rows.Err()
}
