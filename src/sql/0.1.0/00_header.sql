-- easeinv install script.  Built from src/sql/*.sql by the Makefile; edit the pieces, not the
-- generated easeinv--X.Y.Z.sql.  Every object lives in schema easeinv; every SQL and PL/pgSQL
-- function pins search_path.  C functions carry no SET clause, which would cost a GUC
-- save/restore per call on the hottest paths (current_tenant() runs once per statement in every
-- policy).  The SQL they run follows one rule (src/owner.c): every statement runs between
-- owner_begin() and owner_end(), which pin search_path to pg_catalog, pg_temp, so bare operators
-- and built-in functions resolve in pg_catalog only, easeinv's objects are schema-qualified and
-- temporary tables are pg_temp.name; sql/20_planted_operators.sql runs every C function with
-- look-alike operators first in the caller's path.  Their catalog lookups (the tenant check, the
-- guard's column) go by schema-qualified name or OID, never through search_path.

\echo Use "CREATE EXTENSION easeinv" to load this file. \quit

-- easeinv.partitions is read here, once: it fixes how many hash partitions every large tenant
-- table gets.  When the library is not loaded yet, a SET before CREATE EXTENSION leaves an
-- unchecked placeholder, so the value is validated here before anything is created.  Unset
-- (NULL) and reset ('') mean the default, 16.
DO $validate$
DECLARE
    v text := pg_catalog.current_setting('easeinv.partitions', true);
BEGIN
    IF v <> '' AND (v !~ '^\s*[0-9]{1,4}\s*$' OR v::integer NOT BETWEEN 1 AND 256) THEN
        RAISE EXCEPTION 'invalid value for easeinv.partitions: "%"', v
            USING ERRCODE = '22023',
                  DETAIL = 'easeinv.partitions is the number of hash partitions of each large tenant table.',
                  HINT = 'Set easeinv.partitions to a whole number from 1 to 256 before CREATE EXTENSION, or leave it unset for 16.';
    END IF;
END
$validate$;

-- Settings fixed at install time (read by later upgrade scripts, so that a table added by an
-- upgrade is partitioned like the others).  Not a configuration table for pg_dump: CREATE
-- EXTENSION writes it again on restore.
CREATE TABLE easeinv.config (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO easeinv.config (key, value)
VALUES ('partitions', COALESCE(NULLIF(pg_catalog.btrim(pg_catalog.current_setting('easeinv.partitions', true)), ''), '16'));
COMMENT ON TABLE easeinv.config IS 'easeinv settings fixed by CREATE EXTENSION (partitions: hash partitions per large tenant table)';
