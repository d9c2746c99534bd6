
-------------------------------------------------------------------------------------------------
-- Parallel restores.  A plain pg_restore (serial, or --single-transaction) loads the extension's
-- configuration tables in the order pg_dump gives them, which follows the foreign keys between
-- them.  pg_restore --jobs ignores that order: it makes each TABLE DATA entry depend on its
-- table only, so payments_p000 may be loaded before invoices_p000 and invoices_p000 before
-- invoice_series, and their foreign-key checks fail.  So, as TimescaleDB does
-- (timescaledb_pre_restore / timescaledb_post_restore), a parallel restore is bracketed:
--
--   createdb x
--   PGOPTIONS='-c easeinv.partitions=N' pg_restore --section=pre-data -d x dump
--   psql -d x -c "SELECT easeinv.pre_restore();"
--   pg_restore --jobs 4 --section=data --section=post-data -d x dump
--   psql -d x -c "SELECT easeinv.post_restore();"
--
-- The schema comes from the dump's pre-data section, not from a CREATE EXTENSION of one's own:
-- the dump creates schema easeinv itself (CREATE SCHEMA, which fails when it exists), then runs
-- CREATE EXTENSION IF NOT EXISTS easeinv in it.
--
-- pre_restore sets aside the foreign keys between two of the extension's tables (saved in
-- easeinv.restore_foreign_keys, then dropped); post_restore adds them back exactly, validating
-- every restored row, and proves the stock levels equal the ledger.
--
-- Keys from a table to itself stay: locations.parent_id, a credit note's original_invoice_id and
-- a refund's refunds_id reference rows of the same tenant, so of the same leaf, which the same
-- COPY loads; a COPY checks its foreign keys once, at the end of the statement, so the order of
-- the leaves does not matter to them.  (On a partitioned table such a key also has one derived
-- constraint per partition, named by PostgreSQL (..._fkey1, ..._fkey2): dropping and adding it
-- again would leave those names to PostgreSQL's choice.)
-------------------------------------------------------------------------------------------------

-- the foreign keys pre_restore set aside, until post_restore adds them back; the owner's alone,
-- not a tenant table, not dumped (CREATE EXTENSION makes it empty)
CREATE TABLE easeinv.restore_foreign_keys (
    conrelid    regclass NOT NULL,
    conname     name NOT NULL,
    definition  text NOT NULL,
    saved_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conrelid, conname)
);
COMMENT ON TABLE easeinv.restore_foreign_keys IS
    'foreign keys between the extension''s tables set aside by pre_restore() until post_restore() adds them back';
REVOKE ALL ON easeinv.restore_foreign_keys FROM PUBLIC;

