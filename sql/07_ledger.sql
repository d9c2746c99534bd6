-- The stock ledger: move_stock and reverse_movement, every refusal, replays, the projection,
-- the append-only ledger, tenant isolation, and the double-entry invariant after each scenario.
\set SHOW_CONTEXT never
\i test/fixtures/catalog.sql

-- the invariant, checked as superuser after every scenario: levels equal the ledger, and the
-- sum over all locations of each product is zero
CREATE FUNCTION pg_temp.invariant() RETURNS TABLE (drifts bigint, unbalanced_products bigint)
LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM easeinv.verify_stock()),
           (SELECT count(*) FROM (SELECT tenant_id, product_id FROM easeinv.stock_levels
                                   GROUP BY 1, 2 HAVING sum(on_hand) <> 0) u)
$$;

SET ROLE regress_web;

-- receive, move, sell
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT id, product_id, from_location_id, to_location_id, qty, reason, reference_type, reference_id,
       unit_cost, replayed
  FROM easeinv.move_stock('grn-1', 201, 103, 101, 100, 'purchase', 'grn', 'GRN-1', 245.5);
SELECT id, qty, replayed FROM easeinv.move_stock('tr-1', 201, 101, 102, 30.125);
SELECT id, qty, replayed FROM easeinv.move_stock('sale-1', 201, 102, 104, 0.125, 'sale', 'invoice', 'INV-1');
SELECT location_id, on_hand, reserved, available FROM easeinv.stock_levels WHERE product_id = 201 ORDER BY 1;
COMMIT;
RESET ROLE;
SELECT * FROM pg_temp.invariant();
SET ROLE regress_web;

-- same key, same payload: the first movement comes back, nothing counted again, even when the
-- stock has since run out
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT id, qty, replayed FROM easeinv.move_stock('tr-1', 201, 101, 102, 30.125);
SELECT id, qty, replayed FROM easeinv.move_stock('tr-1', 201, 101, 102, 30.1250);
SELECT id, replayed FROM easeinv.move_stock('sale-1', 201, 102, 104, 0.125, 'sale', 'invoice', 'INV-1');
SELECT id, qty, replayed FROM easeinv.move_stock('drain', 201, 102, 104, 30);
SELECT id, qty, replayed FROM easeinv.move_stock('tr-1', 201, 101, 102, 30.125);
SELECT location_id, on_hand FROM easeinv.stock_levels WHERE product_id = 201 ORDER BY 1;
COMMIT;

-- same key, different payload: refused, naming the fields that differ
BEGIN;
SELECT easeinv.set_tenant(1);
SAVEPOINT s;
SELECT easeinv.move_stock('tr-1', 201, 101, 102, 31);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.move_stock('tr-1', 202, 102, 101, 30.125, 'why');
ROLLBACK TO s;
SELECT easeinv.move_stock('sale-1', 201, 102, 104, 0.125, 'sale', 'invoice', 'INV-2', 1);
ROLLBACK TO s;
-- (terse: the detail shows the time of the first call)
\set VERBOSITY terse
SELECT easeinv.move_stock('grn-1', 201, 103, 101, 100, 'purchase', 'grn', 'GRN-1', 245.5, '2026-01-01 00:00+05:30');
\set VERBOSITY default
ROLLBACK;

-- an internal location never goes below zero; virtual ones may; a refused movement stores
-- nothing, so its key stays free for a corrected retry
BEGIN;
SELECT easeinv.set_tenant(1);
SAVEPOINT s;
SELECT easeinv.move_stock('big-sale', 201, 101, 104, 70);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT count(*) AS stored FROM easeinv.stock_movements WHERE idempotency_key = 'big-sale';
SELECT id, qty, replayed FROM easeinv.move_stock('big-sale', 201, 101, 104, 69.875);
SELECT location_id, on_hand, available FROM easeinv.stock_levels WHERE product_id = 201 ORDER BY 1;
COMMIT;
RESET ROLE;
SELECT * FROM pg_temp.invariant();
SET ROLE regress_web;

