#!/usr/bin/env bash
# Side-by-side benchmark: sysemu (built from this repository) against a private MariaDB peer
# ($BENCH_DIR/mariadb.sh), both on loopback, measured alternately in one run by the same clients
# (e2e/bench/loadgen, and sysbench for the point selects when it is installed). The machines are
# shared: read the ratio, not the absolute figures. Prints a table of medians and sysemu/MariaDB ratios.
#
#   e2e/bench/compare.sh
#
# Environment (defaults):
#   BENCH_DIR     ../shared/bench relative to the repository root (holds mariadb.sh)
#   SECTIONS      "create checks ids wire"   which parts to run
#   ROUNDS        3       alternating rounds per figure (median reported; order flips each round)
#   CREATE_N      1000    tables per catalog-creation run, every 10th with 10 hash partitions (1 and 8 conns)
#   CATALOG_N     "1000 10000"   catalog sizes for the ID checks: one database grows to each size
#                         (8 connections, every 10th table partitioned); 100000 is supported
#   QUERIES       20      timed runs of each ID check per round, cut short after QUERY_BUDGET once 3 ran
#   QUERY_BUDGET  20s
#   INSERT_N      5000    autocommit identity INSERTs per run (1 and 8 conns)
#   ID_OPS        20000   next_table_id() reads per run (and loadgen point selects)
#   SET_OPS       1000    set_next_table_id round trips per run (each one a durable write)
#   POINT_ROWS    100000  rows of the point-select table (sysbench's sbtest1)
#   POINT_SECS    10      seconds per sysbench oltp_point_select run (POINT_OPS=20000 per loadgen run
#                         when sysbench is missing: install it with apt-get install sysbench)
#   WORK_DIR      a fresh mktemp -d under /tmp; removed at exit unless KEEP_WORK=1
#
# Both servers are stopped on exit (trap), whatever happens.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_DIR=${BENCH_DIR:-$ROOT/../shared/bench}
SECTIONS=${SECTIONS:-create checks ids wire}
ROUNDS=${ROUNDS:-3}
CREATE_N=${CREATE_N:-1000}
CATALOG_N=${CATALOG_N:-1000 10000}
QUERIES=${QUERIES:-20}
QUERY_BUDGET=${QUERY_BUDGET:-20s}
INSERT_N=${INSERT_N:-5000}
ID_OPS=${ID_OPS:-20000}
SET_OPS=${SET_OPS:-1000}
POINT_ROWS=${POINT_ROWS:-100000}
POINT_SECS=${POINT_SECS:-10}
POINT_OPS=${POINT_OPS:-20000}
WORK=${WORK_DIR:-$(mktemp -d /tmp/sysemu-compare.XXXXXX)}
mkdir -p "$WORK"

[[ -f $BENCH_DIR/mariadb.sh ]] || { echo "no mariadb.sh in BENCH_DIR=$BENCH_DIR" >&2; exit 2; }

SYSEMU_PID=
MARIADB_STARTED=
cleanup() {
  local rc=$?
  set +e
  if [[ -n $SYSEMU_PID ]] && kill -0 "$SYSEMU_PID" 2>/dev/null; then
    kill -TERM "$SYSEMU_PID"
    for _ in $(seq 1 30); do kill -0 "$SYSEMU_PID" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$SYSEMU_PID" 2>/dev/null && kill -KILL "$SYSEMU_PID"
    wait "$SYSEMU_PID" 2>/dev/null
    echo "sysemu stopped" >&2
  fi
  if [[ -n $MARIADB_STARTED ]]; then
    bash "$BENCH_DIR/mariadb.sh" stop "$WORK/mariadb" >&2
  fi
  if [[ ${KEEP_WORK:-0} == 1 || $rc != 0 ]]; then
    echo "work directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date +%T)] $*" >&2; }
has() { [[ " $SECTIONS " == *" $1 "* ]]; }

log "building sysemu and loadgen"
(cd "$ROOT" && go build -o "$WORK/sysemu" ./cmd/sysemu && go build -o "$WORK/loadgen" ./e2e/bench/loadgen)
LG=$WORK/loadgen

