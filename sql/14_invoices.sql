-- Invoices: lines and headers computed by the extension, worked examples checked by hand,
-- the header kept equal to the sum of its lines, and every refusal of a draft's inputs.
\set SHOW_CONTEXT never
-- a seller in Maharashtra (27), with stock, customers and a second tenant
\i test/fixtures/invoicing.sql
SET ROLE regress_web;

-- Example 1, within the state (place of supply 27 = the seller's): CGST + SGST at half the rate.
--   Widget  3 x 199.99 = 599.97 at 18%: CGST = SGST = 9% of 599.97 = 53.9973 -> 54.00; total 707.97
--   Rice    2.5 x 100  = 250.00 at 5%:  CGST = SGST = 2.5% = 6.25;                  total 262.50
--   Service 1 x 500 less 10% = 450.00 at 18%: CGST = SGST = 40.50;                  total 531.00
--   header: subtotal 1349.97, discount 50.00, taxable 1299.97, CGST 100.75, SGST 100.75, total 1501.47
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date) VALUES (:local, :wh, '2025-10-01')
    RETURNING id AS inv1, series, place_of_supply, intra_state, status \gset
SELECT :'series' AS series, :'place_of_supply' AS place_of_supply, :'intra_state' AS intra_state, :'status' AS status;
-- description, HSN and rate come from the product when not given; lines are numbered
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:inv1, :widget, 3, 199.99), (:inv1, :rice, 2.5, 100);
INSERT INTO easeinv.invoice_lines (invoice_id, description, hsn_sac, qty, unit_price, gst_rate, discount_percent)
    VALUES (:inv1, 'Installation', '998719', 1, 500, 18, 10);
SELECT line_no, description, hsn_sac, qty, unit_price, gst_rate, gross, discount, taxable_value, cgst, sgst, igst, cess, line_total
  FROM easeinv.invoice_lines WHERE invoice_id = :inv1 ORDER BY line_no;
SELECT subtotal, discount, taxable_value, cgst, sgst, igst, cess, round_off, grand_total, balance_due, status
  FROM easeinv.invoices WHERE id = :inv1;
COMMIT;

-- Example 2, the same lines across states (customer in Karnataka, 29): IGST at the full rate.
--   Widget IGST 18% of 599.97 = 107.9946 -> 107.99; Rice 12.50; Service 81.00; IGST 201.49, total 1501.46
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
UPDATE easeinv.invoices SET customer_id = :karnataka WHERE id = :inv1;
SELECT line_no, taxable_value, cgst, sgst, igst, line_total FROM easeinv.invoice_lines WHERE invoice_id = :inv1 ORDER BY line_no;
SELECT place_of_supply, intra_state, taxable_value, cgst, sgst, igst, round_off, grand_total FROM easeinv.invoices WHERE id = :inv1;
-- an SEZ unit is inter-state even in the seller's state; so is an export (96)
UPDATE easeinv.invoices SET customer_id = :sez WHERE id = :inv1;
SELECT place_of_supply, intra_state, cgst, igst, grand_total FROM easeinv.invoices WHERE id = :inv1;
UPDATE easeinv.invoices SET customer_id = :dubai WHERE id = :inv1;
SELECT place_of_supply, intra_state, cgst, igst, grand_total FROM easeinv.invoices WHERE id = :inv1;
-- the place of supply can be set apart from the billing state (goods delivered elsewhere)
UPDATE easeinv.invoices SET customer_id = :local, place_of_supply = '29' WHERE id = :inv1;
SELECT place_of_supply, intra_state, igst, grand_total FROM easeinv.invoices WHERE id = :inv1;
UPDATE easeinv.invoices SET place_of_supply = '27' WHERE id = :inv1;
SELECT place_of_supply, intra_state, cgst, sgst, grand_total FROM easeinv.invoices WHERE id = :inv1;
COMMIT;

-- Round-off of the grand total to the rupee (tenant setting), half away from zero.
RESET ROLE;
UPDATE easeinv.tenants SET settings = settings || '{"round_off": true}' WHERE id = :t;
\set VERBOSITY terse
UPDATE easeinv.tenants SET settings = settings || '{"round_off": "yes"}' WHERE id = :t;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
-- down: 1501.47 -> 1501.00, round_off -0.47 (the header follows the setting when next computed)
UPDATE easeinv.invoice_lines SET qty = qty WHERE invoice_id = :inv1;
SELECT grand_total, round_off FROM easeinv.invoices WHERE id = :inv1;
-- up: 1 x 95.72 at 5%: CGST = SGST = 2.5% of 95.72 = 2.393 -> 2.39; total 100.50 -> 101.00, +0.50
INSERT INTO easeinv.invoices (customer_id, invoice_date) VALUES (:local, '2025-10-01') RETURNING id AS inv2 \gset
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:inv2, 'Tea', 1, 95.72, 5);
SELECT cgst, sgst, round_off, grand_total FROM easeinv.invoices WHERE id = :inv2;
-- down at .49: 95.71 -> CGST 2.39275 -> 2.39; 100.49 -> 100.00, -0.49
UPDATE easeinv.invoice_lines SET unit_price = 95.71 WHERE invoice_id = :inv2;
SELECT cgst, sgst, round_off, grand_total FROM easeinv.invoices WHERE id = :inv2;
COMMIT;
RESET ROLE;
UPDATE easeinv.tenants SET settings = settings - 'round_off' WHERE id = :t;
SET ROLE regress_web;

