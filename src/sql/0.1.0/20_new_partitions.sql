
-------------------------------------------------------------------------------------------------
-- Partitions added later.  enable_tenancy protects the partitions a table has when it is called;
-- PostgreSQL clones the row guard onto later ones, but not row level security or the policies,
-- so a partition created with PARTITION OF or attached with ATTACH PARTITION would be readable
-- directly by every tenant.  This event trigger protects the whole tree again at the end of any
-- CREATE TABLE or ALTER TABLE that touches a partition tree whose root is a tenant table.  It runs
-- as the role that ran the DDL, which owns the root (PostgreSQL requires it for both commands); if
-- protecting fails, the DDL fails with it.
-------------------------------------------------------------------------------------------------
CREATE FUNCTION easeinv.protect_new_partitions() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    root regclass;
BEGIN
    -- enable_tenancy's own ALTER TABLEs fire this trigger too; it runs with this set
    IF current_setting('easeinv_internal.protecting', true) = 'on' THEN
        RETURN;
    END IF;
    FOR root IN
        SELECT DISTINCT pg_partition_root(c.objid)
          FROM pg_event_trigger_ddl_commands() c
         WHERE c.classid = 'pg_class'::regclass AND c.object_type = 'table'
    LOOP
        CONTINUE WHEN root IS NULL;
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_policy p
                                   WHERE p.polrelid = root AND p.polname = 'easeinv_tenant_isolation');
        CONTINUE WHEN NOT EXISTS (
            SELECT 1 FROM pg_partition_tree(root) t JOIN pg_class k ON k.oid = t.relid
             WHERE k.relkind IN ('r', 'p')
               AND (NOT k.relrowsecurity OR NOT k.relforcerowsecurity
                    OR NOT easeinv.tenant_policy_intact(t.relid)
                    OR NOT easeinv.guard_intact(t.relid, true)));
        PERFORM easeinv.enable_tenancy(root);
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION easeinv.protect_new_partitions() IS
    'event trigger: protects partitions created or attached after enable_tenancy';

CREATE EVENT TRIGGER easeinv_protect_new_partitions ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION easeinv.protect_new_partitions();
