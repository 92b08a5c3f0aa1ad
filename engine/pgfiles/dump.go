package pgfiles

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Dump prints a map file field by field, like the document's hex walk (or
// pg_filedump -m): layout, magic, count, the pairs, the stored and the
// computed CRC. It prints what it can of a damaged file, then PostgreSQL's
// verdict; it returns the *MapError for a file PostgreSQL would refuse.
func Dump(w io.Writer, name string, b []byte, want Layout) error {
	l := DetectLayout(len(b), want)
	fmt.Fprintf(w, "file:         %s (%d bytes)\n", name, len(b))
	fmt.Fprintf(w, "layout:       %s\n", l)
	_, verdict := Decode(name, b, l)
	if len(b) < 8 {
		fmt.Fprintf(w, "verdict:      %v\n", verdict)
		return verdict
	}
	magic := binary.LittleEndian.Uint32(b)
	ok := "CORRECT"
	if magic != Magic {
		ok = fmt.Sprintf("WRONG, want %#x", Magic)
	}
	fmt.Fprintf(w, "magic:        %#x (%s)\n", magic, ok)
	n := int32(binary.LittleEndian.Uint32(b[4:]))
	fmt.Fprintf(w, "num_mappings: %d\n", n)
	shown := int(n)
	if shown < 0 || shown > l.MaxMappings() {
		shown = 0
	}
	for i := 0; i < shown && 16+8*i <= len(b); i++ {
		fmt.Fprintf(w, "  %3d  oid %-6d filenode %d\n", i, binary.LittleEndian.Uint32(b[8+8*i:]), binary.LittleEndian.Uint32(b[12+8*i:]))
	}
	if off := l.crcOffset(); len(b) >= off+4 {
		stored, computed := binary.LittleEndian.Uint32(b[off:]), CRC(b[:off])
		state := "ok"
		if stored != computed {
			state = "BAD"
		}
		fmt.Fprintf(w, "crc:          0x%08x stored, 0x%08x computed over bytes [0,%d): %s\n", stored, computed, off, state)
	}
	if verdict != nil {
		fmt.Fprintf(w, "verdict:      %v\n", verdict)
		return verdict
	}
	fmt.Fprintf(w, "verdict:      ok\n")
	return nil
}
