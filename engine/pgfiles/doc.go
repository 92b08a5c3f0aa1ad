// Package pgfiles owns the PostgreSQL-shaped part of the data directory:
// the relation mapper's pg_filenode.map files in PostgreSQL's exact binary
// layout (relmapper.c: magic 0x592717, num_mappings, {oid, filenode} pairs,
// CRC-32C over everything before the crc field), and one small real file per
// relation filenode under base/<database oid>/ and global/.
//
// It knows nothing of the catalog or of SQL; the engine decides what goes in
// the files. It imports only the standard library.
package pgfiles