-- the foreign keys a parallel restore must not check while it loads: declared (not derived) on
-- a table of the extension or a partition of one, referencing another table of the extension
CREATE FUNCTION easeinv.restore_foreign_key_candidates()
RETURNS TABLE (conrelid regclass, conname name, definition text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH members AS (
    SELECT d.objid AS rel
      FROM pg_depend d
     WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
       AND d.deptype = 'e'
       AND d.refobjid = (SELECT e.oid FROM pg_extension e WHERE e.extname = 'easeinv')
)
SELECT k.conrelid::regclass, k.conname, pg_get_constraintdef(k.oid)
  FROM pg_constraint k
 WHERE k.contype = 'f' AND k.conparentid = 0
   AND coalesce(pg_partition_root(k.conrelid)::oid, k.conrelid) IN (SELECT rel FROM members)
   AND coalesce(pg_partition_root(k.confrelid)::oid, k.confrelid) IN (SELECT rel FROM members)
   AND coalesce(pg_partition_root(k.conrelid)::oid, k.conrelid) <> coalesce(pg_partition_root(k.confrelid)::oid, k.confrelid)
 ORDER BY k.conrelid::regclass::text, k.conname
$fn$;
REVOKE ALL ON FUNCTION easeinv.restore_foreign_key_candidates() FROM PUBLIC;
COMMENT ON FUNCTION easeinv.restore_foreign_key_candidates() IS
    'the foreign keys between two of the extension''s tables that pre_restore() sets aside';

CREATE FUNCTION easeinv.pre_restore()
RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    cfg       record;
    has_rows  boolean;
    loaded    text[] := '{}';
    k         record;
    saved     integer;
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'permission denied to prepare a restore'
            USING ERRCODE = '42501',
                  DETAIL = 'easeinv.pre_restore() drops foreign keys of the extension''s tables.',
                  HINT = 'Run it as the superuser that restores the dump.';
    END IF;
    -- only into an empty database: the rows pg_dump keeps of each configuration table (for
    -- gst_rates, the rows administrators added) must all be missing
    FOR cfg IN
        SELECT c.oid::regclass AS rel, coalesce(pg_partition_root(c.oid)::oid, c.oid)::regclass AS root,
               coalesce(e.extcondition[x.n], '') AS cond
          FROM pg_extension e
         CROSS JOIN LATERAL generate_subscripts(e.extconfig, 1) x (n)
          JOIN pg_class c ON c.oid = e.extconfig[x.n]
         WHERE e.extname = 'easeinv' AND c.relkind = 'r'
         ORDER BY coalesce(pg_partition_root(c.oid)::oid, c.oid)::regclass::text, c.oid::regclass::text
    LOOP
        CONTINUE WHEN cfg.root::text = ANY (loaded);
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s %s)', cfg.rel, cfg.cond) INTO has_rows;
        IF has_rows THEN
            loaded := loaded || cfg.root::text;
        END IF;
    END LOOP;
    IF cardinality(loaded) > 0 THEN
        RAISE EXCEPTION 'easeinv.pre_restore() needs a database whose easeinv tables are empty'
            USING ERRCODE = '55000',
                  DETAIL = format('%s %s rows.', array_to_string(loaded, ', '),
                                  CASE cardinality(loaded) WHEN 1 THEN 'has' ELSE 'have' END),
                  HINT = CASE WHEN EXISTS (SELECT 1 FROM easeinv.restore_foreign_keys)
                              THEN 'A restore is in progress: finish it with SELECT easeinv.post_restore();'
                              ELSE 'Call it in a new database, after pg_restore --section=pre-data and before the data is restored.' END;
    END IF;

    -- save each key, then drop it; a second call finds none left to drop
    FOR k IN SELECT * FROM easeinv.restore_foreign_key_candidates() LOOP
        INSERT INTO easeinv.restore_foreign_keys AS s (conrelid, conname, definition)
        VALUES (k.conrelid, k.conname, k.definition)
        ON CONFLICT (conrelid, conname) DO UPDATE SET definition = excluded.definition, saved_at = now();
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', k.conrelid, k.conname);
    END LOOP;
    SELECT count(*) INTO saved FROM easeinv.restore_foreign_keys;
    RAISE NOTICE '% foreign keys between easeinv tables set aside', saved
        USING HINT = 'Now pg_restore --jobs N --section=data --section=post-data, then SELECT easeinv.post_restore();';
    RETURN saved;
END
$fn$;
REVOKE ALL ON FUNCTION easeinv.pre_restore() FROM PUBLIC;
COMMENT ON FUNCTION easeinv.pre_restore() IS
    'before a parallel pg_restore into a new database: sets aside the foreign keys between easeinv tables (superuser; returns how many)';

