-- the same transaction shape with no tenant context and no RLS
\set t random(1, 1000)
\set id random(1, 1000)
BEGIN;
SELECT sku, qty FROM items_plain WHERE tenant_id = :t AND id = :id;
COMMIT;