-- Example 3: cess, discount by amount, 3-decimal quantities, a rate that ended.
--   Cigar 1 x 1000 at 28% with 12% cess: CGST = SGST = 140.00, cess 120.00, total 1400.00
--   Widget 2 x 250 less 100.00 = 400.00 at 12% on 2025-09-01: CGST = SGST = 24.00, total 448.00
--   Rice 1.255 x 80.40 = 100.902 -> 100.90 at 5%: CGST = SGST = 2.5225 -> 2.52, total 105.94
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date) VALUES (:local, :wh, '2025-09-01') RETURNING id AS inv3 \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price, cess_rate) VALUES (:inv3, :cigar, 1, 1000, 12);
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price, gst_rate, discount_amount) VALUES (:inv3, :widget, 2, 250, 12, 100);
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:inv3, :rice, 1.255, 80.40);
SELECT line_no, description, qty, gst_rate, cess_rate, gross, discount, taxable_value, cgst, sgst, cess, line_total
  FROM easeinv.invoice_lines WHERE invoice_id = :inv3 ORDER BY line_no;
SELECT subtotal, discount, taxable_value, cgst, sgst, igst, cess, grand_total FROM easeinv.invoices WHERE id = :inv3;
-- 12% ended on 2025-09-21: moving the draft past that date refuses, and nothing changes
SAVEPOINT s;
UPDATE easeinv.invoices SET invoice_date = '2025-09-22' WHERE id = :inv3;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- a 40% line is refused before 2025-09-22, accepted from then on
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:inv3, 'Yacht', 1, 100, 40);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT invoice_date, grand_total FROM easeinv.invoices WHERE id = :inv3;
COMMIT;

-- The header is the sum of its lines after multi-row updates and deletes, in the same statement.
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
UPDATE easeinv.invoice_lines SET qty = qty * 2 WHERE invoice_id IN (:inv1, :inv3) AND line_no <= 2;
SELECT i.id = :inv1 AS first, i.grand_total, sum(l.line_total) AS sum_of_lines
  FROM easeinv.invoices i JOIN easeinv.invoice_lines l ON l.tenant_id = i.tenant_id AND l.invoice_id = i.id
 WHERE i.id IN (:inv1, :inv3) GROUP BY i.id, i.grand_total ORDER BY i.id;
DELETE FROM easeinv.invoice_lines WHERE invoice_id IN (:inv1, :inv3) AND line_no = 1;
SELECT i.id = :inv1 AS first, i.subtotal, i.grand_total, sum(l.line_total) AS sum_of_lines
  FROM easeinv.invoices i JOIN easeinv.invoice_lines l ON l.tenant_id = i.tenant_id AND l.invoice_id = i.id
 WHERE i.id IN (:inv1, :inv3) GROUP BY i.id, i.subtotal, i.grand_total ORDER BY i.id;
DELETE FROM easeinv.invoice_lines WHERE invoice_id = :inv3;
SELECT subtotal, cgst, sgst, cess, grand_total FROM easeinv.invoices WHERE id = :inv3;
ROLLBACK;

-- A 500-line invoice: line i is i x 1.99 at 18% within the state.  Every line's tax is its taxable
-- value times its rate, to the paisa; the header is the sum of the rounded lines.  Checked against
-- the same arithmetic written out in SQL (sum of gross = 1.99 x 125250 = 249247.50).
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
INSERT INTO easeinv.invoices (customer_id, invoice_date) VALUES (:local, '2025-10-01') RETURNING id AS big \gset
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate)
    SELECT :big, 'Item ' || i, i, 1.99, 18 FROM generate_series(1, 500) i;
SELECT count(*) AS lines, sum(gross) AS gross, sum(cgst) AS cgst, sum(line_total) AS total
  FROM easeinv.invoice_lines WHERE invoice_id = :big;
SELECT subtotal, taxable_value, cgst, sgst, igst, grand_total FROM easeinv.invoices WHERE id = :big;
SELECT count(*) AS lines_off FROM easeinv.invoice_lines
 WHERE invoice_id = :big AND (cgst <> round(taxable_value * 0.09, 2) OR sgst <> cgst OR line_total <> taxable_value + 2 * cgst);
SELECT i.grand_total = (SELECT sum(round(round(g * 1.99, 2) * 9 / 100, 2) * 2 + round(g * 1.99, 2))
                          FROM generate_series(1, 500) g) AS header_matches
  FROM easeinv.invoices i WHERE i.id = :big;
