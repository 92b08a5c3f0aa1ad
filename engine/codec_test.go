package engine

import (
	"bytes"
	"math"
	"reflect"
	"sort"
	"testing"
)

func TestTupleOrder(t *testing.T) {
	ordered := [][]any{
		{nil},
		{int64(math.MinInt64)},
		{int64(-2)},
		{int64(-1)},
		{int64(0)},
		{uint64(1)},
		{int64(2)},
		{uint64(math.MaxUint64)},
		{math.Inf(-1)},
		{-1.5},
		{0.0},
		{2.25},
		{math.Inf(1)},
		{""},
		{"\x00"},
		{"\x00\x00"},
		{"a"},
		{"a", int64(-1)},
		{"a", int64(5)},
		{"a\x00"},
		{"ab"},
		{"b"},
	}
	var enc [][]byte
	for _, vals := range ordered {
		b, err := AppendTuple(nil, vals...)
		if err != nil {
			t.Fatal(err)
		}
		enc = append(enc, b)
	}
	if !sort.SliceIsSorted(enc, func(i, j int) bool { return bytes.Compare(enc[i], enc[j]) < 0 }) {
		for i := 1; i < len(enc); i++ {
			if bytes.Compare(enc[i-1], enc[i]) >= 0 {
				t.Errorf("%v encodes >= %v", ordered[i-1], ordered[i])
			}
		}
	}
}

func TestTupleRoundTrip(t *testing.T) {
	in := []any{nil, int64(-7), int64(42), uint64(math.MaxUint64), 3.5, []byte("x\x00y"), []byte{}}
	b, err := AppendTuple(nil, in...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeTuple(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: got %#v want %#v", out, in)
	}
	if _, err := AppendTuple(nil, struct{}{}); err == nil {
		t.Fatal("unsupported type accepted")
	}
}

// FuzzTupleCodec: two-column tuples of any supported types encode in
// the values' order and decode back to them.
func FuzzTupleCodec(f *testing.F) {
	f.Add(uint8(1), int64(-1), uint64(0), 0.0, "", uint8(1), int64(1), uint64(0), 0.0, "")
	f.Add(uint8(2), int64(0), uint64(1<<63), 0.0, "", uint8(1), int64(-1), uint64(0), 0.0, "")
	f.Add(uint8(3), int64(0), uint64(0), -0.0, "", uint8(3), int64(0), uint64(0), 0.0, "")
	f.Add(uint8(4), int64(0), uint64(0), 0.0, "a\x00", uint8(4), int64(0), uint64(0), 0.0, "a")
	f.Add(uint8(0), int64(0), uint64(0), 0.0, "", uint8(4), int64(0), uint64(0), 0.0, "")
	f.Fuzz(func(t *testing.T, k1 uint8, i1 int64, u1 uint64, f1 float64, s1 string, k2 uint8, i2 int64, u2 uint64, f2 float64, s2 string) {
		a := codecValue(k1, i1, u1, f1, s1)
		b := codecValue(k2, i2, u2, f2, s2)
		// Each value also leads a tuple, followed by the other one, so the
		// order of a prefix against its extension is checked too.
		ea, err := AppendTuple(nil, a, b)
		if err != nil {
			t.Fatal(err)
		}
		eb, err := AppendTuple(nil, b, a)
		if err != nil {
			t.Fatal(err)
		}
		// (a, b) against (b, a): the first column decides unless a and b
		// are equal, and then the tuples are equal too.
		if want, ok := codecCompare(a, b); ok {
			if got := sign(bytes.Compare(ea, eb)); got != want {
				t.Fatalf("compare(%#v,%#v | %#v,%#v) = %d, want %d", a, b, b, a, got, want)
			}
		}
		for _, enc := range [][]byte{ea, eb} {
			dec, err := DecodeTuple(enc)
			if err != nil || len(dec) != 2 {
				t.Fatalf("decode %x: %v %v", enc, dec, err)
			}
		}
		dec, _ := DecodeTuple(ea)
		if !codecEqual(dec[0], a) || !codecEqual(dec[1], b) {
			t.Fatalf("round trip: %#v %#v -> %#v", a, b, dec)
		}
	})
}

func codecValue(kind uint8, i int64, u uint64, f float64, s string) any {
	switch kind % 6 {
	case 0:
		return nil
	case 1:
		return i
	case 2:
		return u
	case 3:
		return f
	case 4:
		return s
	}
	return []byte(s)
}

// codecCompare is the codec's documented order: NULL, then integers of
// both signs by value, then floats (-0 before +0), then bytes. NaN has no
// order (ok false).
func codecCompare(a, b any) (int, bool) {
	rank := func(v any) int {
		switch v.(type) {
		case nil:
			return 0
		case int64, uint64:
			return 1
		case float64:
			return 2
		}
		return 3
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return sign(ra - rb), true
	}
	switch x := a.(type) {
	case nil:
		return 0, true
	case int64, uint64:
		return compareInts(x, b), true
	case float64:
		y := b.(float64)
		if x != x || y != y {
			return 0, false
		}
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		case x == 0:
			return sign(boolInt(!math.Signbit(x)) - boolInt(!math.Signbit(y))), true
		}
		return 0, true
	}
	return bytes.Compare(asBytes(a), asBytes(b)), true
}

func compareInts(a, b any) int {
	neg := func(v any) (bool, uint64) {
		if i, ok := v.(int64); ok {
			return i < 0, uint64(i)
		}
		return false, v.(uint64)
	}
	na, ua := neg(a)
	nb, ub := neg(b)
	switch {
	case na != nb && na:
		return -1
	case na != nb:
		return 1
	case ua < ub:
		return -1
	case ua > ub:
		return 1
	}
	return 0
}

func codecEqual(dec, want any) bool {
	switch w := want.(type) {
	case nil:
		return dec == nil
	case int64, uint64:
		return (dec != nil && codecRank(dec) == 1) && compareInts(dec, w) == 0
	case float64:
		d, ok := dec.(float64)
		return ok && math.Float64bits(d) == math.Float64bits(w)
	}
	d, ok := dec.([]byte)
	return ok && bytes.Equal(d, asBytes(want))
}

func codecRank(v any) int {
	switch v.(type) {
	case int64, uint64:
		return 1
	}
	return 0
}

func asBytes(v any) []byte {
	if s, ok := v.(string); ok {
		return []byte(s)
	}
	return v.([]byte)
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
