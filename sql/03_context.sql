-- Tenant context: set_tenant, SET LOCAL, set_config and the JWT claim; every way it fails closed.
\set SHOW_CONTEXT never
\i test/fixtures/tenants.sql
SET ROLE regress_web;

-- no context at all
SELECT easeinv.current_tenant();
\echo :LAST_ERROR_SQLSTATE

-- set_tenant is transaction-local
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT easeinv.current_tenant(), current_setting('easeinv.tenant_id');
SELECT easeinv.set_tenant(2);
SELECT easeinv.current_tenant();
COMMIT;
-- afterwards PostgreSQL leaves a blank value behind: still no context
SELECT current_setting('easeinv.tenant_id') = '' AS blank;
SELECT easeinv.current_tenant();
\echo :LAST_ERROR_SQLSTATE

-- outside a transaction block it warns: the context would end with the statement
SELECT easeinv.set_tenant(1);
SELECT easeinv.current_tenant();
\echo :LAST_ERROR_SQLSTATE

-- SET LOCAL and set_config(..., true)
BEGIN;
SET LOCAL easeinv.tenant_id = '3';
SELECT easeinv.current_tenant();
SELECT set_config('easeinv.tenant_id', '1', true);
SELECT easeinv.current_tenant();
ROLLBACK;

-- set_tenant refusals
SELECT easeinv.set_tenant(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.set_tenant(0);
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.set_tenant(-5);
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.set_tenant(999);
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.set_tenant(4);   -- suspended
\echo :LAST_ERROR_SQLSTATE

-- malformed values in the GUC: each one is an error, never "no tenant"
BEGIN; SET LOCAL easeinv.tenant_id = 'abc'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL easeinv.tenant_id = '-1'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL easeinv.tenant_id = '0'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL easeinv.tenant_id = ' 1'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL easeinv.tenant_id = '1.0'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL easeinv.tenant_id = '9223372036854775808'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL easeinv.tenant_id = '9223372036854775807'; SELECT easeinv.current_tenant(); ROLLBACK;
-- values that would wrap around 64 bits onto a real tenant (2^64 + 1, 2^64 + 2) are refused
BEGIN; SET LOCAL easeinv.tenant_id = '18446744073709551617'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL request.jwt.claims = '{"tenant_id": 18446744073709551618}'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL easeinv.tenant_id = '99999999999999999999999999999999999999'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL easeinv.tenant_id = '4'; SELECT easeinv.current_tenant(); ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
-- leading zeros are still the same tenant
BEGIN; SET LOCAL easeinv.tenant_id = '0002'; SELECT easeinv.current_tenant(); ROLLBACK;

-- the JWT claim (PostgREST sets request.jwt.claims per transaction)
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "u-17", "role": "web", "tenant_id": 2}';
SELECT easeinv.current_tenant();
ROLLBACK;
BEGIN;
SET LOCAL request.jwt.claims = '{"tenant_id": "3", "nested": {"tenant_id": 1}}';
SELECT easeinv.current_tenant();
ROLLBACK;
-- claims without the tenant claim, or with a nested one only: no context
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "u-17", "app": {"tenant_id": 1}}';
SELECT easeinv.current_tenant();
ROLLBACK;
BEGIN;
SET LOCAL request.jwt.claims = '{"sub": "u-17", "tenant_id": null}';
SELECT easeinv.current_tenant();
ROLLBACK;
-- forged or malformed claims
BEGIN; SET LOCAL request.jwt.claims = '{"tenant_id": 1.5}'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL request.jwt.claims = '{"tenant_id": -2}'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL request.jwt.claims = '{"tenant_id": [2]}'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL request.jwt.claims = '{"tenant_id": true}'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL request.jwt.claims = '{"tenant_id": "2 OR 1=1"}'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL request.jwt.claims = '{"tenant_id": 999}'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL request.jwt.claims = '{"tenant_id": 2'; SELECT easeinv.current_tenant(); ROLLBACK;
BEGIN; SET LOCAL request.jwt.claims = 'tenant_id=2'; SELECT easeinv.current_tenant(); ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
-- a JWT request may not switch to another tenant, by GUC or by set_tenant
BEGIN;
SET LOCAL request.jwt.claims = '{"tenant_id": 2}';
SET LOCAL easeinv.tenant_id = '1';
SELECT easeinv.current_tenant();
ROLLBACK;
BEGIN;
SET LOCAL request.jwt.claims = '{"tenant_id": 2}';
SELECT easeinv.set_tenant(1);
ROLLBACK;
-- agreeing sources are fine
BEGIN;
SET LOCAL request.jwt.claims = '{"tenant_id": 2}';
SELECT easeinv.set_tenant(2), easeinv.current_tenant();
ROLLBACK;

-- the claim name comes from easeinv.jwt_claim (superuser only)
RESET ROLE;
SET easeinv.jwt_claim = 'https://easeinventory.in/tenant';
SET ROLE regress_web;
BEGIN;
SET LOCAL request.jwt.claims = '{"tenant_id": 1, "https://easeinventory.in/tenant": 3}';
SELECT easeinv.current_tenant();
ROLLBACK;
SET easeinv.jwt_claim = 'tenant_id';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET easeinv.jwt_claim;

-- a suspended tenant's context stops working at its next transaction
BEGIN;
SELECT easeinv.set_tenant(1);
SELECT easeinv.current_tenant();
COMMIT;
SET ROLE easeinv_admin;
SELECT status FROM easeinv.set_tenant_status(1, 'suspended');
RESET ROLE;
BEGIN; SET LOCAL easeinv.tenant_id = '1'; SELECT easeinv.current_tenant(); ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
SET ROLE easeinv_admin;
SELECT status FROM easeinv.set_tenant_status(1, 'active');
RESET ROLE;

-- current_tenant is STABLE and PARALLEL SAFE; set_tenant is VOLATILE and PARALLEL UNSAFE
SELECT proname, provolatile, proparallel FROM pg_proc
 WHERE oid IN ('easeinv.current_tenant()'::regprocedure, 'easeinv.set_tenant(bigint)'::regprocedure)
 ORDER BY 1;
