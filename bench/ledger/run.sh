#!/usr/bin/env bash
# Stock ledger write cost: easeinv.move_stock side by side with the floor (the same rows written by
# bare SQL: no checks, no RLS, no idempotency) and with the same semantics written in PL/pgSQL
# under row level security (comparator.move_stock), on one throwaway server in one run.  Then the
# large-ledger check: easeinv's single-movement workload again after growing its ledger by
# LEDGER_ROWS movements.  Prints transactions per second and the ratios the issue sets targets for.
#
# Workloads (pgbench, CLIENTS clients, DURATION seconds each, -M PROTOCOL):
#   single   a random product of a random tenant; half receipts (supplier -> internal), half
#            transfers between internal locations; a fresh idempotency key per transaction.
#            Run with synchronous_commit = off (CPU, not the WAL flush, is measured) and on.
#   hot      every client moves tenant 1's product 1 between locations 1 and 2.
#   replay   keys of a pre-inserted set with their first payload: every call is a replay
#            (the floor has no idempotency, so it has no replay workload).
# Every transaction is BEGIN; set the tenant (set_config, transaction-local); one write; COMMIT.
#
# Environment (defaults in brackets; smoke runs: DURATION=5 LEDGER_ROWS=200000, about 2 minutes;
# TENANTS=20 DURATION=3 LEDGER_ROWS=100000, about 1 minute; see README.md):
#   DURATION [15] CLIENTS [8] JOBS [CLIENTS] ROUNDS [1] PROTOCOL [prepared]
#   TENANTS [100] PRODUCTS [1000] REPLAY_KEYS [1000 per tenant] LEDGER_ROWS [10000000; 0 skips]
#   LARGE_KEYS [random; ordered: time-ordered keys in the large-ledger check]
#   SHARED_BUFFERS [1GB] BENCH_TMPDIR [/tmp] STRICT [0; 1 exits 3 when a target is missed]
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
DURATION=${DURATION:-15}
CLIENTS=${CLIENTS:-8}
JOBS=${JOBS:-$CLIENTS}
ROUNDS=${ROUNDS:-1}
PROTOCOL=${PROTOCOL:-prepared}
TENANTS=${TENANTS:-100}
PRODUCTS=${PRODUCTS:-1000}
REPLAY_KEYS=${REPLAY_KEYS:-1000}
LEDGER_ROWS=${LEDGER_ROWS:-10000000}
# the large-ledger check's keys: random (the single workload's) or time-ordered
LARGE_KEYS=${LARGE_KEYS:-random}
large_script=easeinv_single; [ "$LARGE_KEYS" = ordered ] && large_script=easeinv_single_ordered
SHARED_BUFFERS=${SHARED_BUFFERS:-1GB}
STRICT=${STRICT:-0}
B=bench/ledger

dir=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/easeinv-ledger.XXXXXX"); chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$dir"
port=$(free_port 56532)
trap 'pg_tmp_stop "$dir"; rm -rf "$dir"' EXIT
# fsync on (test/lib.sh turns it off): the synchronous_commit = on workload must pay the flush.
# synchronous_commit is off by default and set per pgbench run through PGOPTIONS.
pg_tmp_start "$dir" "$port" "shared_buffers = $SHARED_BUFFERS
fsync = on
synchronous_commit = off
max_wal_size = 8GB
checkpoint_timeout = 30min
max_connections = 50"

