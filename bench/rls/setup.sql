-- RLS point-lookup benchmark data: 1,000 tenants x 1,000 rows in a table protected by
-- easeinv (16 hash partitions, RLS forced), and the same rows in a plain table with no RLS.
SET easeinv.partitions = 16;
CREATE EXTENSION easeinv;
INSERT INTO easeinv.tenants (slug, name, state_code)
SELECT 'tenant-' || g, 'Tenant ' || g, '27' FROM generate_series(1, 1000) g;

CREATE TABLE items (
    tenant_id bigint NOT NULL,
    id        bigint NOT NULL,
    sku       text NOT NULL,
    qty       numeric NOT NULL,
    PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);
SELECT easeinv.create_tenant_partitions('items');
SELECT count(*) FROM easeinv.enable_tenancy('items');

-- the floor: same layout, same partitions, no RLS, no guard
CREATE TABLE items_plain (LIKE items INCLUDING ALL) PARTITION BY HASH (tenant_id);
SELECT easeinv.create_tenant_partitions('items_plain');

INSERT INTO items (tenant_id, id, sku, qty)
SELECT t, i, 'SKU-' || i, (i % 50)::numeric FROM generate_series(1, 1000) t, generate_series(1, 1000) i;
INSERT INTO items_plain SELECT * FROM items;

CREATE ROLE bench_app LOGIN;
GRANT easeinv_app TO bench_app;
GRANT SELECT ON items, items_plain TO bench_app;
VACUUM ANALYZE items;
VACUUM ANALYZE items_plain;
