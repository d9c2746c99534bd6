
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

-- verify_stock: every (tenant, product, location) whose stock_levels.on_hand differs from the
-- ledger, a level row with no movements behind it, or movements with no level row.  No rows: the
-- projection equals the ledger.  It sees what the caller sees: the current tenant under row level
-- security, every tenant for the maintenance role.
CREATE FUNCTION easeinv.verify_stock()
RETURNS TABLE (tenant_id bigint, product_id bigint, location_id bigint,
               level_on_hand numeric, ledger_on_hand numeric, drift numeric)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT COALESCE(l.tenant_id, g.tenant_id), COALESCE(l.product_id, g.product_id),
       COALESCE(l.location_id, g.location_id), l.on_hand, g.on_hand,
       COALESCE(l.on_hand, 0) - COALESCE(g.on_hand, 0)
  FROM easeinv.stock_levels l
  FULL JOIN easeinv.ledger_balances() g
    ON g.tenant_id = l.tenant_id AND g.product_id = l.product_id AND g.location_id = l.location_id
 WHERE COALESCE(l.on_hand, 0) <> COALESCE(g.on_hand, 0)
    OR (l.tenant_id IS NULL) <> (g.tenant_id IS NULL) AND COALESCE(l.on_hand, g.on_hand) <> 0
 ORDER BY 1, 2, 3
$fn$;
COMMENT ON FUNCTION easeinv.verify_stock() IS
    'each difference between stock_levels and the ledger; no rows means the projection is exact';

-- rebuild_stock_levels: make on_hand equal to the ledger for every drifting row (the current
-- tenant's, or every tenant's when run by the maintenance role with no tenant context).  Returns
-- how many level rows it changed.  Reserved quantities are left as they are.
CREATE FUNCTION easeinv.rebuild_stock_levels()
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    changed bigint;
BEGIN
    WITH drift AS (SELECT * FROM easeinv.verify_stock()),
    fixed AS (
        INSERT INTO easeinv.stock_levels AS l (tenant_id, product_id, location_id, on_hand)
        SELECT d.tenant_id, d.product_id, d.location_id, COALESCE(d.ledger_on_hand, 0) FROM drift d
        ON CONFLICT (tenant_id, product_id, location_id) DO UPDATE
           SET on_hand = excluded.on_hand, updated_at = now()
        RETURNING 1)
    SELECT count(*) INTO changed FROM fixed;
    RETURN changed;
END
$fn$;
COMMENT ON FUNCTION easeinv.rebuild_stock_levels() IS
    'repair stock_levels.on_hand from the ledger (maintenance role); returns the rows changed';

REVOKE ALL ON FUNCTION easeinv.rebuild_stock_levels() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easeinv.rebuild_stock_levels() TO easeinv_admin;
GRANT INSERT, UPDATE ON easeinv.stock_levels TO easeinv_admin;
