-- The easeinv demo: two tenants share one table; each sees only its own rows, and a
-- cross-tenant write is refused.  Errors below are expected: they are the point.
\set ECHO queries
\set SHOW_CONTEXT never
\pset footer off

\echo '--- 1. install the extension (4 hash partitions per large tenant table)'
SET easeinv.partitions = 4;
CREATE EXTENSION easeinv;

\echo '--- 2. the maintenance role creates two tenants'
SET ROLE easeinv_admin;
SELECT id, slug, name, state_code, gstin
  FROM easeinv.create_tenant('acme-traders', 'Acme Traders', '27', '27AAPFU0939F1ZV');
SELECT id, slug, name, state_code FROM easeinv.create_tenant('beta-stores', 'Beta Stores', '29');
RESET ROLE;

\echo '--- 3. the application declares a table and lets easeinv protect it'
CREATE TABLE notes (
    tenant_id bigint NOT NULL,
    id        bigint GENERATED ALWAYS AS IDENTITY,
    body      text NOT NULL,
    PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);
SELECT easeinv.create_tenant_partitions('notes') AS partitions;
SELECT count(*) AS protections_added FROM easeinv.enable_tenancy('notes');
SELECT count(*) AS audit_problems FROM easeinv.audit_tenancy();
CREATE ROLE web LOGIN;
GRANT easeinv_app TO web;
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO easeinv_app;

\echo '--- 4. the web app (role web, subject to row level security) writes as each tenant'
SET ROLE web;
BEGIN;
SELECT easeinv.set_tenant(1);
INSERT INTO notes (body) VALUES ('Acme: reorder 40 cartons of tea'), ('Acme: GST return due on the 20th');
COMMIT;
BEGIN;
SET LOCAL easeinv.tenant_id = '2';
INSERT INTO notes (body) VALUES ('Beta: new shelf in aisle 3');
COMMIT;

\echo '--- 5. each tenant sees only its own rows'
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT tenant_id, id, body FROM notes ORDER BY id;
COMMIT;
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "user-7", "tenant_id": 2}';
SELECT easeinv.current_tenant() AS tenant_from_jwt;
SELECT tenant_id, id, body FROM notes ORDER BY id;
COMMIT;

\echo '--- 6. asking for the other tenant''s rows returns nothing'
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT tenant_id, id, body FROM notes WHERE tenant_id = 2;
UPDATE notes SET body = 'defaced' WHERE tenant_id = 2 RETURNING tenant_id, id, body;
COMMIT;

\echo '--- 7. a cross-tenant write is refused (SQLSTATE 42501)'
BEGIN;
SELECT easeinv.set_tenant(1);
INSERT INTO notes (tenant_id, body) VALUES (2, 'sneaked into Beta');
ROLLBACK;
BEGIN;
SELECT easeinv.set_tenant(2);
UPDATE notes SET tenant_id = 1;
ROLLBACK;

\echo '--- 8. no tenant context: no rows and no writes (fail closed)'
SELECT tenant_id, id, body FROM notes;
RESET ROLE;

\echo '--- 9. what is really in the table (as superuser, which bypasses RLS by design)'
SELECT tenant_id, id, body FROM notes ORDER BY tenant_id, id;

\echo '--- 10. inventory: Acme receives tea from a supplier, moves some to its store, sells one carton'
SET ROLE web;
BEGIN;
SELECT easeinv.set_tenant(1);
INSERT INTO easeinv.locations (code, name, kind) VALUES
    ('WH-MUM', 'Mumbai warehouse', 'warehouse'), ('ST-PUN', 'Pune store', 'store'),
    ('SUP', 'Suppliers', 'supplier'), ('CUS', 'Customers', 'customer')
RETURNING id, code;
INSERT INTO easeinv.products (sku, name, hsn_code, unit, gst_rate)
VALUES ('TEA-1KG', 'Assam tea 1 kg carton', '0902', 'NOS', 5) RETURNING id, sku;
SELECT id, qty, replayed FROM easeinv.move_stock('grn-2026-001', 1, 3, 1, 40, reason => 'purchase');
SELECT id, qty, replayed FROM easeinv.move_stock('transfer-001', 1, 1, 2, 15);
SELECT id, qty, replayed FROM easeinv.move_stock('sale-001', 1, 2, 4, 1, reason => 'sale');
COMMIT;

