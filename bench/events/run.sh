#!/usr/bin/env bash
# Events benchmark (issue 13), one throwaway server, one run, side by side:
#   1. what the outbox costs move_stock: the ledger's single workload (bench/ledger) in a database
#      whose easeinv is installed at 0.5.0 (the same library appends no events there: there is no
#      outbox) against one at the current version, both with easeinv.notify = off; then the
#      current version with notify on (the NOTIFY at commit, per movement).  Events written per
#      second are the current version's transactions per second (one event each).
#   2. claim + ack per second: 1M events in the outbox; 4 workers of one consumer, then 4 named
#      consumers (each sees all 1M), each transaction claiming 100 and acking them.
#   3. table sizes: the outbox and deliveries after 1M events, after they are claimed and acked by
#      one consumer, and after outbox_purge() and VACUUM.
#   4. feature_enabled(): 1M calls in one statement against a constant expression.
# Environment: DURATION [10] CLIENTS [8] TENANTS [20] PRODUCTS [1000] EVENTS [1000000]
#              NAMED_EVENTS [250000: the events each of the 4 named consumers drains]
#              SHARED_BUFFERS [1GB] BENCH_TMPDIR [/tmp]
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-8}
TENANTS=${TENANTS:-20}
PRODUCTS=${PRODUCTS:-1000}
EVENTS=${EVENTS:-1000000}
NAMED_EVENTS=${NAMED_EVENTS:-250000}
DRAIN_SECONDS=${DRAIN_SECONDS:-20}
SKIP_MOVES=${SKIP_MOVES:-0}
SHARED_BUFFERS=${SHARED_BUFFERS:-1GB}
L=bench/ledger
E=bench/events

dir=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/easeinv-events.XXXXXX"); chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$dir"
port=$(free_port 56632)
trap 'pg_tmp_stop "$dir"; rm -rf "$dir"' EXIT
pg_tmp_start "$dir" "$port" "shared_buffers = $SHARED_BUFFERS
fsync = on
synchronous_commit = off
max_wal_size = 8GB
checkpoint_timeout = 30min
max_connections = 50"

