-- floor: the same transaction shape (tenant set, then a point lookup), but the lookup goes to
-- the table with no RLS and names the tenant explicitly
\set t random(1, 1000)
\set id random(1, 1000)
BEGIN;
SELECT set_config('easeinv.tenant_id', :t::text, true);
SELECT sku, qty FROM items_plain WHERE tenant_id = :t AND id = :id;
COMMIT;
