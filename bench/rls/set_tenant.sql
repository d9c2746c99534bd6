-- what the web app does: set_tenant() (validates the tenant), then the RLS lookup
\set t random(1, 1000)
\set id random(1, 1000)
BEGIN;
SELECT easeinv.set_tenant(:t);
SELECT sku, qty FROM items WHERE id = :id;
COMMIT;
