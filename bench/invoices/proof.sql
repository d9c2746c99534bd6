-- The proof that the comparator computes what easeinv computes (run.sh runs it after pool.sql and
-- before any workload; any difference raises, and the benchmark stops).
--   1. the pool: every 500-line invoice built both ways by the same statements: every computed
--      column of every line and the whole header (amounts, round-off, place of supply, intra-state)
--      equal; the first four (no round-off / round-off x intra- / inter-state) are shown;
--   2. as the application role, in one transaction rolled back at the end: the same changes to
--      invoice 2 in both systems (quantities, a discount amount instead of a percent, another
--      product so description, HSN and rate follow it, deleted lines, a line numbered by the
--      trigger), then equal again; a 3-line draft issued in both: same number, status, totals,
--      and the same stock movements posted in the same order (product order, which here is not
--      line order); draft 3 deleted in both: its lines go with it (the delete-lines triggers, no
--      foreign keys);
--   2b. as the superuser, rolled back: a product named only by a comparator line, and one named
--      only by an easeinv line, cannot be deleted (23503 from each system's products trigger);
--   3. gst_line: easeinv.gst_line (C) and cmp.gst_line (PL/pgSQL) give the same text for the 500
--      line_inputs and for inputs at the rounding edges.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- 1. the pool
CREATE TEMP VIEW header_diff AS
SELECT coalesce(e.id, c.id) AS id
  FROM easeinv.invoices e FULL JOIN cmp.invoices c USING (tenant_id, id)
 WHERE (e.subtotal, e.discount, e.taxable_value, e.cgst, e.sgst, e.igst, e.cess, e.round_off, e.grand_total,
        e.place_of_supply, e.intra_state, e.series, e.status, e.balance_due)
       IS DISTINCT FROM
       (c.subtotal, c.discount, c.taxable_value, c.cgst, c.sgst, c.igst, c.cess, c.round_off, c.grand_total,
        c.place_of_supply, c.intra_state, c.series, c.status, c.balance_due);
CREATE TEMP VIEW line_diff AS
SELECT tenant_id, invoice_id, line_no
  FROM easeinv.invoice_lines e FULL JOIN cmp.invoice_lines c USING (tenant_id, invoice_id, line_no)
 WHERE row(e.*)::text IS DISTINCT FROM row(c.*)::text;
GRANT SELECT ON header_diff, line_diff TO bench_app;

SELECT e.id AS invoice, e.tenant_id AS tenant,
       CASE WHEN e.intra_state THEN 'intra' ELSE 'inter' END AS supply,
       (SELECT count(*) FROM easeinv.invoice_lines l WHERE l.tenant_id = e.tenant_id AND l.invoice_id = e.id) AS lines,
       e.taxable_value, e.cgst + e.sgst + e.igst AS gst, e.cess, e.round_off,
       e.grand_total AS "easeinv grand_total", c.grand_total AS "cmp grand_total"
  FROM easeinv.invoices e JOIN cmp.invoices c USING (tenant_id, id)
 WHERE e.id <= 4 ORDER BY e.id;
SET client_min_messages = notice;
DO $$
DECLARE
    h bigint := (SELECT count(*) FROM header_diff);
    l bigint := (SELECT count(*) FROM line_diff);
    n bigint := (SELECT count(*) FROM easeinv.invoice_lines);
BEGIN
    IF h > 0 OR l > 0 OR n = 0 THEN
        RAISE EXCEPTION 'comparator differs from easeinv: % invoice headers, % of % lines', h, l, n;
    END IF;
    RAISE NOTICE 'pool: % invoices, % lines, every header and line equal in both systems',
        (SELECT count(*) FROM easeinv.invoices), n;
END
$$;
SET client_min_messages = warning;

-- 2. changes and an issue, as the application
SET ROLE bench_app;
BEGIN;
SELECT set_config('easeinv.tenant_id', '2', true) \gset
UPDATE easeinv.invoice_lines SET qty = qty + 1.5 WHERE tenant_id = 2 AND invoice_id = 2 AND line_no % 3 = 0;
UPDATE cmp.invoice_lines     SET qty = qty + 1.5 WHERE tenant_id = 2 AND invoice_id = 2 AND line_no % 3 = 0;
UPDATE easeinv.invoice_lines SET discount_percent = NULL, discount_amount = 2.25 WHERE tenant_id = 2 AND invoice_id = 2 AND line_no % 5 = 1;
UPDATE cmp.invoice_lines     SET discount_percent = NULL, discount_amount = 2.25 WHERE tenant_id = 2 AND invoice_id = 2 AND line_no % 5 = 1;
UPDATE easeinv.invoice_lines SET product_id = 1 + (line_no * 7) % 100 WHERE tenant_id = 2 AND invoice_id = 2 AND line_no % 23 = 0;
UPDATE cmp.invoice_lines     SET product_id = 1 + (line_no * 7) % 100 WHERE tenant_id = 2 AND invoice_id = 2 AND line_no % 23 = 0;
DELETE FROM easeinv.invoice_lines WHERE tenant_id = 2 AND invoice_id = 2 AND line_no % 50 = 7;
DELETE FROM cmp.invoice_lines     WHERE tenant_id = 2 AND invoice_id = 2 AND line_no % 50 = 7;
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price, cess_rate) VALUES (2, 6, 3.3333, 99.9999, 1.5);
INSERT INTO cmp.invoice_lines     (invoice_id, product_id, qty, unit_price, cess_rate) VALUES (2, 6, 3.3333, 99.9999, 1.5);

