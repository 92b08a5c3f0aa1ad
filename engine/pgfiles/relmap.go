package pgfiles

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
)

// Magic is RELMAPPER_FILEMAGIC.
const Magic = 0x592717

// MapFileName is the name of a relation map file in global/ and in each
// base/<database oid>/ directory.
const MapFileName = "pg_filenode.map"

// Layout is the on-disk layout of a map file: PostgreSQL up to 15 pads the
// struct to one 512-byte sector; 16 and later hold 64 mappings and no pad.
type Layout int

// The two layouts. The numbers are the PostgreSQL major versions that
// introduced them; they are what --pg-map-version takes.
const (
	Layout15 Layout = 15
	Layout16 Layout = 16
)

// ParseLayout maps a PostgreSQL major version to the map layout it writes.
func ParseLayout(version int) (Layout, error) {
	switch {
	case version >= 9 && version <= 15:
		return Layout15, nil
	case version >= 16:
		return Layout16, nil
	}
	return 0, fmt.Errorf("pg map version %d: want a PostgreSQL major version (9..15 write the 512-byte layout, 16+ the 524-byte one)", version)
}

// MaxMappings is MAX_MAPPINGS: 62 (62*8+16 = 512) up to 15, 64 from 16.
func (l Layout) MaxMappings() int {
	if l == Layout16 {
		return 64
	}
	return 62
}

// Size is sizeof(RelMapFile): 512 up to 15 (with int32 pad), 524 from 16.
func (l Layout) Size() int {
	if l == Layout16 {
		return 8 + 64*8 + 4
	}
	return 8 + 62*8 + 4 + 4
}

// crcOffset is offsetof(RelMapFile, crc): magic, num_mappings and the whole
// mappings array, unused slots included.
func (l Layout) crcOffset() int { return 8 + l.MaxMappings()*8 }

func (l Layout) String() string {
	return fmt.Sprintf("PostgreSQL %s (%d bytes, %d slots)", map[Layout]string{Layout15: "<= 15", Layout16: ">= 16"}[l], l.Size(), l.MaxMappings())
}

// Mapping is RelMapping: a mapped catalog's OID and its current filenode.
type Mapping struct {
	OID      uint32 `json:"oid"`
	Filenode uint32 `json:"filenode"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC is PostgreSQL's CRC-32C (INIT_CRC32C, COMP_CRC32C, FIN_CRC32C): the
// standard Castagnoli CRC with initial value and final xor 0xFFFFFFFF.
func CRC(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// ErrRanOutOfSpace is relmapper's error when a map would exceed MAX_MAPPINGS.
var ErrRanOutOfSpace = errors.New("ran out of space in relation map")

// Encode lays mappings out as a map file of layout l, little-endian (the
// native order of the machines PostgreSQL runs on here), with the CRC.
func Encode(l Layout, mappings []Mapping) ([]byte, error) {
	if len(mappings) > l.MaxMappings() {
		return nil, fmt.Errorf("%w: %d mappings, at most %d", ErrRanOutOfSpace, len(mappings), l.MaxMappings())
	}
	b := make([]byte, l.Size())
	binary.LittleEndian.PutUint32(b[0:], Magic)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(mappings)))
	for i, m := range mappings {
		binary.LittleEndian.PutUint32(b[8+8*i:], m.OID)
		binary.LittleEndian.PutUint32(b[12+8*i:], m.Filenode)
	}
	off := l.crcOffset()
	binary.LittleEndian.PutUint32(b[off:], CRC(b[:off]))
	return b, nil
}

// Kinds of read failure, in the order relmapper checks them.
var (
	// ErrNotFound: the file does not exist (open fails with ENOENT).
	ErrNotFound = errors.New("map file missing")
	// ErrShortRead: the file is not exactly sizeof(RelMapFile) bytes.
	ErrShortRead = errors.New("map file has the wrong size")
	// ErrInvalidData: wrong magic or num_mappings out of range.
	ErrInvalidData = errors.New("map file contains invalid data")
	// ErrBadChecksum: the stored CRC does not match.
	ErrBadChecksum = errors.New("map file contains incorrect checksum")
)

// MapError is a map file that cannot be used, with PostgreSQL's message.
type MapError struct {
	Kind error  // one of the Err* kinds above
	Msg  string // PostgreSQL's exact text, naming the file as given
}

func (e *MapError) Error() string { return e.Msg }
func (e *MapError) Unwrap() error { return e.Kind }

// Map is a decoded map file.
type Map struct {
	Layout   Layout
	Mappings []Mapping
	CRC      uint32 // the stored CRC (equal to the computed one when valid)
}

// Decode validates b as a map file of layout l the way relmapper's
// read_relmap_file does, and returns PostgreSQL's error text for a file that
// fails. name is the path shown in messages (relative to the data dir, as
// PostgreSQL prints it). Any input gives either a Map or a *MapError.
func Decode(name string, b []byte, l Layout) (*Map, error) {
	// read(fd, map, sizeof(RelMapFile)): a longer file is read up to the
	// struct's size, a shorter one fails.
	if len(b) < l.Size() {
		return nil, &MapError{ErrShortRead, fmt.Sprintf("could not read file \"%s\": read %d of %d", name, len(b), l.Size())}
	}
	b = b[:l.Size()]
	magic := binary.LittleEndian.Uint32(b[0:])
	n := int32(binary.LittleEndian.Uint32(b[4:]))
	if magic != Magic || n < 0 || int(n) > l.MaxMappings() {
		return nil, &MapError{ErrInvalidData, fmt.Sprintf("relation mapping file \"%s\" contains invalid data", name)}
	}
	off := l.crcOffset()
	stored := binary.LittleEndian.Uint32(b[off:])
	if CRC(b[:off]) != stored {
		return nil, &MapError{ErrBadChecksum, fmt.Sprintf("relation mapping file \"%s\" contains incorrect checksum", name)}
	}
	m := &Map{Layout: l, CRC: stored, Mappings: make([]Mapping, n)}
	for i := range m.Mappings {
		m.Mappings[i] = Mapping{OID: binary.LittleEndian.Uint32(b[8+8*i:]), Filenode: binary.LittleEndian.Uint32(b[12+8*i:])}
	}
	return m, nil
}

// DetectLayout guesses a file's layout from its size (for dumping a file of
// unknown origin); a size that fits neither is checked against want.
func DetectLayout(size int, want Layout) Layout {
	switch size {
	case Layout15.Size():
		return Layout15
	case Layout16.Size():
		return Layout16
	}
	return want
}

// SameMappings reports whether a and b map the same OIDs to the same
// filenodes, in any order.
func SameMappings(a, b []Mapping) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := sorted(a), sorted(b)
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

func sorted(m []Mapping) []Mapping {
	out := append([]Mapping(nil), m...)
	sort.Slice(out, func(i, j int) bool { return out[i].OID < out[j].OID })
	return out
}