-- a tenant that allows negative stock (tenant 3's settings)
BEGIN;
SELECT easeinv.set_tenant(3);
INSERT INTO easeinv.locations (id, code, name, kind) VALUES (501, 'WH-DEL', 'Delhi', 'warehouse'),
                                                             (502, 'CUS', 'Customers', 'customer');
INSERT INTO easeinv.products (id, sku, name) VALUES (601, 'PEN', 'Pen');
SELECT id, qty FROM easeinv.move_stock('oversell', 601, 501, 502, 5);
SELECT location_id, on_hand, available FROM easeinv.stock_levels ORDER BY 1;
COMMIT;

-- the setting must be a JSON boolean where it is written
SET ROLE easeinv_admin;
\set VERBOSITY terse
UPDATE easeinv.tenants SET settings = '{"allow_negative_stock": "yes"}' WHERE id = 3;
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_web;

-- bad input: a clear error each, nothing written
BEGIN;
SELECT easeinv.set_tenant(1);
SAVEPOINT s;
SELECT easeinv.move_stock(NULL, 201, 101, 102, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.move_stock('', 201, 101, 102, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.move_stock(repeat('k', 256), 201, 101, 102, 1);
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', NULL, 101, 102, 1);
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 201, NULL, 102, 1);
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 201, 101, 102, NULL);
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 201, 101, 102, 0);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 201, 101, 102, -1);
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 201, 101, 102, 'NaN');
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 201, 101, 102, 'Infinity');
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 201, 101, 102, 1.00001);
ROLLBACK TO s;
-- trailing zeros are not decimals
SELECT qty FROM easeinv.move_stock('zeros', 202, 103, 101, 1.500000);
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 201, 101, 102, 100000000000000);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 201, 101, 101, 1);
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 999, 101, 102, 1);
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 204, 101, 102, 1);
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 203, 101, 102, 1);
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 201, 106, 102, 1);
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 201, 101, 999, 1);
ROLLBACK TO s;
-- another tenant's product and location are simply not there
SELECT easeinv.move_stock('bad', 401, 101, 102, 1);
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 201, 301, 101, 1);
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 201, 101, 102, 1, repeat('r', 501));
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 201, 101, 102, 1, unit_cost => -1);
ROLLBACK TO s;
SELECT easeinv.move_stock('bad', 201, 101, 102, 1, occurred_at => 'infinity');
ROLLBACK TO s;
SELECT count(*) AS stored FROM easeinv.stock_movements WHERE idempotency_key = 'bad';
COMMIT;

-- named arguments, as a PostgREST-style layer calls it
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT id, qty, replayed FROM easeinv.move_stock(idempotency_key => 'named-1', product_id => 202,
    from_location_id => 103, to_location_id => 101, qty => 24, reason => 'purchase');
COMMIT;

-- no context: no movement
SELECT easeinv.move_stock('ctx', 201, 103, 101, 1);
\echo :LAST_ERROR_SQLSTATE

-- the same key in another tenant is another movement
BEGIN;
SELECT easeinv.set_tenant(2);
SELECT product_id, qty, replayed FROM easeinv.move_stock('grn-1', 401, 302, 301, 7);
SELECT idempotency_key, product_id FROM easeinv.stock_movements ORDER BY id;
COMMIT;

-- reversing: the opposite movement, once, idempotently
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT id AS receipt FROM easeinv.stock_movements WHERE idempotency_key = 'named-1' \gset
SELECT from_location_id, to_location_id, qty, reason, reference_type, reverses_id = :receipt AS reverses, replayed
  FROM easeinv.reverse_movement('undo-named-1', :receipt);
SELECT replayed FROM easeinv.reverse_movement('undo-named-1', :receipt);
SAVEPOINT s;
SELECT easeinv.reverse_movement('undo-again', :receipt);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.reverse_movement('undo-missing', 999999);
ROLLBACK TO s;
SELECT easeinv.reverse_movement('undo-null', NULL);
ROLLBACK TO s;
-- reversing a receipt whose stock is gone is refused like any movement
SELECT id AS grn FROM easeinv.stock_movements WHERE idempotency_key = 'grn-1' \gset
SELECT easeinv.reverse_movement('undo-grn', :grn);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT location_id, on_hand FROM easeinv.stock_levels WHERE product_id = 202 ORDER BY 1;
COMMIT;
RESET ROLE;
SELECT * FROM pg_temp.invariant();
SET ROLE regress_web;