S_PORT=$("$LG" -mode freeport)
S_HTTP=$("$LG" -mode freeport)
M_PORT=$("$LG" -mode freeport)

log "starting MariaDB on 127.0.0.1:$M_PORT"
MARIADB_STARTED=1
bash "$BENCH_DIR/mariadb.sh" start "$WORK/mariadb" "$M_PORT" >&2

log "starting sysemu on 127.0.0.1:$S_PORT (http $S_HTTP)"
"$WORK/sysemu" serve --data-dir "$WORK/sysemu-data" --mysql-addr "127.0.0.1:$S_PORT" \
  --http-addr "127.0.0.1:$S_HTTP" --log-level warn 2>"$WORK/sysemu.log" &
SYSEMU_PID=$!

S_DSN="root@tcp(127.0.0.1:$S_PORT)/"
M_DSN="bench:bench@tcp(127.0.0.1:$M_PORT)/"
for i in $(seq 1 60); do
  "$LG" -dsn "$S_DSN" -mode exec -query "SELECT 1" >/dev/null 2>&1 && break
  kill -0 "$SYSEMU_PID" 2>/dev/null || { echo "sysemu died:" >&2; tail -20 "$WORK/sysemu.log" >&2; exit 1; }
  [[ $i == 60 ]] && { echo "sysemu not reachable" >&2; exit 1; }
  sleep 0.5
done
"$LG" -dsn "$M_DSN" -mode exec -query "SELECT 1" >/dev/null

dsn_of() { [[ $1 == sysemu ]] && echo "$S_DSN" || echo "$M_DSN"; }
sx() { "$LG" -dsn "$S_DSN" -mode exec -query "$1"; } # one statement on sysemu, first value
mx() { "$LG" -dsn "$M_DSN" -mode exec -query "$1"; } # one statement on MariaDB, first value
# field KEY LINE: the value of KEY=... in a loadgen output line.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) printf "%.3f\n", a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
# order ROUND: the two servers, in an order that flips every round.
order() { (( $1 % 2 )) && echo "sysemu mariadb" || echo "mariadb sysemu"; }

declare -A RES     # RES[key,server] = median figure
declare -a KEYS LABELS PEERS UNITS

record() { # key label unit peer-statement values-sysemu values-mariadb
  KEYS+=("$1"); LABELS+=("$2"); UNITS+=("$3"); PEERS+=("$4")
  RES[$1,sysemu]=$(median <<<"$5"); RES[$1,mariadb]=$(median <<<"$6")
  log "$2: sysemu ${RES[$1,sysemu]} $3 (runs: $5) | MariaDB ${RES[$1,mariadb]} (runs: $6)"
}

# alternate KEY LABEL UNIT PEER FIELD FN: run FN for each server ROUNDS times, alternating, and
# record the median of FIELD of its loadgen output. FN sees $srv, $dsn and $r.
alternate() {
  local key=$1 label=$2 unit=$3 peer=$4 fld=$5 fn=$6
  local -A got=([sysemu]="" [mariadb]="")
  local r srv dsn out
  for r in $(seq 1 "$ROUNDS"); do
    for srv in $(order "$r"); do
      dsn=$(dsn_of "$srv")
      out=$("$fn")
      got[$srv]+=" $(field "$fld" "$out")"
    done
  done
  record "$key" "$label" "$unit" "$peer" "${got[sysemu]}" "${got[mariadb]}"
}

