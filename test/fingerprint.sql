-- test/fingerprint.sql: public.easeinv_fingerprint(), what an installation of easeinv consists
-- of (its objects and function bodies, the columns, indexes, constraints, policies, triggers and
-- their enabled states, RLS, ACLs of its tables, its configuration tables), as a count and an md5.
-- Shared by sql/08_upgrade.sql (an upgraded installation equals a fresh one) and
-- test/t/040_restore.pl (a restored one does).
CREATE FUNCTION public.easeinv_fingerprint() RETURNS TABLE (objects bigint, fingerprint text)
LANGUAGE sql AS $$
WITH ext AS (SELECT oid, extconfig FROM pg_extension WHERE extname = 'easeinv'),
parts AS (
    SELECT 'object ' || pg_describe_object(d.classid, d.objid, d.objsubid)
           || COALESCE(' ' || md5(pg_get_functiondef(p.oid)), '') AS item
      FROM pg_depend d JOIN ext ON d.refobjid = ext.oid
      LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid AND p.prokind <> 'a'
     WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
    UNION ALL
    SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || COALESCE(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
      FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
     WHERE c.relnamespace = 'easeinv'::regnamespace
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
      FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'easeinv'::regnamespace
    UNION ALL
    SELECT 'constraint ' || c.relname || ' ' || pg_get_constraintdef(k.oid)
      FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE c.relnamespace = 'easeinv'::regnamespace
    UNION ALL
    SELECT 'policy ' || c.relname || ' ' || p.polname || ' ' || COALESCE(pg_get_expr(p.polqual, p.polrelid), '')
      FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = 'easeinv'::regnamespace
    UNION ALL
    SELECT 'trigger ' || c.relname || ' ' || pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = 'easeinv'::regnamespace AND NOT t.tgisinternal
    UNION ALL
    SELECT 'event trigger ' || e.evtname || ' enabled ' || e.evtenabled::text FROM pg_event_trigger e
    UNION ALL
    SELECT 'rls ' || c.relname || ' ' || c.relrowsecurity || ' ' || c.relforcerowsecurity
      FROM pg_class c WHERE c.relnamespace = 'easeinv'::regnamespace AND c.relkind IN ('r', 'p')
    UNION ALL
    SELECT 'acl ' || c.relname || ' ' || COALESCE(c.relacl::text, '')
      FROM pg_class c WHERE c.relnamespace = 'easeinv'::regnamespace
    UNION ALL
    SELECT 'config ' || cfg::regclass::text FROM ext, unnest(ext.extconfig) cfg
)
SELECT count(*), md5(string_agg(item, E'\n' ORDER BY item)) FROM parts
$$;
