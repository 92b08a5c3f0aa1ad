#!/usr/bin/env bash
# Side-by-side benchmark: sysemu (built from this repository) against a private MariaDB peer
# ($BENCH_DIR/mariadb.sh), both on loopback, measured alternately in one run by the same client
# (e2e/bench/loadgen). The machines are shared: read the ratio, not the absolute figures.
#
#   e2e/bench/compare.sh
#
# Environment (defaults):
#   BENCH_DIR      ../shared/bench relative to the repository root (holds mariadb.sh)
#   CREATE_N       2000     tables per CREATE TABLE run, benchmark (a)
#   INSERT_N       5000     rows per autocommit INSERT run, benchmark (b)
#   TOPID_TABLES   100000   tables created in each server before timing the max-TABLE_ID query (c)
#   TOPID_CHUNK    10000    (c) creates tables in chunks, alternating servers
#   TOPID_QUERIES  20       timed executions of the max-TABLE_ID query per round
#   ROUNDS         3        alternating rounds per figure (median reported; order flips each round)
#   WORK_DIR       a fresh mktemp -d under /tmp; removed at exit unless KEEP_WORK=1
#
# Both servers are stopped on exit (trap), whatever happens.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_DIR=${BENCH_DIR:-$ROOT/../shared/bench}
CREATE_N=${CREATE_N:-2000}
INSERT_N=${INSERT_N:-5000}
TOPID_TABLES=${TOPID_TABLES:-100000}
TOPID_CHUNK=${TOPID_CHUNK:-10000}
TOPID_QUERIES=${TOPID_QUERIES:-20}
ROUNDS=${ROUNDS:-3}
WORK=${WORK_DIR:-$(mktemp -d /tmp/sysemu-compare.XXXXXX)}
mkdir -p "$WORK"

[[ -x $BENCH_DIR/mariadb.sh || -f $BENCH_DIR/mariadb.sh ]] || { echo "no mariadb.sh in BENCH_DIR=$BENCH_DIR" >&2; exit 2; }

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
  "$LG" -dsn "$S_DSN" -mode topid -n 1 -query "SELECT 1" >/dev/null 2>&1 && break
  kill -0 "$SYSEMU_PID" 2>/dev/null || { echo "sysemu died:" >&2; tail -20 "$WORK/sysemu.log" >&2; exit 1; }
  [[ $i == 60 ]] && { echo "sysemu not reachable" >&2; exit 1; }
  sleep 0.5
done
"$LG" -dsn "$M_DSN" -mode topid -n 1 -query "SELECT 1" >/dev/null

S_TOP="SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_ID DESC LIMIT 1"
M_TOP="SELECT TABLE_ID FROM INFORMATION_SCHEMA.INNODB_SYS_TABLES ORDER BY TABLE_ID DESC LIMIT 1"

dsn_of() { [[ $1 == sysemu ]] && echo "$S_DSN" || echo "$M_DSN"; }
# field KEY LINE: the value of KEY=... in a loadgen output line.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) printf "%.3f\n", a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
# order ROUND: the two servers, in an order that flips every round.
order() { (( $1 % 2 )) && echo "sysemu mariadb" || echo "mariadb sysemu"; }

declare -A RES   # RES[key,server] = median figure
declare -a KEYS LABELS

record() { # key label values-sysemu values-mariadb
  KEYS+=("$1"); LABELS+=("$2")
  RES[$1,sysemu]=$(median <<<"$3"); RES[$1,mariadb]=$(median <<<"$4")
  log "$2: sysemu ${RES[$1,sysemu]} (runs: $3) | MariaDB ${RES[$1,mariadb]} (runs: $4)"
}

# (a) CREATE TABLE per second.
for conns in 1 8; do
  declare -A vals=([sysemu]="" [mariadb]="")
  for r in $(seq 1 "$ROUNDS"); do
    for srv in $(order "$r"); do
      out=$("$LG" -dsn "$(dsn_of "$srv")" -db "ca_c${conns}_r$r" -mode create -n "$CREATE_N" -conns "$conns")
      vals[$srv]+=" $(field rate "$out")"
    done
  done
  record "create$conns" "(a) CREATE TABLE/s, $conns conn(s), $CREATE_N tables" "${vals[sysemu]}" "${vals[mariadb]}"
done

