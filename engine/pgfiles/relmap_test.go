package pgfiles

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// pg14PerDatabase are the 17 mapped relations of a PostgreSQL 14 database
// (pg_class, pg_attribute, pg_proc, pg_type, the toast tables of pg_proc and
// pg_type with their indexes, and the nine catalog indexes), each mapped to
// its own OID as after initdb.
var pg14PerDatabase = []uint32{1259, 1249, 1255, 1247, 2836, 2837, 4171, 4172,
	2662, 2663, 3455, 2658, 2659, 2690, 2691, 2703, 2704}

func identity(oids []uint32) []Mapping {
	var m []Mapping
	for _, o := range oids {
		m = append(m, Mapping{o, o})
	}
	return m
}

// The expected CRCs were computed independently of this package, with a
// bitwise CRC-32C (reflected polynomial 0x82F63B78, init and final xor
// 0xFFFFFFFF; check value CRC("123456789") = 0xE3069283) over the packed
// struct in Python, and are committed as constants.
func TestEncodeMatchesHandComputedCRCs(t *testing.T) {
	cases := []struct {
		name     string
		layout   Layout
		mappings []Mapping
		size     int
		crc      uint32
	}{
		{"v15 empty", Layout15, nil, 512, 0x378350bd},
		{"v15 pg14 database", Layout15, identity(pg14PerDatabase), 512, 0x4137e31d},
		{"v15 pg_class vacuumed", Layout15, []Mapping{{1259, 16533}}, 512, 0x2728b6e2},
		{"v16 empty", Layout16, nil, 524, 0x76267680},
		{"v16 pg14 database", Layout16, identity(pg14PerDatabase), 524, 0x56de2937},
		{"v16 pg_class vacuumed", Layout16, []Mapping{{1259, 16533}}, 524, 0x2e809f56},
	}
	for _, c := range cases {
		b, err := Encode(c.layout, c.mappings)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != c.size {
			t.Errorf("%s: %d bytes, want %d", c.name, len(b), c.size)
		}
		off := 8 + 8*c.layout.MaxMappings()
		if got := binary.LittleEndian.Uint32(b[off:]); got != c.crc {
			t.Errorf("%s: crc %#x, want %#x", c.name, got, c.crc)
		}
		if CRC([]byte("123456789")) != 0xE3069283 {
			t.Fatal("CRC is not CRC-32C")
		}
		m, err := Decode("f", b, c.layout)
		if err != nil || m.CRC != c.crc || !SameMappings(m.Mappings, c.mappings) {
			t.Errorf("%s: decode %+v %v", c.name, m, err)
		}
	}
}

// The document's hex walk: magic 17 27 59 00, the count, then the pairs
// (04eb = 1259 -> 4095 = 16533), zeroed free slots, the CRC, and (<= 15)
// the pad.
func TestLayoutBytes(t *testing.T) {
	b, _ := Encode(Layout15, []Mapping{{1259, 16533}})
	head := []byte{0x17, 0x27, 0x59, 0x00, 0x01, 0x00, 0x00, 0x00, 0xeb, 0x04, 0x00, 0x00, 0x95, 0x40, 0x00, 0x00}
	if !bytes.Equal(b[:16], head) {
		t.Fatalf("head % x", b[:16])
	}
	if !bytes.Equal(b[16:504], make([]byte, 488)) || !bytes.Equal(b[508:], make([]byte, 4)) {
		t.Fatal("free slots or pad not zero")
	}
	if !bytes.Equal(b[504:508], []byte{0xe2, 0xb6, 0x28, 0x27}) {
		t.Fatalf("crc bytes % x", b[504:508])
	}
	b16, _ := Encode(Layout16, []Mapping{{1259, 16533}})
	if !bytes.Equal(b16[:16], head) || !bytes.Equal(b16[520:], []byte{0x56, 0x9f, 0x80, 0x2e}) {
		t.Fatalf("v16 % x ... % x", b16[:16], b16[520:])
	}
}

