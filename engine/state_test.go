package engine

import (
	"cmp"
	"math"
	"slices"
	"testing"
)

// The GSTO_NO index keeps runs of consecutive store numbers; every lookup
// and range must still see single stores, exactly as a list of all stores
// sorted by number does: runs with gaps, a table whose stores are several
// runs (a split adds one), runs broken by a replaced or dropped table,
// bounds inside runs, ascending and descending, stopping early.
func TestGstoreRuns(t *testing.T) {
	s := newState(&Profile{Name: "runs"}, nil, nil)
	tables := []*Table{
		{ID: 1, Name: "a", Stores: []Store{{No: 5}, {No: 6}, {No: 7}}},
		{ID: 2, Name: "b", Stores: []Store{{No: 8}}},
		{ID: 3, Name: "c", Stores: []Store{{No: 10}, {No: 11}, {No: 30}, {No: 31}, {No: 40}}},
		{ID: 4, Name: "d", Stores: []Store{{No: 12}, {No: 20}, {No: 21}}},
		{ID: 5, Name: "e", Stores: []Store{{No: math.MaxUint32 - 1}, {No: math.MaxUint32}}},
	}
	for _, tb := range tables {
		s.putTable(tb)
	}
	// Table c split again; d dropped; b replaced by a table with more stores.
	c := *tables[2]
	c.Stores = append(slices.Clone(c.Stores), Store{No: 41})
	s.putTable(&c)
	s.deleteTable(tables[3])
	s.putTable(&Table{ID: 2, Name: "b", Stores: []Store{{No: 8}, {No: 9}, {No: 13}}})

	type ref struct {
		no uint64
		id uint64
	}
	var all []ref
	s.RangeTables(0, 0, false, func(tb *Table) bool {
		for _, st := range tb.Stores {
			all = append(all, ref{uint64(st.No), tb.ID})
		}
		return true
	})
	slices.SortFunc(all, func(a, b ref) int { return cmp.Compare(a.no, b.no) })
	if s.GstoreCount() != len(all) || len(all) != 14 {
		t.Fatalf("GstoreCount %d, stores %d", s.GstoreCount(), len(all))
	}
	for no := uint64(0); no < 45; no++ {
		want := -1
		for i, r := range all {
			if r.no == no {
				want = i
			}
		}
		tb, st := s.Gstore(no)
		if (want < 0) != (tb == nil) || (tb != nil && (tb.ID != all[want].id || uint64(st.No) != no)) {
			t.Fatalf("Gstore(%d) = %v, want %v", no, tb, want)
		}
	}
	for _, no := range []uint64{math.MaxUint32 - 1, math.MaxUint32} {
		if tb, st := s.Gstore(no); tb == nil || tb.ID != 5 || uint64(st.No) != no {
			t.Fatalf("Gstore(%d) missed", no)
		}
	}
	if tb, _ := s.Gstore(math.MaxUint32 + 1); tb != nil {
		t.Fatal("Gstore beyond uint32 found a store")
	}
	bounds := []uint64{0, 1, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 20, 30, 31, 32, 40, 41, 42, 45,
		math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64}
	for _, lo := range bounds {
		for _, hi := range bounds {
			for _, reverse := range []bool{false, true} {
				var want []ref
				for _, r := range all {
					if r.no >= lo && (hi == 0 || r.no < hi) {
						want = append(want, r)
					}
				}
				if reverse {
					slices.Reverse(want)
				}
				for limit := 1; limit <= len(want)+1; limit++ {
					var got []ref
					s.RangeGstores(lo, hi, reverse, func(tb *Table, st *Store) bool {
						got = append(got, ref{uint64(st.No), tb.ID})
						return len(got) < limit
					})
					w := want[:min(limit, len(want))]
					if !slices.Equal(got, w) {
						t.Fatalf("RangeGstores(%d, %d, %v) stopping after %d = %v, want %v", lo, hi, reverse, limit, got, w)
					}
				}
			}
		}
	}
}
