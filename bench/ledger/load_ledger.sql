-- Grow easeinv's ledger by :rows movements for the large-ledger check (run.sh, after the
-- side-by-side workloads).  psql variables: rows, tenants, products.
--
-- Seeding, not posting: direct INSERT ... SELECT as superuser with session_replication_role =
-- replica (no FK checks, no guard), in chunks of a million rows, then the levels are brought in
-- line with the ledger by easeinv.rebuild_stock_levels() (also in replica mode) and the tables
-- vacuumed and analysed.
-- The rows look like the benchmark's own: tenants round-robin, pseudo-random products, half
-- receipts from the supplier and half transfers between internal locations, qty 1-10, occurred_at
-- increasing up to now, and keys 'mv-<pseudo-random 62-bit number>-<n>' spread over the same key
-- space as the workload's fresh keys ('mv-<random 62-bit number>-<client>'), so new keys land all
-- over the 10-million-entry unique index rather than in a small corner of it.
\set ON_ERROR_STOP 1
SET client_min_messages = notice;
SET session_replication_role = replica;
SELECT set_config('bench.rows', :'rows', false), set_config('bench.tenants', :'tenants', false),
       set_config('bench.products', :'products', false);
DO $load$
DECLARE
    total    bigint := current_setting('bench.rows')::bigint;
    tenants  bigint := current_setting('bench.tenants')::bigint;
    products bigint := current_setting('bench.products')::bigint;
    chunk    bigint := 1000000;
    -- numbering continues after the ledger's ids, so a second load never reuses a key
    base     bigint := (SELECT last_value FROM easeinv.stock_movements_id_seq);
    lo       bigint := base + 1;
    started  timestamptz := clock_timestamp();
BEGIN
    WHILE lo <= base + total LOOP
        INSERT INTO easeinv.stock_movements (tenant_id, idempotency_key, product_id, from_location_id,
                                             to_location_id, qty, reason, occurred_at, created_at,
                                             created_by)
        SELECT s.t, 'mv-' || (hashint8extended(s.g, 0) & 4611686018427387903) || '-' || s.g, s.p,
               CASE WHEN s.recv THEN 8 ELSE s.a END,
               CASE WHEN s.recv THEN s.a ELSE 1 + (s.a + (s.k / 2) % (s.nint - 1)) % s.nint END,
               1 + s.g % 10, 'bench', s.at, s.at, 'bench_app'
          FROM (SELECT g, 1 + g % tenants AS t, g / tenants AS k,
                       1 + (g / tenants * 7919) % products AS p,
                       2 + (1 + g % tenants) % 3 AS nint,
                       1 + (g / tenants) % (2 + (1 + g % tenants) % 3) AS a,
                       (g / tenants / 5) % 2 = 0 AS recv,
                       now() - (base + total - g) * interval '2 seconds' AS at
                  FROM generate_series(lo, least(lo + chunk - 1, base + total)) g) s;
        COMMIT;
        RAISE NOTICE 'ledger load: % of % rows (% s)', least(lo + chunk - 1, base + total) - base, total,
            round(extract(epoch FROM clock_timestamp() - started));
        lo := lo + chunk;
    END LOOP;
END
$load$;
SELECT easeinv.rebuild_stock_levels() AS level_rows_changed;   -- still replica: see setup.sql
RESET session_replication_role;
VACUUM ANALYZE easeinv.stock_movements;
VACUUM ANALYZE easeinv.stock_levels;
CHECKPOINT;
