-- Reservations: reserve, release, consume; idempotent; available never below zero; the
-- projection's reserved column proven against the reservations.
\set SHOW_CONTEXT never
\i test/fixtures/ledger.sql
SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(1);
INSERT INTO easeinv.products (id, sku, name) VALUES (210, 'RICE-5KG', 'Basmati rice 5 kg');
SELECT qty FROM easeinv.move_stock('rice-grn', 210, 103, 101, 20);
-- reserve 12 of 20 for an order
SELECT id AS r1, qty, consumed, released, status, reference_type, reference_id, replayed
  FROM easeinv.reserve_stock('so-1', 210, 101, 12, 'order', 'SO-1') \gset
SELECT :r1 > 0 AS reserved;
SELECT status, replayed FROM easeinv.reserve_stock('so-1', 210, 101, 12, 'order', 'SO-1');
SELECT on_hand, reserved, available FROM easeinv.stock_levels WHERE product_id = 210 AND location_id = 101;
SAVEPOINT s;
-- reserved stock cannot be moved away or reserved twice
SELECT easeinv.move_stock('rice-out', 210, 101, 104, 9);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.reserve_stock('so-2', 210, 101, 9);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- the key belongs to the first payload
SELECT easeinv.reserve_stock('so-1', 210, 101, 13);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- bad input
SELECT easeinv.reserve_stock('bad', 210, 103, 1);
ROLLBACK TO s;
SELECT easeinv.reserve_stock('bad', 210, 101, 0);
ROLLBACK TO s;
SELECT easeinv.reserve_stock('bad', 210, 101, NULL);
ROLLBACK TO s;
SELECT easeinv.reserve_stock('bad', 999, 101, 1);
ROLLBACK TO s;
SELECT easeinv.reserve_stock(NULL, 210, 101, 1);
ROLLBACK TO s;
-- ship part of it, then the rest; retries change nothing
SELECT from_location_id, to_location_id, qty, reference_type, replayed
  FROM easeinv.consume_reservation('ship-1', :r1, 104, 5);
SELECT qty, replayed FROM easeinv.consume_reservation('ship-1', :r1, 104, 5);
SELECT consumed, released, status FROM easeinv.stock_reservations WHERE id = :r1;
RELEASE SAVEPOINT s;
SAVEPOINT s;
SELECT easeinv.consume_reservation('ship-2', :r1, 104, 8);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT qty, replayed FROM easeinv.consume_reservation('ship-2', :r1, 104);
SELECT qty, replayed FROM easeinv.consume_reservation('ship-2', :r1, 104);
SELECT consumed, released, status FROM easeinv.stock_reservations WHERE id = :r1;
RELEASE SAVEPOINT s;
SAVEPOINT s;
SELECT easeinv.consume_reservation('ship-3', :r1, 104);
ROLLBACK TO s;
SELECT easeinv.release_reservation('rel-1', :r1);
ROLLBACK TO s;
SELECT on_hand, reserved, available FROM easeinv.stock_levels WHERE product_id = 210 AND location_id = 101;
-- reserve and release
SELECT id AS r2 FROM easeinv.reserve_stock('so-3', 210, 101, 3) \gset
SELECT consumed, released, status, replayed FROM easeinv.release_reservation('rel-3', :r2);
SELECT status, replayed FROM easeinv.release_reservation('rel-3', :r2);
RELEASE SAVEPOINT s;
SAVEPOINT s;
SELECT easeinv.release_reservation('rel-other', :r2);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.release_reservation('rel-none', 999999);
ROLLBACK TO s;
SELECT easeinv.consume_reservation('ship-none', :r2, 104);
ROLLBACK TO s;
SELECT on_hand, reserved, available FROM easeinv.stock_levels WHERE product_id = 210 AND location_id = 101;
COMMIT;
RESET ROLE;
SELECT * FROM easeinv.verify_stock();
SELECT status, count(*) FROM easeinv.stock_reservations GROUP BY 1 ORDER BY 1;
-- a drift in reserved is found and repaired
SET session_replication_role = replica;
UPDATE easeinv.stock_levels SET reserved = 1 WHERE product_id = 210 AND location_id = 101;
RESET session_replication_role;
SELECT product_id, location_id, measure, level_value, expected FROM easeinv.verify_stock();
SET ROLE easeinv_admin;
SELECT easeinv.rebuild_stock_levels();
RESET ROLE;
SELECT count(*) AS drifts FROM easeinv.verify_stock();

-- a reservation key names its payload, references included
SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT qty FROM easeinv.reserve_stock('so-ref', 210, 101, 1, 'order', 'SO-10');
SAVEPOINT s;
SELECT easeinv.reserve_stock('so-ref', 210, 101, 1, 'order', 'SO-11');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- consuming into the reservation's own location is a bad request, not a constraint violation
SELECT id AS rr FROM easeinv.stock_reservations WHERE idempotency_key = 'so-ref' \gset
SELECT easeinv.consume_reservation('ship-self', :rr, 101);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
ROLLBACK;
RESET ROLE;

-- the balance functions read as the caller: no context, no balances
SET ROLE regress_web;
SELECT count(*) FROM easeinv.ledger_balances();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM easeinv.reservation_balances();
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT easeinv.set_tenant(2);
SELECT tenant_id, count(*) FROM easeinv.ledger_balances() GROUP BY 1;
COMMIT;
RESET ROLE;
