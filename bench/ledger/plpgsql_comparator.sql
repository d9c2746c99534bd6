-- The comparator: easeinv.move_stock's semantics written in PL/pgSQL on tables protected by row
-- level security, i.e. what a team would write without the C extension (it still uses easeinv's
-- tenant context and easeinv.enable_tenancy for RLS plus the guard trigger, as the issue asks).
--
-- Same tables: comparator.locations, products, stock_movements and stock_levels are created LIKE
-- easeinv's (INCLUDING ALL: columns, defaults, identity, generated column, CHECK constraints,
-- primary keys, the idempotency unique key, the secondary and the partial reversal index), with
-- the same 16 hash partitions and the same foreign keys, then protected by enable_tenancy.
--
-- Same steps, same order, same statements as src/ledger.c:
--   1. arguments checked (null, key length, quantity finite/positive/4 decimals/range,
--      two different locations, text lengths, unit_cost, occurred_at finite);
--   2. the idempotency key looked up first; same payload -> the stored movement (replayed),
--      another payload -> 23505 naming every differing field;
--   3. the product (exists, not deleted, tracks stock) and both locations (exist, not deleted;
--      internal or not) looked up, one statement each;
--   4. INSERT ... ON CONFLICT DO NOTHING (no target, like easeinv: the key and the one-reversal
--      index); a lost race re-reads the winner and answers as a replay (40001 if it cannot);
--   5. the two stock_levels upserts, lower location id first, each returning available; an
--      internal source going below zero is refused (23514) unless the tenant's settings allow it.
-- The tenant comes from easeinv.current_tenant(); every statement also names it explicitly (as
-- the README advises and as easeinv's own statements do).
--
-- Differences that are the point of the comparison, not shortcuts:
--   * the function is SECURITY INVOKER, so its statements run as the application role under RLS
--     (the restrictive policy's initPlan on every statement, the guard trigger on every written
--     row).  easeinv runs its statements as the ledger's owner, which bypasses RLS, and passes the
--     tenant explicitly.  To run as the caller the application role needs INSERT on the ledger and
--     INSERT, UPDATE on the levels (easeinv's app role needs neither); SECURITY DEFINER would
--     avoid that grant but lose created_by = the calling role, which easeinv records.
--   * it pins search_path (this project's rule for every SQL and PL/pgSQL function), which costs a
--     GUC save/restore per call that a C function does not pay.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE SCHEMA comparator;

CREATE TABLE comparator.locations (LIKE easeinv.locations INCLUDING ALL);
CREATE TABLE comparator.products (LIKE easeinv.products INCLUDING ALL) PARTITION BY HASH (tenant_id);
CREATE TABLE comparator.stock_movements (LIKE easeinv.stock_movements INCLUDING ALL)
    PARTITION BY HASH (tenant_id);
CREATE TABLE comparator.stock_levels (LIKE easeinv.stock_levels INCLUDING ALL)
    PARTITION BY HASH (tenant_id);
SELECT easeinv.create_tenant_partitions('comparator.products');
SELECT easeinv.create_tenant_partitions('comparator.stock_movements');
SELECT easeinv.create_tenant_partitions('comparator.stock_levels');
ALTER TABLE comparator.locations
    ADD FOREIGN KEY (tenant_id, parent_id) REFERENCES comparator.locations (tenant_id, id);
-- (no foreign keys on the ledger, as in easeinv: the levels' foreign keys keep referenced rows)
ALTER TABLE comparator.stock_levels
    ADD FOREIGN KEY (tenant_id, product_id) REFERENCES comparator.products (tenant_id, id),
    ADD FOREIGN KEY (tenant_id, location_id) REFERENCES comparator.locations (tenant_id, id);

-- the same starting data as easeinv's (seeded like easeinv's: no FK checks, no guard)
SET session_replication_role = replica;
INSERT INTO comparator.locations OVERRIDING SYSTEM VALUE SELECT * FROM easeinv.locations;
INSERT INTO comparator.products OVERRIDING SYSTEM VALUE SELECT * FROM easeinv.products;
INSERT INTO comparator.stock_movements OVERRIDING SYSTEM VALUE SELECT * FROM easeinv.stock_movements;
INSERT INTO comparator.stock_levels (tenant_id, product_id, location_id, on_hand, reserved, updated_at)
SELECT tenant_id, product_id, location_id, on_hand, reserved, updated_at FROM easeinv.stock_levels;
RESET session_replication_role;
SELECT setval(pg_get_serial_sequence('comparator.locations', 'id'), 9);
SELECT setval(pg_get_serial_sequence('comparator.products', 'id'),
              (SELECT max(id) FROM comparator.products));
SELECT setval(pg_get_serial_sequence('comparator.stock_movements', 'id'),
              (SELECT max(id) FROM comparator.stock_movements));

SELECT count(*) AS changes FROM easeinv.enable_tenancy('comparator.locations');
SELECT count(*) AS changes FROM easeinv.enable_tenancy('comparator.products');
SELECT count(*) AS changes FROM easeinv.enable_tenancy('comparator.stock_movements');
SELECT count(*) AS changes FROM easeinv.enable_tenancy('comparator.stock_levels');

-- the ledger is append-only, as easeinv's (a trigger on UPDATE and DELETE: no cost on INSERT)
CREATE FUNCTION comparator.ledger_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION 'stock movements are append-only: % is not allowed', TG_OP
        USING ERRCODE = '42501',
              HINT = 'Correct a movement with a reversing movement.';
END
$fn$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON comparator.stock_movements
    FOR EACH ROW EXECUTE FUNCTION comparator.ledger_guard();

CREATE TYPE comparator.movement AS (
    id               bigint,
    idempotency_key  text,
    product_id       bigint,
    from_location_id bigint,
    to_location_id   bigint,
    qty              numeric(18,4),
    reason           text,
    reference_type   text,
    reference_id     text,
    unit_cost        numeric(18,4),
    reverses_id      bigint,
    occurred_at      timestamptz,
    created_at       timestamptz,
    created_by       text,
    replayed         boolean
);

CREATE FUNCTION comparator.move_stock(idempotency_key text, product_id bigint,
                                      from_location_id bigint, to_location_id bigint, qty numeric,
                                      reason text DEFAULT NULL, reference_type text DEFAULT NULL,
                                      reference_id text DEFAULT NULL, unit_cost numeric DEFAULT NULL,
                                      occurred_at timestamptz DEFAULT NULL)
RETURNS comparator.movement
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    tenant          bigint;
    m               comparator.stock_movements%ROWTYPE;
    tracks          boolean;
    deleted         boolean;
    from_internal   boolean;
    to_internal     boolean;
    loc             bigint;
    outgoing        boolean;
    avail           numeric;
    diff            text[] := '{}';
BEGIN
    -- 1. arguments, in easeinv's order and with its messages and SQLSTATEs
    IF move_stock.idempotency_key IS NULL THEN
        RAISE EXCEPTION 'idempotency key must not be null' USING ERRCODE = '22004',
            HINT = 'Send a key that identifies this movement, the same on every retry.';
    END IF;
    IF char_length(move_stock.idempotency_key) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'idempotency key must have 1 to 255 characters, not %',
            char_length(move_stock.idempotency_key) USING ERRCODE = '22023',
            HINT = 'Use a UUID or another key of at most 255 characters.';
    END IF;
    IF move_stock.product_id IS NULL THEN
        RAISE EXCEPTION 'product_id must not be null' USING ERRCODE = '22004';
    END IF;
    IF move_stock.from_location_id IS NULL THEN
        RAISE EXCEPTION 'from_location_id must not be null' USING ERRCODE = '22004';
    END IF;
    IF move_stock.to_location_id IS NULL THEN
        RAISE EXCEPTION 'to_location_id must not be null' USING ERRCODE = '22004';
    END IF;
    IF move_stock.qty IS NULL THEN
        RAISE EXCEPTION 'qty must not be null' USING ERRCODE = '22004';
    END IF;
    IF move_stock.qty IN ('NaN', 'Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'qty must be a finite number' USING ERRCODE = '22023';
    END IF;
    IF move_stock.qty <= 0 THEN
        RAISE EXCEPTION 'qty must be positive, not %', move_stock.qty USING ERRCODE = '22023',
            HINT = 'A movement moves a positive quantity; correct a mistake with a reversing movement.';
    END IF;
    IF scale(move_stock.qty) > 4 THEN
        RAISE EXCEPTION 'qty % has more than 4 decimal places', move_stock.qty USING ERRCODE = '22023',
            HINT = 'Quantities and costs are kept to 4 decimal places; round before sending.';
    END IF;
    IF move_stock.qty >= 100000000000000 THEN
        RAISE EXCEPTION 'qty % is too large', move_stock.qty USING ERRCODE = '22003',
            DETAIL = 'The largest quantity is 99999999999999.9999.';
    END IF;
    IF move_stock.from_location_id = move_stock.to_location_id THEN
        RAISE EXCEPTION 'from_location_id and to_location_id are both %', move_stock.from_location_id
            USING ERRCODE = '22023', HINT = 'A movement goes from one location to another.';
    END IF;
    IF char_length(move_stock.reason) > 500 THEN
        RAISE EXCEPTION 'reason must have at most 500 characters' USING ERRCODE = '22023';
    END IF;
    IF char_length(move_stock.reference_type) > 64 THEN
        RAISE EXCEPTION 'reference_type must have at most 64 characters' USING ERRCODE = '22023';
    END IF;
    IF char_length(move_stock.reference_id) > 255 THEN
        RAISE EXCEPTION 'reference_id must have at most 255 characters' USING ERRCODE = '22023';
    END IF;
    IF move_stock.unit_cost IS NOT NULL THEN
        IF move_stock.unit_cost IN ('NaN', 'Infinity', '-Infinity') THEN
            RAISE EXCEPTION 'unit_cost must be a finite number' USING ERRCODE = '22023';
        END IF;
        IF move_stock.unit_cost < 0 THEN
            RAISE EXCEPTION 'unit_cost must be zero or more, not %', move_stock.unit_cost
                USING ERRCODE = '22023';
        END IF;
        IF scale(move_stock.unit_cost) > 4 THEN
            RAISE EXCEPTION 'unit_cost % has more than 4 decimal places', move_stock.unit_cost
                USING ERRCODE = '22023';
        END IF;
        IF move_stock.unit_cost >= 100000000000000 THEN
            RAISE EXCEPTION 'unit_cost % is too large', move_stock.unit_cost USING ERRCODE = '22003';
        END IF;
    END IF;
    IF move_stock.occurred_at IS NOT NULL AND NOT isfinite(move_stock.occurred_at) THEN
        RAISE EXCEPTION 'occurred_at must be a finite time' USING ERRCODE = '22023';
    END IF;

    tenant := easeinv.current_tenant();

    -- 2. the replay check comes before every other check
    SELECT * INTO m FROM comparator.stock_movements s
     WHERE s.tenant_id = tenant AND s.idempotency_key = move_stock.idempotency_key;
    IF NOT FOUND THEN
        -- 3. what the movement refers to
        SELECT p.track_stock, p.deleted_at IS NOT NULL INTO tracks, deleted
          FROM comparator.products p
         WHERE p.tenant_id = tenant AND p.id = move_stock.product_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'product % does not exist', move_stock.product_id USING ERRCODE = '22023',
                HINT = 'Pass the id of a product of the current tenant.';
        END IF;
        IF deleted THEN
            RAISE EXCEPTION 'product % is deleted', move_stock.product_id USING ERRCODE = '22023',
                HINT = 'Restore the product (deleted_at = NULL) before moving its stock.';
        END IF;
        IF NOT tracks THEN
            RAISE EXCEPTION 'product % does not track stock', move_stock.product_id USING ERRCODE = '22023',
                HINT = 'Set track_stock on the product to keep a ledger of it.';
        END IF;
        SELECT l.kind IN ('warehouse', 'store', 'bin'), l.deleted_at IS NOT NULL INTO from_internal, deleted
          FROM comparator.locations l
         WHERE l.tenant_id = tenant AND l.id = move_stock.from_location_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'location % (from_location_id) does not exist', move_stock.from_location_id
                USING ERRCODE = '22023', HINT = 'Pass the id of a location of the current tenant.';
        END IF;
        IF deleted THEN
            RAISE EXCEPTION 'location % (from_location_id) is deleted', move_stock.from_location_id
                USING ERRCODE = '22023';
        END IF;
        SELECT l.kind IN ('warehouse', 'store', 'bin'), l.deleted_at IS NOT NULL INTO to_internal, deleted
          FROM comparator.locations l
         WHERE l.tenant_id = tenant AND l.id = move_stock.to_location_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'location % (to_location_id) does not exist', move_stock.to_location_id
                USING ERRCODE = '22023', HINT = 'Pass the id of a location of the current tenant.';
        END IF;
        IF deleted THEN
            RAISE EXCEPTION 'location % (to_location_id) is deleted', move_stock.to_location_id
                USING ERRCODE = '22023';
        END IF;

        -- 4. insert, or find that a concurrent session with the same key won
        INSERT INTO comparator.stock_movements AS s
               (tenant_id, idempotency_key, product_id, from_location_id, to_location_id, qty, reason,
                reference_type, reference_id, unit_cost, occurred_at, created_by)
        VALUES (tenant, move_stock.idempotency_key, move_stock.product_id, move_stock.from_location_id,
                move_stock.to_location_id, move_stock.qty, move_stock.reason, move_stock.reference_type,
                move_stock.reference_id, move_stock.unit_cost,
                COALESCE(move_stock.occurred_at, now()), current_user)
        ON CONFLICT DO NOTHING     -- no target, as easeinv: the key and the one-reversal index
        RETURNING s.* INTO m;
        IF FOUND THEN
            -- 5. the projection, lower location id first
            FOR i IN 1..2 LOOP
                loc := CASE WHEN i = 1 THEN least(move_stock.from_location_id, move_stock.to_location_id)
                            ELSE greatest(move_stock.from_location_id, move_stock.to_location_id) END;
                outgoing := loc = move_stock.from_location_id;
                INSERT INTO comparator.stock_levels AS l (tenant_id, product_id, location_id, on_hand)
                VALUES (tenant, move_stock.product_id, loc,
                        CASE WHEN outgoing THEN -move_stock.qty ELSE move_stock.qty END)
                ON CONFLICT (tenant_id, product_id, location_id) DO UPDATE
                   SET on_hand = l.on_hand + excluded.on_hand, updated_at = now()
                RETURNING l.on_hand - l.reserved INTO avail;
                IF outgoing AND from_internal AND avail < 0 THEN
                    IF NOT COALESCE((SELECT (t.settings ->> 'allow_negative_stock')::boolean
                                       FROM easeinv.tenants t WHERE t.id = tenant), false) THEN
                        RAISE EXCEPTION 'insufficient stock of product % at location %',
                            move_stock.product_id, loc USING ERRCODE = '23514',
                            DETAIL = format('Moving %s would leave %s available.', move_stock.qty, avail),
                            HINT = 'Receive stock first, move less, or allow negative stock in the '
                                   'tenant''s settings (allow_negative_stock).';
                    END IF;
                END IF;
            END LOOP;
            RETURN ROW(m.id, m.idempotency_key, m.product_id, m.from_location_id, m.to_location_id,
                       m.qty, m.reason, m.reference_type, m.reference_id, m.unit_cost, m.reverses_id,
                       m.occurred_at, m.created_at, m.created_by, false)::comparator.movement;
        END IF;
        -- the other session committed first: ours is a replay of its movement
        SELECT * INTO m FROM comparator.stock_movements s
         WHERE s.tenant_id = tenant AND s.idempotency_key = move_stock.idempotency_key;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'could not serialize access due to a concurrent movement with the same idempotency key'
                USING ERRCODE = '40001',
                      HINT = 'Retry the transaction; the retry returns the stored movement.';
        END IF;
    END IF;

    -- a replay: the stored movement must carry the same payload
    IF m.product_id <> move_stock.product_id THEN
        diff := diff || format('product_id (first %s, now %s)', m.product_id, move_stock.product_id);
    END IF;
    IF m.from_location_id <> move_stock.from_location_id THEN
        diff := diff || format('from_location_id (first %s, now %s)', m.from_location_id, move_stock.from_location_id);
    END IF;
    IF m.to_location_id <> move_stock.to_location_id THEN
        diff := diff || format('to_location_id (first %s, now %s)', m.to_location_id, move_stock.to_location_id);
    END IF;
    IF m.qty <> move_stock.qty THEN
        diff := diff || format('qty (first %s, now %s)', m.qty, move_stock.qty);
    END IF;
    IF m.reason IS DISTINCT FROM move_stock.reason THEN
        diff := diff || format('reason (first %s, now %s)', COALESCE(m.reason, 'null'),
                               COALESCE(move_stock.reason, 'null'));
    END IF;
    IF m.reference_type IS DISTINCT FROM move_stock.reference_type THEN
        diff := diff || format('reference_type (first %s, now %s)', COALESCE(m.reference_type, 'null'),
                               COALESCE(move_stock.reference_type, 'null'));
    END IF;
    IF m.reference_id IS DISTINCT FROM move_stock.reference_id THEN
        diff := diff || format('reference_id (first %s, now %s)', COALESCE(m.reference_id, 'null'),
                               COALESCE(move_stock.reference_id, 'null'));
    END IF;
    IF m.unit_cost IS DISTINCT FROM move_stock.unit_cost THEN
        diff := diff || format('unit_cost (first %s, now %s)', COALESCE(m.unit_cost::text, 'null'),
                               COALESCE(move_stock.unit_cost::text, 'null'));
    END IF;
    IF m.reverses_id IS NOT NULL THEN
        diff := diff || format('reverses_id (first %s, now null)', m.reverses_id);
    END IF;
    -- occurred_at defaults to the time of the first call: compare it only when given
    IF move_stock.occurred_at IS NOT NULL AND m.occurred_at <> move_stock.occurred_at THEN
        diff := diff || format('occurred_at (first %s, now %s)', m.occurred_at, move_stock.occurred_at);
    END IF;
    IF cardinality(diff) > 0 THEN
        RAISE EXCEPTION 'idempotency key "%" was already used for a different movement',
            move_stock.idempotency_key USING ERRCODE = '23505',
            DETAIL = 'Differs: ' || array_to_string(diff, ', ') || '.',
            HINT = 'Retry with exactly the first payload to get the stored movement back, or use a '
                   'new key for a new movement.';
    END IF;
    RETURN ROW(m.id, m.idempotency_key, m.product_id, m.from_location_id, m.to_location_id, m.qty,
               m.reason, m.reference_type, m.reference_id, m.unit_cost, m.reverses_id, m.occurred_at,
               m.created_at, m.created_by, true)::comparator.movement;
END
$fn$;
COMMENT ON FUNCTION comparator.move_stock(text, bigint, bigint, bigint, numeric, text, text, text, numeric, timestamptz) IS
    'benchmark comparator: easeinv.move_stock semantics in PL/pgSQL under row level security';

-- what the application role needs for a SECURITY INVOKER function (see the header)
GRANT USAGE ON SCHEMA comparator TO easeinv_app;
GRANT SELECT ON comparator.locations, comparator.products TO easeinv_app;
GRANT SELECT, INSERT ON comparator.stock_movements TO easeinv_app;
GRANT SELECT, INSERT, UPDATE ON comparator.stock_levels TO easeinv_app;
GRANT USAGE ON SEQUENCE comparator.stock_movements_id_seq TO easeinv_app;
