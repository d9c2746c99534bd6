-- Upgrades: an installation of 0.1.0 with data in it, updated with ALTER EXTENSION UPDATE, ends
-- up exactly like a fresh install of the current version, and its data keeps working.
\set SHOW_CONTEXT never
SELECT current_database() AS regress_db \gset

-- what an installation consists of: its objects and function bodies, the columns, indexes,
-- policies and triggers of its tables, and its configuration tables.  Created in template1 (of
-- this temporary instance) so that both new databases have it.
\c template1
SET check_function_bodies = off;
\i test/fingerprint.sql
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
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_upgrade_app') THEN CREATE ROLE regress_upgrade_app; END IF; END $$;
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
