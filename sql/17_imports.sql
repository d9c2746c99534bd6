-- Bulk imports (0.4.0, begun): a CSV copied into the transaction's staging table, every bad row
-- reported together with its row, column and reason.  Uses the tenant of 14_invoices.
\set SHOW_CONTEXT never
SELECT id AS t FROM easeinv.tenants WHERE slug = 'invoice-co' \gset
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
