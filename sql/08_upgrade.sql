-- Upgrades: an installation of 0.1.0 with data in it, updated with ALTER EXTENSION UPDATE, ends
-- up exactly like a fresh install of the current version, and its data keeps working.
\set SHOW_CONTEXT never
SELECT current_database() AS regress_db \gset

-- what an installation consists of: its objects and function bodies, the columns, indexes,
-- policies and triggers of its tables, and its configuration tables.  Created in template1 (of
-- this temporary instance) so that both new databases have it.
\c template1
SET check_function_bodies = off;
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
\c :regress_db
CREATE DATABASE easeinv_upgraded;
CREATE DATABASE easeinv_fresh;
\c template1
DROP FUNCTION public.easeinv_fingerprint();

\c easeinv_upgraded
\set SHOW_CONTEXT never
SET easeinv.partitions = 4;
CREATE EXTENSION easeinv VERSION '0.1.0';
SELECT extversion FROM pg_extension WHERE extname = 'easeinv';
SELECT id, slug FROM easeinv.create_tenant('before-upgrade', 'Before Upgrade', '27');
CREATE TABLE app_notes (tenant_id bigint NOT NULL, id bigint NOT NULL, body text, PRIMARY KEY (tenant_id, id));
SELECT count(*) FROM easeinv.enable_tenancy('app_notes');
INSERT INTO app_notes VALUES (1, 1, 'written under 0.1.0');
SELECT target, path FROM pg_extension_update_paths('easeinv') WHERE source = '0.1.0' AND path IS NOT NULL ORDER BY 1;
ALTER EXTENSION easeinv UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'easeinv';
-- the data of 0.1.0 and the new capability work together
CREATE ROLE regress_upgrade_app;
GRANT easeinv_app TO regress_upgrade_app;
GRANT SELECT ON app_notes TO easeinv_app;
SET ROLE regress_upgrade_app;
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT body FROM app_notes;
INSERT INTO easeinv.locations (code, name, kind) VALUES ('WH', 'Warehouse', 'warehouse'), ('SUP', 'Supplier', 'supplier');
INSERT INTO easeinv.products (sku, name) VALUES ('P1', 'Product one');
SELECT qty, replayed FROM easeinv.move_stock('after-upgrade', 1, 2, 1, 5);
SELECT count(*) AS drift FROM easeinv.verify_stock();
COMMIT;
RESET ROLE;
SELECT table_name, problem FROM easeinv.audit_tenancy();
SELECT objects, fingerprint AS upgraded FROM public.easeinv_fingerprint() \gset
\c easeinv_fresh
SET easeinv.partitions = 4;
CREATE EXTENSION easeinv;
SELECT objects = :objects AS same_objects, fingerprint = :'upgraded' AS same_fingerprint
  FROM public.easeinv_fingerprint();

\c :regress_db
DROP DATABASE easeinv_upgraded;
DROP DATABASE easeinv_fresh;
DROP ROLE regress_upgrade_app;

-- Between installing a new library and ALTER EXTENSION UPDATE the library runs against the
-- previous version's SQL: movements, reservations and imports keep working (src/ledger.c,
-- version skew), and after the update the new rules hold.
CREATE DATABASE easeinv_skew;
\c easeinv_skew
\set SHOW_CONTEXT never
SET easeinv.partitions = 4;
CREATE EXTENSION easeinv VERSION '0.4.0';
SELECT (easeinv.create_tenant('skew-co', 'Skew Co', '27')).id AS tenant;
BEGIN;
SELECT easeinv.set_tenant(1);
INSERT INTO easeinv.locations (code, name, kind) VALUES ('SUP', 'Supplier', 'supplier'), ('WH', 'Warehouse', 'warehouse');
INSERT INTO easeinv.products (sku, name) VALUES ('P1', 'Product one');
SELECT qty, replayed FROM easeinv.move_stock('on-0.4.0-sql', 1, 1, 2, 5);
SELECT qty FROM easeinv.reserve_stock('res-on-0.4.0-sql', 1, 2, 2);
SELECT easeinv.begin_import('movements') IS NOT NULL AS begun;
COPY import_movements FROM STDIN (FORMAT csv, HEADER);
idempotency_key,sku,from_location,to_location,qty,unit_cost,reason,reference_type,reference_id,occurred_at
imp-on-0.4.0-sql,P1,SUP,WH,1,,,,,
\.
SET LOCAL client_min_messages = warning;
SELECT applied FROM easeinv.apply_import('movements');
COMMIT;
ALTER EXTENSION easeinv UPDATE;
\c easeinv_skew
\set SHOW_CONTEXT never
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT qty, replayed FROM easeinv.move_stock('on-0.5.0-sql', 1, 1, 2, 5);
UPDATE easeinv.locations SET kind = 'customer' WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT count(*) AS drift FROM easeinv.verify_stock();
SELECT count(*) AS problems FROM easeinv.audit_tenancy();
\c :regress_db
DROP DATABASE easeinv_skew;
