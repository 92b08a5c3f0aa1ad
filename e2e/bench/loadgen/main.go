// Command loadgen is the client of e2e/bench/compare.sh: the same load,
// over go-sql-driver/mysql, against sysemu or a MariaDB peer. Every loop is
// bounded by -n.
//
//	loadgen -dsn DSN -db DB -mode create -n N -conns C   CREATE TABLE N tables (db created if missing;
//	                                                      -partitions P: PARTITION BY HASH(id) PARTITIONS P)
//	loadgen -dsn DSN -db DB -mode insert -n N -conns C   N autocommit INSERTs into one AUTO_INCREMENT table
//	loadgen -dsn DSN -mode topid -n N -query Q           run Q N times (after one warm-up), latency stats
//	loadgen -mode freeport                               print a free loopback TCP port
//
// It prints one line of key=value pairs: ops, secs and rate (per second)
// for create/insert; n, p50_ms, min_ms, max_ms and result for topid.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

func main() {
	dsn := flag.String("dsn", "", "go-sql-driver DSN without a database, e.g. root@tcp(127.0.0.1:3306)/")
	db := flag.String("db", "bench", "database for create/insert (created if missing)")
	mode := flag.String("mode", "", "create | insert | topid | freeport")
	n := flag.Int("n", 1000, "tables (create), rows (insert) or queries (topid)")
	conns := flag.Int("conns", 1, "concurrent connections (create, insert)")
	prefix := flag.String("prefix", "t", "table name prefix (create)")
	start := flag.Int("start", 0, "first table number (create)")
	partitions := flag.Int("partitions", 0, "hash partitions per table (create; 0: none)")
	table := flag.String("table", "ins", "table (insert); dropped and re-created")
	query := flag.String("query", "SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_ID DESC LIMIT 1", "query (topid)")
	timeout := flag.Duration("timeout", 2*time.Hour, "overall bound")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var err error
	switch *mode {
	case "freeport":
		err = freePort()
	case "create":
		err = create(ctx, *dsn, *db, *prefix, *start, *n, *conns, *partitions)
	case "insert":
		err = insert(ctx, *dsn, *db, *table, *n, *conns)
	case "topid":
		err = topID(ctx, *dsn, *query, *n)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
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

// open returns a pool on database db ("" for none) with conns connections.
func open(dsn, db string, conns int) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.DBName = db
	cfg.InterpolateParams = true
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
	pool, err := open(dsn, "", 1)
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = pool.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+db)
	return err
}

// parallel runs op(i) for i in [0, n) on conns connections, each on its
// own pinned connection, and prints the rate.
func parallel(ctx context.Context, pool *sql.DB, n, conns int, op func(ctx context.Context, c *sql.Conn, i int) error) error {
	cs := make([]*sql.Conn, conns)
	for i := range cs {
		c, err := pool.Conn(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		cs[i] = c
	}
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
				if err := op(ctx, c, i); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("op %d: %w", i, err) })
					next.Store(int64(n)) // stop everyone
					return
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	if firstErr != nil {
		return firstErr
	}
	fmt.Printf("ops=%d secs=%.3f rate=%.1f\n", n, secs, float64(n)/secs)
	return nil
}

func create(ctx context.Context, dsn, db, prefix string, start, n, conns, partitions int) error {
	clause := ""
	if partitions > 0 {
		clause = fmt.Sprintf(" PARTITION BY HASH(id) PARTITIONS %d", partitions)
	}
	if err := ensureDB(ctx, dsn, db); err != nil {
		return err
	}
	pool, err := open(dsn, db, conns)
	if err != nil {
		return err
	}
	defer pool.Close()
	return parallel(ctx, pool, n, conns, func(ctx context.Context, c *sql.Conn, i int) error {
		_, err := c.ExecContext(ctx, fmt.Sprintf("CREATE TABLE %s%d (id BIGINT PRIMARY KEY, v VARCHAR(32))%s", prefix, start+i, clause))
		return err
	})
}

func insert(ctx context.Context, dsn, db, table string, n, conns int) error {
	if err := ensureDB(ctx, dsn, db); err != nil {
		return err
	}
	pool, err := open(dsn, db, conns)
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
	if err := parallel(ctx, pool, n, conns, func(ctx context.Context, c *sql.Conn, i int) error {
		_, err := c.ExecContext(ctx, "INSERT INTO "+table+" (v) VALUES (?)", fmt.Sprintf("row-%d", i))
		return err
	}); err != nil {
		return err
	}
	var count int
	if err := pool.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&count); err != nil {
		return err
	}
	if count != n {
		return fmt.Errorf("%s has %d rows after %d acknowledged INSERTs", table, count, n)
	}
	return nil
}

func topID(ctx context.Context, dsn, query string, n int) error {
	if n < 1 {
		return fmt.Errorf("-n must be at least 1")
	}
	pool, err := open(dsn, "", 1)
	if err != nil {
		return err
	}
	defer pool.Close()
	result, nrows, err := readAll(ctx, pool, query) // warm-up
	if err != nil {
		return err
	}
	lat := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if result, nrows, err = readAll(ctx, pool, query); err != nil {
			return err
		}
		lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
	}
	sort.Float64s(lat)
	fmt.Printf("n=%d p50_ms=%.3f min_ms=%.3f max_ms=%.3f rows=%d result=%s\n", n, lat[len(lat)/2], lat[0], lat[len(lat)-1], nrows, result)
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
