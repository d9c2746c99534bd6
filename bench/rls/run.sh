#!/usr/bin/env bash
# RLS point-lookup cost: easeinv's RLS versus an explicit tenant filter with RLS off, side by
# side on one throwaway server, each workload in both query protocols.  Every workload is the
# same transaction (set the tenant locally, one point lookup, commit: what the web app does
# through pgbouncer), so the difference is the lookup.  Prints transactions per second and the
# ratio to the floor.
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

tps() {   # tps SCRIPT MODE
  local out
  out=$(as_runner pgbench -n -h "$dir" -p "$port" -U bench_app -M "$2" \
          -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" -f "bench/rls/$1.sql" postgres 2>&1)
  echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; PostgreSQL $(as_runner postgres --version | awk '{print $3}')"
echo "data: 1,000 tenants x 1,000 rows, 16 hash partitions; $CLIENTS clients, ${DURATION}s per run, $ROUNDS rounds"
printf '%-16s %-9s %10s %8s\n' workload protocol tps ratio
for mode in prepared simple; do
  for round in $(seq "$ROUNDS"); do
    floor=$(tps plain "$mode")
    printf '%-16s %-9s %10.0f %8s\n' plain "$mode" "$floor" 1.00
    for w in rls rls_and_filter set_tenant; do
      v=$(tps "$w" "$mode")
      printf '%-16s %-9s %10.0f %8s\n' "$w" "$mode" "$v" "$(ratio "$v" "$floor")"
    done
  done
done