sql() { as_runner psql -X -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
secs() { date +%s; }
t0=$(secs)

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; PostgreSQL $(as_runner postgres --version | awk '{print $3}')"
echo "server: shared_buffers=$SHARED_BUFFERS, fsync=on, synchronous_commit per workload"
echo "data: $TENANTS tenants x $PRODUCTS products, 2-4 internal locations each, 16 hash partitions; $REPLAY_KEYS replay keys per tenant"
echo "runs: $CLIENTS clients, $JOBS threads, ${DURATION}s each, -M $PROTOCOL, $ROUNDS round(s)"
sql -v tenants="$TENANTS" -v products="$PRODUCTS" -v replay_keys="$REPLAY_KEYS" -f $B/setup.sql >/dev/null
sql -f $B/floor.sql >/dev/null
sql -f $B/plpgsql_comparator.sql >/dev/null
sql -c "VACUUM ANALYZE" >/dev/null
base_rows=$(sql -Atc "SELECT count(*) FROM easeinv.stock_movements")
echo "loaded in $(( $(secs) - t0 ))s: $base_rows movements per system (opening stock and the replay set)"

# tps SCRIPT SYNC: one pgbench run; fails the benchmark on any failed or aborted transaction.
# Every run starts right after a checkpoint: the first change to each page after a checkpoint
# writes a full-page image, which cost 10-20% of a 5-second run on the development machine, so
# every run must start at the same point of the checkpoint cycle.
tps() {
  local out rc=0
  sql -c CHECKPOINT >/dev/null
  out=$(as_runner env PGOPTIONS="-c synchronous_commit=$2" pgbench -n -h "$dir" -p "$port" \
          -U bench_app -M "$PROTOCOL" -c "$CLIENTS" -j "$JOBS" -T "$DURATION" \
          -D tenants="$TENANTS" -D products="$PRODUCTS" -D replay_keys="$REPLAY_KEYS" \
          -f "$B/$1.sql" postgres 2>&1) || rc=$?
  if [ "$rc" -ne 0 ] || ! echo "$out" | grep -q '^number of failed transactions: 0 ' \
     || ! echo "$out" | grep -q '^tps = '; then
    printf 'pgbench %s (synchronous_commit=%s) failed (exit %s):\n%s\n' "$1" "$2" "$rc" "$out" >&2
    tail -n 20 "$dir/server.log" >&2
    return 1
  fi
  echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
ledger_rows() { sql -Atc "SELECT count(*) FROM $1.stock_movements"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
mean() { printf '%s\n' "$@" | awk '{ s += $1; n++ } END { printf "%.1f", s / n }'; }

# workload -> synchronous_commit, script suffix, systems
declare -A SYNC=([single_off]=off [single_on]=on [hot]=off [replay]=off)
declare -A SUFFIX=([single_off]=single [single_on]=single [hot]=hot [replay]=replay)
declare -A SYSTEMS=([single_off]="floor floor3 comparator easeinv" [single_on]="floor comparator easeinv"
                    [hot]="floor comparator easeinv" [replay]="comparator easeinv")
WORKLOADS="single_off single_on hot replay"
declare -A TPS=()    # workload/system -> space-separated tps of each round

for round in $(seq "$ROUNDS"); do
  for w in $WORKLOADS; do
    systems=(${SYSTEMS[$w]})
    # rotate the order each round so that no system always runs first
    n=${#systems[@]}; k=$(( (round - 1) % n ))
    systems=("${systems[@]:k}" "${systems[@]:0:k}")
    for s in "${systems[@]}"; do
      [ "$w" = replay ] && rows_before=$(ledger_rows "$s")
      v=$(tps "${s}_${SUFFIX[$w]}" "${SYNC[$w]}")
      if [ "$w" = replay ] && [ "$(ledger_rows "$s")" != "$rows_before" ]; then
        echo "replay workload wrote to $s.stock_movements: not every call was a replay" >&2; exit 1
      fi
      TPS[$w/$s]="${TPS[$w/$s]:-} $(printf '%.0f' "$v")"
      printf '  round %s  %-10s %-10s %9.0f tps\n' "$round" "$w" "$s" "$v"
    done
  done
done

drift=$(sql -Atc "SELECT count(*) FROM easeinv.verify_stock()")
[ "$drift" = 0 ] || { echo "easeinv.verify_stock() reports $drift drifting rows" >&2; exit 1; }

declare -A M=()
for key in "${!TPS[@]}"; do M[$key]=$(mean ${TPS[$key]}); done
label() {
  case $1 in
    floor) echo "floor (1 statement)" ;; floor3) echo "floor (3 statements)" ;;
    comparator) echo "PL/pgSQL + RLS" ;; easeinv) echo "easeinv" ;;
  esac
}
echo
echo "transactions per second (mean of $ROUNDS round(s)); ratios to the same workload's floor"
echo "(one statement) and comparator; replays to the same system's first writes (single, off)"
printf '%-24s %-21s %9s %8s %11s %12s   %s\n' workload system tps /floor /comparator /first-write rounds
for w in $WORKLOADS; do
  case $w in
    single_off) wl="single, sync_commit off" ;; single_on) wl="single, sync_commit on" ;;
    hot) wl="hot product" ;; replay) wl="replay" ;;
  esac
  for s in ${SYSTEMS[$w]}; do
    v=${M[$w/$s]}
    f=-; c=-; r=-
    [ -n "${M[$w/floor]:-}" ] && f=$(ratio "$v" "${M[$w/floor]}")
    [ -n "${M[$w/comparator]:-}" ] && c=$(ratio "$v" "${M[$w/comparator]}")
    [ "$w" = replay ] && r=$(ratio "$v" "${M[single_off/$s]}")
    printf '%-24s %-21s %9.0f %8s %11s %12s  %s\n' "$wl" "$(label "$s")" "$v" "$f" "$c" "$r" "${TPS[$w/$s]}"
  done
