-- enable_tenancy, create_tenant_partitions and audit_tenancy: success, idempotency, refusals.
\set SHOW_CONTEXT never
\i test/fixtures/base.sql

-- a partitioned application table
CREATE TABLE notes (
    tenant_id bigint NOT NULL,
    id        bigint NOT NULL,
    body      text NOT NULL,
    PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);
SELECT easeinv.create_tenant_partitions('notes');
SELECT easeinv.create_tenant_partitions('notes');      -- already there: nothing to do
SELECT easeinv.create_tenant_partitions('notes', 8);   -- a different count is refused
\echo :LAST_ERROR_SQLSTATE
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_class c
  JOIN pg_inherits i ON i.inhrelid = c.oid WHERE i.inhparent = 'notes'::regclass ORDER BY 1;

-- the audit sees an unprotected tenant table (parent and partitions)
SELECT table_name, problem FROM easeinv.audit_tenancy() WHERE table_name::text LIKE 'notes%';

SELECT * FROM easeinv.enable_tenancy('notes');
-- idempotent: a second call changes nothing
SELECT * FROM easeinv.enable_tenancy('notes');
SELECT table_name, problem FROM easeinv.audit_tenancy() WHERE table_name::text LIKE 'notes%';

-- what it set up
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       pg_get_expr(d.adbin, d.adrelid) AS tenant_default
  FROM pg_class c
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid
   AND d.adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = c.oid AND attname = 'tenant_id')
 WHERE c.relname LIKE 'notes%' AND c.relkind IN ('r', 'p') ORDER BY 1;
SELECT polrelid::regclass, polname, polpermissive, polcmd,
       pg_get_expr(polqual, polrelid) AS using, pg_get_expr(polwithcheck, polrelid) AS with_check
  FROM pg_policy WHERE polrelid = 'notes'::regclass ORDER BY polname;
SELECT tgrelid::regclass, tgname, tgparentid <> 0 AS cloned FROM pg_trigger
 WHERE tgrelid::regclass::text LIKE 'notes%' ORDER BY tgrelid::regclass::text, 2;

