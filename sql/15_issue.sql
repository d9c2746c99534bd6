-- Issuing: gapless numbers per series and financial year, formats the e-invoice portal accepts,
-- freezing, stock posted once, cancellation and credit notes.  Starts where
-- 14_invoices ends (test/fixtures/drafts.sql).
\set SHOW_CONTEXT never
\i test/fixtures/drafts.sql
SET ROLE regress_web;

-- Number formats: at most 16 characters of letters, digits, / and -, not starting with 0, / or -
SELECT easeinv.invoice_number('INV/{FY}/{N:6}', '2025-10-01', 42) AS fy_short,
       easeinv.invoice_number('{FYYY}/{N}', '2026-03-31', 7) AS fy_long,
       easeinv.invoice_number('S{YY}-{N:4}', '2026-04-01', 7) AS next_year,
       easeinv.invoice_number('B2B{N}', '2025-10-01', 123456789012) AS plain;
SELECT easeinv.invoice_number('INV/{FY}/{N:7}', '2025-10-01', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.invoice_number('{N:6}', '2025-10-01', 1);
SELECT easeinv.invoice_number('-{N}', '2025-10-01', 1);
SELECT easeinv.invoice_number('INV {N}', '2025-10-01', 1);
SELECT easeinv.invoice_number('INV/{FY}', '2025-10-01', 1);
SELECT easeinv.invoice_number('INV/{N}/{N}', '2025-10-01', 1);
SELECT easeinv.invoice_number('INV/{XX}/{N}', '2025-10-01', 1);
SELECT easeinv.invoice_number('INV/{N', '2025-10-01', 1);
SELECT easeinv.invoice_number('INV/{N:0}', '2025-10-01', 1);
SELECT easeinv.invoice_number('INV/{N}', '2025-10-01', 0);
-- a series with a bad format is refused where it is written
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
INSERT INTO easeinv.invoice_series (code, format) VALUES ('LONG', 'LONGPREFIX/{FY}/{N:6}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- Issue: the next number of the series for the financial year, the invoice frozen, stock posted.
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT invoice_id = :inv1 AS same, kind, number, fiscal_year, invoice_date, status, grand_total, balance_due, replayed
  FROM easeinv.issue_invoice(:inv1);
-- a retry is a no-op that returns the same number
SELECT number, status, replayed FROM easeinv.issue_invoice(:inv1);
SELECT m.product_id = :widget AS widget, m.from_location_id = :wh AS from_wh, m.to_location_id = :cust AS to_customers,
       m.qty, m.reason, reference_type, reference_id, m.idempotency_key = 'easeinv:invoice:' || :inv1 || ':line:' || l.line_no AS key_derived
  FROM easeinv.stock_movements m
  JOIN easeinv.invoice_lines l ON l.invoice_id = :inv1 AND m.idempotency_key = 'easeinv:invoice:' || :inv1 || ':line:' || l.line_no
 ORDER BY l.line_no;
SELECT count(*) AS movements FROM easeinv.stock_movements WHERE reference_type = 'invoice';
SELECT last_number, fiscal_year FROM easeinv.invoice_counters WHERE series = 'INV';
-- frozen: nothing about it or its lines changes, it is not deleted
SAVEPOINT s;
UPDATE easeinv.invoices SET notes = 'late note' WHERE id = :inv1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
DELETE FROM easeinv.invoices WHERE id = :inv1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
UPDATE easeinv.invoice_lines SET qty = 1 WHERE invoice_id = :inv1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:inv1, 'x', 1, 1, 18);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
DELETE FROM easeinv.invoice_lines WHERE invoice_id = :inv1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
COMMIT;
-- not even a superuser changes an issued invoice
RESET ROLE;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
UPDATE easeinv.invoices SET grand_total = 0 WHERE id = :inv1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
UPDATE easeinv.invoice_lines SET unit_price = 0 WHERE invoice_id = :inv1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SET ROLE regress_web;

-- Numbers are consecutive; a refused issue (not enough stock) takes none; a new financial year
-- (from April) starts again at 1.
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date) VALUES (:local, :wh, '2025-11-15') RETURNING id AS a \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:a, :widget, 1, 100);
INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date) VALUES (:local, :wh, '2025-12-01') RETURNING id AS toomuch \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:toomuch, :widget, 5000, 100);
INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date) VALUES (:local, :wh, '2026-03-31') RETURNING id AS b \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:b, :plan, 1, 1000);
INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date) VALUES (:local, :wh, '2026-04-01') RETURNING id AS c \gset
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:c, 'Service', 1, 10, 18);
SELECT number, fiscal_year FROM easeinv.issue_invoice(:a);
SAVEPOINT s;
SELECT number FROM easeinv.issue_invoice(:toomuch);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT number, fiscal_year FROM easeinv.issue_invoice(:b);
SELECT number, fiscal_year FROM easeinv.issue_invoice(:c);
SELECT series, fiscal_year, last_number FROM easeinv.invoice_counters ORDER BY series, fiscal_year;
-- a line of an untracked product (the support plan) or a service posts no stock
SELECT count(*) AS movements_of_b FROM easeinv.stock_movements WHERE reference_id = (SELECT number FROM easeinv.invoices WHERE id = :b);
COMMIT;

