-- Feature flags: the switch, allow and deny lists, a rollout by a stable hash of (flag, tenant),
-- monotonic (raising the percentage only adds tenants), the same in every session, and the
-- answer without a tenant context.
\set SHOW_CONTEXT never
\i test/fixtures/base.sql
SET client_min_messages = warning;
INSERT INTO easeinv.tenants (id, slug, name, state_code)
SELECT g, 'flag-' || g, 'Flag ' || g, '27' FROM generate_series(1, 200) g;
SET ROLE easeinv_admin;
INSERT INTO easeinv.feature_flags (name, enabled, rollout_percent, allow_tenants, deny_tenants)
VALUES ('new-billing', true, 25, '{7}', '{3}'), ('everyone', true, 100, '{}', '{}'),
       ('switched-off', false, 100, '{1}', '{}');
RESET ROLE;
-- the bucket: FNV-1a 64 of "name:tenant" modulo 10000, fixed values (the application may compute it)
SELECT easeinv.feature_bucket('new-billing', 1) AS b1, easeinv.feature_bucket('new-billing', 2) AS b2,
       easeinv.feature_bucket('everyone', 5000000000) AS big;
-- per tenant: denied, allowed, in or out of the rollout
CREATE TEMP TABLE answers AS
SELECT t, (SELECT easeinv.feature_enabled('new-billing') FROM (SELECT set_config('easeinv.tenant_id', t::text, true)) s) AS on_25
  FROM generate_series(1, 200) t;
SELECT on_25 FROM answers WHERE t = 3;   -- denied
SELECT on_25 FROM answers WHERE t = 7;   -- allowed
SELECT bool_and(on_25 = (easeinv.feature_bucket('new-billing', t) < 2500)) AS rule_holds
  FROM answers WHERE t NOT IN (3, 7);
SELECT count(*) FILTER (WHERE on_25) BETWEEN 30 AND 70 AS about_a_quarter FROM answers;
-- raising the percentage only adds tenants
UPDATE easeinv.feature_flags SET rollout_percent = 60 WHERE name = 'new-billing';
SELECT bool_and(NOT on_25 OR (SELECT easeinv.feature_enabled('new-billing')
                               FROM (SELECT set_config('easeinv.tenant_id', t::text, true)) s)) AS monotonic,
       count(*) FILTER (WHERE (SELECT easeinv.feature_enabled('new-billing')
                               FROM (SELECT set_config('easeinv.tenant_id', t::text, true)) s)) > count(*) FILTER (WHERE on_25) AS more
  FROM answers;
-- the switch off is off for everyone, even an allowed tenant; an unknown flag is false, or 22023 when strict
BEGIN;
SELECT easeinv.set_tenant(1) IS NOT NULL AS ok;
SELECT easeinv.feature_enabled('switched-off') AS switched_off, easeinv.feature_enabled('everyone') AS everyone,
       easeinv.feature_enabled('no-such-flag') AS unknown;
SAVEPOINT s;
SELECT easeinv.feature_enabled('no-such-flag', true);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.feature_enabled(NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- without a tenant context: on only when on for everyone
SELECT easeinv.feature_enabled('everyone') AS everyone, easeinv.feature_enabled('new-billing') AS partial;
-- a change is seen by the next statement of the same transaction
BEGIN;
SELECT easeinv.set_tenant(3) IS NOT NULL AS ok;
SELECT easeinv.feature_enabled('new-billing') AS denied;
UPDATE easeinv.feature_flags SET deny_tenants = '{}', allow_tenants = '{3}' WHERE name = 'new-billing';
SELECT easeinv.feature_enabled('new-billing') AS allowed_now;
ROLLBACK;
-- the application cannot write the flags
SET ROLE regress_web;
UPDATE easeinv.feature_flags SET enabled = true;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
