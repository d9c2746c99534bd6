
-------------------------------------------------------------------------------------------------
-- Protection that no session setting switches off.
--
-- 1. enable_tenancy is a C wrapper (src/protect.c) around its steps: while it runs, the
--    partition event trigger stands aside, told so by a counter in backend memory.  Until 0.4.0
--    that was the GUC easeinv_internal.protecting, which any session could set to create an
--    unprotected partition.
-- 2. Every protection trigger fires in every session_replication_role (ENABLE ALWAYS): in
--    replica mode, which migration tools and careless superusers set, PostgreSQL skips triggers
--    that are merely enabled, and with them the append-only, frozen-invoice and tenant guards.
--    The event trigger likewise.  (Foreign keys, PostgreSQL's own triggers, still do not fire
--    in replica mode; logical replication of easeinv's tables is not supported.)
-- 3. The partition event trigger acts on the commands that add a partition to a tenant table's
--    tree (easeinv.adds_partition, in C), not on every CREATE TABLE or ALTER TABLE that
--    touches the tree: protecting the tree behind pg_restore's back made its own CREATE POLICY
--    on a partition fail in a parallel restore.
-------------------------------------------------------------------------------------------------
DROP FUNCTION easeinv.enable_tenancy(regclass);

CREATE FUNCTION easeinv.enable_tenancy_steps(tbl regclass)
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    kind      "char";
    persist   "char";
    r         record;
    trg       record;
    has_guard boolean;
    qual      constant text := '(tenant_id OPERATOR(pg_catalog.=) (SELECT easeinv.current_tenant()))';
    has_index boolean;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT c.relkind, c.relpersistence INTO kind, persist FROM pg_class c WHERE c.oid = tbl;
    IF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '"%" is not a table', tbl
            USING ERRCODE = '42809',
                  DETAIL = format('It is a %s; row level security protects tables.',
                                  CASE kind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                                            WHEN 'f' THEN 'foreign table' WHEN 'S' THEN 'sequence'
                                            ELSE 'relation of kind ' || kind::text END),
                  HINT = 'Protect the underlying tables, and create views WITH (security_invoker = true).';
    END IF;
    IF persist = 't' THEN
        RAISE EXCEPTION 'temporary table "%" cannot be a tenant table', tbl
            USING ERRCODE = '0A000', HINT = 'Tenant tables are permanent tables shared by all sessions.';
    END IF;
    SELECT a.atttypid, a.attnotnull INTO r FROM pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = 'tenant_id' AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table "%" has no column tenant_id', tbl
            USING ERRCODE = '42703', HINT = 'Add tenant_id bigint NOT NULL as the first column of its keys.';
    ELSIF r.atttypid <> 'bigint'::regtype THEN
        RAISE EXCEPTION 'column tenant_id of table "%" is %, not bigint', tbl, r.atttypid::regtype
            USING ERRCODE = '42804', HINT = 'ALTER TABLE ... ALTER COLUMN tenant_id TYPE bigint.';
    ELSIF NOT r.attnotnull THEN
        RAISE EXCEPTION 'column tenant_id of table "%" is nullable', tbl
            USING ERRCODE = '55000', HINT = 'ALTER TABLE ... ALTER COLUMN tenant_id SET NOT NULL.';
    END IF;

    FOR r IN
        -- the table itself, then (pg_partition_tree lists nothing for a plain table) its partitions
        SELECT t.relid::regclass AS rel, t.level = 0 AS isroot,
               c.relrowsecurity, c.relforcerowsecurity
          FROM (SELECT tbl::oid AS relid, 0 AS level
                UNION ALL
                SELECT p.relid, p.level FROM pg_partition_tree(tbl) p WHERE p.level > 0) t
          JOIN pg_class c ON c.oid = t.relid
         WHERE c.relkind IN ('r', 'p')
         ORDER BY t.level, t.relid::regclass::text
    LOOP
        IF NOT r.relrowsecurity THEN
            EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', r.rel);
            RETURN NEXT format('%s: row level security enabled', r.rel);
        END IF;
        IF NOT r.relforcerowsecurity THEN
            EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', r.rel);
            RETURN NEXT format('%s: row level security forced', r.rel);
        END IF;

        IF NOT easeinv.tenant_policy_intact(r.rel) THEN
            IF EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = r.rel AND p.polname = 'easeinv_tenant_isolation') THEN
                EXECUTE format('DROP POLICY easeinv_tenant_isolation ON %s', r.rel);
            END IF;
            EXECUTE format('CREATE POLICY easeinv_tenant_isolation ON %s AS RESTRICTIVE FOR ALL TO PUBLIC '
                           'USING %s WITH CHECK %s', r.rel, qual, qual);
            RETURN NEXT format('%s: restrictive policy easeinv_tenant_isolation created', r.rel);
        END IF;
        IF NOT easeinv.access_policy_intact(r.rel) THEN
            IF EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = r.rel AND p.polname = 'easeinv_tenant_access') THEN
                EXECUTE format('DROP POLICY easeinv_tenant_access ON %s', r.rel);
            END IF;
            EXECUTE format('CREATE POLICY easeinv_tenant_access ON %s AS PERMISSIVE FOR ALL TO PUBLIC '
                           'USING (easeinv.tenant_access()) WITH CHECK (easeinv.tenant_access())', r.rel);
            RETURN NEXT format('%s: permissive policy easeinv_tenant_access created', r.rel);
        END IF;

        -- The row guard goes on the root; PostgreSQL clones it onto every partition, present and
        -- future.  A clone cannot be dropped on its own, only re-enabled; an altered root guard is
        -- dropped (with its clones) and created again.  TRUNCATE triggers are not cloned, so
        -- each table gets its own.
        IF NOT easeinv.guard_intact(r.rel) THEN
            SELECT g.tgparentid <> 0 AS cloned, g.tgenabled INTO trg FROM pg_trigger g
             WHERE g.tgrelid = r.rel AND g.tgname = 'easeinv_tenant_guard';
            has_guard := FOUND;
            IF has_guard AND trg.tgenabled <> 'A' THEN
                -- ALWAYS: a guard must fire in replica mode too (session_replication_role)
                EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER easeinv_tenant_guard', r.rel);
                RETURN NEXT format('%s: trigger easeinv_tenant_guard enabled', r.rel);
            END IF;
            IF NOT easeinv.guard_intact(r.rel) AND r.isroot THEN
                IF has_guard THEN
                    EXECUTE format('DROP TRIGGER easeinv_tenant_guard ON %s', r.rel);
                END IF;
                EXECUTE format('CREATE TRIGGER easeinv_tenant_guard BEFORE INSERT OR UPDATE OR DELETE ON %s '
                               'FOR EACH ROW EXECUTE FUNCTION easeinv.tenant_guard()', r.rel);
                EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER easeinv_tenant_guard', r.rel);
                RETURN NEXT format('%s: trigger easeinv_tenant_guard created', r.rel);
            END IF;
        END IF;
        IF NOT easeinv.guard_intact(r.rel, true) THEN
            IF EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = r.rel AND g.tgname = 'easeinv_tenant_truncate_guard') THEN
                EXECUTE format('DROP TRIGGER easeinv_tenant_truncate_guard ON %s', r.rel);
            END IF;
            EXECUTE format('CREATE TRIGGER easeinv_tenant_truncate_guard BEFORE TRUNCATE ON %s '
                           'FOR EACH STATEMENT EXECUTE FUNCTION easeinv.tenant_guard()', r.rel);
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER easeinv_tenant_truncate_guard', r.rel);
            RETURN NEXT format('%s: trigger easeinv_tenant_truncate_guard created', r.rel);
        END IF;

        IF NOT EXISTS (SELECT 1 FROM pg_attrdef d JOIN pg_attribute a
                              ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                        WHERE d.adrelid = r.rel AND a.attname = 'tenant_id'
                          AND pg_get_expr(d.adbin, d.adrelid) = 'easeinv.current_tenant()') THEN
            EXECUTE format('ALTER TABLE %s ALTER COLUMN tenant_id SET DEFAULT easeinv.current_tenant()', r.rel);
            RETURN NEXT format('%s: tenant_id defaults to easeinv.current_tenant()', r.rel);
        END IF;
    END LOOP;

    SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a
                          ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                    WHERE i.indrelid = tbl AND a.attname = 'tenant_id')
      INTO has_index;
    IF NOT has_index THEN
        RAISE NOTICE 'table "%" has no index leading with tenant_id', tbl
            USING HINT = 'Lead its primary key and indexes with tenant_id, e.g. PRIMARY KEY (tenant_id, id).';
    END IF;
    RETURN;
