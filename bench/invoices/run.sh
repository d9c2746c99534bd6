#!/usr/bin/env bash
# Invoices (0.3.0): easeinv's C line and totals triggers and issue_invoice side by side with the
# same rules in PL/pgSQL (comparator.sql, schema cmp), on one throwaway server in one run.  First
# the proof (proof.sql): identical 500-line invoices built both ways must have identical lines and
# headers, identical changes and an issue must give identical results, or the run stops.
#
# Workloads (pgbench, -M PROTOCOL, DURATION seconds each):
#   recompute  totals: UPDATE invoice_lines SET qty = qty WHERE invoice_id = <one of the POOL
#              500-line drafts>; every line computed again, the header summed; rolled back.
#              TOTALS_CLIENTS clients; the time is the UPDATE's latency (pgbench -r).
#   insert     totals: a draft header, then its 500 lines in one INSERT ... SELECT; rolled back.
#              The time is the line INSERT's latency (its statement trigger sums the header).
#   gst_line   the computation alone: sum((gst_line(...)).line_total) over 500 rows, easeinv.gst_line
#              (C) against cmp.gst_line (PL/pgSQL); "scan" is the same query without the function.
#   issue      CLIENTS clients; each transaction: a draft with 3 stocked lines, issue_invoice
#              (number, freeze, 3 stock movements), COMMIT.  Transactions per second.
# Systems: easeinv; cmp, the PL/pgSQL comparator with generic plans (plan_cache_mode =
# force_generic_plan on its functions, as easeinv's C sets it); cmp_custom, the same comparator
# with PostgreSQL's default plan cache mode (what PL/pgSQL gets unless told otherwise).
# Every run starts right after VACUUM of the invoice tables and a CHECKPOINT.
#
# Environment (defaults in brackets; smoke run: DURATION=5 TENANTS=20, about 2 minutes):
#   DURATION [15] CLIENTS [8] JOBS [CLIENTS] TOTALS_CLIENTS [1] ROUNDS [1] PROTOCOL [prepared]
#   TENANTS [100] PRODUCTS [1000] POOL [20 drafts of 500 lines per system] SHARED_BUFFERS [1GB]
#   BENCH_TMPDIR [/tmp] TARGET [3: easeinv's totals at least 3x as fast as cmp]
#   STRICT [0; 1 exits 3 when a target is missed]
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
DURATION=${DURATION:-15}
CLIENTS=${CLIENTS:-8}
JOBS=${JOBS:-$CLIENTS}
TOTALS_CLIENTS=${TOTALS_CLIENTS:-1}
ROUNDS=${ROUNDS:-1}
PROTOCOL=${PROTOCOL:-prepared}
TENANTS=${TENANTS:-100}
PRODUCTS=${PRODUCTS:-1000}
POOL=${POOL:-20}
SHARED_BUFFERS=${SHARED_BUFFERS:-1GB}
TARGET=${TARGET:-3}
STRICT=${STRICT:-0}
B=bench/invoices

[ "$PRODUCTS" -ge 500 ] || { echo "PRODUCTS must be at least 500 (the 500-line invoices name products up to 1 + 499 * 13 % PRODUCTS)" >&2; exit 2; }

dir=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/easeinv-invoices.XXXXXX"); chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$dir"
port=$(free_port 56632)
trap 'pg_tmp_stop "$dir"; rm -rf "$dir"' EXIT
# every workload measures CPU: synchronous_commit = off (the totals workloads roll back anyway)
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
echo "server: shared_buffers=$SHARED_BUFFERS, fsync=on, synchronous_commit=off"
echo "data: $TENANTS tenants x $PRODUCTS products, 16 hash partitions; $POOL drafts of 500 lines per system"
echo "runs: totals with $TOTALS_CLIENTS client(s), issue with $CLIENTS clients ($JOBS threads); ${DURATION}s each, -M $PROTOCOL, $ROUNDS round(s)"
sql -v tenants="$TENANTS" -v products="$PRODUCTS" -f $B/setup.sql >/dev/null
sql -f $B/comparator.sql >/dev/null
sql -v pool="$POOL" -v tenants="$TENANTS" -f $B/pool.sql >/dev/null
sql -c "VACUUM ANALYZE" >/dev/null
echo "loaded in $(( $(secs) - t0 ))s"
echo
echo "proof: the same invoices built both ways (proof.sql)"
if ! proof=$(sql -f $B/proof.sql 2>&1); then
  echo "$proof" | sed 's/^/  /'
  echo "the comparator does not compute what easeinv computes: no benchmark" >&2
  exit 1