INSERT INTO easeinv.invoices (customer_id, location_id) VALUES (2, 1) RETURNING id AS e_inv \gset
INSERT INTO easeinv.invoice_lines (invoice_id, line_no, product_id, qty, unit_price)
VALUES (:e_inv, 1, 13, 2, 100.50), (:e_inv, 2, 11, 3, 250), (:e_inv, 3, 12, 1, 19.99);
INSERT INTO cmp.invoices (customer_id, location_id) VALUES (2, 1) RETURNING id AS c_inv \gset
INSERT INTO cmp.invoice_lines (invoice_id, line_no, product_id, qty, unit_price)
VALUES (:c_inv, 1, 13, 2, 100.50), (:c_inv, 2, 11, 3, 250), (:c_inv, 3, 12, 1, 19.99);
SELECT 'easeinv' AS system, number, fiscal_year, status, grand_total, balance_due, replayed FROM easeinv.issue_invoice(:e_inv)
UNION ALL
SELECT 'cmp', number, fiscal_year, status, grand_total, balance_due, replayed FROM cmp.issue_invoice(:c_inv);

CREATE TEMP TABLE issue_diff AS
SELECT * FROM (
    (SELECT number, fiscal_year, sequence_no, status, subtotal, taxable_value, cgst, sgst, igst, cess, round_off,
            grand_total, balance_due, issued_at IS NOT NULL AS issued FROM easeinv.invoices WHERE id = :e_inv
     EXCEPT
     SELECT number, fiscal_year, sequence_no, status, subtotal, taxable_value, cgst, sgst, igst, cess, round_off,
            grand_total, balance_due, issued_at IS NOT NULL FROM cmp.invoices WHERE id = :c_inv)
    UNION ALL
    (SELECT number, fiscal_year, sequence_no, status, subtotal, taxable_value, cgst, sgst, igst, cess, round_off,
            grand_total, balance_due, issued_at IS NOT NULL FROM cmp.invoices WHERE id = :c_inv
     EXCEPT
     SELECT number, fiscal_year, sequence_no, status, subtotal, taxable_value, cgst, sgst, igst, cess, round_off,
            grand_total, balance_due, issued_at IS NOT NULL FROM easeinv.invoices WHERE id = :e_inv)) d;
-- the movements of each issue with their posting order (easeinv posts in product order)
CREATE TEMP VIEW issue_movements AS
SELECT CASE WHEN idempotency_key LIKE 'easeinv:%' THEN 'easeinv' ELSE 'cmp' END AS system,
       row_number() OVER (PARTITION BY split_part(idempotency_key, ':', 1) ORDER BY id) AS posted,
       product_id, from_location_id, to_location_id, qty, reason, reference_type, reference_id,
       split_part(idempotency_key, ':', 5) AS line
  FROM easeinv.stock_movements
 WHERE idempotency_key LIKE 'easeinv:invoice:' || :e_inv || ':line:%'
    OR idempotency_key LIKE 'cmp:invoice:' || :c_inv || ':line:%';
CREATE TEMP TABLE movement_diff AS
SELECT * FROM (
    (SELECT posted, product_id, from_location_id, to_location_id, qty, reason, reference_type, reference_id, line
       FROM issue_movements WHERE system = 'easeinv'
     EXCEPT ALL
     SELECT posted, product_id, from_location_id, to_location_id, qty, reason, reference_type, reference_id, line
       FROM issue_movements WHERE system = 'cmp')
    UNION ALL
    (SELECT posted, product_id, from_location_id, to_location_id, qty, reason, reference_type, reference_id, line
       FROM issue_movements WHERE system = 'cmp'
     EXCEPT ALL
     SELECT posted, product_id, from_location_id, to_location_id, qty, reason, reference_type, reference_id, line
       FROM issue_movements WHERE system = 'easeinv')) d;
SELECT string_agg(product_id::text, ',' ORDER BY posted) AS posted_products FROM issue_movements
 WHERE system = 'easeinv' \gset
SELECT count(*) AS movements_per_system FROM easeinv.stock_movements
 WHERE idempotency_key LIKE 'easeinv:invoice:' || :e_inv || ':line:%' \gset
