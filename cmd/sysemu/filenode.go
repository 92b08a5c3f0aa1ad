package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/sysemu/sysemu/engine/pgfiles"
)

// pgMapVersionFlag registers --pg-map-version: the PostgreSQL major version
// whose pg_filenode.map layout is used (<= 15: 512 bytes, 16+: 524 bytes).
func pgMapVersionFlag(fs *flag.FlagSet) *int {
	return fs.Int("pg-map-version", 15, "PostgreSQL major version whose pg_filenode.map layout to use (<=15: 512 bytes, 16+: 524)")
}

// filenodeMapCmd is `sysemu filenode-map dump FILE`: it prints a map file
// field by field and exits 1 when PostgreSQL would refuse the file.
func filenodeMapCmd(args []string) error {
	if len(args) < 2 || args[0] != "dump" {
		return fmt.Errorf("usage: sysemu filenode-map dump FILE [--pg-map-version N]")
	}
	fs := flag.NewFlagSet("filenode-map dump", flag.ContinueOnError)
	version := pgMapVersionFlag(fs)
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	layout, err := pgfiles.ParseLayout(*version)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(args[1])
	if err != nil {
		return pgfiles.OpenError(args[1], err)
	}
	if err := pgfiles.Dump(os.Stdout, args[1], b, layout); err != nil {
		var me *pgfiles.MapError
		if errors.As(err, &me) {
			return errors.New("map file is damaged")
		}
		return err
	}
	return nil
}