# --- Catalog creation: CREATE_N tables, every 10th with 10 hash partitions, 1 and 8 connections.
if has create; then
  for conns in 1 8; do
    declare -A all=([sysemu]="" [mariadb]="") plain=([sysemu]="" [mariadb]="") part=([sysemu]="" [mariadb]="")
    for r in $(seq 1 "$ROUNDS"); do
      for srv in $(order "$r"); do
        out=$("$LG" -dsn "$(dsn_of "$srv")" -db "cc_c${conns}_r$r" -mode create -n "$CREATE_N" -conns "$conns" -partitions 10 -every 10)
        all[$srv]+=" $(field rate "$out")"; plain[$srv]+=" $(field plain_rate "$out")"; part[$srv]+=" $(field part_rate "$out")"
      done
    done
    record "create$conns" "CREATE TABLE, $conns conn(s), $CREATE_N tables, 10% partitioned" "/s" "same" "${all[sysemu]}" "${all[mariadb]}"
    record "createp$conns" "  plain tables' share, $conns conn(s)" "/s" "same" "${plain[sysemu]}" "${plain[mariadb]}"
    record "createq$conns" "  10-partition tables' share, $conns conn(s)" "/s" "same" "${part[sysemu]}" "${part[mariadb]}"
  done
  log "dropping the databases of the creation runs"
  for conns in 1 8; do for r in $(seq 1 "$ROUNDS"); do
    sx "DROP DATABASE cc_c${conns}_r$r" >/dev/null; mx "DROP DATABASE cc_c${conns}_r$r" >/dev/null
  done; done
fi

# --- The seeds' ID checks at each catalog size: database bench_cat grows to N tables (t0..t<N-1>),
# created in alternating chunks. Each line: key | label | sysemu's statement | MariaDB's nearest
# information_schema equivalent ($T is a 10-partition table in the middle).
checks_at() {
  local N=$1 T=$2 S_GSTO=$3 M_SPACE=$4
  cat <<EOF
topid|top-1 TABLE_ID|SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_ID DESC LIMIT 1|SELECT TABLE_ID FROM INFORMATION_SCHEMA.INNODB_SYS_TABLES ORDER BY TABLE_ID DESC LIMIT 1
idof|TABLE_ID of one table by name|SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'bench_cat' AND TABLE_NAME = '$T'|SELECT TABLE_ID FROM INFORMATION_SCHEMA.INNODB_SYS_TABLES WHERE NAME = 'bench_cat/$T#P#p0'
point|I_S.TABLES row of one table (same statement)|SELECT TABLE_NAME, TABLE_ROWS, CREATE_TIME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'bench_cat' AND TABLE_NAME = '$T'|SELECT TABLE_NAME, TABLE_ROWS, CREATE_TIME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'bench_cat' AND TABLE_NAME = '$T'
parts|count of partitions|SELECT COUNT(*) FROM SYS_PARTIS|SELECT COUNT(*) FROM INFORMATION_SCHEMA.PARTITIONS WHERE PARTITION_NAME IS NOT NULL
gsto|store by number: SYS_GSTORES WHERE GSTO_NO = ?|SELECT * FROM SYS_GSTORES WHERE GSTO_NO = $S_GSTO|SELECT * FROM INFORMATION_SCHEMA.INNODB_SYS_TABLESPACES WHERE SPACE = $M_SPACE
jparts|XuguDB doc join: partitions by table name|SELECT a.parti_no, a.parti_name, a.gsto_nos FROM sys_partis a, sys_objects b WHERE a.table_id = b.obj_id AND b.obj_name = '$T' ORDER BY a.parti_no|SELECT p.PARTITION_ORDINAL_POSITION, p.PARTITION_NAME FROM INFORMATION_SCHEMA.PARTITIONS p JOIN INFORMATION_SCHEMA.TABLES t ON p.TABLE_SCHEMA = t.TABLE_SCHEMA AND p.TABLE_NAME = t.TABLE_NAME WHERE t.TABLE_NAME = '$T' ORDER BY 1
jstores|XuguDB doc join: stores by table name|SELECT a.* FROM sys_gstores a, sys_objects b WHERE a.obj_id = b.obj_id AND b.obj_name = '$T' ORDER BY a.gsto_no|SELECT s.* FROM INFORMATION_SCHEMA.INNODB_SYS_TABLESPACES s JOIN INFORMATION_SCHEMA.INNODB_SYS_TABLES t ON s.SPACE = t.SPACE WHERE t.NAME LIKE 'bench_cat/$T#P#%' ORDER BY s.SPACE
EOF
}
if has checks; then
  have=0; chunk_i=0
  for N in $CATALOG_N; do
    declare -A load=([sysemu]="" [mariadb]="")
    while (( have < N )); do
      step=$(( N - have < 10000 ? N - have : 10000 )); chunk_i=$((chunk_i + 1))
      for srv in $(order "$chunk_i"); do
        out=$("$LG" -dsn "$(dsn_of "$srv")" -db bench_cat -mode create -start "$have" -n "$step" -conns 8 -partitions 10 -every 10)
        load[$srv]+=" $(field rate "$out")"
      done
      have=$((have + step))
      log "checks: $have / $N tables in bench_cat on each server"
    done
    if [[ -n ${load[sysemu]} ]]; then
      record "load$N" "CREATE TABLE, 8 conns, growing bench_cat to $N tables (chunk median)" "/s" "same" "${load[sysemu]}" "${load[mariadb]}"
    fi
    T=t$(( N / 2 / 10 * 10 ))
    S_ID=$(sx "SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'bench_cat' AND TABLE_NAME = '$T'")
    S_GSTO=$(sx "SELECT MIN(GSTO_NO) FROM SYSTEM.SYS_GSTORES WHERE OBJ_ID = $S_ID")
    M_SPACE=$(mx "SELECT SPACE FROM INFORMATION_SCHEMA.INNODB_SYS_TABLES WHERE NAME = 'bench_cat/$T#P#p0'")
    log "checks at $N tables: $T has TABLE_ID $S_ID and first GSTO_NO $S_GSTO on sysemu, tablespace $M_SPACE on MariaDB"
    while IFS='|' read -r key label sq mq; do
      q_check() {
        local q=$sq; [[ $srv == mariadb ]] && q=$mq
        "$LG" -dsn "$dsn" -db bench_cat -mode query -n "$QUERIES" -budget "$QUERY_BUDGET" -query "$q"
      }
      alternate "$key$N" "@$N tables: $label" "ms" "$mq" p50_ms q_check
    done < <(checks_at "$N" "$T" "$S_GSTO" "$M_SPACE")
  done
