-- One SQLSTATE for each kind of refusal (README, "Errors"): a row that does not exist, or is
-- another tenant's (the two look the same), is 22023; a row in the wrong state for the call
-- (deleted, cancelled, a draft, fully consumed or refunded) is 55000.
\set SHOW_CONTEXT never
\set VERBOSITY terse
\i test/fixtures/base.sql
SET client_min_messages = warning;
SELECT id AS t FROM easeinv.create_tenant('codes-co', 'Codes Co', '27') \gset
SELECT id AS t2 FROM easeinv.create_tenant('codes-other', 'Other Co', '27') \gset
SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(:t2) IS NOT NULL AS ok;
INSERT INTO easeinv.locations (code, name, kind) VALUES ('WH', 'Theirs', 'warehouse') RETURNING id AS their_wh \gset
INSERT INTO easeinv.products (sku, name, hsn_code, gst_rate) VALUES ('T', 'Theirs', '8471', 18) RETURNING id AS their_p \gset
COMMIT;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
INSERT INTO easeinv.locations (code, name, kind) VALUES ('WH', 'Warehouse', 'warehouse') RETURNING id AS wh \gset
INSERT INTO easeinv.locations (code, name, kind) VALUES ('OLD', 'Closed', 'warehouse') RETURNING id AS old \gset
INSERT INTO easeinv.locations (code, name, kind) VALUES ('CUST', 'Customers', 'customer') RETURNING id AS cust \gset
INSERT INTO easeinv.locations (code, name, kind) VALUES ('SUP', 'Suppliers', 'supplier') RETURNING id AS sup \gset
INSERT INTO easeinv.products (sku, name, hsn_code, gst_rate) VALUES ('W', 'Widget', '8471', 18) RETURNING id AS w \gset
INSERT INTO easeinv.products (sku, name, hsn_code, gst_rate) VALUES ('D', 'Dropped', '8471', 18) RETURNING id AS d \gset
INSERT INTO easeinv.customers (name, state_code) VALUES ('Pune shop', '27') RETURNING id AS local \gset
INSERT INTO easeinv.customers (name, state_code) VALUES ('Closed shop', '27') RETURNING id AS closed \gset
UPDATE easeinv.customers SET deleted_at = now() WHERE id = :closed;
SELECT (easeinv.move_stock('in', :w, :sup, :wh, 100)).replayed;
UPDATE easeinv.products SET deleted_at = now() WHERE id = :d;
UPDATE easeinv.locations SET deleted_at = now() WHERE id = :old;
SELECT (easeinv.reserve_stock('r1', :w, :wh, 5)).id AS r1 \gset
SELECT (easeinv.consume_reservation('c1', :r1, :cust)).replayed;
SELECT (easeinv.reserve_stock('r2', :w, :wh, 5)).id AS r2 \gset
SELECT (easeinv.release_reservation('rel2', :r2)).status;
INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date) VALUES (:local, :wh, '2025-10-01') RETURNING id AS draft \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:draft, :w, 1, 100);
INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date) VALUES (:local, :wh, '2025-10-01') RETURNING id AS gone \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:gone, :w, 1, 100);
SELECT (easeinv.issue_invoice(:gone)).status;
SELECT (easeinv.record_payment('p1', :gone, 118)).id AS p1 \gset
SELECT (easeinv.refund_payment('rf1', :p1)).amount;
SELECT (easeinv.cancel_invoice(:gone, 'test')).status;
COMMIT;

BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SAVEPOINT s;
-- 22023: not found, or not yours
SELECT easeinv.move_stock('x', 999999, :sup, :wh, 1);
\echo product missing :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.move_stock('x', :their_p, :sup, :wh, 1);
\echo product of another tenant :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.move_stock('x', :w, :sup, :their_wh, 1);
\echo location of another tenant :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.reverse_movement('x', 999999);
\echo movement missing :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.release_reservation('x', 999999);
\echo reservation missing :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.issue_invoice(999999);
\echo invoice missing :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.record_payment('x', 999999, 1);
\echo invoice missing, payment :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.refund_payment('x', 999999);
\echo payment missing :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- 55000: wrong state
SELECT easeinv.move_stock('x', :d, :sup, :wh, 1);
\echo product deleted :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.move_stock('x', :w, :sup, :old, 1);
\echo location deleted :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.reserve_stock('x', :d, :wh, 1);
\echo reserve a deleted product :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:draft, :d, 1, 100);
\echo invoice a deleted product :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:draft, :their_p, 1, 100);
\echo invoice a product of another tenant :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoices (customer_id, location_id) VALUES (:closed, :wh);
\echo bill a deleted customer :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoices (customer_id, location_id) VALUES (999999, :wh);
\echo bill a customer that does not exist :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.release_reservation('x', :r1);
\echo release a consumed reservation :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.consume_reservation('x', :r2, :cust);
\echo consume a released reservation :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.consume_reservation('x', :r1, :cust);
\echo consume a consumed reservation :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.cancel_invoice(:draft, 'x');
\echo cancel a draft :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.issue_invoice(:gone);
\echo issue a cancelled invoice :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.record_payment('x', :draft, 1);
\echo pay a draft :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.refund_payment('x', :p1);
\echo refund a refunded payment :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
ROLLBACK;
RESET ROLE;
RESET client_min_messages;