END
$fn$;
-- callable by anyone, as enable_tenancy is: it only adds protections, and without the C
-- wrapper its ALTER TABLEs merely let the event trigger protect the tree as well
COMMENT ON FUNCTION easeinv.enable_tenancy_steps(regclass) IS
    'the steps of enable_tenancy (call enable_tenancy, which tells the partition event trigger to stand aside)';

CREATE FUNCTION easeinv.enable_tenancy(tbl regclass) RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'enable_tenancy'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION easeinv.enable_tenancy(regclass) IS
    'make a table with tenant_id bigint NOT NULL a protected tenant table (idempotent); returns the changes made';

CREATE FUNCTION easeinv.protecting() RETURNS boolean
    AS 'MODULE_PATHNAME', 'protecting'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION easeinv.protecting() IS
    'true while an easeinv.enable_tenancy() of this backend runs (read by the partition event trigger)';

CREATE FUNCTION easeinv.adds_partition(cmd pg_ddl_command) RETURNS boolean
    AS 'MODULE_PATHNAME', 'adds_partition'
    LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION easeinv.adds_partition(pg_ddl_command) IS
    'whether a command of pg_event_trigger_ddl_commands() adds a partition (PARTITION OF, ATTACH PARTITION; read by the partition event trigger)';

