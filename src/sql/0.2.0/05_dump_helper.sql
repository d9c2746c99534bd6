
-- register_for_dump: make pg_dump keep every row of a tenant table the extension owns (its leaf
-- partitions hold the rows; a plain table holds them itself) and its identity sequences.  Only
-- callable from the extension's scripts, as pg_extension_config_dump is; one call per statement,
-- since each rewrites the pg_extension row.
CREATE FUNCTION easeinv.register_for_dump(tbl regclass) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN
        SELECT c.oid::regclass
          FROM pg_class c
         WHERE c.relkind = 'r'
           AND c.oid IN (SELECT tbl::oid UNION ALL SELECT p.relid FROM pg_partition_tree(tbl) p)
        UNION ALL
        SELECT pg_get_serial_sequence(tbl::text, a.attname)::regclass
          FROM pg_attribute a
         WHERE a.attrelid = tbl AND a.attidentity <> '' AND NOT a.attisdropped
    LOOP
        PERFORM pg_extension_config_dump(rel, '');
    END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION easeinv.register_for_dump(regclass) FROM PUBLIC;
COMMENT ON FUNCTION easeinv.register_for_dump(regclass) IS
    'extension scripts only: pg_dump keeps the rows of a tenant table (its partitions) and its sequences';