DO $$
DECLARE
    h bigint := (SELECT count(*) FROM header_diff WHERE id = 2);
    l bigint := (SELECT count(*) FROM line_diff WHERE invoice_id = 2);
    i bigint := (SELECT count(*) FROM issue_diff);
    m bigint := (SELECT count(*) FROM movement_diff);
BEGIN
    IF h > 0 OR l > 0 THEN
        RAISE EXCEPTION 'comparator differs from easeinv after the same changes: header %, % lines', h, l;
    END IF;
    IF i > 0 OR m > 0 THEN
        RAISE EXCEPTION 'comparator issues differently from easeinv: % header rows, % movements differ', i, m;
    END IF;
END
$$;
\echo changes to invoice 2 (updates, deletes, a numbered insert): equal; issue: equal, :movements_per_system movements each, products posted in the order :posted_products

-- a draft deleted in both: its 500 lines go with it
SELECT set_config('easeinv.tenant_id', '3', true) \gset
DELETE FROM easeinv.invoices WHERE tenant_id = 3 AND id = 3;
DELETE FROM cmp.invoices     WHERE tenant_id = 3 AND id = 3;
DO $$
DECLARE
    e bigint := (SELECT count(*) FROM easeinv.invoice_lines WHERE tenant_id = 3 AND invoice_id = 3);
    c bigint := (SELECT count(*) FROM cmp.invoice_lines WHERE tenant_id = 3 AND invoice_id = 3);
    h bigint := (SELECT count(*) FROM header_diff WHERE id = 3);
BEGIN
    IF e > 0 OR c > 0 OR h > 0 THEN
        RAISE EXCEPTION 'deleting draft 3 left lines: easeinv %, cmp % (headers differ: %)', e, c, h;
    END IF;
END
$$;
\echo draft 3 deleted in both: its lines deleted in both
ROLLBACK;
RESET ROLE;

-- 2b. products named by lines are not deleted (the superuser: the application role deletes no
-- products)
BEGIN;
SELECT set_config('easeinv.tenant_id', '2', true) \gset
INSERT INTO easeinv.products (tenant_id, id, sku, name, hsn_code, gst_rate)
VALUES (2, 100001, 'ONLY-CMP', 'On a comparator line', '1006', 18),
       (2, 100002, 'ONLY-EASEINV', 'On an easeinv line', '1006', 18);
INSERT INTO cmp.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (2, 100001, 1, 10);
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (2, 100002, 1, 10);
DO $$
DECLARE
    refused text := '';
    p bigint;
BEGIN
    FOREACH p IN ARRAY ARRAY[100001, 100002] LOOP
        BEGIN
            DELETE FROM easeinv.products WHERE tenant_id = 2 AND id = p;
        EXCEPTION WHEN foreign_key_violation THEN
            refused := refused || p || ' ';
        END;
    END LOOP;
    IF refused <> '100001 100002 ' THEN
        RAISE EXCEPTION 'products named by lines were deleted (refused: %)', refused;
    END IF;
END
$$;
ROLLBACK;
\echo a product named only by a cmp line, and one named only by an easeinv line: both refused deletion (23503)

-- 3. gst_line
DO $$
DECLARE
    d bigint;
BEGIN
    SELECT count(*) INTO d FROM (
        SELECT qty, unit_price, gst_rate, intra_state, discount_percent, discount_amount, cess_rate FROM public.line_inputs
        UNION ALL
        VALUES (0.0001::numeric, 0.0050::numeric, 0.25::numeric, true, NULL::numeric, NULL::numeric, NULL::numeric),
               (1, 0.005, 0.25, false, NULL, NULL, NULL),
               (1, 2, 0.25, true, NULL, NULL, NULL),
               (1, 2, 0.25, false, NULL, NULL, NULL),
               (3, 0.3333, 18, true, 33.3333, NULL, 0.0001),
               (7, 1.4285, 5, false, NULL, 9.99, 400),
               (99999999999, 99.9999, 28, true, 100, NULL, 12),
               (1, 0, 0, false, NULL, 0, 0),
               (2.5, 10.01, 3, true, 12.5, NULL, NULL),
               (0.5, 0.01, 40, true, NULL, NULL, 3.3333)) i(qty, unit_price, gst_rate, intra_state, dp, da, cess)
     WHERE easeinv.gst_line(qty, unit_price, gst_rate, intra_state, dp, da, cess)::text
           IS DISTINCT FROM cmp.gst_line(qty, unit_price, gst_rate, intra_state, dp, da, cess)::text;
    IF d > 0 THEN
        RAISE EXCEPTION 'cmp.gst_line differs from easeinv.gst_line on % inputs', d;
    END IF;
END
$$;
\echo gst_line: easeinv.gst_line and cmp.gst_line equal on the 500 line_inputs and 10 rounding-edge inputs
