-- The attack suite: regress_web (granted easeinv_app, subject to RLS) tries every way across the
-- tenant boundary.  Every attempt is refused or sees nothing of another tenant.
\set SHOW_CONTEXT never
\i test/fixtures/tenancy.sql

GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON notes, customers_app, orders_app TO easeinv_app;
-- partitions too, so that the test shows their own policies at work, not just missing grants
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON notes_p000, notes_p001, notes_p002, notes_p003 TO easeinv_app;

-- seed as superuser: with no context, a role that bypasses RLS must name the tenant
INSERT INTO notes (tenant_id, id, body) VALUES
    (1, 1, 'acme one'), (1, 2, 'acme two'), (2, 1, 'beta one'), (3, 1, 'gamma one');
INSERT INTO customers_app (tenant_id, id, name) VALUES (1, 10, 'Acme customer'), (2, 20, 'Beta customer');
INSERT INTO notes (id, body) VALUES (9, 'whose?');
\echo :LAST_ERROR_SQLSTATE

SET ROLE regress_web;

-- 1. no context: no rows and no writes, with a clear error
SELECT * FROM notes;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO notes (id, body) VALUES (5, 'no context');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO notes (tenant_id, id, body) VALUES (1, 5, 'no context, explicit tenant');
\echo :LAST_ERROR_SQLSTATE
UPDATE notes SET body = 'x';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM notes;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM notes_p000;
\echo :LAST_ERROR_SQLSTATE

-- 2. reads see only the current tenant, whatever the query asks for
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT * FROM notes ORDER BY id;
SELECT * FROM notes WHERE tenant_id = 2;
SELECT * FROM notes WHERE tenant_id IN (1, 2, 3) OR true ORDER BY id;
SELECT count(*) FROM notes_p000;
SELECT count(*) FROM notes_p001;
SELECT count(*) FROM notes_p002;
SELECT count(*) FROM notes_p003;
SELECT tenant_id, count(*) FROM notes GROUP BY tenant_id;
COPY notes TO STDOUT;
COMMIT;

-- 3. writes: omitted tenant_id is stamped, another tenant's is refused
BEGIN;
SELECT easeinv.set_tenant(1);
INSERT INTO notes (id, body) VALUES (3, 'stamped') RETURNING tenant_id, id, body;
INSERT INTO customers_app (tenant_id, id, name) VALUES (NULL, 11, 'null is stamped too') RETURNING tenant_id, id;
SAVEPOINT s;
INSERT INTO notes (tenant_id, id, body) VALUES (2, 3, 'into beta');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO notes (tenant_id, id, body) VALUES (NULL, 4, 'explicit null, partitioned');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- (PostgreSQL itself refuses COPY FROM into a table with row level security)
COPY notes (tenant_id, id, body) FROM STDIN;
2	7	copied into beta
\.
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO notes (tenant_id, id, body) VALUES (1, 1, 'upsert') ON CONFLICT (tenant_id, id) DO UPDATE SET body = 'upserted'
    RETURNING tenant_id, id, body;
INSERT INTO notes (tenant_id, id, body) VALUES (2, 1, 'upsert') ON CONFLICT (tenant_id, id) DO UPDATE SET body = 'hijacked';
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- 4. updates and deletes of another tenant's rows touch nothing; tenant_id never changes
UPDATE notes SET body = 'hijacked' WHERE tenant_id = 2;
DELETE FROM notes WHERE tenant_id = 2;
UPDATE notes SET body = 'mine' WHERE id = 1 RETURNING tenant_id, id, body;
UPDATE notes SET tenant_id = 2 WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
UPDATE customers_app SET tenant_id = 2 WHERE id = 10;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- 5. a foreign key cannot point at another tenant's row
INSERT INTO orders_app (id, customer_id) VALUES (1, 20);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO orders_app (id, customer_id) VALUES (1, 10) RETURNING *;
-- 6. TRUNCATE would remove every tenant's rows
TRUNCATE notes;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
TRUNCATE notes_p001;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- 7. switching RLS, triggers or replication role off is not the app's to do
SET row_security = off;
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT * FROM notes;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET row_security;
ALTER TABLE notes DISABLE ROW LEVEL SECURITY;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE notes DISABLE TRIGGER easeinv_tenant_guard;
\echo :LAST_ERROR_SQLSTATE
SET session_replication_role = replica;
\echo :LAST_ERROR_SQLSTATE
DROP POLICY easeinv_tenant_isolation ON notes;
\echo :LAST_ERROR_SQLSTATE