done

big=""; before=""
if [ "$LEDGER_ROWS" -gt 0 ]; then
  # the baseline is taken right before the load, so that drift on the machine during the
  # side-by-side runs does not count as the ledger's size
  echo
  vals=""
  for round in $(seq "$ROUNDS"); do
    v=$(tps $large_script off); vals="$vals $(printf '%.0f' "$v")"
  done
  before=$(mean $vals); before_rows=$(ledger_rows easeinv); before_vals=$vals
  t1=$(secs)
  sql -v rows="$LEDGER_ROWS" -v tenants="$TENANTS" -v products="$PRODUCTS" -f $B/load_ledger.sql >/dev/null
  rows=$(ledger_rows easeinv)
  size=$(sql -Atc "SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_partition_tree('easeinv.stock_movements')")
  echo "ledger grown by $LEDGER_ROWS movements in $(( $(secs) - t1 ))s: $rows movements, $size with indexes"
  vals=""
  for round in $(seq "$ROUNDS"); do
    v=$(tps $large_script off); vals="$vals $(printf '%.0f' "$v")"
  done
  big=$(mean $vals)
  echo "large-ledger check with $LARGE_KEYS keys ($large_script.sql)"
  printf '%-24s %-28s %9s %8s   %s\n' workload "easeinv, ledger of" tps ratio rounds
  printf '%-24s %-28s %9.0f %8s  %s\n' "single, sync_commit off" "$before_rows movements" "$before" 1.00 "$before_vals"
  printf '%-24s %-28s %9.0f %8s  %s\n' "single, sync_commit off" "$rows movements" "$big" \
    "$(ratio "$big" "$before")" "$vals"
fi

echo
echo "targets (a noisy or shared machine makes these meaningless; compare on a quiet one):"
missed=0
target() {   # target LABEL VALUE MIN
  local ok=met
  awk -v v="$2" -v m="$3" 'BEGIN { exit !(v >= m) }' || { ok=MISSED; missed=1; }
  printf '  %-52s %5s  (>= %s)  %s\n' "$1" "$2" "$3" "$ok"
}
for w in single_off single_on hot; do
  target "easeinv / floor, $w" "$(ratio "${M[$w/easeinv]}" "${M[$w/floor]}")" 0.9
  target "easeinv / PL/pgSQL comparator, $w" "$(ratio "${M[$w/easeinv]}" "${M[$w/comparator]}")" 1.2
done
target "easeinv replays / first writes" "$(ratio "${M[replay/easeinv]}" "${M[single_off/easeinv]}")" 1.0
[ -n "$big" ] && target "easeinv, ledger grown by $LEDGER_ROWS / before" "$(ratio "$big" "$before")" 0.9
echo "total $(( $(secs) - t0 ))s"
[ "$STRICT" = 1 ] && [ "$missed" = 1 ] && exit 3
exit 0