fi

# --- ID allocation: identity inserts; next-ID reads and sets against MariaDB's nearest
# equivalents, a SEQUENCE's high-water mark (next_not_cached_value) and SETVAL.
if has ids; then
  for conns in 1 8; do
    ins() { "$LG" -dsn "$dsn" -db bench_ids -table "ins_c${conns}_r$r" -mode insert -n "$INSERT_N" -conns "$conns"; }
    alternate "insert$conns" "identity INSERT, autocommit, $conns conn(s)" "/s" "AUTO_INCREMENT, same statement" rate ins
  done
  mx "CREATE DATABASE IF NOT EXISTS bench_ids" >/dev/null
  mx "CREATE OR REPLACE SEQUENCE bench_ids.seq CACHE 10" >/dev/null
  for conns in 1 8; do
    peek() {
      local q="SELECT next_table_id()"; [[ $srv == mariadb ]] && q="SELECT next_not_cached_value FROM bench_ids.seq"
      "$LG" -dsn "$dsn" -mode rate -n "$ID_OPS" -conns "$conns" -query "$q"
    }
    alternate "peek$conns" "next_table_id() reads, $conns conn(s)" "/s" "SELECT next_not_cached_value FROM seq" rate peek
  done
  sx "CALL recovery_mode('on')" >/dev/null
  setn() {
    if [[ $srv == sysemu ]]; then
      local next; next=$(( $(sx "SELECT next_table_id()") + 1 ))
      "$LG" -dsn "$dsn" -mode rate -n "$SET_OPS" -query "CALL set_next_table_id(?)" -arg "seq:$next"
    else
      local next; next=$(( $(mx "SELECT next_not_cached_value FROM bench_ids.seq") + 1 ))
      "$LG" -dsn "$dsn" -mode rate -n "$SET_OPS" -query "SELECT SETVAL(bench_ids.seq, ?)" -arg "seq:$next"
    fi
  }
  alternate "setnext" "CALL set_next_table_id(N) round trips, 1 conn" "/s" "SELECT SETVAL(seq, N)" rate setn
  sx "CALL recovery_mode('off')" >/dev/null
fi

