-- The PL/pgSQL loop: the same CSV copied into a temporary table of the same shape, the codes
-- resolved by one join (the loop gets that for free), then one call of the comparator's move
-- function (bench/ledger/plpgsql_comparator.sql: easeinv.move_stock's semantics in PL/pgSQL,
-- on the comparator's copies of the tables, under row level security) per row, in file order.
-- Runs as bench_app, with plan_cache_mode = @PLAN_CACHE_MODE@ for the transaction (run.sh: LOOP_PLANS;
-- by default force_custom_plan: with PostgreSQL's default the comparator's statements keep the
-- plans cached while its tables were empty, sequential scans, and every idempotency-key lookup
-- then reads every row inserted so far in the transaction: quadratic; see README.md).
-- Template: @TENANT@, @CSV@ (see easeinv.sql).  Prints:
--   RESULT loop <tenant> <t0> <t1> <t2> <t3> <t4>
-- t2..t3 the loop, t3..t4 COMMIT.
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
BEGIN;
SET LOCAL plan_cache_mode = @PLAN_CACHE_MODE@;
SELECT easeinv.set_tenant(@TENANT@) AS tenant \gset
CREATE TEMPORARY TABLE loop_movements (
    idempotency_key text, sku text, from_location text, to_location text, qty text,
    unit_cost text, reason text, reference_type text, reference_id text, occurred_at text
) ON COMMIT DROP;
SELECT extract(epoch FROM clock_timestamp()) AS t1 \gset
\copy loop_movements FROM '@CSV@' WITH (FORMAT csv, HEADER)
SELECT extract(epoch FROM clock_timestamp()) AS t2 \gset
DO $loop$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT s.idempotency_key, p.id AS product_id, fl.id AS from_id, tl.id AS to_id,
               s.qty::numeric AS qty, s.reason, s.reference_type, s.reference_id,
               s.unit_cost::numeric AS unit_cost, s.occurred_at::timestamptz AS occurred_at
          FROM pg_temp.loop_movements s
          JOIN comparator.products p ON p.tenant_id = @TENANT@ AND p.sku = s.sku AND p.deleted_at IS NULL
          JOIN comparator.locations fl ON fl.tenant_id = @TENANT@ AND fl.code = s.from_location AND fl.deleted_at IS NULL
          JOIN comparator.locations tl ON tl.tenant_id = @TENANT@ AND tl.code = s.to_location AND tl.deleted_at IS NULL
         ORDER BY s.ctid
    LOOP
        PERFORM comparator.move_stock(r.idempotency_key, r.product_id, r.from_id, r.to_id, r.qty,
                                      r.reason, r.reference_type, r.reference_id, r.unit_cost,
                                      r.occurred_at);
    END LOOP;
END
$loop$;
SELECT extract(epoch FROM clock_timestamp()) AS t3 \gset
COMMIT;
SELECT extract(epoch FROM clock_timestamp()) AS t4 \gset
\echo RESULT loop @TENANT@ :t0 :t1 :t2 :t3 :t4
