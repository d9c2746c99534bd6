
-------------------------------------------------------------------------------------------------
-- Proving the projection equals the ledger, and restoring it.  Set-based SQL: one aggregate over
-- the ledger joined to the levels (a C wrapper around the same query would add nothing).
-------------------------------------------------------------------------------------------------

-- the ledger's on_hand per (tenant, product, location): in minus out
CREATE FUNCTION easeinv.ledger_balances()
RETURNS TABLE (tenant_id bigint, product_id bigint, location_id bigint, on_hand numeric)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT m.tenant_id, m.product_id, m.location_id, sum(m.delta)::numeric(18,4)
  FROM (SELECT s.tenant_id, s.product_id, s.to_location_id AS location_id, s.qty AS delta
          FROM easeinv.stock_movements s
        UNION ALL
        SELECT s.tenant_id, s.product_id, s.from_location_id, -s.qty
          FROM easeinv.stock_movements s) m
 GROUP BY m.tenant_id, m.product_id, m.location_id
$fn$;
COMMENT ON FUNCTION easeinv.ledger_balances() IS
    'on_hand per tenant, product and location as the ledger says (rows visible to the caller)';

-- what active reservations hold per (tenant, product, location)
CREATE FUNCTION easeinv.reservation_balances()
RETURNS TABLE (tenant_id bigint, product_id bigint, location_id bigint, reserved numeric)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT r.tenant_id, r.product_id, r.location_id, sum(r.qty - r.consumed - r.released)::numeric(18,4)
  FROM easeinv.stock_reservations r
 WHERE r.status = 'active'
 GROUP BY r.tenant_id, r.product_id, r.location_id
$fn$;
COMMENT ON FUNCTION easeinv.reservation_balances() IS
    'reserved per tenant, product and location as the active reservations say';

-- verify_stock: every (tenant, product, location) whose stock_levels differs from what it
-- projects: on_hand from the ledger, reserved from the active reservations (including a level
-- row missing or left over).  No rows: the projection is exact.  It sees what the caller sees:
-- the current tenant under row level security, every tenant for the maintenance role.
CREATE FUNCTION easeinv.verify_stock()
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
 ORDER BY 1, 2, 3, 4
$fn$;
COMMENT ON FUNCTION easeinv.verify_stock() IS
    'each difference between stock_levels and the ledger and reservations; no rows means the projection is exact';

-- rebuild_stock_levels: make every drifting level row equal to what it projects (the current
-- tenant's, or every tenant's when run by the maintenance role with no tenant context).  Returns
-- how many level rows it changed.
CREATE FUNCTION easeinv.rebuild_stock_levels()
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    changed bigint;
BEGIN
    WITH drift AS (SELECT DISTINCT v.tenant_id, v.product_id, v.location_id FROM easeinv.verify_stock() v),
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
COMMENT ON FUNCTION easeinv.rebuild_stock_levels() IS
    'repair stock_levels from the ledger and the reservations (maintenance role); returns the rows changed';

REVOKE ALL ON FUNCTION easeinv.rebuild_stock_levels() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easeinv.rebuild_stock_levels() TO easeinv_admin;
GRANT INSERT, UPDATE ON easeinv.stock_levels TO easeinv_admin;