-- the ledger is append-only; the projection is written only by the extension
BEGIN;
SELECT easeinv.set_tenant(1);
SAVEPOINT s;
UPDATE easeinv.stock_movements SET qty = 1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
DELETE FROM easeinv.stock_movements;
ROLLBACK TO s;
INSERT INTO easeinv.stock_movements (idempotency_key, product_id, from_location_id, to_location_id, qty,
                                     occurred_at, created_by)
VALUES ('direct', 201, 103, 101, 1, now(), 'me');
ROLLBACK TO s;
UPDATE easeinv.stock_levels SET on_hand = 1000;
ROLLBACK TO s;
COMMIT;
RESET ROLE;
-- not even a superuser changes history
UPDATE easeinv.stock_movements SET qty = 1 WHERE idempotency_key = 'grn-1';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM easeinv.stock_movements WHERE idempotency_key = 'grn-1';

-- a product or location with history cannot be deleted (the levels' foreign keys hold it)
SET ROLE easeinv_admin;
DELETE FROM easeinv.products WHERE tenant_id = 1 AND id = 201;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM easeinv.locations WHERE tenant_id = 1 AND id = 104;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- drift is found and repaired
SET session_replication_role = replica;
UPDATE easeinv.stock_levels SET on_hand = on_hand + 5 WHERE tenant_id = 1 AND location_id = 101 AND product_id = 201;
DELETE FROM easeinv.stock_levels WHERE tenant_id = 2;
RESET session_replication_role;
SELECT * FROM easeinv.verify_stock();
SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(2);
SELECT tenant_id, product_id, location_id, measure, level_value, expected FROM easeinv.verify_stock();
SELECT easeinv.rebuild_stock_levels();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET ROLE;
SET ROLE easeinv_admin;
SELECT easeinv.rebuild_stock_levels();
RESET ROLE;
SELECT * FROM pg_temp.invariant();

-- the ledger's statements run as the table owner: an operator planted in the caller's
-- search_path must never run with the owner's rights
CREATE SCHEMA regress_evil AUTHORIZATION regress_web;
SET ROLE regress_web;
CREATE FUNCTION regress_evil.eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'planted operator ran as %', current_user;
    RETURN pg_catalog.texteq(a, b);
END $$;
CREATE OPERATOR regress_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_evil.eq);
BEGIN;
SELECT easeinv.set_tenant(1);
SET LOCAL search_path = regress_evil, pg_catalog;
SELECT qty, replayed FROM easeinv.move_stock('evil-1', 202, 103, 101, 1);
SELECT qty, replayed FROM easeinv.move_stock('evil-1', 202, 103, 101, 1);
ROLLBACK;
RESET ROLE;
DROP SCHEMA regress_evil CASCADE;

-- a replay of a row large enough to be TOASTed returns it intact (the result is built outside
-- SPI's memory)
SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT length(idempotency_key), length(reason), replayed
  FROM easeinv.move_stock(repeat('🔑', 255), 202, 103, 101, 1, repeat('📦', 500), repeat('🧾', 64), repeat('🆔', 255));
SELECT length(idempotency_key), length(reason), length(reference_id), reason = repeat('📦', 500) AS intact, replayed
  FROM easeinv.move_stock(repeat('🔑', 255), 202, 103, 101, 1, repeat('📦', 500), repeat('🧾', 64), repeat('🆔', 255));
ROLLBACK;
RESET ROLE;

-- what each tenant's ledger says, and that tenants saw only their own
SELECT tenant_id, idempotency_key, product_id, from_location_id, to_location_id, qty, reverses_id IS NOT NULL AS reversal
  FROM easeinv.stock_movements ORDER BY tenant_id, id;