-- Refusals of issue_invoice
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SAVEPOINT s;
SELECT easeinv.issue_invoice(NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.issue_invoice(-1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoices (customer_id, invoice_date) VALUES (:local, '2025-10-01') RETURNING id AS empty \gset
SELECT easeinv.issue_invoice(:empty);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- stocked lines need the location they ship from
INSERT INTO easeinv.invoices (customer_id, invoice_date) VALUES (:local, '2025-10-01') RETURNING id AS noloc \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:noloc, :widget, 1, 100);
SELECT easeinv.issue_invoice(:noloc);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- a series whose numbers outgrow 16 characters stops, with a clear error and no number taken
INSERT INTO easeinv.invoice_series (code, format) VALUES ('WIDE', 'WIDE/{FY}/{N:5}');
INSERT INTO easeinv.invoices (series, customer_id, invoice_date) VALUES ('WIDE', :local, '2025-10-01') RETURNING id AS w \gset
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:w, 'x', 1, 1, 18);
SELECT number FROM easeinv.issue_invoice(:w);
RESET ROLE;
UPDATE easeinv.invoice_counters SET last_number = 999999 WHERE series = 'WIDE';
SET ROLE regress_web;
INSERT INTO easeinv.invoices (series, customer_id, invoice_date) VALUES ('WIDE', :local, '2025-10-01') RETURNING id AS w2 \gset
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:w2, 'x', 1, 1, 18);
SELECT number FROM easeinv.issue_invoice(:w2);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- another tenant's invoice does not exist here
SELECT easeinv.set_tenant(:t2) IS NOT NULL AS ok;
SELECT easeinv.issue_invoice(:a);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- no context: refused
SELECT easeinv.issue_invoice(:a);
\echo :LAST_ERROR_SQLSTATE

-- a rate that ended after the line was written refuses the issue; nothing is numbered
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
INSERT INTO easeinv.invoices (customer_id, invoice_date) VALUES (:local, '2025-10-01') RETURNING id AS gold \gset
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:gold, 'Gold coin', 1, 7000, 3);
RESET ROLE;
UPDATE easeinv.gst_rates SET valid_to = '2025-09-30' WHERE rate = 3;
SET ROLE regress_web;
SELECT easeinv.issue_invoice(:gold);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- a product named on invoice lines is not deleted (soft-delete it)
RESET ROLE;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
DELETE FROM easeinv.products WHERE id = :plan;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SET ROLE regress_web;

-- Credit notes: their own series, supplied as their invoice was, they return goods and reduce
-- what is owed.  Invoice a: 1 widget at 100, 18% within the state = 118.00.
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
INSERT INTO easeinv.invoices (kind, original_invoice_id, invoice_date) VALUES ('credit_note', :a, '2025-12-10')
    RETURNING id AS cn, series, place_of_supply, intra_state \gset
SELECT :'series' AS series, :'place_of_supply' AS place_of_supply, :'intra_state' AS intra_state;
-- the rate is checked on the invoice's date; one widget comes back
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:cn, :widget, 1, 100);
SELECT grand_total FROM easeinv.invoices WHERE id = :cn;
SELECT on_hand AS warehouse_before FROM easeinv.stock_levels WHERE product_id = :widget AND location_id = :wh;
SELECT kind, number, fiscal_year, status, grand_total, balance_due, replayed FROM easeinv.issue_invoice(:cn);
SELECT on_hand AS warehouse_after FROM easeinv.stock_levels WHERE product_id = :widget AND location_id = :wh;
SELECT status, grand_total, amount_credited, balance_due FROM easeinv.invoices WHERE id = :a;
-- credit no more than the invoice's uncredited total
INSERT INTO easeinv.invoices (kind, original_invoice_id) VALUES ('credit_note', :a) RETURNING id AS cn2 \gset
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:cn2, 'Price adjustment', 1, 0.01, 18);
SAVEPOINT s;
SELECT easeinv.issue_invoice(:cn2);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- an invoice with an issued credit note is not cancelled
SELECT easeinv.cancel_invoice(:a, 'wrong customer');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- cancelling the credit note gives the credit back and takes the goods out again
SELECT number, status, replayed FROM easeinv.cancel_invoice(:cn, 'issued by mistake');
SELECT status, amount_credited, balance_due FROM easeinv.invoices WHERE id = :a;
SELECT on_hand AS warehouse_again FROM easeinv.stock_levels WHERE product_id = :widget AND location_id = :wh;
DELETE FROM easeinv.invoices WHERE id = :cn2;
COMMIT;