CREATE OR REPLACE FUNCTION easeinv.guard_intact(rel regclass, truncate_guard boolean DEFAULT false) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT EXISTS (
    SELECT 1 FROM pg_trigger g
     WHERE g.tgrelid = rel
       AND g.tgname = CASE WHEN truncate_guard THEN 'easeinv_tenant_truncate_guard'
                           ELSE 'easeinv_tenant_guard' END
       AND g.tgfoid = 'easeinv.tenant_guard()'::regprocedure
       AND g.tgenabled = 'A'    -- fires in every session_replication_role
       AND g.tgqual IS NULL
       AND g.tgattr = ''::int2vector
       AND g.tgtype = CASE WHEN truncate_guard THEN 2 | 32 ELSE 1 | 2 | 4 | 8 | 16 END)
$fn$;

CREATE OR REPLACE FUNCTION easeinv.protect_new_partitions() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    root regclass;
BEGIN
    -- enable_tenancy's own ALTER TABLEs fire this trigger too; it needs no help then.  The state is
    -- in C (src/protect.c), out of users' reach: a settable switch would let any session create an
    -- unprotected partition.
    IF easeinv.protecting() THEN
        RETURN;
    END IF;
    -- the extension's own partitioned tables keep every partition: a detached partition would
    -- lose its guards (clones go with the parent) and leave the rules behind
    IF EXISTS (SELECT 1
                 FROM pg_event_trigger_ddl_commands() c
                 JOIN pg_class k ON k.oid = c.objid
                WHERE c.classid = 'pg_class'::regclass AND c.object_type = 'table'
                  AND c.command_tag = 'ALTER TABLE'
                  AND k.relnamespace = 'easeinv'::regnamespace AND k.relkind = 'p'
                  AND (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = k.oid)
                      < easeinv.partition_count()) THEN
        RAISE EXCEPTION 'partitions of easeinv''s tables cannot be detached'
            USING ERRCODE = '55000',
                  DETAIL = 'A detached partition keeps the rows but loses the triggers that guard them.',
                  HINT = 'Leave the extension''s partitions attached; DROP EXTENSION removes an installation.';
    END IF;
    -- Only a command that adds a partition (CREATE TABLE ... PARTITION OF, ALTER TABLE ... ATTACH
    -- PARTITION) to a tenant table's tree protects the tree.  Other DDL on the tree is left to
    -- whoever runs it: pg_restore creates each partition's policies and guards itself, after the
    -- partitions are attached, and in a parallel restore one worker's ALTER TABLE on a partition
    -- (ENABLE ROW LEVEL SECURITY, a key, a trigger) can run between another's CREATE POLICY on the
    -- root and on that partition; protecting the tree then made that CREATE POLICY fail
    -- ("already exists").  No name or setting of the session is consulted.
    FOR root IN
        -- the command's object: the new partition of a CREATE TABLE, the parent of an ATTACH
        SELECT DISTINCT pg_partition_root(c.objid)
          FROM pg_event_trigger_ddl_commands() c
         WHERE c.classid = 'pg_class'::regclass AND c.object_type = 'table'
           AND easeinv.adds_partition(c.command)
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
ALTER EVENT TRIGGER easeinv_protect_new_partitions ENABLE ALWAYS;

