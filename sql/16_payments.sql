-- Payments: idempotent like move_stock, never more than the balance due, status unpaid (issued)
-- -> partially_paid -> paid, refunds, append-only.  Starts where 15_issue
-- ends (test/fixtures/issued.sql).
\set SHOW_CONTEXT never
\i test/fixtures/issued.sql
SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
-- an invoice of 1180.00: 10 x 100 at 18% within the state
INSERT INTO easeinv.invoices (customer_id, invoice_date) VALUES (:local, '2025-10-05') RETURNING id AS inv \gset
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:inv, 'Consulting', 10, 100, 18);
SAVEPOINT s;
-- a draft takes no payment
\set VERBOSITY sqlstate
SELECT easeinv.record_payment('early', :inv, 10);
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT number, grand_total, balance_due, status FROM easeinv.issue_invoice(:inv);
COMMIT;

BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT idempotency_key, kind, amount, method, reference, paid_at, created_by, replayed
  FROM easeinv.record_payment('upi-1', :inv, 500, 'upi', '2025-10-06 10:00+05:30', 'UTR 5123');
SELECT status, amount_paid, balance_due FROM easeinv.invoices WHERE id = :inv;
-- the retry returns the first payment and counts nothing twice
SELECT idempotency_key, amount, replayed FROM easeinv.record_payment('upi-1', :inv, 500, 'upi', '2025-10-06 10:00+05:30', 'UTR 5123');
-- paid_at defaults to the first call's time: a retry without it is the same payment
SELECT idempotency_key, amount, replayed FROM easeinv.record_payment('upi-1', :inv, 500.00, 'upi', NULL, 'UTR 5123');
SELECT status, amount_paid, balance_due FROM easeinv.invoices WHERE id = :inv;
SAVEPOINT s;
-- the same key with another payload is refused, naming what differs
SELECT easeinv.record_payment('upi-1', :inv, 600, 'cash', '2025-10-07', 'UTR 5123');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- more than the balance due is refused
SELECT easeinv.record_payment('cash-1', :inv, 680.01, 'cash');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- bad arguments
SELECT easeinv.record_payment(NULL, :inv, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.record_payment('', :inv, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.record_payment('k', NULL, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.record_payment('k', :inv, NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.record_payment('k', :inv, 0);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.record_payment('k', :inv, -5);
ROLLBACK TO s;
SELECT easeinv.record_payment('k', :inv, 1.005);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.record_payment('k', :inv, 'NaN');
ROLLBACK TO s;
SELECT easeinv.record_payment('k', :inv, 1, 'barter');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.record_payment('k', :inv, 1, NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.record_payment('k', :inv, 1, 'cash', 'infinity');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.record_payment('k', -1, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- the rest pays it off
SELECT amount, replayed FROM easeinv.record_payment('cash-1', :inv, 680, 'cash');
SELECT status, amount_paid, balance_due FROM easeinv.invoices WHERE id = :inv;
SAVEPOINT s;
SELECT easeinv.record_payment('cash-2', :inv, 0.01);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
COMMIT;

-- Refunds: all or part of what is left of a payment, idempotently; the status follows.
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT id AS upi FROM easeinv.payments WHERE idempotency_key = 'upi-1' \gset
SELECT kind, amount, method, refunds_id = :upi AS of_upi, replayed FROM easeinv.refund_payment('refund-1', :upi, 200, 'returned goods');
SELECT status, amount_paid, balance_due FROM easeinv.invoices WHERE id = :inv;
SELECT amount, replayed FROM easeinv.refund_payment('refund-1', :upi, 200, 'returned goods');
SAVEPOINT s;
SELECT easeinv.refund_payment('refund-1', :upi, 250, 'returned goods');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.refund_payment('refund-2', :upi, 300.01);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT id AS refund FROM easeinv.payments WHERE idempotency_key = 'refund-1' \gset
SELECT easeinv.refund_payment('refund-2', :refund);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- without an amount, all that is left of the payment
SELECT kind, amount, replayed FROM easeinv.refund_payment('refund-2', :upi);
SELECT amount, replayed FROM easeinv.refund_payment('refund-2', :upi);
SAVEPOINT s;
SELECT easeinv.refund_payment('refund-3', :upi);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT status, amount_paid, balance_due FROM easeinv.invoices WHERE id = :inv;
-- the invoice sums its payments and refunds
SELECT sum(CASE kind WHEN 'payment' THEN amount ELSE -amount END) AS net FROM easeinv.payments WHERE invoice_id = :inv;
COMMIT;

-- Cancelling needs the payments refunded first; a cancelled invoice takes no payment.
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SAVEPOINT s;
SELECT easeinv.cancel_invoice(:inv, 'customer returned everything');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT id AS cash FROM easeinv.payments WHERE idempotency_key = 'cash-1' \gset
SELECT amount FROM easeinv.refund_payment('refund-cash', :cash);
SELECT status, amount_paid FROM easeinv.invoices WHERE id = :inv;
SELECT number, status, balance_due FROM easeinv.cancel_invoice(:inv, 'customer returned everything');
SAVEPOINT s;
SELECT easeinv.record_payment('late', :inv, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- a credit note takes no payment
SELECT id AS cn FROM easeinv.invoices WHERE kind = 'credit_note' AND status = 'cancelled' LIMIT 1 \gset
SELECT easeinv.record_payment('cn', :cn, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
COMMIT;

-- Payments are append-only, for everyone; the application writes them only through the functions.
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SAVEPOINT s;
INSERT INTO easeinv.payments (idempotency_key, kind, invoice_id, amount, method, paid_at, created_by)
    VALUES ('direct', 'payment', :inv, 1, 'cash', now(), 'me');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
UPDATE easeinv.payments SET amount = 1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET ROLE;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SAVEPOINT s;
UPDATE easeinv.payments SET amount = 1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
DELETE FROM easeinv.payments;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SET ROLE regress_web;

-- Tenant isolation: another tenant neither sees nor pays this invoice, nor replays its keys.
BEGIN;
SELECT easeinv.set_tenant(:t2) IS NOT NULL AS ok;
SELECT count(*) AS payments FROM easeinv.payments;
SAVEPOINT s;
\set VERBOSITY sqlstate
SELECT easeinv.record_payment('upi-1', :inv, 500, 'upi', '2025-10-06 10:00+05:30', 'UTR 5123');
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.refund_payment('r', :upi);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT easeinv.record_payment('nocontext', :inv, 1);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