CREATE FUNCTION easeinv.post_restore()
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    k        record;
    cur      record;
    added    integer := 0;
    detail   text;
    cfg      record;
    n        bigint;
    counts   jsonb := '{}';
    drift    bigint;
    sample   text;
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'permission denied to finish a restore'
            USING ERRCODE = '42501',
                  DETAIL = 'easeinv.post_restore() adds foreign keys to the extension''s tables.',
                  HINT = 'Run it as the superuser that restored the dump.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM easeinv.restore_foreign_keys) THEN
        RAISE EXCEPTION 'easeinv.post_restore() without easeinv.pre_restore()'
            USING ERRCODE = '55000',
                  DETAIL = 'No foreign keys are set aside: pre_restore() was not called in this database, or post_restore() has finished already.',
                  HINT = 'A parallel restore is: pg_restore --section=pre-data; SELECT easeinv.pre_restore(); pg_restore --jobs N --section=data --section=post-data; SELECT easeinv.post_restore();';
    END IF;

    -- every key back, under its name, checked against every restored row
    BEGIN
        FOR k IN SELECT s.conrelid, s.conname, s.definition FROM easeinv.restore_foreign_keys s
                  ORDER BY s.conrelid::text, s.conname LOOP
            cur := k;
            IF EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = k.conrelid AND c.conname = k.conname) THEN
                RAISE EXCEPTION 'constraint "%" of table % exists already', k.conname, k.conrelid
                    USING ERRCODE = '55000',
                          DETAIL = 'post_restore() adds back the foreign keys pre_restore() dropped.',
                          HINT = format('Drop it (ALTER TABLE %s DROP CONSTRAINT %I), then run post_restore() again.', k.conrelid, k.conname);
            END IF;
            EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.conrelid, k.conname, k.definition);
            added := added + 1;
        END LOOP;
    EXCEPTION
        WHEN foreign_key_violation THEN
            GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
            RAISE EXCEPTION 'restored rows of % violate foreign key "%"', cur.conrelid, cur.conname
                USING ERRCODE = '23503',
                      DETAIL = coalesce(detail || ' ', '') || format('The key is %s.', cur.definition),
                      HINT = 'The dump is incomplete or the database had rows before the restore. '
                             'Nothing was changed: fix or delete the rows, then run post_restore() again.';
    END;
    DELETE FROM easeinv.restore_foreign_keys;

    -- what was restored, per table (the rows pg_dump keeps of it)
    FOR cfg IN
        SELECT coalesce(pg_partition_root(c.oid)::oid, c.oid)::regclass AS root,
               array_agg(format('SELECT count(*) FROM %s %s', c.oid::regclass, coalesce(e.extcondition[x.n], ''))
                         ORDER BY c.oid::regclass::text) AS queries
          FROM pg_extension e
         CROSS JOIN LATERAL generate_subscripts(e.extconfig, 1) x (n)
          JOIN pg_class c ON c.oid = e.extconfig[x.n]
         WHERE e.extname = 'easeinv' AND c.relkind = 'r'
         GROUP BY 1 ORDER BY 1::text
    LOOP
        EXECUTE 'SELECT coalesce(sum(n), 0) FROM (' || array_to_string(cfg.queries, ' UNION ALL ') || ') q (n)'
           INTO n;
        counts := counts || jsonb_build_object(replace(cfg.root::text, 'easeinv.', ''), n);
    END LOOP;

    -- the levels must be the projection of the restored ledger and reservations
    SELECT count(*), string_agg(format('tenant %s, product %s, location %s: %s is %s, expected %s',
                                       v.tenant_id, v.product_id, v.location_id, v.measure,
                                       coalesce(v.level_value::text, 'missing'), coalesce(v.expected, 0)), '; ')
      INTO drift, sample
      FROM (SELECT * FROM easeinv.verify_stock() x WHERE x.measure IN ('on_hand', 'reserved') LIMIT 3) v;
    IF drift > 0 THEN
        SELECT count(*) INTO drift FROM easeinv.verify_stock() x WHERE x.measure IN ('on_hand', 'reserved');
        RAISE EXCEPTION 'the restored stock levels do not match the ledger and the reservations (% differences)', drift
            USING ERRCODE = '55000',
                  DETAIL = sample || CASE WHEN drift > 3 THEN '; ...' ELSE '' END,
                  HINT = 'Nothing was changed. The dump''s levels had drifted or the restore is incomplete: '
                         'SELECT easeinv.rebuild_stock_levels(); repairs the levels from the ledger, then run post_restore() again.';
    END IF;

    -- what the ledger and the invoices break (reported, not refused: the dump holds them so, and
    -- rebuilding cannot change them; see verify_stock() and verify_invoices())
    RETURN jsonb_build_object('foreign_keys', added, 'rows', counts, 'stock_drift', 0,
                              'stock_rules_broken', (SELECT count(*) FROM easeinv.verify_stock() x
                                                      WHERE x.measure NOT IN ('on_hand', 'reserved')),
                              'invoice_problems', (SELECT count(*) FROM easeinv.verify_invoices()));
END
$fn$;
REVOKE ALL ON FUNCTION easeinv.post_restore() FROM PUBLIC;
COMMENT ON FUNCTION easeinv.post_restore() IS
    'after a parallel pg_restore: adds back the foreign keys pre_restore() set aside, validated, and proves the stock levels (superuser; returns a summary)';