-- Cancelling: keeps the number, reverses the stock once, and the invoice takes no more changes.
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT on_hand AS widgets_at_customers FROM easeinv.stock_levels WHERE product_id = :widget AND location_id = :cust;
SELECT number, status, grand_total, balance_due, replayed FROM easeinv.cancel_invoice(:a, 'wrong customer');
SELECT number, status, replayed FROM easeinv.cancel_invoice(:a, 'wrong customer');
SELECT number, status, cancel_reason, cancelled_at IS NOT NULL AS stamped FROM easeinv.invoices WHERE id = :a;
SELECT on_hand AS widgets_at_customers FROM easeinv.stock_levels WHERE product_id = :widget AND location_id = :cust;
SELECT count(*) AS reversals FROM easeinv.stock_movements WHERE idempotency_key LIKE 'easeinv:cancel:' || :a || ':%';
SAVEPOINT s;
SELECT easeinv.issue_invoice(:a);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.cancel_invoice(:a, NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoices (customer_id) VALUES (:local) RETURNING id AS d \gset
SELECT easeinv.cancel_invoice(:d, 'never issued');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoices (kind, original_invoice_id) VALUES ('credit_note', :a);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- the numbers stay: the next invoice of the year is the one after
SELECT number FROM easeinv.invoices WHERE status <> 'draft' AND kind = 'invoice' ORDER BY fiscal_year, sequence_no;
SELECT * FROM easeinv.verify_stock();
COMMIT;
RESET ROLE;

-- Found by review: what a stocked invoice may move, what a credit note may return, and who may call.
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SAVEPOINT s;
-- goods ship from stock to a customer, not the other way round
INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date) VALUES (:local, :cust, '2025-10-01') RETURNING id AS backwards \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:backwards, :widget, 1, 100);
SELECT easeinv.issue_invoice(:backwards);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoices (customer_id, location_id, customer_location_id, invoice_date)
    VALUES (:local, :wh, :wh, '2025-10-01') RETURNING id AS self \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:self, :widget, 1, 100);
SELECT easeinv.issue_invoice(:self);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- a credit note returns at most what its invoice sold (invoice b sold no widgets; inv1 sold 3)
INSERT INTO easeinv.invoices (kind, original_invoice_id) VALUES ('credit_note', :inv1) RETURNING id AS cn3 \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:cn3, :widget, 4, 0);
SELECT easeinv.issue_invoice(:cn3);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoices (kind, original_invoice_id, invoice_date) VALUES ('credit_note', :inv1, '2025-12-15') RETURNING id AS cn4 \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:cn4, :widget, 2, 199.99);
SELECT number, grand_total FROM easeinv.issue_invoice(:cn4);
INSERT INTO easeinv.invoices (kind, original_invoice_id) VALUES ('credit_note', :inv1) RETURNING id AS cn5 \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:cn5, :widget, 1.5, 0);
SELECT easeinv.issue_invoice(:cn5);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- dates GST never had
INSERT INTO easeinv.invoices (customer_id, invoice_date) VALUES (:local, 'infinity');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoices (customer_id, invoice_date) VALUES (:local, '2017-06-30');
ROLLBACK TO s;
-- two series that give the same numbers: the second is told, with the series named
INSERT INTO easeinv.invoice_series (code, format) VALUES ('TWIN', 'INV/{FY}/{N:6}');
INSERT INTO easeinv.invoices (series, customer_id, invoice_date) VALUES ('TWIN', :local, '2025-10-01') RETURNING id AS twin \gset
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:twin, 'x', 1, 1, 18);
SELECT easeinv.issue_invoice(:twin);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- the extension's own keys cannot be taken first
SELECT easeinv.move_stock('easeinv:invoice:999:line:1', :widget, :wh, :cust, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- a role outside easeinv_app calls none of the writing functions, whatever context it sets
RESET ROLE;
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_outsider') THEN CREATE ROLE regress_outsider; END IF; END $$;
SET ROLE regress_outsider;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT easeinv.issue_invoice(:inv1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT easeinv.record_payment('x', :inv1, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT easeinv.move_stock('x', :widget, :wh, :cust, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- nor attaches the invoice triggers to a table of its own
CREATE TEMP TABLE my_lines (tenant_id bigint, invoice_id bigint);
CREATE TRIGGER t BEFORE INSERT ON my_lines FOR EACH ROW EXECUTE FUNCTION easeinv.invoice_line_compute();
\echo :LAST_ERROR_SQLSTATE
-- and a superuser who does finds it fires only on the extension's table
RESET ROLE;
CREATE TEMP TABLE su_lines (LIKE easeinv.invoice_lines);
CREATE TRIGGER t BEFORE INSERT ON su_lines FOR EACH ROW EXECUTE FUNCTION easeinv.invoice_line_compute();
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
INSERT INTO su_lines (tenant_id, invoice_id, line_no, description, qty, unit_price, gst_rate) VALUES (:t, :inv1, 1, 'x', 1, 1, 18);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
DROP TABLE su_lines;
DROP TABLE my_lines;
DROP ROLE regress_outsider;
