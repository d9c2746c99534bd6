-- Every domain write appends one event in its transaction, with what a consumer needs without a
-- lookup; a replay appends nothing; a refused or rolled-back write appends nothing.
\set SHOW_CONTEXT never
\i test/fixtures/base.sql
SET client_min_messages = warning;
SELECT id AS t FROM easeinv.create_tenant('events-co', 'Events Co', '27') \gset
SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
INSERT INTO easeinv.locations (code, name, kind) VALUES ('WH', 'Warehouse', 'warehouse') RETURNING id AS wh \gset
INSERT INTO easeinv.locations (code, name, kind) VALUES ('WH2', 'Second', 'warehouse') RETURNING id AS wh2 \gset
INSERT INTO easeinv.locations (code, name, kind) VALUES ('CUST', 'Customers', 'customer') RETURNING id AS cust \gset
INSERT INTO easeinv.locations (code, name, kind) VALUES ('SUP', 'Suppliers', 'supplier') RETURNING id AS sup \gset
INSERT INTO easeinv.products (sku, name, hsn_code, gst_rate) VALUES ('W', 'Widget', '8471', 18) RETURNING id AS w \gset
INSERT INTO easeinv.customers (name, state_code) VALUES ('Pune shop', '27') RETURNING id AS local \gset
COMMIT;

-- what the events show: their type, aggregate and payload, ids relative to the tenant's rows
CREATE TEMP VIEW seen AS
SELECT o.type, o.aggregate_type, o.aggregate_id,
       o.payload - ARRAY['occurred_at', 'movement_id', 'reservation_id', 'reverses_id',
                         'product_id', 'from_location_id', 'to_location_id', 'location_id',
                         'invoice_id', 'original_invoice_id', 'customer_id', 'payment_id',
                         'refunds_id', 'paid_at', 'levels'] AS payload
  FROM easeinv.outbox o ORDER BY o.id;

-- stock: a receipt, its replay (nothing), a transfer, a refused move (nothing), a reversal
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT (easeinv.move_stock('in-1', :w, :sup, :wh, 100, 'opening', 'po', 'PO-1', 12.5)).id AS m1 \gset
SELECT (easeinv.move_stock('in-1', :w, :sup, :wh, 100, 'opening', 'po', 'PO-1', 12.5)).replayed;
SELECT (easeinv.move_stock('mv-1', :w, :wh, :wh2, 10)).id AS m2 \gset
SAVEPOINT s;
SELECT easeinv.move_stock('too-much', :w, :wh2, :cust, 1000);
ROLLBACK TO s;
SELECT (easeinv.reverse_movement('rev-1', :m2)).replayed;
SELECT count(*) AS events FROM easeinv.outbox;
SELECT * FROM seen;
-- the levels after each movement, and the ids
SELECT o.payload -> 'levels' AS levels FROM easeinv.outbox o ORDER BY o.id;
SELECT bool_and((o.payload ->> 'product_id')::bigint = :w) AS product_ids,
       bool_and(o.aggregate_id = :w::text) AS aggregate_ids
  FROM easeinv.outbox o;
COMMIT;

-- reservations: reserved, consumed (one event: the consumption's movement), released; replays append nothing
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT (easeinv.reserve_stock('r-1', :w, :wh, 5, 'order', 'SO-1')).id AS r1 \gset
SELECT (easeinv.reserve_stock('r-1', :w, :wh, 5, 'order', 'SO-1')).replayed;
SELECT (easeinv.consume_reservation('c-1', :r1, :cust, 2)).replayed;
SELECT (easeinv.consume_reservation('c-1', :r1, :cust, 2)).replayed;
SELECT (easeinv.release_reservation('rel-1', :r1)).status;
SELECT (easeinv.release_reservation('rel-1', :r1)).replayed;
SELECT * FROM seen OFFSET 3;
SELECT (o.payload ->> 'reservation_id')::bigint = :r1 AS reservation FROM easeinv.outbox o ORDER BY o.id OFFSET 3;
COMMIT;

-- invoices: issued (with its stock.moved), a replayed issue appends nothing, payments and a
-- refund, a credit note issued and cancelled, the invoice cancelled once paid back
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date) VALUES (:local, :wh, '2025-10-01') RETURNING id AS inv \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:inv, :w, 3, 199.99);
INSERT INTO easeinv.invoice_lines (invoice_id, description, hsn_sac, qty, unit_price, gst_rate)
    VALUES (:inv, 'Installation', '998719', 1, 500, 18);
SELECT count(*) AS before_issue FROM easeinv.outbox \gset
SELECT (easeinv.issue_invoice(:inv)).number;
SELECT (easeinv.issue_invoice(:inv)).replayed;
SELECT (easeinv.record_payment('pay-1', :inv, 300, 'upi', '2025-10-02 10:00+05:30', 'UTR-1')).id AS pay \gset
SELECT (easeinv.record_payment('pay-1', :inv, 300, 'upi', '2025-10-02 10:00+05:30', 'UTR-1')).replayed;
SELECT (easeinv.refund_payment('ref-1', :pay)).amount;
INSERT INTO easeinv.invoices (kind, original_invoice_id, invoice_date) VALUES ('credit_note', :inv, '2025-10-03') RETURNING id AS cn \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:cn, :w, 1, 199.99);
SELECT (easeinv.issue_invoice(:cn)).number;
SELECT (easeinv.cancel_invoice(:cn, 'issued by mistake')).status;
SELECT (easeinv.cancel_invoice(:inv, 'customer returned everything')).status;
SELECT (easeinv.cancel_invoice(:inv, 'customer returned everything')).replayed;
SELECT * FROM seen OFFSET :before_issue;
SELECT bool_and((o.payload ->> 'invoice_id')::bigint IN (:inv, :cn)) AS invoice_ids
  FROM easeinv.outbox o WHERE o.aggregate_type = 'invoice';
SELECT bool_and((o.payload ->> 'payment_id')::bigint >= :pay) AS payment_ids,
       bool_and(o.aggregate_id = :inv::text) AS aggregate_is_the_invoice
  FROM easeinv.outbox o WHERE o.type LIKE 'payment.%';
COMMIT;

-- an import: one import.applied event for the batch, none per row
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT count(*) AS before_import FROM easeinv.outbox \gset
SELECT easeinv.begin_import('movements') IS NOT NULL AS opened;
COPY import_movements FROM STDIN (FORMAT csv, HEADER);
idempotency_key,sku,from_location,to_location,qty,unit_cost,reason,reference_type,reference_id,occurred_at
imp-1,W,SUP,WH,10,5.5,,,,2025-10-01
imp-2,W,SUP,WH,20,5.5,,,,2025-10-01
imp-3,W,WH,WH2,5,,,,,2025-10-01
\.
SET LOCAL client_min_messages = warning;
SELECT applied FROM easeinv.apply_import('movements');
SELECT * FROM seen OFFSET :before_import;
COMMIT;

-- a rolled-back transaction appends nothing
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT (easeinv.move_stock('gone-1', :w, :sup, :wh, 1)).replayed;
ROLLBACK;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT count(*) AS events, count(*) FILTER (WHERE payload ->> 'reason' = 'gone') AS rolled_back FROM easeinv.outbox;
COMMIT;
RESET ROLE;
RESET client_min_messages;
