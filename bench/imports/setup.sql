-- Bulk import benchmark data (bench/imports/run.sh loads this, then
-- bench/ledger/plpgsql_comparator.sql, then generate.sql).  psql variables:
--   a_products   products of tenant 1 (scenario A, one big tenant)              [10000]
--   b_tenants    tenants 2 .. b_tenants + 1 (scenario B, many small tenants)    [1000]
--   b_products   products of each scenario B tenant                              [10]
--   locations    internal locations of every tenant                              [20]
--
--   tenants     1 (A) and 2 .. b_tenants + 1 (B); default settings, so negative stock at
--               internal locations is refused (the generated movements never go below zero)
--   locations   per tenant: ids 1 .. :locations internal, codes 'WH-01', 'WH-02', ...
--               (kinds warehouse, store, bin in turn); id :locations + 1 'SUPPLIER' (supplier)
--               and :locations + 2 'CUSTOMER' (customer), the virtual ends of receipts and sales
--   products    per tenant: ids 1 .. n, SKU 'SKU-000001', ... (tracked)
--   ledger and levels are empty: every system starts from empty ones (run.sh truncates them)
--
-- Also: the login role bench_app (granted easeinv_app) that imports, and schema bench with
-- bench.movements(...), the generator of the CSV files (generate.sql), and bench.fingerprint(),
-- what run.sh compares between the systems.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET easeinv.partitions = 16;
CREATE EXTENSION easeinv;

INSERT INTO easeinv.tenants (id, slug, name, state_code)
SELECT 1, 'bulk-a', 'Scenario A: one large tenant', '27'
UNION ALL
SELECT t, 'bulk-b-' || t, 'Scenario B tenant ' || t, '27' FROM generate_series(2, :b_tenants + 1) t;
SELECT setval(pg_get_serial_sequence('easeinv.tenants', 'id'), :b_tenants + 1);

INSERT INTO easeinv.locations (tenant_id, id, code, name, kind)
SELECT t, l, 'WH-' || lpad(l::text, 2, '0'), 'Location ' || l, (ARRAY['warehouse', 'store', 'bin'])[1 + l % 3]
  FROM generate_series(1, :b_tenants + 1) t, generate_series(1, :locations) l
UNION ALL
SELECT t, :locations + 1, 'SUPPLIER', 'Suppliers', 'supplier' FROM generate_series(1, :b_tenants + 1) t
UNION ALL
SELECT t, :locations + 2, 'CUSTOMER', 'Customers', 'customer' FROM generate_series(1, :b_tenants + 1) t;
SELECT setval(pg_get_serial_sequence('easeinv.locations', 'id'), :locations + 2);

INSERT INTO easeinv.products (tenant_id, id, sku, name, hsn_code)
SELECT 1, p, 'SKU-' || lpad(p::text, 6, '0'), 'Product ' || p, '1006'
  FROM generate_series(1, :a_products) p
UNION ALL
SELECT t, p, 'SKU-' || lpad(p::text, 6, '0'), 'Product ' || p, '1006'
  FROM generate_series(2, :b_tenants + 1) t, generate_series(1, :b_products) p;
SELECT setval(pg_get_serial_sequence('easeinv.products', 'id'), greatest(:a_products, :b_products));

CREATE ROLE bench_app LOGIN;
GRANT easeinv_app TO bench_app;

CREATE SCHEMA bench;

-- bench.movements: the CSV rows of one tenant's import, in file order.
--
-- The file is a chronological onboarding history in blocks of up to 1,000 products (all of
-- them when the tenant has fewer): each block starts with one opening receipt from SUPPLIER for
-- each of its (product, internal location) pairs, followed by rounds over the same pairs, one
-- movement per pair per round, the kind rotating per round: transfer to another internal
-- location, sale to CUSTOMER, transfer, receipt from SUPPLIER.  Openings are 1,000-1,096 units,
-- other quantities 1 to 10.25, so stock never goes below zero in any order of application (the
-- loop applies row by row) as long as a pair is the source of fewer than 90 movements.  Any
-- prefix of the file is a valid import too (the loop runs on a prefix; see run.sh), and with
-- blocks of 1,000 products the first 100,000 rows of scenario A are a whole block.
--
-- Keys are UUID-shaped (md5 of tenant and row), in random order, as client-generated keys are.
-- unit_cost is given on receipts, reference_type and reference_id on openings and sales;
-- the other fields are empty (NULL).  occurred_at is explicit (+05:30), so every system stores
-- the same time and the results can be compared.
CREATE FUNCTION bench.movements(tenant bigint, products integer, locations integer, n_rows integer)
RETURNS TABLE (idempotency_key text, sku text, from_location text, to_location text, qty text,
               unit_cost text, reason text, reference_type text, reference_id text, occurred_at text)
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    b        integer := least(products, 1000);          -- products per block
    blocks   integer := products / b;
    per_blk  integer := n_rows / blocks;                 -- rows per block
    pairs    integer := b * locations;
