
-------------------------------------------------------------------------------------------------
-- Rules decided at movement time stay true afterwards.
--
-- Whether a location is internal (warehouse, store, bin: never below zero unless the tenant
-- allows it) or virtual, and whether a product tracks stock, decide how a movement is checked
-- and posted.  Changing them once the location or product has history would break what the
-- ledger promised: flip a warehouse to supplier, move out more than it holds, flip it back, and
-- the warehouse is negative.  So a location with history keeps its class (internal kinds may
-- change among themselves, virtual kinds among themselves), and a product with movements or
-- with lines on issued invoices keeps track_stock.  A movement posting at that moment is seen
-- too: every writer of movements and reservations holds the tenant's movement gate (an advisory
-- lock of easeinv's own, shared) while it reads what decides its checks and until it commits; a
-- guard that finds no history takes the gate exclusive and looks again with the latest snapshot
-- (src/ledger.c, movement_gate).  verify_stock()
-- reports an internal location below zero in a tenant that does not allow it, however it got
-- there.
-------------------------------------------------------------------------------------------------
CREATE FUNCTION easeinv.location_history_exists(tenant bigint, location bigint) RETURNS boolean
    AS 'MODULE_PATHNAME', 'location_history_exists'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION easeinv.location_history_exists(bigint, bigint) IS
    'whether stock moved at the location or is reserved there, seen after every movement in flight (the context''s tenant only)';
CREATE FUNCTION easeinv.product_history_exists(tenant bigint, product bigint) RETURNS boolean
    AS 'MODULE_PATHNAME', 'product_history_exists'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION easeinv.product_history_exists(bigint, bigint) IS
    'whether the product has movements, levels, reservations or issued invoice lines, seen after every movement in flight (the context''s tenant only)';

CREATE FUNCTION easeinv.location_kind_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    was_internal boolean := OLD.kind IN ('warehouse', 'store', 'bin');
    is_internal  boolean := NEW.kind IN ('warehouse', 'store', 'bin');
BEGIN
    -- its movements and levels name it by id (in replica mode without their foreign keys)
    IF NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'the id of location "%" cannot change', OLD.code
            USING ERRCODE = '55000', HINT = 'Ids are the identity of a location; create another location instead.';
    END IF;
    IF NEW.kind IS NOT DISTINCT FROM OLD.kind OR was_internal = is_internal THEN
        RETURN NEW;
    END IF;
    IF easeinv.location_history_exists(OLD.tenant_id, OLD.id) THEN
        RAISE EXCEPTION 'location "%" has stock history: it cannot change from % to %', OLD.code, OLD.kind, NEW.kind
            USING ERRCODE = '55000',
                  DETAIL = format('A %s location is %s; its movements were checked as such, and changing it would break '
                                  'what they were checked for (an internal location never goes below zero).',
                                  OLD.kind, CASE WHEN was_internal THEN 'internal' ELSE 'virtual' END),
                  HINT = 'Create a new location of the kind you need and move the stock there; '
                         'internal kinds (warehouse, store, bin) may change among themselves.';
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION easeinv.location_kind_guard() IS
    'trigger on locations: a location with stock history stays internal or virtual';
-- every UPDATE, not UPDATE OF kind: another BEFORE trigger may change kind without the statement
-- naming it; named to fire after the other BEFORE triggers (they fire in name order), so that
-- it judges the row that will be stored
CREATE TRIGGER zz_easeinv_locations_rules BEFORE UPDATE ON easeinv.locations
    FOR EACH ROW EXECUTE FUNCTION easeinv.location_kind_guard();

CREATE FUNCTION easeinv.product_track_stock_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'the id of product "%" cannot change', OLD.sku
            USING ERRCODE = '55000', HINT = 'Ids are the identity of a product; create another product instead.';
    END IF;
    IF NEW.track_stock IS NOT DISTINCT FROM OLD.track_stock THEN
        RETURN NEW;
    END IF;
    IF easeinv.product_history_exists(OLD.tenant_id, OLD.id) THEN
        RAISE EXCEPTION 'product "%" has stock history: track_stock cannot change', OLD.sku
            USING ERRCODE = '55000',
                  DETAIL = CASE WHEN OLD.track_stock
                                THEN 'Its movements and issued invoices posted stock; without tracking, their cancellations and credit notes could not return it.'
                                ELSE 'Its issued invoices posted no stock; with tracking, their credit notes would return goods that never left.' END,
                  HINT = 'Create a new product (a new SKU) with the setting you need, and soft-delete this one.';
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION easeinv.product_track_stock_guard() IS
    'trigger on products: a product with stock history or issued invoice lines keeps track_stock';