\echo '--- 11. the app retries the receipt after a timeout: the same movement comes back, nothing counted twice'
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT id, qty, replayed FROM easeinv.move_stock('grn-2026-001', 1, 3, 1, 40, reason => 'purchase');
SELECT location_id, on_hand, reserved, available FROM easeinv.stock_levels ORDER BY location_id;
COMMIT;

\echo '--- 12. a key reused for something else, and a sale of more than the store has: refused'
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT easeinv.move_stock('grn-2026-001', 1, 3, 1, 45, reason => 'purchase');
ROLLBACK;
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT easeinv.move_stock('sale-002', 1, 2, 4, 20);
ROLLBACK;

\echo '--- 13. a reservation for an order holds stock; shipping it posts the movement'
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT id, qty, status FROM easeinv.reserve_stock('so-77', 1, 1, 10, 'order', 'SO-77');
SELECT location_id, on_hand, reserved, available FROM easeinv.stock_levels WHERE location_id = 1;
SELECT id, qty, reference_type FROM easeinv.consume_reservation('ship-so-77', 1, 4);
SELECT count(*) AS drift FROM easeinv.verify_stock();
SELECT * FROM easeinv.stock_flow(1, NULL, current_date - 2, current_date);
COMMIT;

\echo '--- 14. a GST invoice: the app writes a draft, the database computes every amount'
BEGIN;
SELECT easeinv.set_tenant(1);
INSERT INTO easeinv.customers (id, name, gstin) VALUES (1, 'Bengaluru Cafe LLP', '29AAGCB7383J1Z4');
INSERT INTO easeinv.customers (id, name, state_code) VALUES (2, 'Pune walk-in', '27');
INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date) VALUES (2, 1, current_date) RETURNING id AS inv \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:inv, 1, 3, 199.99);
INSERT INTO easeinv.invoice_lines (invoice_id, description, hsn_sac, qty, unit_price, gst_rate, discount_percent)
    VALUES (:inv, 'Tasting session', '999799', 1, 500, 18, 10);
SELECT line_no, description, taxable_value, cgst, sgst, igst, line_total FROM easeinv.invoice_lines WHERE invoice_id = :inv;
SELECT place_of_supply, intra_state, taxable_value, cgst, sgst, igst, grand_total FROM easeinv.invoices WHERE id = :inv;
\echo '    ... billed to Karnataka instead: IGST'
UPDATE easeinv.invoices SET customer_id = 1 WHERE id = :inv;
SELECT place_of_supply, intra_state, taxable_value, cgst, sgst, igst, grand_total FROM easeinv.invoices WHERE id = :inv;
COMMIT;

\echo '--- 15. issuing numbers it (gapless per series and financial year), freezes it, ships the tea; a retry returns the same number'
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT number, fiscal_year, status, grand_total, replayed FROM easeinv.issue_invoice(:inv);
SELECT number, replayed FROM easeinv.issue_invoice(:inv);
SELECT location_id, on_hand FROM easeinv.stock_levels WHERE product_id = 1 ORDER BY location_id;
COMMIT;
BEGIN;
SELECT easeinv.set_tenant(1);
UPDATE easeinv.invoice_lines SET unit_price = 1 WHERE invoice_id = :inv;
ROLLBACK;

\echo '--- 16. payments: idempotent, never more than the balance'
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT amount, replayed FROM easeinv.record_payment('upi-utr-5123', :inv, 500, 'upi', reference => 'UTR 5123');
SELECT amount, replayed FROM easeinv.record_payment('upi-utr-5123', :inv, 500, 'upi', reference => 'UTR 5123');
SELECT status, amount_paid, balance_due FROM easeinv.invoices WHERE id = :inv;
COMMIT;
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT easeinv.record_payment('cash-9', :inv, 100000, 'cash');
ROLLBACK;

