
-------------------------------------------------------------------------------------------------
-- Bulk imports (begun): a CSV is copied into a staging table of the transaction, checked as a
-- whole, and applied set-based.
--
--   BEGIN;
--   SELECT easeinv.set_tenant(42);
--   SELECT easeinv.begin_import('movements');      -- creates pg_temp.import_movements
--   COPY import_movements FROM STDIN (FORMAT csv, HEADER);
--   SELECT * FROM easeinv.check_import('movements'); -- every bad row: row, column, value, reason
--   ...
--
-- The staging table is a temporary table dropped at commit: private to the session (no tenant
-- can see another's rows), unlogged, and usable through a transaction pooler.  Its columns are
-- the CSV's, all text, so that COPY never stops at a bad value: the check reports every one.
-------------------------------------------------------------------------------------------------

CREATE FUNCTION easeinv.begin_import(kind text) RETURNS text
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM easeinv.current_tenant();           -- no tenant context: refused (42501)
    IF kind IS NULL OR kind NOT IN ('movements') THEN
        RAISE EXCEPTION 'unknown import kind "%"', kind
            USING ERRCODE = '22023', HINT = 'Imports so far: movements.';
    END IF;
    IF to_regclass('pg_temp.import_' || kind) IS NOT NULL THEN
        RAISE EXCEPTION 'an import of % is already open in this transaction', kind
            USING ERRCODE = '55000', HINT = 'Copy more rows into it, or roll back to start again.';
    END IF;
    CREATE TEMPORARY TABLE import_movements (
        idempotency_key text,
        sku             text,
        from_location   text,
        to_location     text,
        qty             text,
        unit_cost       text,
        reason          text,
        reference_type  text,
        reference_id    text,
        occurred_at     text
    ) ON COMMIT DROP;
    RETURN 'COPY import_movements FROM STDIN (FORMAT csv, HEADER)';
END
$fn$;
COMMENT ON FUNCTION easeinv.begin_import(text) IS
    'opens an import for the transaction: creates the staging table (text columns as in the CSV) and returns the COPY command';

-- check_import: every bad row of the open import, with the column and the reason; applies nothing
CREATE FUNCTION easeinv.check_import(kind text)
RETURNS TABLE (row_no bigint, column_name text, value text, reason text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    tenant bigint := easeinv.current_tenant();
BEGIN
    IF kind IS NULL OR kind NOT IN ('movements') THEN
        RAISE EXCEPTION 'unknown import kind "%"', kind
            USING ERRCODE = '22023', HINT = 'Imports so far: movements.';
    END IF;
    IF to_regclass('pg_temp.import_' || kind) IS NULL THEN
        RAISE EXCEPTION 'no import of % is open in this transaction', kind
            USING ERRCODE = '55000', HINT = format('Call easeinv.begin_import(%L) first, in the same transaction.', kind);
    END IF;
    RETURN QUERY
    WITH r AS (
        -- rows in file order (a fresh temporary heap written by COPY holds them in that order)
        SELECT row_number() OVER (ORDER BY m.ctid) AS n, m.* FROM pg_temp.import_movements m
    ), c AS (
        SELECT r.*,
               NULLIF(btrim(r.idempotency_key), '') AS k,
               p.id AS product_id, p.track_stock,
               fl.id AS from_id, tl.id AS to_id,
               CASE WHEN btrim(r.qty) ~ '^[0-9]{1,30}(\.[0-9]{1,30})?$' THEN btrim(r.qty)::numeric END AS q,
               CASE WHEN btrim(r.unit_cost) ~ '^[0-9]{1,30}(\.[0-9]{1,30})?$' THEN btrim(r.unit_cost)::numeric END AS cost,
               btrim(r.occurred_at) ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?)?[ ]*(Z|[+-][01][0-9](:?[0-5][0-9])?)?$' AS time_ok
          FROM r
          LEFT JOIN easeinv.products p ON p.tenant_id = tenant AND p.sku = btrim(r.sku) AND p.deleted_at IS NULL
          LEFT JOIN easeinv.locations fl ON fl.tenant_id = tenant AND fl.code = btrim(r.from_location) AND fl.deleted_at IS NULL
          LEFT JOIN easeinv.locations tl ON tl.tenant_id = tenant AND tl.code = btrim(r.to_location) AND tl.deleted_at IS NULL
    ), bad AS (
        SELECT n, 'idempotency_key' AS col, idempotency_key AS v, 'missing' AS why FROM c WHERE k IS NULL
        UNION ALL SELECT n, 'idempotency_key', idempotency_key, 'longer than 255 characters' FROM c WHERE length(k) > 255
        UNION ALL SELECT n, 'idempotency_key', idempotency_key, 'keys starting with easeinv: are reserved' FROM c WHERE k LIKE 'easeinv:%'
        UNION ALL SELECT d.n, 'idempotency_key', d.idempotency_key, 'also in row ' || d.first || ' with another payload'
          FROM (SELECT c.*, first_value(n) OVER w AS first, first_value(payload) OVER w AS first_payload
                  FROM (SELECT c.*, ROW(sku, from_location, to_location, qty, unit_cost, reason, reference_type,
                                        reference_id, occurred_at)::text AS payload FROM c) c
                 WHERE k IS NOT NULL WINDOW w AS (PARTITION BY k ORDER BY n)) d
         WHERE d.payload <> d.first_payload
        UNION ALL SELECT n, 'sku', sku, CASE WHEN NULLIF(btrim(sku), '') IS NULL THEN 'missing' ELSE 'no product with this SKU' END
          FROM c WHERE product_id IS NULL
        UNION ALL SELECT n, 'sku', sku, 'the product does not track stock' FROM c WHERE product_id IS NOT NULL AND NOT track_stock
        UNION ALL SELECT n, 'from_location', from_location,
                         CASE WHEN NULLIF(btrim(from_location), '') IS NULL THEN 'missing' ELSE 'no location with this code' END
          FROM c WHERE from_id IS NULL
        UNION ALL SELECT n, 'to_location', to_location,
                         CASE WHEN NULLIF(btrim(to_location), '') IS NULL THEN 'missing' ELSE 'no location with this code' END
          FROM c WHERE to_id IS NULL
        UNION ALL SELECT n, 'to_location', to_location, 'the same as from_location' FROM c WHERE from_id = to_id
        UNION ALL SELECT n, 'qty', qty,
                         CASE WHEN NULLIF(btrim(qty), '') IS NULL THEN 'missing'
                              WHEN q IS NULL OR q = 0 THEN 'not a positive number'
                              WHEN q >= 1e14 THEN 'too large (at most 14 digits before the point)'
                              ELSE 'more than 4 decimal places' END
          FROM c WHERE q IS NULL OR q = 0 OR q >= 1e14 OR min_scale(q) > 4
        UNION ALL SELECT n, 'unit_cost', unit_cost,
                         CASE WHEN cost IS NULL THEN 'not a number (0 or more)' ELSE 'too large or more than 4 decimal places' END
          FROM c WHERE NULLIF(btrim(unit_cost), '') IS NOT NULL AND (cost IS NULL OR cost >= 1e14 OR min_scale(cost) > 4)
        UNION ALL SELECT n, 'occurred_at', occurred_at, 'not a date and time (2025-10-01 or 2025-10-01 14:30:00+05:30)'
          FROM c WHERE NULLIF(btrim(occurred_at), '') IS NOT NULL AND NOT time_ok
        UNION ALL SELECT n, 'reason', reason, 'longer than 500 characters' FROM c WHERE length(reason) > 500
        UNION ALL SELECT n, 'reference_id', reference_id, 'longer than 200 characters' FROM c WHERE length(reference_id) > 200
    )
    SELECT bad.n, bad.col, bad.v, bad.why FROM bad ORDER BY bad.n, bad.col;
END
$fn$;
COMMENT ON FUNCTION easeinv.check_import(text) IS
    'every bad row of the open import (row number in the file, column, value, reason); applies nothing';
REVOKE ALL ON FUNCTION easeinv.begin_import(text), easeinv.check_import(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easeinv.begin_import(text), easeinv.check_import(text) TO easeinv_app, easeinv_admin;

-- what apply_import returns
CREATE TYPE easeinv.import_summary AS (
    kind       text,
    rows       bigint,      -- rows in the staging table
    applied    bigint,      -- new movements stored
    replayed   bigint,      -- rows whose key was stored already with the same payload (or repeated in the file)
    rejected   bigint,      -- bad rows left out (skip_bad) -- all or nothing refuses instead
    levels     bigint,      -- stock_levels rows written, once each
    elapsed_ms numeric
);

CREATE FUNCTION easeinv.apply_import(kind text, skip_bad boolean DEFAULT false)
RETURNS easeinv.import_summary
    AS 'MODULE_PATHNAME', 'apply_import'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION easeinv.apply_import(text, boolean) IS
    'applies the open import set-based: all or nothing (every bad row named), or the good rows with skip_bad; idempotent per row';
REVOKE ALL ON FUNCTION easeinv.apply_import(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easeinv.apply_import(text, boolean) TO easeinv_app, easeinv_admin;

-- how far running imports have got: the COPY into a staging table, as other sessions see it
CREATE VIEW easeinv.import_progress WITH (security_invoker = true) AS
SELECT p.pid, p.relid::regclass AS staging_table, p.tuples_processed AS rows_copied,
       p.bytes_processed, p.bytes_total, a.usename, a.query_start
  FROM pg_catalog.pg_stat_progress_copy p
  JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid
 WHERE p.relid::regclass::text LIKE '%import\_%';
COMMENT ON VIEW easeinv.import_progress IS
    'running imports: rows and bytes copied so far into a staging table (pg_stat_progress_copy)';
GRANT SELECT ON easeinv.import_progress TO easeinv_app, easeinv_admin;