-- 8. a blank context left behind by an ended SET LOCAL is no context
BEGIN;
SET LOCAL easeinv.tenant_id = '2';
SELECT count(*) FROM notes;
COMMIT;
SELECT current_setting('easeinv.tenant_id') AS left_behind;
SELECT * FROM notes;
\echo :LAST_ERROR_SQLSTATE
-- so is one set explicitly to blank
BEGIN;
SET LOCAL easeinv.tenant_id = '';
SELECT * FROM notes;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- 8b. a context that would outlive its transaction is ignored: behind a transaction pooler a
-- session-level value reaches the next client's transaction
SET easeinv.tenant_id = '1';
SELECT * FROM notes;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT * FROM notes;
ROLLBACK;
-- SET LOCAL over it is fine for this transaction; the session value stays ignored afterwards
BEGIN;
SET LOCAL easeinv.tenant_id = '1';
SELECT count(*) FROM notes;
COMMIT;
SELECT count(*) FROM notes;
\echo :LAST_ERROR_SQLSTATE
RESET easeinv.tenant_id;
-- a plain SET inside the transaction survives it, so it is ignored too
BEGIN;
SET easeinv.tenant_id = '1';
SELECT count(*) FROM notes;
ROLLBACK;
BEGIN;
SELECT set_config('easeinv.tenant_id', '1', false);
SELECT count(*) FROM notes;
ROLLBACK;
-- the same for the JWT claims
SET request.jwt.claims = '{"tenant_id": 1}';
SELECT count(*) FROM notes;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT easeinv.set_tenant(1);
ROLLBACK;
RESET request.jwt.claims;
-- and a default attached to the role
RESET ROLE;
SELECT current_user AS superuser \gset
ALTER ROLE regress_web SET easeinv.tenant_id = '1';
\c - regress_web
\set SHOW_CONTEXT never
SELECT count(*) FROM notes;
\echo :LAST_ERROR_SQLSTATE
\c - :superuser
ALTER ROLE regress_web RESET easeinv.tenant_id;
SET ROLE regress_web;

-- 9. forged and missing JWT claims
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "u-9", "tenant_id": 2}';
SELECT * FROM notes ORDER BY id;
SELECT easeinv.set_tenant(1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "u-9", "tenant_id": 2}';
SET LOCAL easeinv.tenant_id = '1';
SELECT * FROM notes;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "u-9"}';
SELECT * FROM notes;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "u-9", "tenant_id": "1,2"}';
SELECT * FROM notes;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- 10. one transaction may switch tenants; a prepared (generic) plan follows the context
SET plan_cache_mode = force_generic_plan;
PREPARE q AS SELECT tenant_id, id, body FROM notes ORDER BY id;
BEGIN;
SELECT easeinv.set_tenant(1);
EXECUTE q;
SELECT easeinv.set_tenant(2);
EXECUTE q;
COMMIT;
BEGIN;
SELECT easeinv.set_tenant(3);
EXECUTE q;
COMMIT;
EXECUTE q;
\echo :LAST_ERROR_SQLSTATE
DEALLOCATE q;
RESET plan_cache_mode;
RESET ROLE;

