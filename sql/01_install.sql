-- Install: easeinv.partitions is validated before anything is created, the objects are where
-- they should be, and SQL functions pin search_path.
\set SHOW_CONTEXT never
\i test/fixtures/clean.sql

-- a bad partition count is refused and nothing is left behind
SET easeinv.partitions = 'sixteen';
CREATE EXTENSION easeinv;
\echo :LAST_ERROR_SQLSTATE
SET easeinv.partitions = '0';
CREATE EXTENSION easeinv;
\echo :LAST_ERROR_SQLSTATE
SET easeinv.partitions = '257';
CREATE EXTENSION easeinv;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS leftovers FROM pg_namespace WHERE nspname = 'easeinv';

-- the default is 16
RESET easeinv.partitions;
CREATE EXTENSION easeinv;
SELECT easeinv.partition_count();
DROP EXTENSION easeinv;

-- the rest of the suite runs with 4 partitions, which keeps plans short
SET easeinv.partitions = 4;
CREATE EXTENSION easeinv;
SELECT easeinv.partition_count(), * FROM easeinv.config WHERE key = 'partitions';
SELECT value ~ '^[0-9a-f-]{36}$' AS installation_token FROM easeinv.config WHERE key = 'installation';
-- once the library is loaded the GUC itself refuses bad values
SET easeinv.partitions = 0;
\echo :LAST_ERROR_SQLSTATE
RESET easeinv.partitions;

-- an unknown easeinv.* setting is refused: the prefix is reserved
SET easeinv.tenantid = '1';
\echo :LAST_ERROR_SQLSTATE

-- only superusers choose the JWT claim name
SHOW easeinv.jwt_claim;
SET easeinv.jwt_claim = '';
\echo :LAST_ERROR_SQLSTATE

-- the objects of the extension
SELECT pg_describe_object(classid, objid, objsubid) AS object
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'easeinv')
   AND deptype = 'e'
 ORDER BY 1;

-- every SQL and PL/pgSQL function pins search_path; C functions resolve no names
SELECT p.oid::regprocedure AS function, l.lanname AS language, p.provolatile, p.proparallel,
       p.proisstrict, p.prosecdef, p.proconfig
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'easeinv'::regnamespace
 ORDER BY p.oid::regprocedure::text;
SELECT count(*) AS unpinned
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'easeinv'::regnamespace AND l.lanname <> 'c'
   AND NOT coalesce(p.proconfig @> '{"search_path=pg_catalog, pg_temp"}', false);

-- roles: the app role is confined by RLS, the maintenance role bypasses it
SELECT rolname, rolcanlogin, rolbypassrls, rolsuper FROM pg_roles
 WHERE rolname IN ('easeinv_app', 'easeinv_admin') ORDER BY 1;

-- configuration tables are dumped by pg_dump
SELECT c::regclass AS config_table FROM pg_extension, unnest(extconfig) c WHERE extname = 'easeinv' ORDER BY c::regclass::text;

-- register_for_dump is for the extension's own scripts
SELECT easeinv.register_for_dump('easeinv.products');
\echo :LAST_ERROR_SQLSTATE
SET ROLE easeinv_app;
SELECT easeinv.register_for_dump('easeinv.products');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
