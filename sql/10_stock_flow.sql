-- stock_flow: in, out and closing balance per day, week and month, in the tenant's time zone.
\set SHOW_CONTEXT never
\i test/fixtures/ledger.sql
SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(2);
INSERT INTO easeinv.locations (id, code, name, kind) VALUES (303, 'ST-MYS', 'Mysuru store', 'store'),
                                                             (304, 'CUS', 'Customers', 'customer');
INSERT INTO easeinv.products (id, sku, name) VALUES (402, 'COFFEE', 'Filter coffee 500 g');
-- an opening receipt in March, then April's business (times are IST)
SELECT count(*) FROM (
    SELECT easeinv.move_stock('f-grn', 402, 302, 301, 100, occurred_at => '2026-03-30 10:00+05:30')
    UNION ALL SELECT easeinv.move_stock('f-sale-1', 402, 301, 304, 10, occurred_at => '2026-04-01 23:30+05:30')
    UNION ALL SELECT easeinv.move_stock('f-transfer', 402, 301, 303, 20, occurred_at => '2026-04-02 00:30+05:30')
    UNION ALL SELECT easeinv.move_stock('f-sale-2', 402, 303, 304, 5, occurred_at => '2026-04-03 12:00+05:30')
    UNION ALL SELECT easeinv.move_stock('f-grn-2', 402, 302, 301, 40.5, occurred_at => '2026-04-20 09:00+05:30')
) m;
-- one location, by day: 00:30 IST on 2 April is 2 April, though it is 1 April in UTC
SELECT * FROM easeinv.stock_flow(402, 301, '2026-04-01', '2026-04-04');
-- all internal locations: the transfer between them cancels out
SELECT * FROM easeinv.stock_flow(402, NULL, '2026-03-31', '2026-04-04');
SELECT * FROM easeinv.stock_flow(402, NULL, '2026-03-25', '2026-04-26', 'week');
SELECT * FROM easeinv.stock_flow(402, NULL, '2026-03-01', '2026-05-31', 'month');
-- a year of daily buckets, every day present
SELECT count(*) AS days, min(bucket_start), max(bucket_start), max(closing_balance) AS top
  FROM easeinv.stock_flow(402, NULL, '2026-01-01', '2026-12-31');
-- refusals
SAVEPOINT s;
SELECT * FROM easeinv.stock_flow(402, 301, '2026-04-01', '2026-04-04', 'hour');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM easeinv.stock_flow(402, 301, '2026-04-04', '2026-04-01');
ROLLBACK TO s;
SELECT * FROM easeinv.stock_flow(402, 301, '2000-01-01', '2026-04-01');
ROLLBACK TO s;
SELECT * FROM easeinv.stock_flow(NULL, 301, '2026-04-01', '2026-04-04');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
COMMIT;
-- another tenant's product shows nothing; no context, no series
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT sum(qty_in) AS seen FROM easeinv.stock_flow(402, NULL, '2026-03-01', '2026-04-30');
COMMIT;
SELECT * FROM easeinv.stock_flow(402, NULL, '2026-03-01', '2026-04-30');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