sql() { local db=$1; shift; as_runner psql -X -q -h "$dir" -p "$port" -U postgres -d "$db" -v ON_ERROR_STOP=1 "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
t0=$(date +%s)

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; PostgreSQL $(as_runner postgres --version | awk '{print $3}')"
echo "data: $TENANTS tenants x $PRODUCTS products (bench/ledger/setup.sql); $CLIENTS clients, ${DURATION}s per run"

# the two databases: easeinv 0.5.0 (no outbox) and the current version
sed 's/^CREATE ROLE bench_app LOGIN;$/DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '"'"'bench_app'"'"') THEN CREATE ROLE bench_app LOGIN; END IF; END $$;/' \
    $L/setup.sql > "$dir/setup.sql"
sed 's/^CREATE EXTENSION easeinv;$/CREATE EXTENSION easeinv VERSION '"'"'0.5.0'"'"';/' "$dir/setup.sql" > "$dir/setup_050.sql"
chmod 644 "$dir"/*.sql
for db in base events; do sql postgres -c "CREATE DATABASE $db"; done
sql base -v tenants="$TENANTS" -v products="$PRODUCTS" -v replay_keys=10 -f "$dir/setup_050.sql" >/dev/null
sql events -v tenants="$TENANTS" -v products="$PRODUCTS" -v replay_keys=10 -f "$dir/setup.sql" >/dev/null
echo "versions: base $(sql base -Atc "SELECT extversion FROM pg_extension WHERE extname = 'easeinv'"), events $(sql events -Atc "SELECT extversion FROM pg_extension WHERE extname = 'easeinv'")"
sql base -c "ALTER DATABASE base SET easeinv.notify = off"
for db in base events; do sql "$db" -c "VACUUM ANALYZE" >/dev/null; done

# tps DB SCRIPT [pgbench options]: one pgbench run; fails on any failed transaction
tps() {
  local db=$1 script=$2; shift 2
  local out rc=0
  sql "$db" -c CHECKPOINT >/dev/null
  out=$(as_runner pgbench -n -h "$dir" -p "$port" -U bench_app -M prepared -c "$CLIENTS" -j "$CLIENTS" \
          -T "$DURATION" -D tenants="$TENANTS" -D products="$PRODUCTS" -D replay_keys=10 \
          -f "$script" "$@" "$db" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ] || ! echo "$out" | grep -q '^number of failed transactions: 0 '; then
    printf 'pgbench %s on %s failed (exit %s):\n%s\n' "$script" "$db" "$rc" "$out" >&2; return 1
  fi
  echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

if [ "$SKIP_MOVES" = 0 ]; then
echo
echo "1. move_stock, single workload (synchronous_commit off), side by side"
declare -A T=()
for round in 1 2; do
  sql postgres -c "ALTER DATABASE events SET easeinv.notify = off" >/dev/null
  for s in base events_quiet; do
    db=${s%_quiet}
    v=$(tps "$db" $L/easeinv_single.sql); T[$s]="${T[$s]:-} $v"
    printf '  round %s  %-30s %9.0f tps\n' "$round" "$s" "$v"
  done
  sql postgres -c "ALTER DATABASE events RESET easeinv.notify" >/dev/null
  v=$(tps events $L/easeinv_single.sql); T[events_notify]="${T[events_notify]:-} $v"
  printf '  round %s  %-30s %9.0f tps\n' "$round" "events_notify" "$v"
done
mean() { printf '%s\n' $@ | awk '{ s += $1; n++ } END { printf "%.0f", s / n }'; }
b=$(mean ${T[base]}); q=$(mean ${T[events_quiet]}); n=$(mean ${T[events_notify]})
moves=$(sql events -Atc "SELECT count(*) FROM easeinv.outbox")
printf '  %-44s %9s tps\n' "0.5.0 (no outbox)" "$b"
printf '  %-44s %9s tps  ratio %s (target >= 0.90)\n' "0.6.0, outbox, notify off" "$q" "$(ratio "$q" "$b")"
printf '  %-44s %9s tps  ratio %s\n' "0.6.0, outbox, notify on" "$n" "$(ratio "$n" "$b")"
echo "  events written: $moves in $(( 4 * DURATION ))s of 0.6.0 runs, one per movement (= its tps)"
fi

echo
echo "2, 3. claim + ack, $EVENTS events, and the tables' sizes"
sql events -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_consumer') THEN CREATE ROLE bench_consumer LOGIN; END IF; END \$\$;
GRANT easeinv_consumer TO bench_consumer;" >/dev/null
fill() {
  sql events -c "TRUNCATE easeinv.outbox_deliveries; DELETE FROM easeinv.outbox_consumers;
    SET session_replication_role = replica; TRUNCATE easeinv.outbox;
    INSERT INTO easeinv.outbox (tenant_id, type, aggregate_type, aggregate_id, payload)
    SELECT 1 + g % $TENANTS, 'stock.moved', 'stock', (1 + g % $PRODUCTS)::text,
           jsonb_build_object('movement_id', g, 'product_id', 1 + g % $PRODUCTS, 'sku', 'SKU-' || (1 + g % $PRODUCTS),
                              'from_location_id', 8, 'to_location_id', 1, 'qty', 5.0000, 'unit_cost', NULL,
                              'reason', 'bench', 'reference_type', NULL, 'reference_id', NULL, 'reverses_id', NULL,
                              'occurred_at', now(), 'levels', jsonb_build_array(
                                  jsonb_build_object('location_id', 1, 'on_hand', 1000000000.0000, 'available', 1000000000.0000),
                                  jsonb_build_object('location_id', 8, 'on_hand', -1000000000.0000, 'available', -1000000000.0000)))
      FROM generate_series(1, $EVENTS) g;" >/dev/null
  sql events -c "VACUUM ANALYZE easeinv.outbox" >/dev/null
}
size() { sql events -Atc "SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_partition_tree('easeinv.$1')"; }
fill
echo "  after $EVENTS events: outbox $(size outbox), deliveries $(size outbox_deliveries)"
cat > "$dir/workers.sql" <<'EOF'
SELECT easeinv.outbox_ack_all('bench', coalesce(array_agg(id), '{}')) FROM easeinv.outbox_claim_all('bench', 100);
EOF
cat > "$dir/named.sql" <<'EOF'
SELECT easeinv.outbox_ack_all('bench-' || :client_id, coalesce(array_agg(id), '{}')) FROM easeinv.outbox_claim_all('bench-' || :client_id, 100);
EOF
chmod 644 "$dir"/*.sql
# consume SCRIPT CLIENTS: claim+ack (100 a time) for DRAIN_SECONDS; events acknowledged per second
consume() {
  local script=$1 clients=$2 t1 t2 before after
  before=$(sql events -Atc "SELECT count(*) FROM easeinv.outbox_deliveries WHERE acked_at IS NOT NULL")
  t1=$(date +%s.%N)
  as_runner pgbench -n -h "$dir" -p "$port" -U bench_consumer -M prepared -c "$clients" -j "$clients" \
    -T "$DRAIN_SECONDS" -f "$script" events >/dev/null 2>&1
  t2=$(date +%s.%N)
  after=$(sql events -Atc "SELECT count(*) FROM easeinv.outbox_deliveries WHERE acked_at IS NOT NULL")
  awk -v a="$t1" -v b="$t2" -v n="$(( after - before ))" 'BEGIN { printf "%.0f", n / (b - a) }'
}
# finish CONSUMER: claim and ack the rest, 5000 a time, each in its own transaction
finish() {
  local n=1
  while [ "$n" != 0 ]; do
    n=$(sql events -Atc "SELECT easeinv.outbox_ack_all('$1', coalesce(array_agg(id), '{}')) FROM easeinv.outbox_claim_all('$1', 5000)")
  done
}
# the first harvest (every event into the consumer's deliveries) before the timed claims
sql events -Atc "SELECT count(*) FROM easeinv.outbox_claim_all('bench', 1, '1 millisecond')" >/dev/null
w=$(consume "$dir/workers.sql" 4)
finish bench
left=$(sql events -Atc "SELECT count(*) FROM easeinv.outbox_deliveries WHERE acked_at IS NULL")
acked=$(sql events -Atc "SELECT count(*) FROM easeinv.outbox_deliveries WHERE acked_at IS NOT NULL")
printf '  4 workers of one consumer, 100 a claim, after the first harvest: %s events/s for %ss (then all acked: %s, left %s)\n' "$w" "$DRAIN_SECONDS" "$acked" "$left"
echo "  after claim and ack: outbox $(size outbox), deliveries $(size outbox_deliveries)"
purged=$(sql events -Atc "SELECT easeinv.outbox_purge('0 seconds', 50000)")
sql events -c "VACUUM easeinv.outbox, easeinv.outbox_deliveries" >/dev/null
echo "  outbox_purge: $purged deleted; after VACUUM: outbox $(size outbox), deliveries $(size outbox_deliveries)"
EVENTS=$NAMED_EVENTS fill
for c in 0 1 2 3; do sql events -Atc "SELECT count(*) FROM easeinv.outbox_claim_all('bench-$c', 1, '1 millisecond')" >/dev/null; done
w=$(consume "$dir/named.sql" 4)
acked=$(sql events -Atc "SELECT count(*) FROM easeinv.outbox_deliveries WHERE acked_at IS NOT NULL")
printf '  4 named consumers, each sees all %s: %s events/s delivered in all over %ss\n' "$NAMED_EVENTS" "$w" "$DRAIN_SECONDS"

echo
echo "4. feature_enabled(), 1M calls in one statement"
sql events -c "INSERT INTO easeinv.feature_flags (name, enabled, rollout_percent) VALUES ('bench', true, 50)" >/dev/null
cat > "$dir/flags.sql" <<'EOF'
BEGIN;
SELECT set_config('easeinv.tenant_id', '1', true);
CREATE TEMP TABLE timings (what text, ms numeric) ON COMMIT DROP;
DO $$
DECLARE t timestamptz; r int;
BEGIN
  FOR r IN 1..3 LOOP
    t := clock_timestamp();
    PERFORM count(*) FILTER (WHERE g > 0) FROM generate_series(1, 1000000) g;
    INSERT INTO timings VALUES ('constant', extract(epoch FROM clock_timestamp() - t) * 1000);
    t := clock_timestamp();
    PERFORM count(*) FILTER (WHERE easeinv.feature_enabled('bench')) FROM generate_series(1, 1000000) g;
    INSERT INTO timings VALUES ('feature_enabled', extract(epoch FROM clock_timestamp() - t) * 1000);
  END LOOP;
END $$;
SELECT what, round(min(ms)) FROM timings GROUP BY what ORDER BY what;
COMMIT;
EOF
chmod 644 "$dir/flags.sql"
out=$(sql events -At -F ' ' -f "$dir/flags.sql" | grep -E '^(constant|feature_enabled) ')
c=$(echo "$out" | awk '$1 == "constant" { print $2 }'); f=$(echo "$out" | awk '$1 == "feature_enabled" { print $2 }')
printf '  constant expression %s ms, feature_enabled %s ms: ratio %s (target <= 3)\n' "$c" "$f" "$(ratio "$f" "$c")"
echo "total $(( $(date +%s) - t0 ))s"
