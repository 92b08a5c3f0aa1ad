package server

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/mysql"

	"github.com/sysemu/sysemu/engine"
)

// erNoPartitionForValue is MySQL's ER_NO_PARTITION_FOR_GIVEN_VALUE.
const erNoPartitionForValue = 1526

// partitionOf is the partition a row of t lives in, so its writes are
// booked on that partition's stores. On an integer partitioning column:
// HASH is MySQL's MOD(value, n) (absolute), RANGE the first partition whose
// bound is above the value, LIST the partition listing it; a value no RANGE
// or LIST partition takes is refused as MySQL does. KEY partitioning, other
// expressions and non-integer values use a stable hash of the value (MySQL's
// own KEY hash is not modelled).
func partitionOf(ctx *sql.Context, t *engine.Table, sch sql.Schema, key []byte, row sql.Row) (int, error) {
	p := t.Partition
	if p == nil || (p.Count <= 1 && len(p.Definitions) == 0) {
		return 0, nil
	}
	col := strings.Trim(p.Expr, "`")
	if len(p.Columns) > 0 {
		col = p.Columns[0]
	}
	i := sch.IndexOfColName(col)
	if i < 0 {
		return hashPart(key, p.Count), nil
	}
	if row[i] == nil {
		return 0, nil // MySQL files NULL under the lowest partition
	}
	v, ok := intValue(ctx, row[i])
	if !ok || p.Type == "KEY" {
		return hashPart([]byte(fmt.Sprint(row[i])), p.Count), nil
	}
	switch {
	case strings.HasPrefix(p.Type, "RANGE"):
		for n, d := range p.Definitions {
			if d.Values == "MAXVALUE" {
				return n, nil
			}
			bound, ok := listValues(d.Values)
			if !ok || len(bound) != 1 {
				return hashPart(key, p.Count), nil // not an integer bound
			}
			if v < bound[0] {
				return n, nil
			}
		}
		return 0, noPartition(v)
	case strings.HasPrefix(p.Type, "LIST"):
		for n, d := range p.Definitions {
			vals, ok := listValues(d.Values)
			if !ok {
				return hashPart(key, p.Count), nil // not integer values
			}
			for _, x := range vals {
				if x == v {
					return n, nil
				}
			}
		}
		return 0, noPartition(v)
	}
	part := v % int64(p.Count)
	if part < 0 {
		part = -part
	}
	return int(part), nil
}

func noPartition(v int64) error {
	return mysql.NewSQLError(erNoPartitionForValue, "HY000", "Table has no partition for value %d", v)
}

func hashPart(b []byte, n int) int {
	h := fnv.New32a()
	_, _ = h.Write(b)
	return int(h.Sum32() % uint32(n))
}

func intValue(ctx *sql.Context, v any) (int64, bool) {
	switch v.(type) {
	case int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint:
	default:
		return 0, false
	}
	x, _, err := types.Int64.Convert(ctx, v)
	if err != nil {
		return 0, false
	}
	n, ok := x.(int64)
	return n, ok
}

// listValues parses a rendered "(1, 2, 3)" value list of integers.
func listValues(s string) ([]int64, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "(") || !strings.HasSuffix(s, ")") {
		return nil, false
	}
	var out []int64
	for _, f := range strings.Split(s[1:len(s)-1], ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}