CREATE TRIGGER zz_easeinv_products_rules BEFORE UPDATE ON easeinv.products
    FOR EACH ROW EXECUTE FUNCTION easeinv.product_track_stock_guard();

CREATE OR REPLACE FUNCTION easeinv.verify_stock()
RETURNS TABLE (tenant_id bigint, product_id bigint, location_id bigint, measure text,
               level_value numeric, expected numeric, drift numeric)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT COALESCE(l.tenant_id, g.tenant_id), COALESCE(l.product_id, g.product_id),
       COALESCE(l.location_id, g.location_id), 'on_hand', l.on_hand, g.on_hand,
       COALESCE(l.on_hand, 0) - COALESCE(g.on_hand, 0)
  FROM easeinv.stock_levels l
  FULL JOIN easeinv.ledger_balances() g
    ON g.tenant_id = l.tenant_id AND g.product_id = l.product_id AND g.location_id = l.location_id
 WHERE COALESCE(l.on_hand, 0) <> COALESCE(g.on_hand, 0)
UNION ALL
SELECT COALESCE(l.tenant_id, r.tenant_id), COALESCE(l.product_id, r.product_id),
       COALESCE(l.location_id, r.location_id), 'reserved', l.reserved, r.reserved,
       COALESCE(l.reserved, 0) - COALESCE(r.reserved, 0)
  FROM easeinv.stock_levels l
  FULL JOIN easeinv.reservation_balances() r
    ON r.tenant_id = l.tenant_id AND r.product_id = l.product_id AND r.location_id = l.location_id
 WHERE COALESCE(l.reserved, 0) <> COALESCE(r.reserved, 0)
UNION ALL
-- an internal location below zero in a tenant that does not allow negative stock: the ledger
-- broke the rule (a location's kind or a tenant's setting changed under it, or rows loaded by
-- hand); expected is 0, drift how far below
SELECT g.tenant_id, g.product_id, g.location_id, 'below_zero', g.on_hand, 0::numeric, g.on_hand
  FROM easeinv.ledger_balances() g
  JOIN easeinv.locations c ON c.tenant_id = g.tenant_id AND c.id = g.location_id
  JOIN easeinv.tenants t ON t.id = g.tenant_id
 WHERE g.on_hand < 0 AND c.kind IN ('warehouse', 'store', 'bin')
   AND NOT COALESCE((t.settings ->> 'allow_negative_stock')::boolean, false)
UNION ALL
-- stock of a product or at a location that does not exist (deleted with the foreign keys off:
-- session_replication_role = replica skips them, the history guards below do not)
SELECT g.tenant_id, g.product_id, g.location_id,
       CASE WHEN NOT EXISTS (SELECT 1 FROM easeinv.products p WHERE p.tenant_id = g.tenant_id AND p.id = g.product_id)
            THEN 'unknown_product' ELSE 'unknown_location' END,
       g.on_hand, NULL::numeric, NULL::numeric
  FROM easeinv.ledger_balances() g
 WHERE NOT EXISTS (SELECT 1 FROM easeinv.products p WHERE p.tenant_id = g.tenant_id AND p.id = g.product_id)
    OR NOT EXISTS (SELECT 1 FROM easeinv.locations c WHERE c.tenant_id = g.tenant_id AND c.id = g.location_id)
 ORDER BY 1, 2, 3, 4
$fn$;

