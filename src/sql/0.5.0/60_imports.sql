
-------------------------------------------------------------------------------------------------
-- Imports: text verified in the database encoding, progress per tenant.
--
-- COPY stores what a client with client_encoding SQL_ASCII sends without checking it.  Every
-- staged column is read through import_text; a column that held invalid text is reported as
-- "not valid UTF8 text" (row, column, the value with U+FFFD for each bad byte) and its row is
-- never applied.  (The tenant guard checks the text of every row written to a tenant table as
-- well: src/guard.c.)
-------------------------------------------------------------------------------------------------
CREATE FUNCTION easeinv.import_text(value text) RETURNS text
    AS 'MODULE_PATHNAME', 'import_text'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION easeinv.import_text(text) IS
    'the text when valid in the database encoding; else a copy showing each invalid byte as U+FFFD (? in other encodings)';

CREATE FUNCTION easeinv.current_tenant_if_any() RETURNS bigint
    AS 'MODULE_PATHNAME', 'current_tenant_if_any'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION easeinv.current_tenant_if_any() IS
    'tenant of the current transaction, or NULL without a context (42501 for a bad one)';

-- import_progress shows an application role the running imports of its own tenant only (the
-- same database role often serves every tenant); a role that bypasses row level security sees
-- all (PostgreSQL shows a role the progress and query text of other roles' sessions only when it
-- has the privileges of pg_read_all_stats: GRANT pg_read_all_stats TO easeinv_admin to let the
-- maintenance role see every import).
-- Without a tenant context the application sees no rows.  begin_import holds, for its transaction, a share lock on an advisory tag of easeinv's own
-- (objsubid 17737, which pg_advisory_lock never uses) whose keys are the tenant id's two halves.
CREATE OR REPLACE VIEW easeinv.import_progress WITH (security_invoker = true) AS
SELECT p.pid, substring(a.query from '(?i)^\s*copy\s+(?:pg_temp\.)?(import_[a-z_]+)') AS staging_table,
       p.tuples_processed AS rows_copied, p.bytes_processed, p.bytes_total, a.usename, a.query_start,
       t.tenant_id
  FROM pg_catalog.pg_stat_progress_copy p
  JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid
  JOIN (SELECT k.pid, (k.classid::pg_catalog.int8 OPERATOR(pg_catalog.<<) 32)
                      OPERATOR(pg_catalog.|) k.objid::pg_catalog.int8 AS tenant_id
          FROM pg_catalog.pg_locks k
         WHERE k.locktype OPERATOR(pg_catalog.=) 'advisory' AND k.objsubid OPERATOR(pg_catalog.=) 17737
           AND k.granted
           AND k.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                                   WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())) t
    ON t.pid OPERATOR(pg_catalog.=) p.pid
 -- the staging table is not in other sessions' catalog snapshot (made in an open transaction):
 -- the running COPY is known by its text
 WHERE p.command OPERATOR(pg_catalog.=) 'COPY FROM' AND a.query OPERATOR(pg_catalog.~*) '^\s*copy\s+(pg_temp\.)?import_[a-z_]+'
   AND CASE WHEN (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r
                   WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
            THEN true
            ELSE t.tenant_id OPERATOR(pg_catalog.=) (SELECT easeinv.current_tenant_if_any()) END;
COMMENT ON VIEW easeinv.import_progress IS
    'running imports of the current tenant (every tenant''s for the maintenance role): rows and bytes copied so far';
