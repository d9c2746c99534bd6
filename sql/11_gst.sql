-- GST line amounts, hand-checked.  Rounding: to the paisa, half away from zero, per tax.
\set SHOW_CONTEXT never
\i test/fixtures/base.sql

-- 3 x 199.99 at 18%, intra-state: gross 599.97; CGST = SGST = 9% of 599.97 = 53.9973 -> 54.00;
-- total 599.97 + 54.00 + 54.00 = 707.97
SELECT * FROM easeinv.gst_line(3, 199.99, 18, true);
-- the same inter-state: IGST 18% = 107.9946 -> 107.99; total 707.96 (a paisa less: rounding per tax)
SELECT * FROM easeinv.gst_line(3, 199.99, 18, false);
-- 10 x 33.335 at 5% inter-state with 10% off: gross 333.35 (333.350); discount 33.335 -> 33.34
-- (half away from zero); taxable 300.01; IGST 15.0005 -> 15.00; total 315.01
SELECT * FROM easeinv.gst_line(10, 33.335, 5, false, discount_percent => 10);
-- a discount amount: 2 x 500 - 150 = 850 taxable; 12% intra: 51.00 + 51.00; total 952.00
SELECT * FROM easeinv.gst_line(2, 500, 12, true, discount_amount => 150);
-- a quantity with 3 decimals: 2.125 kg x 80.40 = 170.85; 12% intra: 6% = 10.251 -> 10.25 each
SELECT * FROM easeinv.gst_line(2.125, 80.40, 12, true);
-- half a paisa goes up: taxable 1.00 at 5% intra: 2.5% = 0.025 -> 0.03 each
SELECT cgst, sgst, line_total FROM easeinv.gst_line(1, 1, 5, true);
-- and at 3% intra: 1.5% of 1.00 = 0.015 -> 0.02
SELECT cgst, sgst FROM easeinv.gst_line(1, 1, 3, true);
-- cess: a car at 28% + 22% cess, intra-state
SELECT * FROM easeinv.gst_line(1, 1000000, 28, true, cess_rate => 22);
-- exempt (0%) and a free line
SELECT * FROM easeinv.gst_line(5, 40, 0, true);
SELECT * FROM easeinv.gst_line(1, 0, 18, true);
-- each tax equals taxable x rate (halved for CGST and SGST), rounded: checked over many lines
SELECT count(*) AS lines,
       count(*) FILTER (WHERE a.cgst <> round(a.taxable_value * r / 200, 2)
                           OR a.line_total <> a.taxable_value + a.cgst + a.sgst + a.igst + a.cess) AS wrong
  FROM generate_series(1, 200) q, (VALUES (0), (0.25), (3), (5), (12), (18), (28), (40)) v(r),
       LATERAL easeinv.gst_line(q / 8.0, 99.95, r, true) a;
-- trailing zeros are not decimals: 1.50000 is 1.5
SELECT taxable_value FROM easeinv.gst_line(1.50000, 10.000000, 18, true);

-- refusals
SELECT easeinv.gst_line(NULL, 1, 18, true);
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.gst_line(0, 1, 18, true);
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.gst_line(1.00001, 1, 18, true);
SELECT easeinv.gst_line(1, -1, 18, true);
SELECT easeinv.gst_line(1, 1, 101, true);
SELECT easeinv.gst_line(1, 1, 18.125, true);
SELECT easeinv.gst_line(1, 'NaN', 18, true);
SELECT easeinv.gst_line(1, 1, 18, NULL);
SELECT easeinv.gst_line(1, 100, 18, true, 10, 5);
SELECT easeinv.gst_line(1, 100, 18, true, discount_percent => 101);
SELECT easeinv.gst_line(1, 100, 18, true, discount_amount => 100.01);
SELECT easeinv.gst_line(1, 100, 18, true, discount_amount => 1.005);
SELECT easeinv.gst_line(1, 100, 18, true, cess_rate => -1);
SELECT easeinv.gst_line(99999999999999, 99999999999999, 18, true);
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.gst_line(1000000000, 10000, 18, true);
\echo :LAST_ERROR_SQLSTATE
