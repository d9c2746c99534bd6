-- RLS plus the same explicit tenant filter, which prunes partitions at plan time
\set t random(1, 1000)
\set id random(1, 1000)
BEGIN;
SELECT set_config('easeinv.tenant_id', :t::text, true);
SELECT sku, qty FROM items WHERE tenant_id = :t AND id = :id;
COMMIT;