BEGIN
    IF products % b <> 0 OR n_rows % blocks <> 0 OR per_blk < pairs
       OR (per_blk - pairs) / pairs >= 4 * 29 THEN
        RAISE EXCEPTION 'bench.movements: % products, % rows: need products a multiple of %, rows a multiple of % and at least % (and fewer than % per block)',
            products, n_rows, b, blocks, pairs * blocks, pairs * 117;
    END IF;
    RETURN QUERY
    SELECT md5(tenant || '/' || s.g)::uuid::text,
           'SKU-' || lpad(s.product::text, 6, '0'),
           CASE WHEN s.kind IN ('opening', 'receipt') THEN 'SUPPLIER'
                ELSE 'WH-' || lpad(s.loc::text, 2, '0') END,
           CASE s.kind WHEN 'sale' THEN 'CUSTOMER'
                       WHEN 'transfer' THEN 'WH-' || lpad((1 + (s.loc - 1 + 1 + (s.i * 13 + s.rnd) % (locations - 1)) % locations)::text, 2, '0')
                       ELSE 'WH-' || lpad(s.loc::text, 2, '0') END,
           CASE WHEN s.kind = 'opening' THEN (1000 + s.j % 97)::text
                WHEN s.g % 5 = 0 THEN (1 + (s.g * 7) % 10)::text || '.25'
                ELSE (1 + (s.g * 7) % 10)::text END,
           CASE WHEN s.kind IN ('opening', 'receipt') THEN (10 + s.product % 90)::text || '.50' END,
           CASE s.kind WHEN 'opening' THEN 'opening stock' WHEN 'receipt' THEN 'purchase'
                       WHEN 'sale' THEN 'sale' ELSE 'replenishment' END,
           CASE s.kind WHEN 'opening' THEN 'onboarding' WHEN 'sale' THEN 'invoice' END,
           CASE s.kind WHEN 'opening' THEN 'OPEN-' || s.blk WHEN 'sale' THEN 'INV/' || s.g END,
           to_char(timestamp '2024-04-01 09:00' + s.g * interval '20 seconds', 'YYYY-MM-DD HH24:MI:SS') || '+05:30'
      FROM (SELECT x.g, x.blk, x.j, x.i, x.rnd,
                   x.blk * b + 1 + x.i % b AS product,
                   1 + x.i / b AS loc,
                   CASE WHEN x.rnd < 0 THEN 'opening'
                        ELSE (ARRAY['transfer', 'sale', 'transfer', 'receipt'])[1 + x.rnd % 4] END AS kind
              FROM (SELECT g, g / per_blk AS blk, g % per_blk AS j,
                           CASE WHEN g % per_blk < pairs THEN g % per_blk ELSE (g % per_blk - pairs) % pairs END AS i,
                           CASE WHEN g % per_blk < pairs THEN -1 ELSE (g % per_blk - pairs) / pairs END AS rnd
                      FROM generate_series(0, n_rows - 1) g) x) s
     ORDER BY s.g;
END
$fn$;

-- bench.fingerprint: what a system left in a ledger and its levels for tenants lo .. hi, as
-- counts, sums and an order-independent hash of every row's business columns (all but the
-- generated id and created_at; created_by is bench_app everywhere).
CREATE FUNCTION bench.fingerprint(schema_name text, lo bigint, hi bigint)
RETURNS TABLE (movements bigint, qty numeric, movements_hash numeric,
               levels bigint, on_hand numeric, levels_hash numeric)
LANGUAGE plpgsql STABLE
AS $fn$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT m.n, m.q, m.h, l.n, l.q, l.h
           FROM (SELECT count(*) AS n, coalesce(sum(qty), 0) AS q,
                        coalesce(sum(hashtextextended(concat_ws(''|'', tenant_id, idempotency_key, product_id,
                            from_location_id, to_location_id, qty, reason, reference_type, reference_id,
                            unit_cost, reverses_id, occurred_at, created_by), 0)::numeric), 0) AS h
                   FROM %1$I.stock_movements WHERE tenant_id BETWEEN $1 AND $2) m,
                (SELECT count(*) AS n, coalesce(sum(on_hand), 0) AS q,
                        coalesce(sum(hashtextextended(concat_ws(''|'', tenant_id, product_id, location_id,
                            on_hand, reserved, available), 0)::numeric), 0) AS h
                   FROM %1$I.stock_levels WHERE tenant_id BETWEEN $1 AND $2) l', schema_name)
    USING lo, hi;
END
$fn$;
