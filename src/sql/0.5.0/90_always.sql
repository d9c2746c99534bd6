
-------------------------------------------------------------------------------------------------
-- Last piece of the release: every trigger of the extension's functions, on the extension's
-- tables and on application tables protected by enable_tenancy, fires in every replication role
-- (see 40_protection.sql).  On a partitioned table ENABLE ALWAYS reaches the clones on every
-- partition.
-------------------------------------------------------------------------------------------------
DO $always$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT g.tgrelid::regclass AS rel, g.tgname
          FROM pg_catalog.pg_trigger g
          JOIN pg_catalog.pg_proc f ON f.oid = g.tgfoid
         WHERE f.pronamespace = 'easeinv'::regnamespace AND NOT g.tgisinternal
           AND g.tgparentid = 0 AND g.tgenabled <> 'A'
         ORDER BY 1, 2
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', t.rel, t.tgname);
    END LOOP;
END
$always$;
