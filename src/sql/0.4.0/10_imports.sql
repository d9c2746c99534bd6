
-------------------------------------------------------------------------------------------------
-- Bulk imports: a CSV is copied into a staging table of the transaction, checked as a
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

-- Every kind's staging columns, checks and apply are in C (src/imports.c), one table of kinds:
--   movements      idempotency_key, sku, from_location, to_location, qty, unit_cost, reason,
--                  reference_type, reference_id, occurred_at
--   products       sku, name, hsn_code, unit, gst_rate, track_stock
--   opening_stock  sku, location, qty, unit_cost, occurred_at

CREATE FUNCTION easeinv.begin_import(kind text) RETURNS text
    AS 'MODULE_PATHNAME', 'begin_import'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION easeinv.begin_import(text) IS
    'opens an import for the transaction: creates the staging table pg_temp.import_<kind> (text columns as in the CSV) and returns the COPY command';

-- check_import: every bad row of the open import, with the column and the reason; applies nothing
CREATE FUNCTION easeinv.check_import(kind text)
RETURNS TABLE (row_no bigint, column_name text, value text, reason text)
    AS 'MODULE_PATHNAME', 'check_import'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION easeinv.check_import(text) IS
    'every bad row of the open import (row number in the file, column, value, reason); applies nothing';

-- import_time: a strict ISO date or date and time (1900-2999), NULL when the text is not one
CREATE FUNCTION easeinv.import_time(value text) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'import_time'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION easeinv.import_time(text) IS
    'the timestamptz of 2025-10-01, 2025-10-01 14:30[:00[.ffffff]] or with T, Z or an offset (+05:30); NULL for anything else (STABLE: TimeZone)';

-- import_numeric: digits with an optional fraction, NULL when the text is not one
CREATE FUNCTION easeinv.import_numeric(value text) RETURNS numeric
    AS 'MODULE_PATHNAME', 'import_numeric'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION easeinv.import_numeric(text) IS
    'the numeric of 12 or 12.50 (blanks around allowed, 30 digits at most either side); NULL for anything else';

-- what apply_import returns; rows = applied + replayed + rejected + skipped
CREATE TYPE easeinv.import_summary AS (
    kind       text,
    rows       bigint,      -- rows in the staging table
    applied    bigint,      -- new rows stored (movements, products)
    replayed   bigint,      -- rows stored already with the same payload (or repeated in the file)
    rejected   bigint,      -- bad rows left out (skip_bad) -- all or nothing refuses instead
    skipped    bigint,      -- rows that store nothing: blank rows, opening stock of zero
    levels     bigint,      -- stock_levels rows written, once each
    elapsed_ms numeric
);

CREATE FUNCTION easeinv.apply_import(kind text, skip_bad boolean DEFAULT false)
RETURNS easeinv.import_summary
    AS 'MODULE_PATHNAME', 'apply_import'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION easeinv.apply_import(text, boolean) IS
    'applies the open import set-based: all or nothing (every bad row named), or the good rows with skip_bad; idempotent per row';
REVOKE ALL ON FUNCTION easeinv.begin_import(text), easeinv.check_import(text),
    easeinv.apply_import(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easeinv.begin_import(text), easeinv.check_import(text),
    easeinv.apply_import(text, boolean) TO easeinv_app, easeinv_admin;

-- how far running imports have got: the COPY into a staging table, as other sessions see it
CREATE VIEW easeinv.import_progress WITH (security_invoker = true) AS
SELECT p.pid, substring(a.query from '(?i)^\s*copy\s+(?:pg_temp\.)?(import_[a-z_]+)') AS staging_table,
       p.tuples_processed AS rows_copied, p.bytes_processed, p.bytes_total, a.usename, a.query_start
  FROM pg_catalog.pg_stat_progress_copy p
  JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid
 -- the staging table is not in other sessions' catalog snapshot (made in an open transaction):
 -- the running COPY is known by its text
 WHERE p.command = 'COPY FROM' AND a.query ~* '^\s*copy\s+(pg_temp\.)?import_[a-z_]+';
COMMENT ON VIEW easeinv.import_progress IS
    'running imports: rows and bytes copied so far into a staging table (pg_stat_progress_copy)';
GRANT SELECT ON easeinv.import_progress TO easeinv_app, easeinv_admin;
