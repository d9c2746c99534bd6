-- Parallel workers (0.5.0): a worker sees the leader's GUC values but not whether they were set
-- for the transaction or for the session, so it takes the leader's decision, carried in the
-- internal GUC easeinv.parallel_scope, which users cannot set.  A session-level value is ignored
-- in a worker exactly as in the leader; a transaction-level one counts in both.
-- Its own tenants, tables and role (dropped at the end).
\set SHOW_CONTEXT never
\i test/fixtures/base.sql
SELECT current_user AS superuser \gset
SELECT id AS t1 FROM easeinv.create_tenant('parallel-one', 'Parallel One', '27') \gset
SELECT id AS t2 FROM easeinv.create_tenant('parallel-two', 'Parallel Two', '29') \gset

-- par_items: protected, rows of both tenants.  par_rows: not protected, so that a query over it
-- runs current_tenant() in the workers only (no policy initPlan in the leader fails first).
CREATE TABLE par_items (tenant_id bigint NOT NULL, id int NOT NULL, body text, PRIMARY KEY (tenant_id, id));
SELECT count(*) > 0 AS protected FROM easeinv.enable_tenancy('par_items');
INSERT INTO par_items SELECT :t1, i, 'one/' || i FROM generate_series(1, 3000) i;
INSERT INTO par_items SELECT :t2, i, 'two/' || i FROM generate_series(1, 2000) i;
CREATE TABLE par_rows AS SELECT g FROM generate_series(1, 5000) g;
ANALYZE par_items, par_rows;
-- par_pid(): the pid of the process evaluating it (PARALLEL SAFE on purpose: in a worker it is
-- the worker's pid).  par_probe: the tenant every worker sees, and whether workers did it all.
CREATE FUNCTION par_pid() RETURNS int LANGUAGE plpgsql PARALLEL SAFE AS $$ BEGIN RETURN pg_backend_pid(); END $$;
CREATE VIEW par_probe AS
  SELECT count(*) AS n, min(easeinv.current_tenant()) AS lo, max(easeinv.current_tenant()) AS hi,
         bool_and(par_pid() <> current_setting('regress.leader_pid')::int) AS in_workers
    FROM par_rows;
-- par_leader_tenant(): current_tenant() in the leader (PARALLEL RESTRICTED, never in a worker)
CREATE FUNCTION par_leader_tenant() RETURNS bigint LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
  AS $$ BEGIN RETURN easeinv.current_tenant(); END $$;
-- par_fn_tenant(): a function whose SET clause names the tenant (a transaction-scoped source)
CREATE FUNCTION par_fn_tenant() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE
  SET easeinv.tenant_id = :'t1' AS 'SELECT easeinv.current_tenant()';
CREATE VIEW par_fn_probe AS
  SELECT min(par_fn_tenant()) AS lo, max(par_fn_tenant()) AS hi,
         bool_and(par_pid() <> current_setting('regress.leader_pid')::int) AS in_workers
    FROM par_rows;
-- par_error(query): the query's error as SQLSTATE, message and where it was raised (for errors
-- whose detail names tenant ids)
CREATE FUNCTION par_error(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
    ctx text;
BEGIN
    EXECUTE query;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, ctx = PG_EXCEPTION_CONTEXT;
    RETURN st || ': ' || msg || CASE WHEN ctx LIKE '%parallel worker%' THEN ' (in a parallel worker)' ELSE ' (in the leader)' END;
END $$;
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_par_web') THEN CREATE ROLE regress_par_web LOGIN; END IF; END $$;
GRANT easeinv_app TO regress_par_web;
GRANT SELECT ON par_items, par_probe, par_fn_probe TO regress_par_web;

SET ROLE regress_par_web;
SET force_parallel_mode = on;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
-- the leader scans nothing itself: what runs below Gather runs in a worker (in_workers says so)
SET parallel_leader_participation = off;
SELECT set_config('regress.leader_pid', pg_backend_pid()::text, false) IS NOT NULL AS ok;

-- the probe's plan: current_tenant() below the Gather, in the workers
EXPLAIN (COSTS OFF) SELECT * FROM par_probe;
EXPLAIN (COSTS OFF) SELECT count(*) FROM par_items;

-- 1. a transaction-scoped source counts in the workers as in the leader
BEGIN;
SET LOCAL easeinv.tenant_id = :'t1';
SELECT par_leader_tenant() = :t1 AS leader_t1, lo = :t1 AND hi = :t1 AS workers_t1, in_workers, n FROM par_probe;
COMMIT;
BEGIN;
SELECT easeinv.set_tenant(:t2) = :t2 AS ok;
SELECT par_leader_tenant() = :t2 AS leader_t2, lo = :t2 AND hi = :t2 AS workers_t2, in_workers FROM par_probe;
COMMIT;
BEGIN;
SELECT set_config('easeinv.tenant_id', :'t1', true) IS NOT NULL AS ok;
SELECT lo = :t1 AND hi = :t1 AS workers_t1, in_workers FROM par_probe;
COMMIT;
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": "u-1", "tenant_id": ' || :t2 || '}', true) IS NOT NULL AS ok;
SELECT par_leader_tenant() = :t2 AS leader_t2, lo = :t2 AND hi = :t2 AS workers_t2, in_workers FROM par_probe;
COMMIT;
-- a function's SET clause counts too, also when the function runs in a worker; against a JWT
-- of another tenant it is a conflict, in the workers as in the leader
SELECT lo = :t1 AND hi = :t1 AS workers_t1, in_workers FROM par_fn_probe;
BEGIN;
SELECT set_config('request.jwt.claims', '{"tenant_id": ' || :t2 || '}', true) IS NOT NULL AS ok;
SELECT par_error('SELECT * FROM par_fn_probe') AS workers;
SET LOCAL force_parallel_mode = off;
SELECT par_error('SELECT par_fn_tenant()') AS leader;
ROLLBACK;

-- 2. a session-level easeinv.tenant_id is ignored in the workers as in the leader
\set SHOW_CONTEXT errors
SET easeinv.tenant_id = :'t1';
SELECT par_leader_tenant();
SELECT * FROM par_probe;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT * FROM par_probe;
ROLLBACK;
-- a transaction-scoped source over it is the context, in the workers too: SET LOCAL of another
-- tenant, or the same tenant, set_tenant(), a JWT; and the session value is ignored afterwards
BEGIN;
SET LOCAL easeinv.tenant_id = :'t2';
SELECT par_leader_tenant() = :t2 AS leader_t2, lo = :t2 AND hi = :t2 AS workers_t2, in_workers FROM par_probe;
COMMIT;
BEGIN;
SET LOCAL easeinv.tenant_id = :'t1';
SELECT lo = :t1 AND hi = :t1 AS workers_t1, in_workers FROM par_probe;
COMMIT;
BEGIN;
SELECT easeinv.set_tenant(:t2) = :t2 AS ok;
SELECT lo = :t2 AND hi = :t2 AS workers_t2, in_workers FROM par_probe;
COMMIT;
BEGIN;
SELECT set_config('request.jwt.claims', '{"tenant_id": ' || :t2 || '}', true) IS NOT NULL AS ok;
SELECT par_leader_tenant() = :t2 AS leader_t2, lo = :t2 AND hi = :t2 AS workers_t2, in_workers FROM par_probe;
COMMIT;
SELECT lo = :t1 AND hi = :t1 AS workers_t1, in_workers FROM par_fn_probe;
SELECT * FROM par_probe;
\echo :LAST_ERROR_SQLSTATE
-- the same value turning session-level inside the transaction is ignored from then on (the
-- per-transaction cache must not keep the answer of the transaction-level value)
BEGIN;
SET LOCAL easeinv.tenant_id = :'t1';
SELECT par_leader_tenant() = :t1 AS leader_t1;
SET easeinv.tenant_id = :'t1';
SAVEPOINT s;
SELECT par_leader_tenant();
ROLLBACK TO s;
SELECT * FROM par_probe;
ROLLBACK;
BEGIN;
SAVEPOINT s;
SET LOCAL easeinv.tenant_id = :'t1';
SELECT par_leader_tenant() = :t1 AS leader_t1, lo = :t1 AND hi = :t1 AS workers_t1, in_workers FROM par_probe;
ROLLBACK TO s;
SELECT current_setting('easeinv.tenant_id') = :'t1' AS session_value_back;
SAVEPOINT s2;
SELECT par_leader_tenant();
ROLLBACK TO s2;
SELECT * FROM par_probe;
ROLLBACK;
RESET easeinv.tenant_id;

-- 3. a session-level request.jwt.claims is ignored the same way
SELECT set_config('request.jwt.claims', '{"tenant_id": ' || :t1 || '}', false) IS NOT NULL AS ok;
SELECT * FROM par_probe;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT * FROM par_probe;
ROLLBACK;
BEGIN;
SET LOCAL easeinv.tenant_id = :'t2';
SELECT par_leader_tenant() = :t2 AS leader_t2, lo = :t2 AND hi = :t2 AS workers_t2, in_workers FROM par_probe;
COMMIT;
BEGIN;
SELECT set_config('request.jwt.claims', '{"tenant_id": ' || :t2 || '}', true) IS NOT NULL AS ok;
SELECT lo = :t2 AND hi = :t2 AS workers_t2, in_workers FROM par_probe;
COMMIT;
-- both session-level at once (the pooled connection a careless client left behind)
SET easeinv.tenant_id = :'t1';
SELECT * FROM par_probe;
BEGIN;
SELECT set_config('request.jwt.claims', '{"tenant_id": ' || :t2 || '}', true) IS NOT NULL AS ok;
SELECT lo = :t2 AND hi = :t2 AS workers_t2, in_workers FROM par_probe;
COMMIT;
BEGIN;
SELECT set_config('easeinv.tenant_id', :'t2', true) IS NOT NULL AS ok;
SELECT lo = :t2 AND hi = :t2 AS workers_t2, in_workers FROM par_probe;
COMMIT;
RESET easeinv.tenant_id;
RESET request.jwt.claims;
\set SHOW_CONTEXT never

-- 4. RLS reads with parallel plans: only the tenant's rows, whatever else is on the session
BEGIN;
SET LOCAL easeinv.tenant_id = :'t1';
EXPLAIN (COSTS OFF) SELECT tenant_id, count(*) FROM par_items GROUP BY tenant_id;
SELECT tenant_id = :t1 AS own, count(*) FROM par_items GROUP BY tenant_id;
SELECT count(*), count(*) FILTER (WHERE tenant_id <> easeinv.current_tenant()) AS others,
       min(easeinv.current_tenant()) = :t1 AS tenant_ok FROM par_items;
SELECT count(*) FROM par_items WHERE tenant_id = :t2;
COMMIT;
SET easeinv.tenant_id = :'t1';
BEGIN;
SELECT set_config('request.jwt.claims', '{"tenant_id": ' || :t2 || '}', true) IS NOT NULL AS ok;
SELECT tenant_id = :t2 AS own, count(*) FROM par_items GROUP BY tenant_id;
SELECT count(*) FROM par_items WHERE tenant_id = :t1;
COMMIT;
SELECT count(*) FROM par_items;
\echo :LAST_ERROR_SQLSTATE
RESET easeinv.tenant_id;

-- 5. easeinv.parallel_scope is internal: SET, SET LOCAL, set_config(), ALTER ROLE/DATABASE ... SET
-- and a function's SET clause are refused; RESET (to blank, "no decision") is harmless
SET easeinv.parallel_scope = 'tt:00000000:00000000';
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL easeinv.parallel_scope = 'tt:00000000:00000000';
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT set_config('easeinv.parallel_scope', 'tt:00000000:00000000', false);
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT set_config('easeinv.parallel_scope', 'tt:00000000:00000000', true);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- (read with force_parallel_mode off: a statement run in a worker would read the decision its
-- leader wrote for it)
SET force_parallel_mode = off;
SELECT current_setting('easeinv.parallel_scope') = '' AS blank;
RESET easeinv.parallel_scope;
SET easeinv.parallel_scope = '';
SET easeinv.parallel_scope TO DEFAULT;
-- the leader's decision, as a parallel query leaves it for the rest of the transaction
BEGIN;
SET LOCAL easeinv.tenant_id = :'t1';
SELECT lo = :t1 AND hi = :t1 AS workers_t1, in_workers FROM par_probe;
SELECT current_setting('easeinv.parallel_scope') ~ '^t-:[0-9a-f]{8}:0{8}$' AS decision_written;
RESET easeinv.parallel_scope;
SELECT current_setting('easeinv.parallel_scope') = '' AS blank;
SELECT lo = :t1 AND hi = :t1 AS workers_t1, in_workers FROM par_probe;
COMMIT;
SELECT current_setting('easeinv.parallel_scope') = '' AS blank_after_commit;
SET force_parallel_mode = on;
-- copying a decision a worker would trust is refused like any other value
BEGIN;
SET LOCAL easeinv.tenant_id = :'t1';
SELECT lo = :t1 AND hi = :t1 AS workers_t1, in_workers FROM par_probe;
SELECT current_setting('easeinv.parallel_scope') AS decision \gset
COMMIT;
SET easeinv.tenant_id = :'t1';
SELECT set_config('easeinv.parallel_scope', :'decision', false);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM par_probe;
\echo :LAST_ERROR_SQLSTATE
RESET easeinv.tenant_id;
RESET ROLE;
ALTER ROLE regress_par_web SET easeinv.parallel_scope = 'tt:00000000:00000000';
\echo :LAST_ERROR_SQLSTATE
ALTER DATABASE :"DBNAME" SET easeinv.parallel_scope = 'tt:00000000:00000000';
\echo :LAST_ERROR_SQLSTATE
CREATE FUNCTION par_forged() RETURNS bigint LANGUAGE sql PARALLEL SAFE
  SET easeinv.parallel_scope = 'tt:00000000:00000000' AS 'SELECT easeinv.current_tenant()';
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS stored_settings FROM pg_db_role_setting s, unnest(s.setconfig) c
 WHERE c LIKE 'easeinv.parallel_scope=%';

-- 6. a claims document naming the tenant claim twice is refused, in the workers as in the leader,
-- whichever value comes last; a nested key of that name is not the claim
SET ROLE regress_par_web;
SET force_parallel_mode = on;
BEGIN;
SELECT set_config('request.jwt.claims', '{"tenant_id": ' || :t1 || ', "tenant_id": ' || :t2 || '}', true) IS NOT NULL AS ok;
SELECT par_leader_tenant();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
\set SHOW_CONTEXT errors
BEGIN;
SELECT set_config('request.jwt.claims', '{"tenant_id": ' || :t1 || ', "tenant_id": ' || :t2 || '}', true) IS NOT NULL AS ok;
SELECT * FROM par_probe;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
\set SHOW_CONTEXT never
BEGIN;
SET LOCAL request.jwt.claims = '{"tenant_id": 1, "sub": "u-1", "tenant_id": 1}';
SELECT count(*) FROM par_items;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL request.jwt.claims = '{"tenant_id": null, "tenant_id": 1}';
SELECT easeinv.current_tenant();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', '{"org": {"tenant_id": ' || :t1 || '}, "tenant_id": ' || :t2 || '}', true) IS NOT NULL AS ok;
SELECT lo = :t2 AND hi = :t2 AS workers_t2, in_workers FROM par_probe;
ROLLBACK;
-- set_tenant() reads the claims too
BEGIN;
SELECT set_config('request.jwt.claims', '{"tenant_id": ' || :t1 || ', "tenant_id": ' || :t1 || '}', true) IS NOT NULL AS ok;
SELECT easeinv.set_tenant(:t1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET ROLE;

-- 7. a fresh session whose role carries a default tenant (ALTER ROLE ... SET): the default is
-- ignored in the workers; and the session's very first query, which loads the library while
-- its plan starts, still hands the leader's decision to its workers
ALTER ROLE regress_par_web SET easeinv.tenant_id = :'t1';
\c - regress_par_web
\set SHOW_CONTEXT never
SET force_parallel_mode = on;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SELECT set_config('regress.leader_pid', pg_backend_pid()::text, false) IS NOT NULL AS ok;
SELECT current_setting('easeinv.partitions', true) IS NULL AS library_not_loaded_yet;
BEGIN;
SET LOCAL easeinv.tenant_id = :'t2';
SELECT lo = :t2 AND hi = :t2 AS workers_t2, in_workers, n FROM par_probe;
COMMIT;
SELECT current_setting('easeinv.tenant_id') = :'t1' AS role_default;
\set SHOW_CONTEXT errors
SELECT * FROM par_probe;
\echo :LAST_ERROR_SQLSTATE
\set SHOW_CONTEXT never
SELECT count(*) FROM par_items;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT easeinv.set_tenant(:t2) = :t2 AS ok;
SELECT count(*), count(*) FILTER (WHERE tenant_id <> :t2) AS others FROM par_items;
COMMIT;
\c - :superuser

-- clean up: the role is cluster-wide
DROP VIEW par_probe, par_fn_probe;
DROP FUNCTION par_pid(), par_leader_tenant(), par_fn_tenant(), par_error(text);
DROP TABLE par_items, par_rows;
ALTER ROLE regress_par_web RESET ALL;
DROP OWNED BY regress_par_web;
DROP ROLE regress_par_web;
