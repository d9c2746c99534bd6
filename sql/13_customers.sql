-- Customers: GSTIN validated with its check character and state, clear errors, tenant isolation.
\set SHOW_CONTEXT never
\i test/fixtures/tenants.sql
SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(1);
INSERT INTO easeinv.customers (name, gstin, state_code) VALUES ('Karnataka buyer', '29AAGCB7383J1Z4', '29')
    RETURNING name, gstin, state_code, is_sez;
-- the state comes from the GSTIN when not given; spaces and lower case are tidied
INSERT INTO easeinv.customers (name, gstin) VALUES ('Maharashtra buyer', ' 27aapfu0939f1zv ')
    RETURNING name, gstin, state_code;
-- consumers have no GSTIN; a customer abroad is billed in 96; an SEZ unit is flagged
INSERT INTO easeinv.customers (name, state_code) VALUES ('Walk-in consumer', '27'), ('Dubai importer', '96')
    RETURNING name, gstin, state_code;
INSERT INTO easeinv.customers (name, state_code, is_sez) VALUES ('SEZ unit, Pune', '27', true)
    RETURNING name, state_code, is_sez;
SAVEPOINT s;
INSERT INTO easeinv.customers (name, gstin) VALUES ('Typo', '29AAGCB7383J1Z5');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.customers (name, gstin, state_code) VALUES ('Wrong state', '29AAGCB7383J1Z4', '27');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.customers (name) VALUES ('No state');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.customers (name, state_code) VALUES ('Bad state', '45');
ROLLBACK TO s;
INSERT INTO easeinv.customers (name, state_code, email) VALUES ('Bad email', '27', 'not-an-email');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
INSERT INTO easeinv.customers (name, state_code, phone) VALUES ('Bad phone', '27', 'call me');
ROLLBACK TO s;
INSERT INTO easeinv.customers (name, state_code, email, phone) VALUES ('Reachable', '27', 'buyer@example.in', '+91 98200 12345')
    RETURNING email, phone;
ROLLBACK TO s;
-- one live customer per GSTIN and tenant
INSERT INTO easeinv.customers (name, gstin) VALUES ('Same GSTIN', '29AAGCB7383J1Z4');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
UPDATE easeinv.customers SET gstin = '29AAGCB7383J1Z0' WHERE name = 'Karnataka buyer';
ROLLBACK TO s;
COMMIT;
-- another tenant may bill the same GSTIN, and sees none of tenant 1's customers
BEGIN;
SELECT easeinv.set_tenant(2);
INSERT INTO easeinv.customers (name, gstin) VALUES ('Also a Karnataka buyer', '29AAGCB7383J1Z4') RETURNING state_code;
SELECT tenant_id, name FROM easeinv.customers ORDER BY name;
COMMIT;
RESET ROLE;
SELECT tenant_id, name, gstin, state_code, is_sez FROM easeinv.customers ORDER BY tenant_id, name;
SELECT table_name, problem FROM easeinv.audit_tenancy() WHERE table_name::text LIKE 'easeinv.customers%';
