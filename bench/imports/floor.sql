-- The floor: the same rows written into the same tables (easeinv.stock_movements and
-- easeinv.stock_levels) by bare set-based SQL, as the owner (superuser), with none of the
-- import's work: no check of the rows, no repeated-key or replay detection, no conflict
-- handling (plain INSERT), no negative-stock rule, no ordering.  The same CSV is copied into a
-- temporary table of the same shape as begin_import's and analyzed (so the planner knows it
-- has a million rows); one INSERT ... SELECT resolves the SKU and location codes by join and
-- writes the ledger; one INSERT ... ON CONFLICT DO UPDATE writes each (product, location)
-- level once, from the deltas aggregated per (SKU, location code) first and resolved after
-- (220,000 groups to join rather than 2,000,000 deltas).  It runs with the settings
-- apply_import gives its own statements (plan_cache_mode = force_generic_plan, which also
-- keeps the foreign-key checks of new level rows from being planned once per row, and
-- work_mem = 128MB, jit = off), so that the comparison measures the work and not the settings.  The
-- tables' own guard triggers, CHECKs, indexes and the levels' foreign keys fire for the floor
-- as for easeinv: they are the same tables.
-- Template: @TENANT@, @CSV@ (see easeinv.sql).  Prints:
--   RESULT floor <tenant> <t0> <t1> <t2> <t3> <t4> <t5> <ledger rows> <level rows>
-- t2..t3 ANALYZE and the ledger INSERT, t3..t4 the levels upsert, t4..t5 COMMIT.
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
BEGIN;
SET LOCAL plan_cache_mode = force_generic_plan;
SET LOCAL work_mem = '128MB';
SET LOCAL jit = off;
SELECT easeinv.set_tenant(@TENANT@) AS tenant \gset
CREATE TEMPORARY TABLE floor_movements (
    idempotency_key text, sku text, from_location text, to_location text, qty text,
    unit_cost text, reason text, reference_type text, reference_id text, occurred_at text
) ON COMMIT DROP;
SELECT extract(epoch FROM clock_timestamp()) AS t1 \gset
\copy floor_movements FROM '@CSV@' WITH (FORMAT csv, HEADER)
SELECT extract(epoch FROM clock_timestamp()) AS t2 \gset
ANALYZE pg_temp.floor_movements;
INSERT INTO easeinv.stock_movements (tenant_id, idempotency_key, product_id, from_location_id,
                                     to_location_id, qty, reason, reference_type, reference_id,
                                     unit_cost, occurred_at, created_by)
SELECT @TENANT@, s.idempotency_key, p.id, fl.id, tl.id, s.qty::numeric, s.reason, s.reference_type,
       s.reference_id, s.unit_cost::numeric, s.occurred_at::timestamptz, 'bench_app'
  FROM pg_temp.floor_movements s
  JOIN easeinv.products p ON p.tenant_id = @TENANT@ AND p.sku = s.sku
  JOIN easeinv.locations fl ON fl.tenant_id = @TENANT@ AND fl.code = s.from_location
  JOIN easeinv.locations tl ON tl.tenant_id = @TENANT@ AND tl.code = s.to_location;
\set ledger_rows :ROW_COUNT
SELECT extract(epoch FROM clock_timestamp()) AS t3 \gset
INSERT INTO easeinv.stock_levels AS l (tenant_id, product_id, location_id, on_hand)
SELECT @TENANT@, p.id, c.id, d.delta
  FROM (SELECT x.sku, x.code, sum(x.delta) AS delta
          FROM (SELECT s.sku, s.from_location AS code, -s.qty::numeric AS delta FROM pg_temp.floor_movements s
                UNION ALL
                SELECT s.sku, s.to_location, s.qty::numeric FROM pg_temp.floor_movements s) x
         GROUP BY x.sku, x.code) d
  JOIN easeinv.products p ON p.tenant_id = @TENANT@ AND p.sku = d.sku
  JOIN easeinv.locations c ON c.tenant_id = @TENANT@ AND c.code = d.code
ON CONFLICT (tenant_id, product_id, location_id)
DO UPDATE SET on_hand = l.on_hand + excluded.on_hand, updated_at = now();
\set level_rows :ROW_COUNT
SELECT extract(epoch FROM clock_timestamp()) AS t4 \gset
COMMIT;
SELECT extract(epoch FROM clock_timestamp()) AS t5 \gset
\echo RESULT floor @TENANT@ :t0 :t1 :t2 :t3 :t4 :t5 :ledger_rows :level_rows