func TestDecodeErrorsInPostgresOrder(t *testing.T) {
	good, _ := Encode(Layout15, identity(pg14PerDatabase))
	name := "base/16385/pg_filenode.map"
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		b    []byte
		kind error
		msg  string
	}{
		{"short", good[:100], ErrShortRead, `could not read file "base/16385/pg_filenode.map": read 100 of 512`},
		{"empty", nil, ErrShortRead, `could not read file "base/16385/pg_filenode.map": read 0 of 512`},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 0; return b }), ErrInvalidData, `relation mapping file "base/16385/pg_filenode.map" contains invalid data`},
		{"too many", mutate(func(b []byte) []byte { b[4] = 63; return b }), ErrInvalidData, `relation mapping file "base/16385/pg_filenode.map" contains invalid data`},
		{"negative count", mutate(func(b []byte) []byte { b[7] = 0x80; return b }), ErrInvalidData, `relation mapping file "base/16385/pg_filenode.map" contains invalid data`},
		{"flipped bit in a free slot", mutate(func(b []byte) []byte { b[400] ^= 1; return b }), ErrBadChecksum, `relation mapping file "base/16385/pg_filenode.map" contains incorrect checksum`},
		{"flipped crc", mutate(func(b []byte) []byte { b[504] ^= 0x80; return b }), ErrBadChecksum, `relation mapping file "base/16385/pg_filenode.map" contains incorrect checksum`},
		{"v16 file read as v15", func() []byte { b, _ := Encode(Layout16, identity(pg14PerDatabase)); return b }(), ErrBadChecksum, "incorrect checksum"},
	}
	for _, c := range cases {
		_, err := Decode(name, c.b, Layout15)
		var me *MapError
		if !errors.As(err, &me) || !errors.Is(err, c.kind) || !bytes.Contains([]byte(me.Msg), []byte(c.msg)) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// The pad is outside the CRC, as in PostgreSQL.
	if _, err := Decode(name, mutate(func(b []byte) []byte { b[510] = 7; return b }), Layout15); err != nil {
		t.Errorf("pad is not checked: %v", err)
	}
	if _, err := Encode(Layout15, make([]Mapping, 63)); !errors.Is(err, ErrRanOutOfSpace) {
		t.Errorf("63 mappings: %v", err)
	}
}

func TestFiles(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.MkdirAll("base/16385"); err != nil {
		t.Fatal(err)
	}
	rel := MapPath(16385)
	_, err := d.ReadMap(rel, Layout15)
	if err == nil || err.Error() != `could not open file "base/16385/pg_filenode.map": No such file or directory` || !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing map: %v", err)
	}
	want := identity(pg14PerDatabase)
	if err := d.WriteMap(rel, Layout16, want); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(string(d), "base/16385/pg_filenode.map")); err != nil || fi.Size() != 524 {
		t.Fatalf("map file: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(string(d), "base/16385/pg_filenode.map.tmp")); !os.IsNotExist(err) {
		t.Fatal("temp file left behind")
	}
	m, err := d.ReadMap(rel, Layout16)
	if err != nil || !SameMappings(m.Mappings, want) {
		t.Fatalf("read back: %v", err)
	}
	if err := d.CreateRelation(RelationPath(16385, 16384)); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateRelation(RelationPath(16385, 16384)); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second create: %v", err)
	}
	if ok, _ := d.Exists("base/16385/16384"); !ok {
		t.Fatal("relation file missing")
	}
	if err := d.Remove("base/16385/16384"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := d.Exists("base/16385/16384"); ok {
		t.Fatal("relation file not removed")
	}
	if RelationPath(0, 1262) != "global/1262" || MapPath(0) != "global/pg_filenode.map" {
		t.Fatal("global paths")
	}
}

// FuzzDecode: any bytes give either a valid map or a *MapError, never a
// panic; a valid map re-encodes to the same struct bytes.
func FuzzDecode(f *testing.F) {
	for _, l := range []Layout{Layout15, Layout16} {
		b, _ := Encode(l, identity(pg14PerDatabase))
		f.Add(b, l == Layout16)
		e, _ := Encode(l, nil)
		f.Add(e, l == Layout16)
	}
	f.Add([]byte{0x17, 0x27, 0x59, 0x00}, false)
	f.Fuzz(func(t *testing.T, b []byte, v16 bool) {
		l := Layout15
		if v16 {
			l = Layout16
		}
		m, err := Decode("f", b, l)
		if err != nil {
			var me *MapError
			if !errors.As(err, &me) || m != nil {
				t.Fatalf("error %v is not a *MapError", err)
			}
			return
		}
		if len(m.Mappings) > l.MaxMappings() {
			t.Fatalf("%d mappings", len(m.Mappings))
		}
		re, err := Encode(l, m.Mappings)
		if err != nil {
			t.Fatal(err)
		}
		// Free slots may hold junk covered by the CRC; the used part and
		// the count must round-trip.
		n := 8 + 8*len(m.Mappings)
		if !bytes.Equal(re[:n], b[:n]) {
			t.Fatal("used part does not round-trip")
		}
	})
}
