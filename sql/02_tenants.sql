-- Tenants: creation by the maintenance role, validation, status, GSTIN.
\set SHOW_CONTEXT never
\i test/fixtures/base.sql

-- GSTIN validation (format, state code, PAN shape, check character)
SELECT g, easeinv.gstin_is_valid(g) AS valid, easeinv.gstin_error(g) AS why
  FROM (VALUES ('27AAPFU0939F1ZV'), ('29AAGCB7383J1Z4'), ('27AAPFU0939F1ZW'), ('27aapfu0939f1zv'),
               ('27AAPFU0939F1Z'), ('40AAPFU0939F1ZV'), ('27AAPF10939F1ZV'), ('27AAPFU0939F0ZV'),
               (''), (NULL)) v(g);

-- only the maintenance role may create tenants
SET ROLE regress_web;
SELECT easeinv.create_tenant('sneaky', 'Sneaky', '27');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO easeinv.tenants (slug, name, state_code) VALUES ('sneaky', 'Sneaky', '27');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

SET ROLE easeinv_admin;
SELECT id, slug, name, gstin, state_code, status, settings
  FROM easeinv.create_tenant('acme-traders', 'Acme Traders', '27', '27AAPFU0939F1ZV');
SELECT id, slug, state_code FROM easeinv.create_tenant('beta-stores', 'Beta Stores', '29');
SELECT id, slug, state_code FROM easeinv.create_tenant('gamma-mart', '  Gamma Mart  ', '07', NULL,
                                                       '{"allow_negative_stock": true}');
SELECT id, slug, status FROM easeinv.create_tenant('dormant-co', 'Dormant Co', '33');
SELECT id, slug, status FROM easeinv.set_tenant_status(4, 'suspended');

-- every refusal, with its SQLSTATE
SELECT easeinv.create_tenant('acme-traders', 'Again', '27');
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.create_tenant('Acme', 'Upper case', '27');
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.create_tenant('ab', 'Too short', '27');
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.create_tenant('blank-name', '   ', '27');
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.create_tenant('bad-state', 'Bad State', '45');
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.create_tenant('bad-gstin', 'Bad GSTIN', '27', '27AAPFU0939F1ZW');
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.create_tenant('wrong-state', 'Wrong State', '29', '27AAPFU0939F1ZV');
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.create_tenant('bad-settings', 'Bad Settings', '27', NULL, '[1]');
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.create_tenant(NULL, 'No slug', '27');
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.set_tenant_status(1, 'deleted');
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.set_tenant_status(999, 'active');
\echo :LAST_ERROR_SQLSTATE
-- the table's own constraints hold for direct writes too
\set VERBOSITY terse
INSERT INTO easeinv.tenants (slug, name, state_code, gstin) VALUES ('direct', 'Direct', '27', '27AAPFU0939F1ZW');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET ROLE;

SELECT id, slug, name, state_code, status, settings FROM easeinv.tenants ORDER BY id;

-- a tenant sees only its own row
SET ROLE regress_web;
SELECT id, slug FROM easeinv.tenants;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT easeinv.set_tenant(2);
SELECT id, slug FROM easeinv.tenants;
UPDATE easeinv.tenants SET name = 'Renamed';
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET ROLE;