-- across states, each line's IGST is 18% of its taxable value
UPDATE easeinv.invoices SET customer_id = :karnataka WHERE id = :big;
SELECT count(*) AS lines_off FROM easeinv.invoice_lines
 WHERE invoice_id = :big AND (igst <> round(taxable_value * 0.18, 2) OR cgst <> 0 OR line_total <> taxable_value + igst);
SELECT subtotal, cgst, igst, grand_total, grand_total = subtotal + igst AS sums FROM easeinv.invoices WHERE id = :big;
COMMIT;

-- Refusals of a draft's inputs, each with its SQLSTATE; nothing is half-written.
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
INSERT INTO easeinv.invoices (customer_id, invoice_date) VALUES (:local, '2025-10-01') RETURNING id AS d \gset
SAVEPOINT s;
-- the line's inputs
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:d, 'x', 0, 1, 18);
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:d, 'x', -1, 1, 18);
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:d, 'x', 1, -1, 18);
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:d, 'x', 1, 1, 17);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate, discount_percent, discount_amount)
    VALUES (:d, 'x', 1, 100, 18, 5, 5);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate, discount_amount) VALUES (:d, 'x', 1, 100, 18, 100.01);
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate, discount_percent) VALUES (:d, 'x', 1, 100, 18, 101);
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate, cess_rate) VALUES (:d, 'x', 1, 100, 18, -1);
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:d, 'x', 10000000, 1000000, 18);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- two lines each below the limit whose header overflows: an error, never a wrong total
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate)
    VALUES (:d, 'x', 1, 6000000000000, 0), (:d, 'y', 1, 6000000000000, 0);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, qty, unit_price, gst_rate) VALUES (:d, 1, 1, 18);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price) VALUES (:d, 'x', 1, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, description, hsn_sac, qty, unit_price, gst_rate) VALUES (:d, 'x', '12', 1, 1, 18);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (NULL, 'x', 1, 1, 18);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (-1, 'x', 1, 1, 18);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- a product that is deleted, or another tenant's
UPDATE easeinv.products SET deleted_at = now() WHERE id = :plan;
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:d, :plan, 1, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- a line stays on its invoice
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:d, 'x', 1, 1, 18);
UPDATE easeinv.invoice_lines SET invoice_id = :inv1 WHERE invoice_id = :d;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- the invoice's inputs
INSERT INTO easeinv.invoices (customer_id) VALUES (-5);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoices (place_of_supply) VALUES ('45');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoices (series) VALUES ('NOPE');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoices (series) VALUES ('CN');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoices (kind) VALUES ('credit_note');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoices (original_invoice_id) VALUES (:inv1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoices (kind, original_invoice_id) VALUES ('credit_note', :inv1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- a walk-in consumer: no customer, supplied in the seller's state
INSERT INTO easeinv.invoices (invoice_date) VALUES ('2025-10-01') RETURNING series, place_of_supply, intra_state, status;
ROLLBACK TO s;
-- computed columns are not the application's to write
INSERT INTO easeinv.invoices (customer_id, grand_total) VALUES (:local, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
UPDATE easeinv.invoices SET grand_total = 1 WHERE id = :d;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
UPDATE easeinv.invoices SET kind = 'credit_note' WHERE id = :d;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
UPDATE easeinv.invoice_lines SET line_total = 1 WHERE invoice_id = :inv1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SET ROLE regress_web;
-- a draft is deleted with its lines
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:d, 'x', 1, 1, 18);
DELETE FROM easeinv.invoices WHERE id = :d;
SELECT count(*) AS lines_left FROM easeinv.invoice_lines WHERE invoice_id = :d;
COMMIT;

-- whatever a privileged role writes into computed columns is computed again or refused
RESET ROLE;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SAVEPOINT s;
INSERT INTO easeinv.invoices (tenant_id, customer_id, status, number) VALUES (:t, :local, 'issued', 'FAKE/1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.invoices (tenant_id, customer_id, grand_total) VALUES (:t, :local, 5);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
UPDATE easeinv.invoices SET cgst = 0, grand_total = 0 WHERE id = :inv1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
UPDATE easeinv.invoice_lines SET invoice_id = :inv2 WHERE invoice_id = :inv1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
UPDATE easeinv.invoice_lines SET cgst = 0, line_total = 0 WHERE invoice_id = :inv1 AND line_no = 2
    RETURNING line_no, cgst, line_total;
ROLLBACK;
SET ROLE regress_web;

-- Tenant isolation: the other tenant sees none of it and cannot add a line to it.
BEGIN;
SELECT easeinv.set_tenant(:t2) IS NOT NULL AS ok;
SELECT count(*) AS invoices, (SELECT count(*) FROM easeinv.invoice_lines) AS lines FROM easeinv.invoices;
INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate) VALUES (:inv1, 'x', 1, 1, 18);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- and no context means no rows and no writes
SELECT count(*) FROM easeinv.invoices;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO easeinv.invoices (invoice_date) VALUES ('2025-10-01');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
