-- Invoice benchmark data (bench/invoices/run.sh loads this, then comparator.sql and pool.sql).
-- psql variables: tenants, products.
--
--   tenants      :tenants tenants, ids 1..:tenants, state 27 (Maharashtra); even tenants round the
--                grand total to the rupee (settings round_off = true), odd ones do not
--   locations    per tenant: 1 warehouse, 8 suppliers, 9 customers
--   customers    per tenant: 1 in state 27 (intra-state: CGST + SGST), 2 in state 29 (IGST)
--   products     per tenant: ids 1..:products, all tracking stock, HSN 1006, the GST rates in force
--                now cycling 18, 5, 28, 0, 40, 3, 18, 5, 0.25, 18 (product id % 10)
--   stock        per tenant and product one opening receipt of 1e9 units into the warehouse (key
--                'opening-<product>'), so no issue ever runs out; levels by rebuild_stock_levels()
--   bench_lines  the 500 lines every totals-workload invoice gets (see below)
--   line_inputs  the same 500 lines as gst_line inputs (the per-line computation workload)
-- Seeded as superuser; the ledger with session_replication_role = replica (consistent by
-- construction), as bench/ledger does.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET easeinv.partitions = 16;
CREATE EXTENSION easeinv;

INSERT INTO easeinv.tenants (id, slug, name, state_code, settings)
SELECT g, 'tenant-' || g, 'Tenant ' || g, '27', jsonb_build_object('round_off', g % 2 = 0)
  FROM generate_series(1, :tenants) g;
SELECT setval(pg_get_serial_sequence('easeinv.tenants', 'id'), :tenants);

INSERT INTO easeinv.locations (tenant_id, id, code, name, kind)
SELECT t, l.id, l.code, l.name, l.kind
  FROM generate_series(1, :tenants) t,
       (VALUES (1, 'WH-1', 'Warehouse', 'warehouse'), (8, 'SUPPLIERS', 'Suppliers', 'supplier'),
               (9, 'CUSTOMERS', 'Customers', 'customer')) l(id, code, name, kind);
SELECT setval(pg_get_serial_sequence('easeinv.locations', 'id'), 9);

-- customers: the check trigger needs the tenant context, so one tenant at a time
DO $$
BEGIN
    FOR t IN 1 .. (SELECT max(id) FROM easeinv.tenants) LOOP
        PERFORM set_config('easeinv.tenant_id', t::text, true);
        INSERT INTO easeinv.customers (tenant_id, id, name, state_code)
        VALUES (t, 1, 'Local Customer', '27'), (t, 2, 'Karnataka Customer', '29');
    END LOOP;
END
$$;
SELECT setval(pg_get_serial_sequence('easeinv.customers', 'id'), 2);

INSERT INTO easeinv.products (tenant_id, id, sku, name, hsn_code, gst_rate)
SELECT t, p, 'SKU-' || p, 'Product ' || p, '1006',
       (ARRAY[18, 18, 5, 28, 0, 40, 3, 18, 5, 0.25])[1 + p % 10]
  FROM generate_series(1, :tenants) t, generate_series(1, :products) p;
SELECT setval(pg_get_serial_sequence('easeinv.products', 'id'), :products);

SET session_replication_role = replica;
INSERT INTO easeinv.stock_movements (tenant_id, idempotency_key, product_id, from_location_id,
                                     to_location_id, qty, reason, occurred_at, created_at, created_by)
SELECT t, 'opening-' || p, p, 8, 1, 1000000000, 'opening stock',
       now() - interval '400 days', now() - interval '400 days', 'bench-setup'
  FROM generate_series(1, :tenants) t, generate_series(1, :products) p;
SELECT easeinv.rebuild_stock_levels() AS level_rows_built;
RESET session_replication_role;

-- the 500 lines of every invoice the totals workloads write (both systems insert exactly these):
-- nine in ten name a product (description, HSN and rate come from it), every tenth is a service
-- with its own description, SAC and rate; a discount percent on every fifth, an amount on the
-- next, cess on every eleventh
CREATE TABLE public.bench_lines AS
SELECT g AS line_no,
       CASE WHEN g % 10 = 0 THEN NULL ELSE 1 + (g * 13) % :products END::bigint AS product_id,
       CASE WHEN g % 10 = 0 THEN 'Service ' || g END AS description,
       CASE WHEN g % 10 = 0 THEN '998314' END AS hsn_sac,
       (1 + g % 7 + (g % 4) * 0.25)::numeric(18,4) AS qty,
       (10 + ((g * 3137) % 100000) / 100.0)::numeric(18,4) AS unit_price,
       CASE WHEN g % 5 = 1 THEN 7.5 END::numeric(7,4) AS discount_percent,
       CASE WHEN g % 5 = 2 THEN 1.5 END::numeric(15,2) AS discount_amount,
       CASE WHEN g % 10 = 0 THEN 18 END::numeric(5,2) AS gst_rate,
       CASE WHEN g % 11 = 0 THEN 12 END::numeric(7,4) AS cess_rate
  FROM generate_series(1, 500) g;
ALTER TABLE public.bench_lines ADD PRIMARY KEY (line_no);

-- inputs of the per-line computation workload: the same lines with the product's rate filled in
-- (products of tenant 1), intra-state on even lines
CREATE TABLE public.line_inputs AS
SELECT l.line_no AS n, l.qty, l.unit_price, coalesce(l.gst_rate, p.gst_rate) AS gst_rate,
       l.line_no % 2 = 0 AS intra_state, l.discount_percent, l.discount_amount, l.cess_rate
  FROM public.bench_lines l
  LEFT JOIN easeinv.products p ON p.tenant_id = 1 AND p.id = l.product_id;
ALTER TABLE public.line_inputs ADD PRIMARY KEY (n);

CREATE ROLE bench_app LOGIN;
GRANT easeinv_app TO bench_app;
GRANT SELECT ON public.bench_lines, public.line_inputs TO bench_app;