# (b) autocommit INSERT per second into one AUTO_INCREMENT table.
for conns in 1 8; do
  declare -A vals=([sysemu]="" [mariadb]="")
  for r in $(seq 1 "$ROUNDS"); do
    for srv in $(order "$r"); do
      out=$("$LG" -dsn "$(dsn_of "$srv")" -db bench_b -table "ins_c${conns}_r$r" -mode insert -n "$INSERT_N" -conns "$conns")
      vals[$srv]+=" $(field rate "$out")"
    done
  done
  record "insert$conns" "(b) INSERT/s autocommit, $conns conn(s), $INSERT_N rows" "${vals[sysemu]}" "${vals[mariadb]}"
done

# (c) max TABLE_ID query at TOPID_TABLES tables: the tables of (a) are dropped first so each server
# holds TOPID_TABLES user tables (plus a few in bench_b), created in alternating chunks.
log "dropping the databases of (a)"
for srv in sysemu mariadb; do
  for conns in 1 8; do for r in $(seq 1 "$ROUNDS"); do
    if [[ $srv == sysemu ]]; then
      mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$S_PORT" -uroot -e "DROP DATABASE ca_c${conns}_r$r"
    else
      mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$M_PORT" -ubench -pbench -e "DROP DATABASE ca_c${conns}_r$r"
    fi
  done; done
done
declare -A vals=([sysemu]="" [mariadb]="")
done_n=0; chunk_i=0
while (( done_n < TOPID_TABLES )); do
  n=$(( TOPID_TABLES - done_n < TOPID_CHUNK ? TOPID_TABLES - done_n : TOPID_CHUNK ))
  chunk_i=$((chunk_i + 1))
  for srv in $(order "$chunk_i"); do
    out=$("$LG" -dsn "$(dsn_of "$srv")" -db bench_c -mode create -start "$done_n" -n "$n" -conns 8)
    vals[$srv]+=" $(field rate "$out")"
  done
  done_n=$((done_n + n))
  log "(c) $done_n / $TOPID_TABLES tables created in each server"
done
record "load" "(c) CREATE TABLE/s, 8 conns, loading $TOPID_TABLES tables (per-chunk median)" "${vals[sysemu]}" "${vals[mariadb]}"

S_COUNT=$(mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$S_PORT" -uroot -BN -e "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'bench_c'")
M_COUNT=$(mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$M_PORT" -ubench -pbench -BN -e "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'bench_c'")
log "tables in bench_c: sysemu $S_COUNT, MariaDB $M_COUNT"

declare -A vals=([sysemu]="" [mariadb]="")
declare -A top
for r in $(seq 1 "$ROUNDS"); do
  for srv in $(order "$r"); do
    q=$S_TOP; [[ $srv == mariadb ]] && q=$M_TOP
    out=$("$LG" -dsn "$(dsn_of "$srv")" -mode topid -n "$TOPID_QUERIES" -query "$q")
    vals[$srv]+=" $(field p50_ms "$out")"
    top[$srv]=$(field result "$out")
  done
done
record "topid" "(c) max TABLE_ID query p50 ms @ $TOPID_TABLES tables (top = sysemu ${top[sysemu]}, MariaDB ${top[mariadb]})" "${vals[sysemu]}" "${vals[mariadb]}"

# Report.
echo
echo "sysemu vs MariaDB $(mariadbd --version | awk '{print $3}'), loopback, $(nproc) CPUs, $ROUNDS alternating rounds, medians"
echo "tables in the measured database for (c): sysemu $S_COUNT, MariaDB $M_COUNT"
printf '%-86s | %12s | %12s | %20s\n' "benchmark" "sysemu" "MariaDB" "ratio sysemu/MariaDB"
printf '%s\n' "$(printf -- '-%.0s' $(seq 1 139))"
for i in "${!KEYS[@]}"; do
  k=${KEYS[$i]}
  s=${RES[$k,sysemu]}; m=${RES[$k,mariadb]}
  ratio=$(awk -v s="$s" -v m="$m" 'BEGIN { if (m + 0 == 0) print "n/a"; else printf "%.2f", s / m }')
  printf '%-86s | %12s | %12s | %20s\n' "${LABELS[$i]}" "$s" "$m" "$ratio"
done
echo "(rates: higher is better, ratio > 1 favours sysemu; latency in ms: lower is better, ratio < 1 favours sysemu)"
