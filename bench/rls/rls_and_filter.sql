-- RLS plus the same explicit tenant filter (plan-time pruning)
\set id random(1, 1000)
SELECT sku, qty FROM items WHERE tenant_id = 500 AND id = :id;
