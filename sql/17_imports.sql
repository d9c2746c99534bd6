-- Bulk imports (0.4.0, begun): a CSV copied into the transaction's staging table, every bad row
-- reported together with its row, column and reason.  Uses the tenant of 14_invoices.
\set SHOW_CONTEXT never
SELECT id AS t FROM easeinv.tenants WHERE slug = 'invoice-co' \gset
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT id AS widget FROM easeinv.products WHERE sku = 'W' \gset
SELECT id AS rice FROM easeinv.products WHERE sku = 'R' \gset
SELECT id AS wh FROM easeinv.locations WHERE code = 'WH' \gset
SELECT id AS cust FROM easeinv.locations WHERE code = 'CUST' \gset
COMMIT;
SET ROLE regress_web;
-- no tenant context: refused
SELECT easeinv.begin_import('movements');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SAVEPOINT s;
SELECT easeinv.begin_import('invoices');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.check_import('movements');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.begin_import('movements');
SAVEPOINT s2;
SELECT easeinv.begin_import('movements');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s2;
-- commas and quotes inside quoted fields, doubled quotes, UTF-8 names, a header row
COPY import_movements FROM STDIN (FORMAT csv, HEADER);
idempotency_key,sku,from_location,to_location,qty,unit_cost,reason,reference_type,reference_id,occurred_at
imp-1,W,SUP,WH,10,5.5,"opening, first batch",,,2025-10-01
imp-2,NOPE,SUP,WH,x,,,,,yesterday
,W,WH,WH,0,-1,,,,2025-13-01
imp-1,W,SUP,WH,11,5.5,"opening, first batch",,,2025-10-01
imp-3,R,SUP,WH,1.12345,,"He said ""hi""",,,2025-10-01 10:00:00+05:30
imp-4,R,SUP,WH,100000000000000,,Café crème — ₹ 40,,,
imp-5,S,SUP,NOWHERE,1,,,,,
easeinv:invoice:1:line:1,W,SUP,WH,1,,,,,
imp-1,W,SUP,WH,10,5.5,"opening, first batch",,,2025-10-01
imp-6,R,SUP,WH,2.5000,12.00,मसाला चाय,po,PO-7,2025-10-02T09:15:00Z
\.
SELECT count(*) AS staged, max(reason) FILTER (WHERE idempotency_key = 'imp-6') AS utf8_reason FROM import_movements;
SELECT * FROM easeinv.check_import('movements');
ROLLBACK;
-- an empty line in the CSV is refused by COPY itself (the staging table has ten columns)
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT easeinv.begin_import('movements');
COPY import_movements FROM STDIN (FORMAT csv, HEADER);
idempotency_key,sku,from_location,to_location,qty,unit_cost,reason,reference_type,reference_id,occurred_at
imp-1,W,SUP,WH,10,5.5,,,,

imp-2,W,SUP,WH,10,5.5,,,,
\.
ROLLBACK;
-- the staging table is the session's own and goes with the transaction
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT easeinv.begin_import('movements') IS NOT NULL AS opened;
COMMIT;
SELECT to_regclass('pg_temp.import_movements') IS NULL AS dropped_at_commit;
RESET ROLE;

-- Applying: all or nothing by default (every bad row named), the good rows with skip_bad, idempotent
-- per row, levels written once per product and location, the negative-stock rule on the result.
SET client_min_messages = warning;   -- the apply's NOTICEs carry timings
SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT easeinv.begin_import('movements') IS NOT NULL AS opened;
COPY import_movements FROM STDIN (FORMAT csv, HEADER);
idempotency_key,sku,from_location,to_location,qty,unit_cost,reason,reference_type,reference_id,occurred_at
bulk-1,W,SUP,WH,100,50,"opening, batch 7",,,2025-10-01
bulk-2,R,SUP,WH,250.5,,,,,2025-10-01 09:00:00+05:30
bulk-3,W,WH,CUST,30,,sale,,,
bulk-2,R,SUP,WH,250.5,,,,,2025-10-01 09:00:00+05:30
bulk-4,NOPE,SUP,WH,1,,,,,
bulk-5,R,WH,CUST,abc,,,,,
\.
SAVEPOINT s;
SELECT * FROM easeinv.apply_import('movements');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT count(*) AS ledger_rows_from_bulk FROM easeinv.stock_movements WHERE idempotency_key LIKE 'bulk-%';
SELECT product_id = :widget AS widget, location_id, on_hand FROM easeinv.stock_levels
 WHERE product_id IN (:widget, :rice) AND location_id IN (:wh, :cust) ORDER BY 1, 2;
SELECT kind, rows, applied, replayed, rejected, levels FROM easeinv.apply_import('movements', skip_bad => true);
SELECT row_no, column_name, value, reason FROM import_rejects ORDER BY 1, 2;
SELECT product_id = :widget AS widget, location_id, on_hand FROM easeinv.stock_levels
 WHERE product_id IN (:widget, :rice) AND location_id IN (:wh, :cust) ORDER BY 1, 2;
SELECT * FROM easeinv.verify_stock();
COMMIT;

-- re-importing the same file is a no-op that counts the replays; a key with another payload is refused
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT easeinv.begin_import('movements') IS NOT NULL AS opened;
COPY import_movements FROM STDIN (FORMAT csv, HEADER);
idempotency_key,sku,from_location,to_location,qty,unit_cost,reason,reference_type,reference_id,occurred_at
bulk-1,W,SUP,WH,100,50,"opening, batch 7",,,2025-10-01
bulk-2,R,SUP,WH,250.5,,,,,2025-10-01 09:00:00+05:30
bulk-3,W,WH,CUST,30,,sale,,,
\.
SELECT kind, rows, applied, replayed, rejected, levels FROM easeinv.apply_import('movements');
COMMIT;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT easeinv.begin_import('movements') IS NOT NULL AS opened;
COPY import_movements FROM STDIN (FORMAT csv, HEADER);
idempotency_key,sku,from_location,to_location,qty,unit_cost,reason,reference_type,reference_id,occurred_at
bulk-1,W,SUP,WH,101,50,"opening, batch 7",,,2025-10-01
bulk-6,W,SUP,WH,1,,,,,
\.
SAVEPOINT s;
\set VERBOSITY terse
SELECT easeinv.apply_import('movements');
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT kind, rows, applied, replayed, rejected, levels FROM easeinv.apply_import('movements', skip_bad => true);
SELECT row_no, column_name, reason LIKE 'key already used for a different movement%' AS conflict FROM import_rejects;
ROLLBACK;

-- the negative-stock rule holds for the batch's result
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT easeinv.begin_import('movements') IS NOT NULL AS opened;
COPY import_movements FROM STDIN (FORMAT csv, HEADER);
idempotency_key,sku,from_location,to_location,qty,unit_cost,reason,reference_type,reference_id,occurred_at
bulk-7,W,WH,CUST,100000,,,,,
\.
SELECT easeinv.apply_import('movements');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT easeinv.apply_import('movements');
\echo :LAST_ERROR_SQLSTATE
-- apply_import's own refusals: no kind, an unknown kind, no import open
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SAVEPOINT s;
SELECT easeinv.apply_import(NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.apply_import('invoices');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.apply_import('movements');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- the progress view: the application reads it (no COPY of this session is running while it asks)
SELECT count(*) AS running_imports FROM easeinv.import_progress WHERE pid = pg_backend_pid();
ROLLBACK;
RESET ROLE;
RESET client_min_messages;
