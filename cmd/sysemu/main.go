// Command sysemu runs the sysemu server and its operator subcommands.
//
//	sysemu serve [flags]                  run a node (bbolt in --data-dir, or --etcd)
//	sysemu migrate --from DIR --etcd EPS  copy a standalone store into etcd
//	sysemu seed list | apply NAME         scenario scripts
//	sysemu snapshot save|restore FILE     GreptimeDB-style metadata snapshots
//	sysemu filenode-map dump FILE         print a PostgreSQL pg_filenode.map
//	sysemu backup | restore | check       TiDB BR-style backup and restore, the ID check
package main

import (
	"fmt"
	"os"
)

const usage = `usage:
  sysemu serve [--data-dir DIR] [--mysql-addr ADDR] [--http-addr ADDR] [--user U] [--password P]
               [--profile NAME] [--scenario NAME] [--log-level LEVEL] [--pg-map-version N]
               [--tls-cert F --tls-key F] [--require-tls] [--socket PATH] [--http-token T] [--slow-query D]
               [--config FILE.toml] [--nodes N] [--copy-num N] [--store-rows N] [--identity-cache N]
               [--etcd ENDPOINTS --node-id N [--node-ttl 10s] [--etcd-prefix /sysemu/]]
  sysemu config print [serve flags]     the effective serve settings as TOML
  sysemu migrate --from DATA_DIR --etcd ENDPOINTS [--etcd-prefix /sysemu/]
  sysemu seed list
  sysemu seed apply NAME [--mysql-addr ADDR] [--user U] [--password P]
  sysemu snapshot save FILE [--http-addr ADDR] [--user U] [--password P]
  sysemu snapshot restore FILE [--force] [--http-addr ADDR] [--user U] [--password P]
  sysemu filenode-map dump FILE [--pg-map-version N]
  sysemu backup --to DIR [--db NAME ...] [--range-rows N] [--mysql-addr ADDR] [--user U] [--password P]
  sysemu restore --from DIR [--db NAME ...] [--concurrency 4] [--checkpoint-interval 30s] [--mysql-addr ADDR] ...
  sysemu check [--mysql-addr ADDR] [--user U] [--password P]   (exit 1 when a problem is found)

Every serve flag may also come from the environment (SYSEMU_DATA_DIR for
--data-dir, ...) or the TOML config file (data_dir = "..."):
flags > environment > file > defaults.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "seed":
		err = seedCmd(os.Args[2:])
	case "config":
		err = configCmd(os.Args[2:])
	case "snapshot":
		err = snapshotCmd(os.Args[2:])
	case "migrate":
		err = migrate(os.Args[2:])
	case "filenode-map":
		err = filenodeMapCmd(os.Args[2:])
	case "backup":
		err = backupCmd(os.Args[2:])
	case "restore":
		err = restoreCmd(os.Args[2:])
	case "check":
		err = checkCmd(os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		err = fmt.Errorf("unknown command %q\n%s", os.Args[1], usage)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sysemu:", err)
		os.Exit(1)
	}
}
