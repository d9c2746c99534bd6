#!/usr/bin/env bash
# RLS point-lookup cost: easeinv's RLS versus an explicit tenant filter with RLS off, side by
# side on one throwaway server, each workload in both query protocols.  Prints a table of
# transactions per second and the ratio to the floor.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-2}
ROUNDS=${ROUNDS:-2}

dir=$(mktemp -d /tmp/easeinv-bench.XXXXXX); chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$dir"
port=$(free_port 56432)
trap 'pg_tmp_stop "$dir"; rm -rf "$dir"' EXIT
pg_tmp_start "$dir" "$port" "shared_buffers = 512MB
synchronous_commit = off"
as_runner psql -X -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -f bench/rls/setup.sql >/dev/null

tps() {   # tps SCRIPT MODE [PGOPTIONS]
  local out
  out=$(as_runner env PGOPTIONS="${3:-}" pgbench -n -h "$dir" -p "$port" -U bench_app -M "$2" \
          -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" -f "bench/rls/$1.sql" postgres 2>&1)
  echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; PostgreSQL $(as_runner postgres --version | awk '{print $3}')"
echo "data: 1,000 tenants x 1,000 rows, 16 hash partitions; $CLIENTS clients, ${DURATION}s per run, $ROUNDS rounds"
printf '%-16s %-9s %10s %8s\n' workload protocol tps ratio
for mode in prepared simple; do
  for round in $(seq "$ROUNDS"); do
    floor=$(tps plain_filter "$mode")
    rls=$(tps rls_only "$mode" "-c easeinv.tenant_id=500")
    both=$(tps rls_and_filter "$mode" "-c easeinv.tenant_id=500")
    tfloor=$(tps txn_plain "$mode")
    trls=$(tps txn_set_tenant "$mode")
    printf '%-16s %-9s %10.0f %8s\n' plain_filter "$mode" "$floor" 1.00
    printf '%-16s %-9s %10.0f %8.2f\n' rls_only "$mode" "$rls" "$(ratio "$rls" "$floor")"
    printf '%-16s %-9s %10.0f %8.2f\n' rls_and_filter "$mode" "$both" "$(ratio "$both" "$floor")"
    printf '%-16s %-9s %10.0f %8s\n' txn_plain "$mode" "$tfloor" 1.00
    printf '%-16s %-9s %10.0f %8.2f\n' txn_set_tenant "$mode" "$trls" "$(ratio "$trls" "$tfloor")"
  done
done