-- a plain (unpartitioned) table works the same way
CREATE TABLE customers_app (
    tenant_id bigint NOT NULL,
    id        bigint NOT NULL,
    name      text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
SELECT * FROM easeinv.enable_tenancy('customers_app');

-- a foreign key between tenant tables must carry tenant_id
CREATE TABLE orders_app (
    tenant_id   bigint NOT NULL,
    id          bigint NOT NULL,
    customer_id bigint NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers_app (tenant_id, id)
);
CREATE TABLE bad_links (
    tenant_id   bigint NOT NULL,
    id          bigint NOT NULL,
    customer_id bigint NOT NULL,
    customer_tenant bigint NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (customer_tenant, customer_id) REFERENCES customers_app (tenant_id, id)
);
SELECT count(*) FROM easeinv.enable_tenancy('orders_app');
SELECT count(*) FROM easeinv.enable_tenancy('bad_links');
CREATE TABLE no_index (tenant_id bigint NOT NULL, id bigint PRIMARY KEY);
SELECT count(*) FROM easeinv.enable_tenancy('no_index');
CREATE TABLE loose (tenant_id integer, note text);
CREATE TABLE untouched (tenant_id bigint NOT NULL, id bigint, PRIMARY KEY (tenant_id, id));
SELECT * FROM easeinv.audit_tenancy();

-- refusals
SELECT easeinv.enable_tenancy(NULL);
\echo :LAST_ERROR_SQLSTATE
CREATE VIEW notes_view AS SELECT * FROM notes;
SELECT easeinv.enable_tenancy('notes_view');
\echo :LAST_ERROR_SQLSTATE
CREATE MATERIALIZED VIEW notes_mv AS SELECT * FROM notes WITH NO DATA;
SELECT easeinv.enable_tenancy('notes_mv');
\echo :LAST_ERROR_SQLSTATE
CREATE SEQUENCE some_seq;
SELECT easeinv.enable_tenancy('some_seq');
\echo :LAST_ERROR_SQLSTATE
CREATE TEMP TABLE scratch (tenant_id bigint NOT NULL);
SELECT easeinv.enable_tenancy('scratch');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE no_column (id bigint);
SELECT easeinv.enable_tenancy('no_column');
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.enable_tenancy('loose');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE nullable_tenant (tenant_id bigint, id bigint);
SELECT easeinv.enable_tenancy('nullable_tenant');
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.enable_tenancy('no_such_table');
\echo :LAST_ERROR_SQLSTATE
-- only the owner may protect a table
SET ROLE regress_web;
SELECT easeinv.enable_tenancy('untouched');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- the guard refuses to be misused
SELECT easeinv.tenant_guard();
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE guard_after (tenant_id bigint NOT NULL, id bigint);
CREATE TRIGGER wrong_timing AFTER INSERT ON guard_after FOR EACH ROW EXECUTE FUNCTION easeinv.tenant_guard();
INSERT INTO guard_after VALUES (1, 1);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE guard_int (tenant_id integer NOT NULL, id bigint);
CREATE TRIGGER wrong_type BEFORE INSERT ON guard_int FOR EACH ROW EXECUTE FUNCTION easeinv.tenant_guard();
INSERT INTO guard_int VALUES (1, 1);
\echo :LAST_ERROR_SQLSTATE
DROP TABLE guard_after, guard_int;

-- the views over tenant tables that bypass RLS show up in the audit, and go away when fixed
SELECT table_name, problem FROM easeinv.audit_tenancy() WHERE table_name::text LIKE 'notes_%';
ALTER VIEW notes_view SET (security_invoker = true);
DROP MATERIALIZED VIEW notes_mv;
SELECT table_name, problem FROM easeinv.audit_tenancy() WHERE table_name::text LIKE 'notes_%';

-- tampering is seen by the audit and repaired by enable_tenancy: an altered policy condition, a
-- dropped base policy, a guard set to fire only in replica mode, a dropped TRUNCATE guard
ALTER POLICY easeinv_tenant_isolation ON customers_app USING (true) WITH CHECK (true);
DROP POLICY easeinv_tenant_access ON orders_app;
ALTER TABLE customers_app ENABLE REPLICA TRIGGER easeinv_tenant_guard;
DROP TRIGGER easeinv_tenant_truncate_guard ON orders_app;
ALTER TABLE notes_p001 DISABLE TRIGGER easeinv_tenant_guard;
SELECT table_name, problem FROM easeinv.audit_tenancy()
 WHERE table_name::text IN ('customers_app', 'orders_app', 'notes_p001');
SELECT * FROM easeinv.enable_tenancy('customers_app');
SELECT * FROM easeinv.enable_tenancy('orders_app');
SELECT * FROM easeinv.enable_tenancy('notes');
SELECT table_name, problem FROM easeinv.audit_tenancy()
 WHERE table_name::text IN ('customers_app', 'orders_app', 'notes_p001');
-- a guard narrowed with WHEN or UPDATE OF is not a guard
DROP TRIGGER easeinv_tenant_guard ON customers_app;
CREATE TRIGGER easeinv_tenant_guard BEFORE INSERT OR UPDATE OF name OR DELETE ON customers_app
    FOR EACH ROW WHEN (false) EXECUTE FUNCTION easeinv.tenant_guard();
SELECT table_name, problem FROM easeinv.audit_tenancy() WHERE table_name::text = 'customers_app';
SELECT * FROM easeinv.enable_tenancy('customers_app');

-- a unique index without tenant_id answers across tenants (duplicate-key errors, ON CONFLICT)
CREATE TABLE users_app (tenant_id bigint NOT NULL, id bigint NOT NULL, email text NOT NULL,
                        PRIMARY KEY (tenant_id, id), UNIQUE (email));
SELECT count(*) FROM easeinv.enable_tenancy('users_app');
SELECT table_name, problem, detail FROM easeinv.audit_tenancy() WHERE table_name::text = 'users_app';
ALTER TABLE users_app DROP CONSTRAINT users_app_email_key, ADD UNIQUE (tenant_id, email);
SELECT table_name, problem FROM easeinv.audit_tenancy() WHERE table_name::text = 'users_app';
DROP TABLE users_app;

-- partitions created or attached after enable_tenancy are protected at once (event trigger)
CREATE TABLE ledger_app (tenant_id bigint NOT NULL, id bigint NOT NULL, PRIMARY KEY (tenant_id, id))
    PARTITION BY LIST (tenant_id);
CREATE TABLE ledger_app_1 PARTITION OF ledger_app FOR VALUES IN (1);
SELECT count(*) FROM easeinv.enable_tenancy('ledger_app');
CREATE TABLE ledger_app_2 PARTITION OF ledger_app FOR VALUES IN (2);
CREATE TABLE ledger_legacy (tenant_id bigint NOT NULL, id bigint NOT NULL, PRIMARY KEY (tenant_id, id));
ALTER TABLE ledger_app ATTACH PARTITION ledger_legacy FOR VALUES IN (3);
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, easeinv.tenant_policy_intact(c.oid) AS policy,
       easeinv.guard_intact(c.oid) AS guard, easeinv.guard_intact(c.oid, true) AS truncate_guard
  FROM pg_class c WHERE c.relname IN ('ledger_app', 'ledger_app_1', 'ledger_app_2', 'ledger_legacy')
 ORDER BY 1;
SELECT table_name, problem FROM easeinv.audit_tenancy() WHERE table_name::text LIKE 'ledger%';
-- a table that is not a tenant table is left alone
CREATE TABLE plain_tree (k int) PARTITION BY LIST (k);
CREATE TABLE plain_tree_1 PARTITION OF plain_tree FOR VALUES IN (1);
SELECT relname, relrowsecurity FROM pg_class WHERE relname LIKE 'plain_tree%' ORDER BY 1;
-- other DDL on a protected tree is left to whoever runs it, as pg_restore --jobs interleaves it:
-- one worker's CREATE POLICY on the root, another's ALTER TABLEs on a partition, then the first's
-- CREATE POLICY on that partition, which must find no policy made behind its back
CREATE TABLE restored_app (tenant_id bigint NOT NULL, id bigint NOT NULL, PRIMARY KEY (tenant_id, id))
    PARTITION BY LIST (tenant_id);
CREATE TABLE restored_app_1 PARTITION OF restored_app FOR VALUES IN (1);
CREATE POLICY easeinv_tenant_isolation ON restored_app AS RESTRICTIVE
    USING ((tenant_id = (SELECT easeinv.current_tenant()))) WITH CHECK ((tenant_id = (SELECT easeinv.current_tenant())));
ALTER TABLE ONLY restored_app_1 ADD CONSTRAINT restored_app_1_id CHECK (id > 0);
ALTER TABLE restored_app_1 ENABLE ROW LEVEL SECURITY;
ALTER TABLE restored_app_1 FORCE ROW LEVEL SECURITY, ALTER COLUMN tenant_id SET DEFAULT 1;
SELECT count(*) AS made_behind_its_back FROM pg_policy WHERE polrelid = 'restored_app_1'::regclass;
CREATE POLICY easeinv_tenant_isolation ON restored_app_1 AS RESTRICTIVE
    USING ((tenant_id = (SELECT easeinv.current_tenant()))) WITH CHECK ((tenant_id = (SELECT easeinv.current_tenant())));
-- a partition added, at any depth, still protects the tree at once
CREATE TABLE restored_app_2 (tenant_id bigint NOT NULL, id bigint NOT NULL) PARTITION BY LIST (id);
ALTER TABLE restored_app ATTACH PARTITION restored_app_2 FOR VALUES IN (2);
ALTER TABLE restored_app_2 DISABLE ROW LEVEL SECURITY;
SELECT relrowsecurity AS left_off_until_a_partition_is_added FROM pg_class WHERE relname = 'restored_app_2';
CREATE TABLE restored_app_2a PARTITION OF restored_app_2 FOR VALUES IN (1);
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, easeinv.tenant_policy_intact(c.oid) AS policy,
       easeinv.access_policy_intact(c.oid) AS access, easeinv.guard_intact(c.oid, true) AS truncate_guard
  FROM pg_class c WHERE c.relname LIKE 'restored_app%' AND c.relkind IN ('r', 'p')
 ORDER BY 1;
DROP TABLE plain_tree, ledger_app, restored_app;

-- create_tenant_partitions refusals
SELECT easeinv.create_tenant_partitions('customers_app');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE by_range (tenant_id bigint NOT NULL, id bigint) PARTITION BY RANGE (tenant_id);
SELECT easeinv.create_tenant_partitions('by_range');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE by_two (tenant_id bigint NOT NULL, id bigint) PARTITION BY HASH (tenant_id, id);
SELECT easeinv.create_tenant_partitions('by_two');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE by_id (tenant_id bigint NOT NULL, id bigint) PARTITION BY HASH (id);
SELECT easeinv.create_tenant_partitions('by_id');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE few (tenant_id bigint NOT NULL, id bigint) PARTITION BY HASH (tenant_id);
SELECT easeinv.create_tenant_partitions('few', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.create_tenant_partitions('few', 300);
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.create_tenant_partitions(NULL);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE a_table_name_so_long_that_partition_suffixes_would_be_cut_off (tenant_id bigint NOT NULL)
    PARTITION BY HASH (tenant_id);
SELECT easeinv.create_tenant_partitions('a_table_name_so_long_that_partition_suffixes_would_be_cut_off');
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.create_tenant_partitions('few', 2);
DROP TABLE by_range, by_two, by_id, few, a_table_name_so_long_that_partition_suffixes_would_be_cut_off,
           no_column, nullable_tenant, loose, untouched, no_index, bad_links, some_seq;
SELECT * FROM easeinv.audit_tenancy();