-- 11. views: one owned by a role subject to RLS is confined by the context; one owned by a
-- superuser is confined only WITH (security_invoker = true), which audit_tenancy insists on
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_owner') THEN CREATE ROLE regress_owner; END IF; END $$;
GRANT CREATE ON SCHEMA public TO regress_owner;
GRANT SELECT ON notes TO regress_owner;
SET ROLE regress_owner;
CREATE VIEW notes_by_owner AS SELECT tenant_id, id, body FROM notes;
GRANT SELECT ON notes_by_owner TO easeinv_app;
RESET ROLE;
CREATE VIEW notes_invoker WITH (security_invoker = true) AS SELECT tenant_id, id, body FROM notes;
GRANT SELECT ON notes_invoker TO easeinv_app;
SET ROLE regress_web;
SELECT * FROM notes_by_owner;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT easeinv.set_tenant(2);
SELECT * FROM notes_by_owner;
SELECT * FROM notes_invoker;
COMMIT;
RESET ROLE;
SELECT table_name, problem FROM easeinv.audit_tenancy() WHERE table_name::text LIKE 'notes%';

-- 12. a table owner without BYPASSRLS is confined like anyone else (RLS is forced)
SET ROLE regress_owner;
CREATE TABLE owner_items (tenant_id bigint NOT NULL, id bigint NOT NULL, PRIMARY KEY (tenant_id, id));
SELECT count(*) FROM easeinv.enable_tenancy('owner_items');
INSERT INTO owner_items VALUES (1, 1);
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT easeinv.set_tenant(1);
INSERT INTO owner_items (id) VALUES (1), (2);
COMMIT;
BEGIN;
SELECT easeinv.set_tenant(2);
INSERT INTO owner_items (id) VALUES (1);
SELECT * FROM owner_items;
UPDATE owner_items SET tenant_id = 1;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
TRUNCATE owner_items;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT * FROM owner_items ORDER BY 1, 2;

-- 13. search_path hijacks: look-alike objects earlier in the path change nothing
CREATE FUNCTION public.current_tenant() RETURNS bigint LANGUAGE sql AS 'SELECT 2::bigint';
CREATE FUNCTION public.hijack_eq(bigint, bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.hijack_eq);
CREATE FUNCTION public.pg_partition_tree(regclass)
    RETURNS TABLE (relid regclass, parentrelid regclass, isleaf boolean, level integer)
    LANGUAGE sql AS 'SELECT NULL::regclass, NULL::regclass, NULL::boolean, NULL::integer WHERE false';
-- an exact-type overload would beat pg_catalog.format(text, VARIADIC "any") in an unpinned path
CREATE FUNCTION public.format(text, regclass) RETURNS text LANGUAGE sql AS $$SELECT 'SELECT 1'$$;
SET search_path = public, pg_catalog;
-- enable_tenancy still protects every partition
CREATE TABLE hijacked (tenant_id bigint NOT NULL, id bigint NOT NULL, PRIMARY KEY (tenant_id, id))
    PARTITION BY HASH (tenant_id);
SELECT easeinv.create_tenant_partitions('hijacked');
SELECT count(*) FROM easeinv.enable_tenancy('hijacked');
SELECT table_name, problem FROM easeinv.audit_tenancy() WHERE table_name::text LIKE 'hijacked%';
-- and the policies still compare with the real operator and function
SET ROLE regress_web;
SET search_path = pg_temp, public, pg_catalog;
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT tenant_id, id FROM notes ORDER BY id;
COMMIT;
RESET ROLE;
RESET search_path;
DROP TABLE hijacked;
DROP FUNCTION public.format(text, regclass);
DROP FUNCTION public.pg_partition_tree(regclass);
DROP OPERATOR public.= (bigint, bigint);
DROP FUNCTION public.hijack_eq(bigint, bigint), public.current_tenant();

-- what the superuser sees at the end: nothing was written across tenants
SELECT * FROM notes ORDER BY tenant_id, id;
SELECT * FROM customers_app ORDER BY tenant_id, id;

