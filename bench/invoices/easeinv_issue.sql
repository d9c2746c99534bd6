-- issue: a small draft (3 stocked lines, products and quantities at random, rates from the
-- products) for a random tenant and customer, issued: numbered, frozen, 3 stock movements.
\set t random(1, :tenants)
\set c random(1, 2)
\set p1 random(1, :products)
\set p2 random(1, :products)
\set p3 random(1, :products)
\set q1 random(1, 5)
\set q2 random(1, 5)
\set q3 random(1, 5)
BEGIN;
SELECT set_config('easeinv.tenant_id', :t::text, true);
INSERT INTO easeinv.invoices (customer_id, location_id) VALUES (:c, 1) RETURNING id AS inv \gset
INSERT INTO easeinv.invoice_lines (invoice_id, line_no, product_id, qty, unit_price) VALUES (:inv, 1, :p1, :q1, 100.50), (:inv, 2, :p2, :q2, 250), (:inv, 3, :p3, :q3, 19.99);
SELECT number FROM easeinv.issue_invoice(:inv);
COMMIT;