fi
echo "$proof" | sed 's/^psql:[^ ]* NOTICE:  //; s/^NOTICE:  //; s/^/  /'

# the comparator's functions that run queries: generic plans (cmp) or the default (cmp_custom)
CMP_FUNCTIONS="cmp.invoice_line_compute() cmp.invoice_totals() cmp.issue_invoice(bigint)"
cmp_plan_mode() {
  local f
  for f in $CMP_FUNCTIONS; do
    if [ "$1" = generic ]; then
      sql -c "ALTER FUNCTION $f SET plan_cache_mode = force_generic_plan" >/dev/null
    else
      sql -c "ALTER FUNCTION $f RESET plan_cache_mode" >/dev/null
    fi
  done
}

# bench WORKLOAD SYSTEM: one pgbench run; prints "<tps> <latency of the measured statement, ms>".
# Fails the benchmark on any failed transaction or aborted client.
bench() {
  local w=$1 s=$2 script clients out rc=0 pattern
  case $s in
    easeinv) script=easeinv_$w ;; cmp|cmp_custom) script=cmp_$w ;; scan) script=scan_$w ;;
  esac
  case $w in
    issue) clients=$CLIENTS; pattern=issue_invoice ;;
    gst_line) clients=$TOTALS_CLIENTS; pattern="SELECT sum" ;;
    *) clients=$TOTALS_CLIENTS; pattern=invoice_lines ;;
  esac
  [ "$s" = cmp_custom ] && cmp_plan_mode custom
  sql -c "VACUUM easeinv.invoices, easeinv.invoice_lines, cmp.invoices, cmp.invoice_lines" -c CHECKPOINT >/dev/null
  out=$(as_runner pgbench -n -r -h "$dir" -p "$port" -U bench_app -M "$PROTOCOL" -c "$clients" \
          -j "$(( clients < JOBS ? clients : JOBS ))" -T "$DURATION" \
          -D tenants="$TENANTS" -D products="$PRODUCTS" -D pool="$POOL" \
          -f "$B/$script.sql" postgres 2>&1) || rc=$?
  [ "$s" = cmp_custom ] && cmp_plan_mode generic
  if [ "$rc" -ne 0 ] || ! echo "$out" | grep -q '^number of failed transactions: 0 ' \
     || ! echo "$out" | grep -q '^tps = '; then
    printf 'pgbench %s failed (exit %s):\n%s\n' "$script" "$rc" "$out" >&2
    tail -n 20 "$dir/server.log" >&2
    return 1
  fi
  echo "$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')" \
       "$(echo "$out" | awk -v p="$pattern" '$0 ~ p && $1 ~ /^[0-9.]+$/ { print $1; exit }')"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
mean() { printf '%s\n' "$@" | awk '{ s += $1; n++ } END { printf "%.3f", s / n }'; }

declare -A SYSTEMS=([recompute]="easeinv cmp cmp_custom" [insert]="easeinv cmp cmp_custom"
                    [gst_line]="easeinv cmp scan" [issue]="easeinv cmp cmp_custom")
WORKLOADS=${WORKLOADS:-"recompute insert gst_line issue"}
declare -A TPS=() MS=()

