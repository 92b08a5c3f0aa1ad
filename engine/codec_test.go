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

// FuzzTupleCodec checks that the encoding keeps numeric and byte order and
// that every encoding decodes back to its values.
func FuzzTupleCodec(f *testing.F) {
	f.Add(int64(-1), int64(1), "a", "b")
	f.Add(int64(0), int64(0), "\x00", "")
	f.Fuzz(func(t *testing.T, a, b int64, s1, s2 string) {
		ea, _ := AppendTuple(nil, a, s1)
		eb, _ := AppendTuple(nil, b, s2)
		want := 0
		switch {
		case a < b:
			want = -1
		case a > b:
			want = 1
		default:
			want = bytes.Compare([]byte(s1), []byte(s2))
		}
		if got := bytes.Compare(ea, eb); got != want {
			t.Fatalf("compare(%d,%q | %d,%q) = %d, want %d", a, s1, b, s2, got, want)
		}
		dec, err := DecodeTuple(ea)
		if err != nil || dec[0].(int64) != a || string(dec[1].([]byte)) != s1 {
			t.Fatalf("decode: %v %v", dec, err)
		}
	})
}