CREATE OR REPLACE FUNCTION easeinv.rebuild_stock_levels()
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    changed bigint;
BEGIN
    -- below_zero is a fact of the ledger, not drift of the projection: nothing to rebuild
    WITH drift AS (SELECT DISTINCT v.tenant_id, v.product_id, v.location_id FROM easeinv.verify_stock() v
                    WHERE v.measure IN ('on_hand', 'reserved')),
    target AS (
        SELECT d.tenant_id, d.product_id, d.location_id,
               COALESCE(g.on_hand, 0) AS on_hand, COALESCE(r.reserved, 0) AS reserved
          FROM drift d
          LEFT JOIN easeinv.ledger_balances() g USING (tenant_id, product_id, location_id)
          LEFT JOIN easeinv.reservation_balances() r USING (tenant_id, product_id, location_id)),
    fixed AS (
        INSERT INTO easeinv.stock_levels AS l (tenant_id, product_id, location_id, on_hand, reserved)
        SELECT t.tenant_id, t.product_id, t.location_id, t.on_hand, t.reserved FROM target t
        ON CONFLICT (tenant_id, product_id, location_id) DO UPDATE
           SET on_hand = excluded.on_hand, reserved = excluded.reserved, updated_at = now()
        RETURNING 1)
    SELECT count(*) INTO changed FROM fixed;
    RETURN changed;
END
$fn$;

-- A location or product with history is never deleted: the levels' foreign keys say so in
-- normal operation, but PostgreSQL skips foreign keys in replica mode, where a delete and an
-- insert under the same id would change a location's class after all.  Soft-delete instead.
CREATE FUNCTION easeinv.history_delete_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF TG_TABLE_NAME LIKE 'locations%' THEN
        IF easeinv.location_history_exists(OLD.tenant_id, OLD.id) THEN
            RAISE EXCEPTION 'location "%" has stock history: it cannot be deleted', OLD.code
                USING ERRCODE = '23503',
                      HINT = 'Set deleted_at to retire it; its movements keep referring to it.';
        END IF;
    ELSIF easeinv.product_history_exists(OLD.tenant_id, OLD.id) THEN
        RAISE EXCEPTION 'product "%" has stock history: it cannot be deleted', OLD.sku
            USING ERRCODE = '23503',
                  HINT = 'Set deleted_at to retire it; its movements and invoices keep referring to it.';
    END IF;
    RETURN OLD;
END
$fn$;
COMMENT ON FUNCTION easeinv.history_delete_guard() IS
    'trigger on locations and products: one with stock history is soft-deleted, never deleted';
CREATE TRIGGER easeinv_locations_with_history BEFORE DELETE ON easeinv.locations
    FOR EACH ROW EXECUTE FUNCTION easeinv.history_delete_guard();
CREATE TRIGGER easeinv_products_with_history BEFORE DELETE ON easeinv.products
    FOR EACH ROW EXECUTE FUNCTION easeinv.history_delete_guard();

-- the guards fire as whoever updates the row; the history functions hold the tenant's movement
-- gate, so only the roles that write stock may call them
REVOKE ALL ON FUNCTION easeinv.location_kind_guard(), easeinv.product_track_stock_guard(),
                       easeinv.history_delete_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION easeinv.location_history_exists(bigint, bigint),
                       easeinv.product_history_exists(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easeinv.location_history_exists(bigint, bigint),
                          easeinv.product_history_exists(bigint, bigint) TO easeinv_app, easeinv_admin;

-- TRUNCATE is refused for everyone, superusers included, on what is append-only or frozen: the
-- ledger, the payments, the invoices and their lines (the tenant guard's TRUNCATE trigger lets
-- the maintenance role and superusers through on other tenant tables).  To remove an
-- installation, DROP EXTENSION.
-- TRUNCATE triggers are not cloned onto partitions: each table of the tree gets its own.
DO $truncate$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT p.relid::regclass AS rel, x.fn
          FROM (VALUES ('easeinv.stock_movements'::regclass, 'easeinv.ledger_guard()'),
                       ('easeinv.payments'::regclass, 'easeinv.append_only(''payments'')'),
                       ('easeinv.invoices'::regclass,
                        'easeinv.append_only(''invoices (an issued invoice keeps its number for ever)'', '
                        '''Cancel an invoice with easeinv.cancel_invoice(), or issue a credit note.'')'),
                       ('easeinv.invoice_lines'::regclass,
                        'easeinv.append_only(''invoice lines (an issued invoice never changes)'', '
                        '''Cancel an invoice with easeinv.cancel_invoice(), or issue a credit note.'')')) x (root, fn)
         CROSS JOIN LATERAL pg_catalog.pg_partition_tree(x.root) p
    LOOP
        EXECUTE pg_catalog.format('CREATE TRIGGER easeinv_no_truncate BEFORE TRUNCATE ON %s '
                                  'FOR EACH STATEMENT EXECUTE FUNCTION %s', t.rel, t.fn);
    END LOOP;
END
$truncate$;
