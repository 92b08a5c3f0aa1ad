package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/sysemu/sysemu/engine/store"
)

// Table records (m/tbl/<id>) are read in full at every start, so they are
// stored in a compact binary form: the byte tableFormat1, then the table's
// fields in this order:
//
//	ID, DatabaseID         uvarint
//	Database, Name, Type   str
//	schema                 uvarint byte length, then:
//	  Columns              list of: Name str, Type str, flags byte
//	                       (1 Nullable, 2 AutoIncrement, 4 Default set),
//	                       Default str (only with flag 4), Comment str
//	  PrimaryKey           list of str
//	  Indexes              list of: Name str, Columns (list of: Name str,
//	                       Length varint), Unique bool, Comment str
//	Partition              bool present, then: Type str, Linear bool, Expr str,
//	                       Columns (list of str), Count varint,
//	                       Definitions (list of: Name str, Values str), Clause str
//	Comment, Collation     str
//	Created                varint Unix seconds, uvarint nanoseconds (read as UTC)
//	CopyNum                varint
//	Stores                 list of: No uvarint, Kind byte, Part, Head, Next
//	                       uvarint, Copies byte, Nodes 3 uvarint, StoreNos 3
//	                       uvarint, Epoch uvarint
//	FileNode               uvarint
//	Identity               bool present, then: Column str, Type str, Seed,
//	                       Incr, Max varint
//	IdentityGen            uvarint
//
// str is a uvarint length and the bytes; bool is one byte 0 or 1; a list is
// a uvarint count plus one (0 for a nil slice, so nil and empty survive)
// and the elements. Nothing may follow the last field. A new field means a
// new format byte, and the decoder keeps reading every older one.
//
// Before format 1 a record was the table's JSON (it starts with '{'). Such
// records are still read, and Open rewrites them in the binary form
// (convertTables); snapshots taken before keep them and restore as they are.
const tableFormat1 byte = 0x01

// errTableRecord is wrapped by every decoding failure of a table record.
var errTableRecord = errors.New("corrupt table record")

// putTableRecord writes t's catalog record in the current format.
func putTableRecord(tx store.Tx, t *Table) error {
	return tx.Put(idKey(tablePrefix, t.ID), appendTable(make([]byte, 0, 128), t))
}

// appendTable appends t's record in format 1.
func appendTable(b []byte, t *Table) []byte {
	b = append(b, tableFormat1)
	b = binary.AppendUvarint(b, t.ID)
	b = binary.AppendUvarint(b, t.DatabaseID)
	b = appendStr(b, t.Database)
	b = appendStr(b, t.Name)
	b = appendStr(b, t.Type)
	schema := appendSchema(nil, t)
	b = binary.AppendUvarint(b, uint64(len(schema)))
	b = append(b, schema...)
	b = appendBool(b, t.Partition != nil)
	if p := t.Partition; p != nil {
		b = appendStr(b, p.Type)
		b = appendBool(b, p.Linear)
		b = appendStr(b, p.Expr)
		b = appendStrs(b, p.Columns)
		b = binary.AppendVarint(b, int64(p.Count))
		b = appendLen(b, len(p.Definitions), p.Definitions == nil)
		for _, d := range p.Definitions {
			b = appendStr(appendStr(b, d.Name), d.Values)
		}
		b = appendStr(b, p.Clause)
	}
	b = appendStr(b, t.Comment)
	b = appendStr(b, t.Collation)
	b = binary.AppendVarint(b, t.Created.Unix())
	b = binary.AppendUvarint(b, uint64(t.Created.Nanosecond()))
	b = binary.AppendVarint(b, int64(t.CopyNum))
	b = appendLen(b, len(t.Stores), t.Stores == nil)
	for i := range t.Stores {
		s := &t.Stores[i]
		b = binary.AppendUvarint(b, uint64(s.No))
		b = append(b, s.Kind)
		b = binary.AppendUvarint(b, uint64(s.Part))
		b = binary.AppendUvarint(b, uint64(s.Head))
		b = binary.AppendUvarint(b, uint64(s.Next))
		b = append(b, s.Copies)
		for _, n := range s.Nodes {
			b = binary.AppendUvarint(b, uint64(n))
		}
		for _, n := range s.StoreNos {
			b = binary.AppendUvarint(b, uint64(n))
		}
		b = binary.AppendUvarint(b, uint64(s.Epoch))
	}
	b = binary.AppendUvarint(b, t.FileNode)
	b = appendBool(b, t.Identity != nil)
	if id := t.Identity; id != nil {
		b = appendStr(appendStr(b, id.Column), id.Type)
		b = binary.AppendVarint(b, id.Seed)
		b = binary.AppendVarint(b, id.Incr)
		b = binary.AppendVarint(b, id.Max)
	}
	return binary.AppendUvarint(b, t.IdentityGen)
}

