-- Stock ledger benchmark data (bench/ledger/run.sh loads this, then floor.sql and
-- plpgsql_comparator.sql).  psql variables: tenants, products, replay_keys.
--
--   tenants      :tenants tenants, ids 1..:tenants, default settings (negative stock refused)
--   locations    per tenant: 2 + (tenant % 3) internal locations with ids 1..4 (warehouse, store,
--                bin, store), the virtual supplier (id 8) and customer (id 9)
--   products     per tenant: ids 1..:products, all tracking stock
--   ledger       per tenant, product and internal location one opening receipt of 1e9 units from
--                the supplier (key 'opening-<product>-<location>'), so no movement ever runs out;
--                per tenant :replay_keys transfers with keys 'replay-<n>' whose payload is a
--                function of n (the replay workload recomputes it, so every call is a replay):
--                  product  1 + (n * 7) % :products
--                  from     1 + n % (2 + tenant % 3),  to  1 + (n + 1) % (2 + tenant % 3)
--                  qty      1 + n % 10,                reason 'bench'
--   levels       built from the ledger by easeinv.rebuild_stock_levels()
--
-- The ledger rows and the levels are seeded as superuser with session_replication_role = replica
-- (no FK checks, no guard: the seed is consistent by construction).  The same rows are then copied into the
-- floor's and the comparator's tables, so all three systems start from identical data.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET easeinv.partitions = 16;
CREATE EXTENSION easeinv;

INSERT INTO easeinv.tenants (id, slug, name, state_code)
SELECT g, 'tenant-' || g, 'Tenant ' || g, '27' FROM generate_series(1, :tenants) g;
SELECT setval(pg_get_serial_sequence('easeinv.tenants', 'id'), :tenants);

INSERT INTO easeinv.locations (tenant_id, id, code, name, kind)
SELECT t, l, 'LOC-' || l, 'Location ' || l, (ARRAY['warehouse', 'store', 'bin', 'store'])[l]
  FROM generate_series(1, :tenants) t, generate_series(1, 4) l
 WHERE l <= 2 + t % 3
UNION ALL
SELECT t, 8, 'SUPPLIERS', 'Suppliers', 'supplier' FROM generate_series(1, :tenants) t
UNION ALL
SELECT t, 9, 'CUSTOMERS', 'Customers', 'customer' FROM generate_series(1, :tenants) t;
SELECT setval(pg_get_serial_sequence('easeinv.locations', 'id'), 9);

INSERT INTO easeinv.products (tenant_id, id, sku, name, hsn_code)
SELECT t, p, 'SKU-' || p, 'Product ' || p, '1006'
  FROM generate_series(1, :tenants) t, generate_series(1, :products) p;
SELECT setval(pg_get_serial_sequence('easeinv.products', 'id'), :products);

SET session_replication_role = replica;
INSERT INTO easeinv.stock_movements (tenant_id, idempotency_key, product_id, from_location_id,
                                     to_location_id, qty, reason, occurred_at, created_at, created_by)
SELECT t, 'opening-' || p || '-' || l, p, 8, l, 1000000000, 'opening stock',
       now() - interval '400 days', now() - interval '400 days', 'bench-setup'
  FROM generate_series(1, :tenants) t, generate_series(1, :products) p, generate_series(1, 4) l
 WHERE l <= 2 + t % 3;
INSERT INTO easeinv.stock_movements (tenant_id, idempotency_key, product_id, from_location_id,
                                     to_location_id, qty, reason, occurred_at, created_at, created_by)
SELECT t, 'replay-' || n, 1 + (n * 7) % :products, 1 + n % (2 + t % 3), 1 + (n + 1) % (2 + t % 3),
       1 + n % 10, 'bench', now() - interval '1 day', now() - interval '1 day', 'bench_app'
  FROM generate_series(1, :tenants) t, generate_series(1, :replay_keys) n;
-- still in replica mode: otherwise every new level row pays two foreign-key checks, and the one
-- against the partitioned products table is planned afresh for each row (40 s instead of 7 s for
-- 400,000 rows on the development machine)
SELECT easeinv.rebuild_stock_levels() AS level_rows_built;
RESET session_replication_role;

CREATE ROLE bench_app LOGIN;
GRANT easeinv_app TO bench_app;
