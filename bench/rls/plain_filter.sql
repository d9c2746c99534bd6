-- floor: explicit tenant filter, no RLS (tenant 500, like the RLS workloads)
\set id random(1, 1000)
SELECT sku, qty FROM items_plain WHERE tenant_id = 500 AND id = :id;
