-- RLS does the tenant filtering (tenant 500 from the session GUC); the query names only the row
\set id random(1, 1000)
SELECT sku, qty FROM items WHERE id = :id;