\echo '--- 17. spreadsheets imported in one go (CSV -> staging table -> one set-based apply): 2,000 products,'
\echo '        their opening stock, 3,000 movements'
\copy (SELECT 'DEMO-' || g AS sku, 'Demo product ' || g AS name, '0902' AS hsn_code, 'nos' AS unit, CASE WHEN g % 2 = 0 THEN '5' ELSE '18%' END AS gst_rate, 'yes' AS track_stock FROM generate_series(1, 2000) g) TO '/tmp/easeinv-demo-products.csv' WITH (FORMAT csv, HEADER)
\copy (SELECT 'DEMO-' || g AS sku, 'WH-MUM' AS location, 10 + g % 50 AS qty, '12.50' AS unit_cost, '2025-04-01' AS occurred_at FROM generate_series(1, 2000) g) TO '/tmp/easeinv-demo-opening.csv' WITH (FORMAT csv, HEADER)
\copy (SELECT 'demo-imp-' || g AS idempotency_key, 'TEA-1KG' AS sku, CASE WHEN g % 3 = 0 THEN 'WH-MUM' ELSE 'SUP' END AS from_location, CASE WHEN g % 3 = 0 THEN 'ST-PUN' ELSE 'WH-MUM' END AS to_location, 1 + g % 4 AS qty, '' AS unit_cost, 'import' AS reason, '' AS reference_type, '' AS reference_id, '' AS occurred_at FROM generate_series(1, 3000) g) TO '/tmp/easeinv-demo-import.csv' WITH (FORMAT csv, HEADER)
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT easeinv.begin_import('products');
\copy import_products FROM '/tmp/easeinv-demo-products.csv' WITH (FORMAT csv, HEADER)
SELECT kind, rows, applied, replayed, rejected, skipped, elapsed_ms FROM easeinv.apply_import('products');
SELECT easeinv.begin_import('opening_stock');
\copy import_opening_stock FROM '/tmp/easeinv-demo-opening.csv' WITH (FORMAT csv, HEADER)
SELECT kind, rows, applied, replayed, rejected, skipped, levels, elapsed_ms FROM easeinv.apply_import('opening_stock');
SELECT easeinv.begin_import('movements');
\copy import_movements FROM '/tmp/easeinv-demo-import.csv' WITH (FORMAT csv, HEADER)
SELECT kind, rows, applied, replayed, rejected, skipped, levels, elapsed_ms FROM easeinv.apply_import('movements');
COMMIT;
\echo '    ... a file with bad rows: every one reported with its row, column and reason; nothing applied'
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT easeinv.begin_import('products');
COPY import_products FROM STDIN (FORMAT csv, HEADER);
sku,name,hsn_code,unit,gst_rate,track_stock
DEMO-9001,"Copper wire, 2.5 mm",8544,MTR,18,yes
DEMO-1,Demo product 1 (renamed),0902,NOS,18,yes
DEMO-9002,Steel rod,72,KGS,17,yes
\.
SELECT * FROM easeinv.check_import('products');
SELECT easeinv.apply_import('products');
ROLLBACK;
\echo '    ... the same file again: nothing applied, every row a replay'
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT easeinv.begin_import('movements');
\copy import_movements FROM '/tmp/easeinv-demo-import.csv' WITH (FORMAT csv, HEADER)
SELECT kind, rows, applied, replayed, rejected, skipped, levels FROM easeinv.apply_import('movements');
SELECT location_id, on_hand FROM easeinv.stock_levels WHERE product_id = 1 ORDER BY location_id;
SELECT count(*) AS drift FROM easeinv.verify_stock();
COMMIT;
RESET ROLE;

\echo '== 0.6.0: what left the database: tenant 1''s outbox by type; a consumer claims 5 and acks them'
SET ROLE web;
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT type, count(*) AS events FROM easeinv.outbox GROUP BY type ORDER BY type;
SELECT easeinv.outbox_ack('demo-cache', array_agg(id)) AS acked,
       string_agg(type || ' ' || aggregate_type || ':' || aggregate_id, ', ' ORDER BY id) AS claimed
  FROM easeinv.outbox_claim('demo-cache', 5);
SELECT day, movements, reservations, invoices, payments, imports, import_rows, events FROM easeinv.tenant_usage;
COMMIT;
RESET ROLE;
