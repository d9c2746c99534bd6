-- GST rates and their validity: a rate is charged only while it is in force.
\set SHOW_CONTEXT never
\i test/fixtures/base.sql
SELECT rate, valid_from, valid_to FROM easeinv.gst_rates ORDER BY rate, valid_from;
SELECT r, d, easeinv.gst_rate_valid(r, d) AS valid
  FROM (VALUES (12, date '2025-09-21'), (12, date '2025-09-22'), (40, date '2025-09-21'),
               (40, date '2025-09-22'), (18, date '2017-07-01'), (18, date '2017-06-30'),
               (7.5, date '2026-01-01'), (28, date '2026-11-24'), (5.00, date '2026-11-24')) v(r, d);
SELECT easeinv.gst_rate_valid(NULL, current_date) AS null_rate;
-- only the maintenance role adds rates
SET ROLE regress_web;
INSERT INTO easeinv.gst_rates (rate, valid_from, description) VALUES (7.5, '2026-04-01', 'invented');
RESET ROLE;
SET ROLE easeinv_admin;
INSERT INTO easeinv.gst_rates (rate, valid_from, valid_to, description) VALUES (18, '2026-04-01', '2026-03-31', 'ends before it starts');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO easeinv.gst_rates (rate, valid_from, description) VALUES (101, '2026-04-01', 'too high');
\echo :LAST_ERROR_SQLSTATE
-- a rate notified later is added, and counts from its date
INSERT INTO easeinv.gst_rates (rate, valid_from, description) VALUES (7.5, '2026-04-01', 'a notified rate');
SELECT easeinv.gst_rate_valid(7.5, '2026-03-31') AS before, easeinv.gst_rate_valid(7.5, '2026-04-01') AS from_then;
RESET ROLE;
DELETE FROM easeinv.gst_rates WHERE NOT seeded;
