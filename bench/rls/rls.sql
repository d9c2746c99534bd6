-- RLS does the tenant filtering; the lookup names only the row
\set t random(1, 1000)
\set id random(1, 1000)
BEGIN;
SELECT set_config('easeinv.tenant_id', :t::text, true);
SELECT sku, qty FROM items WHERE id = :id;
COMMIT;