// appendSchema appends the columns, primary key and indexes: the part of a
// record that many tables share, which the decoder reads once per distinct
// value.
func appendSchema(b []byte, t *Table) []byte {
	b = appendLen(b, len(t.Columns), t.Columns == nil)
	for _, c := range t.Columns {
		b = appendStr(appendStr(b, c.Name), c.Type)
		var flags byte
		if c.Nullable {
			flags |= 1
		}
		if c.AutoIncrement {
			flags |= 2
		}
		if c.Default != nil {
			flags |= 4
		}
		b = append(b, flags)
		if c.Default != nil {
			b = appendStr(b, *c.Default)
		}
		b = appendStr(b, c.Comment)
	}
	b = appendStrs(b, t.PrimaryKey)
	b = appendLen(b, len(t.Indexes), t.Indexes == nil)
	for _, x := range t.Indexes {
		b = appendStr(b, x.Name)
		b = appendLen(b, len(x.Columns), x.Columns == nil)
		for _, c := range x.Columns {
			b = binary.AppendVarint(appendStr(b, c.Name), c.Length)
		}
		b = appendStr(appendBool(b, x.Unique), x.Comment)
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendLen(b []byte, n int, isNil bool) []byte {
	if isNil {
		return append(b, 0)
	}
	return binary.AppendUvarint(b, uint64(n)+1)
}

func appendStrs(b []byte, ss []string) []byte {
	b = appendLen(b, len(ss), ss == nil)
	for _, s := range ss {
		b = appendStr(b, s)
	}
	return b
}

// tableSchema is a decoded schema section (see appendSchema).
type tableSchema struct {
	columns    []Column
	primaryKey []string
	indexes    []Index
}

// internLimit bounds a tableDecoder's memo of strings and schemas.
const internLimit = 1 << 14

// tableDecoder reads table records. Tables of one catalog repeat their
// database name, type, collation and very often their whole schema: a
// decoder hands out one shared copy of each (catalog values are immutable),
// which keeps a large catalog's memory down. Not safe for concurrent use.
type tableDecoder struct {
	strs    map[string]string
	schemas map[string]tableSchema
}

func newTableDecoder() *tableDecoder {
	return &tableDecoder{strs: map[string]string{}, schemas: map[string]tableSchema{}}
}

// decodeTable decodes a table record in any format (see tableFormat1).
func (d *tableDecoder) decodeTable(v []byte) (*Table, error) {
	if len(v) > 0 && v[0] == '{' {
		t := new(Table)
		if err := json.Unmarshal(v, t); err != nil {
			return nil, err
		}
		return t, nil
	}
	if len(v) == 0 || v[0] != tableFormat1 {
		return nil, fmt.Errorf("%w: unknown format", errTableRecord)
	}
	r := reader{b: v[1:]}
	t := &Table{ID: r.uvarint(), DatabaseID: r.uvarint()}
	t.Database = d.intern(r.bytes())
	t.Name = string(r.bytes())
	t.Type = d.intern(r.bytes())
	schema := r.bytes()
	if r.err == nil {
		sc, ok := d.schemas[string(schema)]
		if !ok {
			sc = d.decodeSchema(schema, &r)
			if r.err == nil && len(d.schemas) < internLimit {
				d.schemas[string(schema)] = sc
			}
		}
		t.Columns, t.PrimaryKey, t.Indexes = sc.columns, sc.primaryKey, sc.indexes
	}
	if r.bool() {
		p := &Partition{Type: d.intern(r.bytes()), Linear: r.bool(), Expr: string(r.bytes()), Columns: d.strList(&r)}
		p.Count = r.int()
		if n := r.count(2); n > 0 {
			p.Definitions = make([]PartitionDef, n-1)
			for i := range p.Definitions {
				p.Definitions[i] = PartitionDef{Name: string(r.bytes()), Values: string(r.bytes())}
			}
		}
		p.Clause = d.intern(r.bytes())
		t.Partition = p
	}
	t.Comment = d.intern(r.bytes())
	t.Collation = d.intern(r.bytes())
	sec, nsec := r.varint(), r.uvarint()
	if nsec >= 1e9 {
		r.fail("nanoseconds %d", nsec)
	}
	t.Created = time.Unix(sec, int64(nsec)).UTC()
	t.CopyNum = r.int()
	// A store takes at least 11 bytes.
	if n := r.count(11); n > 0 {
		t.Stores = make([]Store, n-1)
		for i := range t.Stores {
			s := &t.Stores[i]
			s.No, s.Kind, s.Part = r.uint32(), r.byte(), uint16(r.uintN(math.MaxUint16))
			s.Head, s.Next, s.Copies = r.uint32(), r.uint32(), r.byte()
			for j := range s.Nodes {
				s.Nodes[j] = r.uint32()
			}
			for j := range s.StoreNos {
				s.StoreNos[j] = r.uint32()
			}
			s.Epoch = r.uint32()
		}
	}
	t.FileNode = r.uvarint()
	if r.bool() {
		t.Identity = &Identity{Column: string(r.bytes()), Type: d.intern(r.bytes()), Seed: r.varint(), Incr: r.varint(), Max: r.varint()}
	}
	t.IdentityGen = r.uvarint()
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes after the last field", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return t, nil
}

// decodeSchema reads a schema section; errors go to outer.
func (d *tableDecoder) decodeSchema(b []byte, outer *reader) tableSchema {
	r := reader{b: b}
	var sc tableSchema
	// A column takes at least 4 bytes, an index 4, an index column 2.
	if n := r.count(4); n > 0 {
		sc.columns = make([]Column, n-1)
		for i := range sc.columns {
			c := &sc.columns[i]
			c.Name, c.Type = d.intern(r.bytes()), d.intern(r.bytes())
			flags := r.byte()
			if flags&^7 != 0 {
				r.fail("column flags %#x", flags)
			}
			c.Nullable, c.AutoIncrement = flags&1 != 0, flags&2 != 0
			if flags&4 != 0 {
				def := d.intern(r.bytes())
				c.Default = &def
			}
			c.Comment = d.intern(r.bytes())
		}
	}
	sc.primaryKey = d.strList(&r)
	if n := r.count(4); n > 0 {
		sc.indexes = make([]Index, n-1)
		for i := range sc.indexes {
			x := &sc.indexes[i]
			x.Name = d.intern(r.bytes())
			if n := r.count(2); n > 0 {
				x.Columns = make([]IndexColumn, n-1)
				for j := range x.Columns {
					x.Columns[j] = IndexColumn{Name: d.intern(r.bytes()), Length: r.varint()}
				}
			}
			x.Unique, x.Comment = r.bool(), d.intern(r.bytes())
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes after the schema", len(r.b))
	}
	if outer.err == nil {
		outer.err = r.err
	}
	return sc
}

func (d *tableDecoder) strList(r *reader) []string {
	n := r.count(1)
	if n == 0 {
		return nil
	}
	out := make([]string, n-1)
	for i := range out {
		out[i] = d.intern(r.bytes())
	}
	return out
}

// intern returns b as a string, shared with earlier equal ones while the
// memo has room.
func (d *tableDecoder) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.strs) < internLimit {
		d.strs[s] = s
	}
	return s
}

// reader decodes the primitives of a record; the first error sticks and
// every later read returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errTableRecord, fmt.Sprintf(format, args...))
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	if len(r.b) > 0 && r.b[0] < 0x80 { // one byte: most of a record's numbers
		v := r.b[0]
		r.b = r.b[1:]
		return uint64(v)
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uintN(max uint64) uint64 {
	v := r.uvarint()
	if v > max {
		r.fail("%d out of range", v)
		return 0
	}
	return v
}

func (r *reader) uint32() uint32 { return uint32(r.uintN(math.MaxUint32)) }

func (r *reader) int() int {
	v := r.varint()
	if v != int64(int(v)) {
		r.fail("%d out of range", v)
		return 0
	}
	return int(v)
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) bool() bool {
	switch v := r.byte(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail("bool %d", v)
		return false
	}
}

// next returns the following n bytes.
func (r *reader) next(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.fail("truncated")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte { return r.next(r.uvarint()) }

// count reads a list length (count plus one, 0 for nil) whose elements take
// at least min bytes each, so a corrupt count cannot ask for a huge slice.
func (r *reader) count(min uint64) uint64 {
	n := r.uvarint()
	if n > 0 && (n-1) > uint64(len(r.b))/min {
		r.fail("count %d exceeds the record", n-1)
		return 0
	}
	return n
}

// scanTables decodes every table record, in ID order, and returns how many
// are still in JSON.
func scanTables(tx store.Tx, fn func(*Table) error) (legacy int, err error) {
	d := newTableDecoder()
	err = tx.Scan(tablePrefix, store.PrefixEnd(tablePrefix), false, func(k, v []byte) (bool, error) {
		t, err := d.decodeRecord(k, v)
		if err != nil {
			return false, err
		}
		if v[0] == '{' {
			legacy++
		}
		return true, fn(t)
	})
	return legacy, err
}

// loadTables puts every stored table into s and returns how many records are
// still in JSON. Decoding (in the store's scan), the table indexes and the
// store index are built on three goroutines at once, batch by batch in ID
// order: what putTable does for each table, in the same order. Record IDs are
// distinct, so there is nothing to replace, and a record may not hold a
// system table's ID.
func loadTables(tx store.Tx, s *State) (int, error) {
	const size = 1024
	system := map[uint64]bool{}
	s.byID.Ascend(func(t *Table) bool { system[t.ID] = true; return true })
	var wg sync.WaitGroup
	var stages []chan []*Table
	for _, index := range []func(*Table){s.indexTable, s.indexStores} {
		ch := make(chan []*Table, 8)
		stages = append(stages, ch)
		wg.Go(func() {
			for b := range ch {
				for _, t := range b {
					index(t)
				}
			}
		})
	}
	send := func(b []*Table) {
		for _, ch := range stages {
			ch <- b
		}
	}
	batch := make([]*Table, 0, size)
	legacy, err := scanTables(tx, func(t *Table) error {
		if system[t.ID] {
			return fmt.Errorf("%w: table %d is a system table", errTableRecord, t.ID)
		}
		if batch = append(batch, t); len(batch) == size {
			send(batch)
			batch = make([]*Table, 0, size)
		}
		return nil
	})
	send(batch)
	for _, ch := range stages {
		close(ch)
	}
	wg.Wait()
	return legacy, err
}

// decodeRecord decodes the record v stored under key k, which must be the
// record's table's key.
func (d *tableDecoder) decodeRecord(k, v []byte) (*Table, error) {
	t, err := d.decodeTable(v)
	if err == nil && !bytes.Equal(k, idKey(tablePrefix, t.ID)) {
		err = fmt.Errorf("%w: it holds table %d", errTableRecord, t.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %q: %w", k, err)
	}
	return t, nil
}

// convertBatch is how many JSON table records convertTables rewrites per
// transaction.
const convertBatch = 1000

// convertTables rewrites the table records still in JSON in the binary
// form, convertBatch per transaction. A record is read and rewritten in one
// transaction, so a crash leaves each record whole in one form or the other
// (both are read) and a concurrent change is never overwritten. The
// metadata revision does not move: the catalog is the same.
func (e *Engine) convertTables(ctx context.Context) error {
	from := tablePrefix
	for from != nil {
		var next []byte
		err := e.st.Update(ctx, func(tx store.Tx) error {
			next = nil
			var tables []*Table
			d := newTableDecoder()
			err := tx.Scan(from, store.PrefixEnd(tablePrefix), false, func(k, v []byte) (bool, error) {
				if len(v) == 0 || v[0] != '{' {
					return true, nil
				}
				if len(tables) == convertBatch {
					next = bytes.Clone(k)
					return false, nil
				}
				t, err := d.decodeRecord(k, v)
				if err != nil {
					return false, err
				}
				tables = append(tables, t) // decodeRecord checked that k is its key
				return true, nil
			})
			for i := 0; err == nil && i < len(tables); i++ {
				err = putTableRecord(tx, tables[i])
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("convert table records: %w", err)
		}
		from = next
	}
	return nil
}