echo
# workload by workload (the issue workload last: the invoices it leaves behind must not change
# the totals workloads' tables), ROUNDS rounds of each
for w in $WORKLOADS; do
  for round in $(seq "$ROUNDS"); do
    systems=(${SYSTEMS[$w]})
    # rotate the order each round so that no system always runs first
    n=${#systems[@]}; k=$(( (round - 1) % n ))
    systems=("${systems[@]:k}" "${systems[@]:0:k}")
    for s in "${systems[@]}"; do
      res=$(bench "$w" "$s")
      read -r tps ms <<< "$res"
      TPS[$w/$s]="${TPS[$w/$s]:-} $(printf '%.1f' "$tps")"
      MS[$w/$s]="${MS[$w/$s]:-} $(printf '%.2f' "$ms")"
      printf '  round %s  %-15s %-11s %10.1f tps %10.3f ms per statement\n' "$round" "$w" "$s" "$tps" "$ms"
    done
  done
done

drift=$(sql -Atc "SELECT count(*) FROM easeinv.verify_stock()")
[ "$drift" = 0 ] || { echo "easeinv.verify_stock() reports $drift drifting rows" >&2; exit 1; }
issued_e=$(sql -Atc "SELECT count(*) FROM easeinv.invoices WHERE status = 'issued'")
issued_c=$(sql -Atc "SELECT count(*) FROM cmp.invoices WHERE status = 'issued'")

declare -A T=() L=()
for key in "${!TPS[@]}"; do T[$key]=$(mean ${TPS[$key]}); L[$key]=$(mean ${MS[$key]}); done
label() {
  case $1 in
    easeinv) echo "easeinv (C)" ;; cmp) echo "PL/pgSQL, generic plans" ;;
    cmp_custom) echo "PL/pgSQL, default plans" ;; scan) echo "scan only (no function)" ;;
  esac
}
echo
echo "totals of a 500-line invoice, $TOTALS_CLIENTS client(s): milliseconds per statement (mean of $ROUNDS round(s));"
echo "speed-up = the system's time / easeinv's time"
printf '%-34s %-25s %10s %9s   %s\n' workload system "ms" speed-up "rounds (ms)"
ran() { [[ " $WORKLOADS " == *" $1 "* ]]; }   # whether a workload ran (WORKLOADS)
for w in recompute insert; do
  ran $w || continue
  case $w in
    recompute) wl="recompute (UPDATE qty = qty)" ;; insert) wl="insert (INSERT ... SELECT)" ;;
  esac
  for s in ${SYSTEMS[$w]}; do
    printf '%-34s %-25s %10.2f %9s  %s\n' "$wl" "$(label "$s")" "${L[$w/$s]}" \
      "$(ratio "${L[$w/$s]}" "${L[$w/easeinv]}")" "${MS[$w/$s]}"
  done
done
if ran gst_line; then
echo
echo "the per-line computation alone: 500 rows, milliseconds per query and microseconds per line"
printf '%-34s %-25s %10s %9s %9s   %s\n' workload system "ms" "us/line" speed-up "rounds (ms)"
for s in ${SYSTEMS[gst_line]}; do
  printf '%-34s %-25s %10.3f %9.2f %9s  %s\n' "gst_line over 500 rows" "$(label "$s")" "${L[gst_line/$s]}" \
    "$(awk -v m="${L[gst_line/$s]}" 'BEGIN { printf "%.2f", m * 1000 / 500 }')" \
    "$(ratio "${L[gst_line/$s]}" "${L[gst_line/easeinv]}")" "${MS[gst_line/$s]}"
done
fi
if ran issue; then
echo
echo "issuing invoices (draft of 3 lines + issue_invoice, COMMIT), $CLIENTS clients: transactions per second"
printf '%-34s %-25s %10s %9s   %s\n' workload system tps "/system" "rounds (tps)"
for s in ${SYSTEMS[issue]}; do
  printf '%-34s %-25s %10.0f %9s  %s\n' "issue" "$(label "$s")" "${T[issue/$s]}" \
    "$(ratio "${T[issue/easeinv]}" "${T[issue/$s]}")" "${TPS[issue/$s]}"
done
echo "  (/system: easeinv's tps / the system's; invoices issued in all: easeinv $issued_e, cmp $issued_c)"
fi

echo
echo "targets (a noisy or shared machine makes these meaningless; compare on a quiet one):"
missed=0
target() {   # target LABEL VALUE MIN
  local ok=met
  awk -v v="$2" -v m="$3" 'BEGIN { exit !(v >= m) }' || { ok=MISSED; missed=1; }
  printf '  %-60s %6s  (>= %s)  %s\n' "$1" "$2" "$3" "$ok"
}
ran recompute && target "totals, recompute: PL/pgSQL (generic plans) / easeinv" "$(ratio "${L[recompute/cmp]}" "${L[recompute/easeinv]}")" "$TARGET"
ran insert && target "totals, insert: PL/pgSQL (generic plans) / easeinv" "$(ratio "${L[insert/cmp]}" "${L[insert/easeinv]}")" "$TARGET"
echo "total $(( $(secs) - t0 ))s"
[ "$STRICT" = 1 ] && [ "$missed" = 1 ] && exit 3
exit 0