CREATE OR REPLACE FUNCTION easeinv.audit_tenancy()
RETURNS TABLE (table_name regclass, problem text, detail text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH t AS (
    SELECT c.oid AS rel, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
           a.attnum AS tattno, a.atttypid, a.attnotnull
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
     WHERE c.relkind IN ('r', 'p')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname !~ '^pg_temp_' AND n.nspname !~ '^pg_toast'
),
problems AS (
    SELECT rel, 'tenant_id is not bigint NOT NULL' AS problem,
           format('tenant_id is %s%s', atttypid::regtype, CASE WHEN attnotnull THEN '' ELSE ', nullable' END) AS detail
      FROM t WHERE atttypid <> 'bigint'::regtype OR NOT attnotnull
    UNION ALL
    SELECT rel, 'row level security is off', 'ALTER TABLE ... ENABLE ROW LEVEL SECURITY, or easeinv.enable_tenancy()'
      FROM t WHERE NOT relrowsecurity
    UNION ALL
    SELECT rel, 'row level security is not forced', 'the table owner is not confined; easeinv.enable_tenancy() forces it'
      FROM t WHERE NOT relforcerowsecurity
    UNION ALL
    SELECT rel, 'no tenant policy',
           'no unaltered restrictive policy easeinv_tenant_isolation for all commands'
      FROM t WHERE NOT easeinv.tenant_policy_intact(rel)
    UNION ALL
    SELECT rel, 'no base policy', 'no unaltered permissive policy easeinv_tenant_access'
      FROM t WHERE NOT easeinv.access_policy_intact(rel)
    UNION ALL
    SELECT rel, 'no guard trigger',
           'no enabled, unaltered BEFORE INSERT OR UPDATE OR DELETE row trigger easeinv_tenant_guard'
      FROM t WHERE NOT easeinv.guard_intact(rel)
    UNION ALL
    SELECT rel, 'no truncate guard', 'no enabled, unaltered BEFORE TRUNCATE trigger easeinv_tenant_truncate_guard'
      FROM t WHERE NOT easeinv.guard_intact(rel, true)
    UNION ALL
    SELECT rel, 'no index leads with tenant_id', 'lead the primary key and indexes with tenant_id'
      FROM t WHERE NOT EXISTS (SELECT 1 FROM pg_index i
                                WHERE i.indrelid = t.rel AND i.indkey[0] = t.tattno)
    UNION ALL
    -- a unique index without tenant_id tells one tenant whether another has a key
    -- (ON CONFLICT and unique violations answer across tenants)
    SELECT t.rel, 'unique index without tenant_id',
           format('%s: a duplicate-key error or ON CONFLICT reveals other tenants'' keys', i.indexrelid::regclass)
      FROM t JOIN pg_index i ON i.indrelid = t.rel
     WHERE (i.indisunique OR i.indisexclusion) AND NOT (t.tattno = ANY (i.indkey::int2[]))
    UNION ALL
    SELECT t.rel, 'foreign key without tenant_id',
           format('%s references tenant table %s without matching tenant_id', con.conname, con.confrelid::regclass)
      FROM t
      JOIN pg_constraint con ON con.conrelid = t.rel AND con.contype = 'f'
      JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attname = 'tenant_id' AND NOT ra.attisdropped
     WHERE con.conparentid = 0
       AND NOT EXISTS (SELECT 1 FROM generate_subscripts(con.conkey, 1) k
                        WHERE con.conkey[k] = t.tattno AND con.confkey[k] = ra.attnum)
    UNION ALL
    -- A protection trigger merely enabled does not fire in replica mode (session_replication_role):
    -- every trigger of the extension's functions, on any table, must be ENABLE ALWAYS.  Clones on
    -- partitions are reported with their table.
    SELECT g.tgrelid,
           'protection trigger would not fire in every replication role',
           format('trigger %s is %s; ALTER TABLE ... ENABLE ALWAYS TRIGGER %s (or easeinv.enable_tenancy())',
                  g.tgname, CASE g.tgenabled WHEN 'D' THEN 'disabled'
                                             WHEN 'R' THEN 'enabled in replica mode only'
                                             ELSE 'not fired in replica mode' END, g.tgname)
      FROM pg_trigger g
      JOIN pg_proc f ON f.oid = g.tgfoid
     WHERE f.pronamespace = 'easeinv'::regnamespace AND NOT g.tgisinternal AND g.tgenabled <> 'A'
       AND g.tgname NOT IN ('easeinv_tenant_guard', 'easeinv_tenant_truncate_guard')  -- reported above
    UNION ALL
    SELECT NULL::oid, 'event trigger would not fire in every replication role',
           format('event trigger %s is %s; ALTER EVENT TRIGGER %s ENABLE ALWAYS', e.evtname,
                  CASE e.evtenabled WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'enabled in replica mode only'
                                    ELSE 'not fired in replica mode' END, e.evtname)
      FROM pg_event_trigger e
     WHERE e.evtname = 'easeinv_protect_new_partitions' AND e.evtenabled <> 'A'
    UNION ALL
    SELECT NULL::oid, 'event trigger missing',
           'easeinv_protect_new_partitions is gone: partitions created later are not protected; ALTER EXTENSION easeinv UPDATE cannot restore it, reinstall the extension'
     WHERE NOT EXISTS (SELECT 1 FROM pg_event_trigger e WHERE e.evtname = 'easeinv_protect_new_partitions')
    UNION ALL
    -- A view runs with its owner's rights: owned by a role that bypasses RLS, it shows every
    -- tenant unless it is security_invoker.  A materialized view has no RLS at all.
    SELECT DISTINCT v.oid,
           CASE v.relkind WHEN 'm' THEN 'materialized view of a tenant table'
                          ELSE 'view bypasses row level security' END,
           CASE v.relkind
                WHEN 'm' THEN format('it copies %s with no row level security', d.refobjid::regclass)
                ELSE format('owned by %s, which bypasses row level security, it reads %s for every tenant; '
                            'use WITH (security_invoker = true)', v.relowner::regrole, d.refobjid::regclass)
           END
      FROM pg_class v
      JOIN pg_rewrite rw ON rw.ev_class = v.oid
      JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
                      AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> v.oid
      JOIN t ON t.rel = d.refobjid
      JOIN pg_roles o ON o.oid = v.relowner
     WHERE v.relkind = 'm'
        OR (v.relkind = 'v' AND (o.rolsuper OR o.rolbypassrls)
            AND NOT EXISTS (SELECT 1 FROM unnest(v.reloptions) opt
                             WHERE lower(opt) IN ('security_invoker=true', 'security_invoker=on',
                                                  'security_invoker=1', 'security_invoker=yes')))
)
SELECT rel::regclass, problem, detail FROM problems ORDER BY rel::regclass::text NULLS FIRST, problem
$fn$;
