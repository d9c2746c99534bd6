-- what the web app does through pgbouncer: a transaction that sets the tenant, then looks up
\set t random(1, 1000)
\set id random(1, 1000)
BEGIN;
SELECT easeinv.set_tenant(:t);
SELECT sku, qty FROM items WHERE id = :id;
COMMIT;