# --- Wire overhead: point select by primary key on a table of POINT_ROWS rows (sysbench's
# oltp_point_select, prepared statements; loadgen doing the same when sysbench is missing).
if has wire; then
  if command -v sysbench >/dev/null; then
    POINT_TOOL="sysbench oltp_point_select"
    sb() { # server command [threads]
      local port=$S_PORT user=root pass=""
      [[ $1 == mariadb ]] && { port=$M_PORT; user=bench; pass=bench; }
      sysbench oltp_point_select --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
        --mysql-user="$user" --mysql-password="$pass" --mysql-db=sbtest --tables=1 --table-size="$POINT_ROWS" \
        --threads="${3:-1}" --time="$POINT_SECS" --report-interval=0 --rand-type=uniform "$2"
    }
    for srv in sysemu mariadb; do
      "$LG" -dsn "$(dsn_of "$srv")" -mode exec -query "CREATE DATABASE IF NOT EXISTS sbtest" >/dev/null
      log "sysbench prepare on $srv ($POINT_ROWS rows)"
      sb "$srv" prepare >"$WORK/sb-prepare-$srv.log" 2>&1 || { tail -5 "$WORK/sb-prepare-$srv.log" >&2; exit 1; }
    done
    for conns in 1 8; do
      ps_run() { sb "$srv" run "$conns" | awk '/queries:/ { gsub(/[(]/, "", $3); print "rate=" $3 }'; }
      alternate "point$conns" "point select by primary key, $conns conn(s) ($POINT_TOOL)" "/s" "same" rate ps_run
    done
  else
    POINT_TOOL="loadgen"
    for srv in sysemu mariadb; do
      log "loadgen fill on $srv ($POINT_ROWS rows)"
      "$LG" -dsn "$(dsn_of "$srv")" -db sbtest -mode fill -n "$POINT_ROWS" >/dev/null
    done
    for conns in 1 8; do
      ps_run() { "$LG" -dsn "$dsn" -db sbtest -mode rate -prepared -n "$POINT_OPS" -conns "$conns" -query "SELECT c FROM sbtest1 WHERE id = ?" -arg "rand:1:$POINT_ROWS"; }
      alternate "point$conns" "point select by primary key, $conns conn(s) ($POINT_TOOL)" "/s" "same" rate ps_run
    done
  fi
  # The same through loadgen's text protocol: the client the next_table_id() reads use.
  for conns in 1 8; do
    pt_run() { "$LG" -dsn "$dsn" -db sbtest -mode rate -n "$ID_OPS" -conns "$conns" -query "SELECT c FROM sbtest1 WHERE id = ?" -arg "rand:1:$POINT_ROWS"; }
    alternate "pointtext$conns" "point select by primary key, $conns conn(s) (loadgen, text protocol)" "/s" "same" rate pt_run
  done
fi

# --- Report.
echo
echo "sysemu vs MariaDB $(mariadbd --version | awk '{print $3}'), loopback, $(nproc) CPUs, $ROUNDS alternating rounds, medians"
printf '%-78s | %10s | %10s | %7s | %s\n' "benchmark" "sysemu" "MariaDB" "ratio" "MariaDB statement"
printf '%s\n' "$(printf -- '-%.0s' $(seq 1 150))"
for i in "${!KEYS[@]}"; do
  k=${KEYS[$i]}
  s=${RES[$k,sysemu]}; m=${RES[$k,mariadb]}
  ratio=$(awk -v s="$s" -v m="$m" 'BEGIN { if (m + 0 == 0) print "n/a"; else printf "%.3g", s / m }')
  printf '%-78s | %10s | %10s | %7s | %s\n' "${LABELS[$i]} (${UNITS[$i]})" "$s" "$m" "$ratio" "${PEERS[$i]}"
done
for conns in 1 8; do
  if [[ -n ${RES[pointtext$conns,mariadb]:-} && -n ${RES[peek$conns,sysemu]:-} ]]; then
    awk -v s="${RES[peek$conns,sysemu]}" -v m="${RES[pointtext$conns,mariadb]}" -v c="$conns" \
      'BEGIN { if (m + 0 > 0) printf "next_table_id() reads / MariaDB point selects, %d conn(s), same client (loadgen): %.2f\n", c, s / m }'
  fi
done
echo "(rates /s: ratio > 1 favours sysemu; latencies ms: ratio < 1 favours sysemu)"
