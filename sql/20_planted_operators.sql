-- The rule of owner.c: every statement the C code runs sees search_path = pg_catalog, pg_temp,
-- so operators, functions, aggregates and types planted in a schema first in the caller's
-- search_path never run (with the owner's rights, or at all).  Schema "evil" shadows
-- pg_catalog's operators, the functions and aggregates the C code's statements call and the
-- types they cast to (domains whose check raises), for the types they are used with; every C
-- entry point is then run with evil first in the path, each statement on its own (psql's
-- ON_ERROR_ROLLBACK), through the statements of its rarer paths too (rounding, negative stock,
-- a document's movement, a second reversal, a credit note cancelled, REPEATABLE READ, a line
-- deleted).  The last query uses the function statistics (track_functions = all): it lists
-- every C function of the extension that did not run here (but the two append-only triggers,
-- which only raise), so one added later without a call here fails the test.
\set SHOW_CONTEXT never
\i test/fixtures/base.sql
SET client_min_messages = warning;
SET track_functions = 'all';
\set ON_ERROR_ROLLBACK on
DROP SCHEMA IF EXISTS evil CASCADE;
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.trap() RETURNS void LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'planted operator or function ran' USING ERRCODE = 'P0001'; END $$;
-- operators: name, left type, right type, result
DO $$
DECLARE
  op record;
  n int := 0;
BEGIN
  FOR op IN
    SELECT o.name, l.t AS lt, l.t AS rt, CASE WHEN o.name IN ('+', '-', '*', '/') THEN l.t ELSE 'boolean' END AS res
      FROM unnest(ARRAY['=', '<>', '<', '<=', '>', '>=', '+', '-', '*', '/']) AS o (name),
           unnest(ARRAY['bigint', 'integer', 'numeric']) AS l (t)
    UNION ALL
    SELECT o.name, l.t, l.t, 'boolean'
      FROM unnest(ARRAY['=', '<>', '<', '<=', '>', '>=']) AS o (name),
           unnest(ARRAY['text', 'date', 'timestamptz', 'boolean']) AS l (t)
    UNION ALL SELECT '=', 'bigint', 'integer', 'boolean'
    UNION ALL SELECT '||', 'text', 'text', 'text'
    UNION ALL SELECT '->>', 'jsonb', 'text', 'text'
  LOOP
    n := n + 1;
    EXECUTE format('CREATE FUNCTION evil.op%s(%s, %s) RETURNS %s LANGUAGE plpgsql AS '
                   '$f$ BEGIN PERFORM evil.trap(); RETURN NULL; END $f$', n, op.lt, op.rt, op.res);
    EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.op%s)',
                   op.name, op.lt, op.rt, n);
  END LOOP;
END $$;
-- functions the statements call
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE FUNCTION evil.btrim(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE FUNCTION evil.rtrim(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE FUNCTION evil.length(text) RETURNS integer LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE FUNCTION evil.round(numeric, integer) RETURNS numeric LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE FUNCTION evil.abs(numeric) RETURNS numeric LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE FUNCTION evil.round(numeric) RETURNS numeric LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE FUNCTION evil.coalesce_trap(numeric, numeric) RETURNS numeric LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE FUNCTION evil.trap_state(anycompatible, anycompatible) RETURNS anycompatible LANGUAGE plpgsql AS
  $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE FUNCTION evil.trap_array(anycompatiblearray, anycompatible) RETURNS anycompatiblearray LANGUAGE plpgsql AS
  $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE AGGREGATE evil.sum(numeric) (SFUNC = evil.trap_state, STYPE = numeric);
CREATE AGGREGATE evil.max(numeric) (SFUNC = evil.trap_state, STYPE = numeric);
CREATE AGGREGATE evil.max(bigint) (SFUNC = evil.trap_state, STYPE = bigint);
CREATE AGGREGATE evil.array_agg(bigint) (SFUNC = evil.trap_array, STYPE = bigint[]);
-- the types the statements cast to: a cast to a domain runs its check
CREATE FUNCTION evil.trap_check() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN true; END $$;
CREATE DOMAIN evil.text AS pg_catalog.text CHECK (evil.trap_check());
CREATE DOMAIN evil.boolean AS pg_catalog.bool CHECK (evil.trap_check());
CREATE DOMAIN evil.numeric AS pg_catalog.numeric CHECK (evil.trap_check());
CREATE DOMAIN evil.bigint AS pg_catalog.int8 CHECK (evil.trap_check());
CREATE DOMAIN evil.jsonb AS pg_catalog.jsonb CHECK (evil.trap_check());
SELECT count(*) > 50 AS planted FROM pg_operator WHERE oprnamespace = 'evil'::regnamespace;

-- the plants work: a query of the caller's own with evil first in its path runs them
SET search_path = evil, pg_catalog, public;
SELECT 1::pg_catalog.int8 = 1::pg_catalog.int8;
SELECT now();
SELECT sum(x) FROM (VALUES (1.5)) v (x);
SELECT 'a'::text;
RESET search_path;

-- a tenant with stock, customers, an invoice series: set up with the normal path
SELECT id AS t FROM easeinv.create_tenant('planted-co', 'Planted Co', '27', NULL,
    '{"round_off": true, "allow_negative_stock": true}') \gset
SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
INSERT INTO easeinv.locations (code, name, kind) VALUES ('WH', 'Warehouse', 'warehouse') RETURNING id AS wh \gset
INSERT INTO easeinv.locations (code, name, kind) VALUES ('WH2', 'Second', 'warehouse') RETURNING id AS wh2 \gset
INSERT INTO easeinv.locations (code, name, kind) VALUES ('CUST', 'Customers', 'customer') RETURNING id AS cust \gset
INSERT INTO easeinv.locations (code, name, kind) VALUES ('SUP', 'Suppliers', 'supplier') RETURNING id AS sup \gset
INSERT INTO easeinv.products (sku, name, hsn_code, gst_rate) VALUES ('W', 'Widget', '8471', 18) RETURNING id AS widget \gset
INSERT INTO easeinv.customers (name, state_code) VALUES ('Pune shop', '27') RETURNING id AS local \gset
COMMIT;
RESET ROLE;

-- from here on every C entry point runs with evil first in the caller's path
SET search_path = evil, pg_catalog, public;
SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS set_tenant;
SELECT easeinv.current_tenant() IS NOT NULL AS current_tenant, easeinv.current_tenant_if_any() IS NOT NULL AS if_any;
-- tenant_guard (a C trigger) on an insert
INSERT INTO easeinv.products (sku, name, hsn_code, gst_rate) VALUES ('X', 'Extra', '8471', 18) RETURNING id AS extra \gset
-- the ledger
SELECT (easeinv.move_stock('p-in', :widget, :sup, :wh, 100, 'opening', NULL, NULL, 12.5)).replayed AS move_stock;
SELECT (easeinv.move_stock('p-in', :widget, :sup, :wh, 100, 'opening', NULL, NULL, 12.5)).replayed AS move_stock_replayed;
SELECT (easeinv.move_stock('p-mv', :widget, :wh, :wh2, 10)).id AS mv \gset
SELECT (easeinv.reverse_movement('p-rev', :mv)).replayed AS reverse_movement;
SELECT easeinv.location_history_exists(:t, :wh) AS location_history_exists,
       easeinv.product_history_exists(:t, :extra) AS product_history_exists;
SELECT easeinv.level_add(1.5, 2, 0, 1, 1) AS level_add;
-- reservations
SELECT (easeinv.reserve_stock('p-res', :widget, :wh, 5, 'order', 'SO-1')).id AS res \gset
SELECT (easeinv.reserve_stock('p-res', :widget, :wh, 5, 'order', 'SO-1')).replayed AS reserve_replayed;
SELECT (easeinv.consume_reservation('p-con', :res, :cust, 2)).replayed AS consume_reservation;
SELECT (easeinv.release_reservation('p-rel', :res)).status AS release_reservation;
-- invoices: invoice_line_compute, invoice_totals and invoice_guard fire on these
INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date) VALUES (:local, :wh, '2025-10-01') RETURNING id AS inv \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:inv, :widget, 3, 199.99);
INSERT INTO easeinv.invoice_lines (invoice_id, description, hsn_sac, qty, unit_price, gst_rate, discount_percent)
    VALUES (:inv, 'Installation', '998719', 1, 500, 18, 10);
SELECT (easeinv.issue_invoice(:inv)).grand_total AS issue_invoice;
SELECT (easeinv.issue_invoice(:inv)).replayed AS issue_replayed;
SELECT (easeinv.record_payment('p-pay', :inv, 100, 'upi', NULL, 'UTR1')).id AS pay \gset
SELECT (easeinv.record_payment('p-pay', :inv, 100, 'upi', NULL, 'UTR1')).replayed AS payment_replayed;
SELECT (easeinv.refund_payment('p-ref', :pay, 40)).amount AS refund_payment;
INSERT INTO easeinv.invoices (kind, original_invoice_id, invoice_date) VALUES ('credit_note', :inv, '2025-12-10') RETURNING id AS cn \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:cn, :widget, 1, 199.99);
SELECT (easeinv.issue_invoice(:cn)).kind AS credit_note;
INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date) VALUES (:local, :wh, '2025-10-02') RETURNING id AS inv2 \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:inv2, :widget, 1, 10);
SELECT (easeinv.issue_invoice(:inv2)).status AS issued;
SELECT (easeinv.cancel_invoice(:inv2, 'wrong customer')).status AS cancel_invoice;
-- the rarer paths: a document's movement reversed by hand (refused), a second reversal of a
-- movement (refused), a credit note cancelled, a draft's line deleted, stock going negative
-- where the tenant allows it (the test's own statements spell their operators out)
SELECT id AS docmv FROM easeinv.stock_movements
 WHERE idempotency_key OPERATOR(pg_catalog.~~) 'easeinv:invoice:%' ORDER BY id LIMIT 1 \gset
SELECT easeinv.reverse_movement('p-doc', :docmv);
SELECT easeinv.reverse_movement('p-rev-2', :mv);
SELECT (easeinv.cancel_invoice(:cn, 'issued by mistake')).status AS cancel_credit_note;
INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date) VALUES (:local, :wh, '2025-10-03') RETURNING id AS inv3 \gset
INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price) VALUES (:inv3, :widget, 1, 10.33), (:inv3, :widget, 2, 10);
DELETE FROM easeinv.invoice_lines WHERE invoice_id OPERATOR(pg_catalog.=) :inv3 AND line_no OPERATOR(pg_catalog.=) 2;
SELECT (easeinv.move_stock('p-neg', :widget, :wh2, :cust, 1000)).qty AS negative_allowed;
-- the outbox and the flags (0.6.0)
SELECT easeinv.emit('app.planted', 'order', 'P-1', '{"a": 1}') IS NOT NULL AS emit;
SELECT easeinv.feature_enabled('planted') AS feature_enabled, easeinv.feature_bucket('planted', 1) IS NOT NULL AS feature_bucket;
COMMIT;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT count(*) AS claimed FROM easeinv.outbox_claim('planted', 1000);
COMMIT;
-- a movement and a reservation under REPEATABLE READ read their rules twice
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT (easeinv.move_stock('p-rr', :widget, :sup, :wh, 1)).replayed AS repeatable_read;
SELECT (easeinv.reserve_stock('p-rr-res', :widget, :wh, 1)).replayed AS repeatable_read_reserve;
COMMIT;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
-- imports
SELECT easeinv.begin_import('movements') IS NOT NULL AS begin_import;
COPY import_movements FROM STDIN (FORMAT csv, HEADER);
idempotency_key,sku,from_location,to_location,qty,unit_cost,reason,reference_type,reference_id,occurred_at
imp-1,W,SUP,WH,10,5.5,"batch, one",,,2025-10-01
imp-2,W,WH,CUST,1,,,,,
\.
SELECT count(*) AS bad_rows FROM easeinv.check_import('movements');
SELECT kind, rows, applied, rejected FROM easeinv.apply_import('movements');
SELECT easeinv.begin_import('products') IS NOT NULL AS begin_products;
COPY import_products FROM STDIN (FORMAT csv, HEADER);
sku,name,hsn_code,unit,gst_rate,track_stock
NEW,New thing,8471,NOS,18,true
\.
SELECT kind, rows, applied, rejected FROM easeinv.apply_import('products');
SELECT easeinv.begin_import('opening_stock') IS NOT NULL AS begin_opening;
COPY import_opening_stock FROM STDIN (FORMAT csv, HEADER);
sku,location,qty,unit_cost,occurred_at
NEW,WH2,7,1.25,
\.
SELECT kind, rows, applied, rejected FROM easeinv.apply_import('opening_stock');
COMMIT;
-- the functions of no table
SELECT easeinv.gstin_is_valid('27AAPFU0939F1ZV') AS gstin_is_valid, easeinv.gstin_error('27AAPFU0939F1ZX') IS NOT NULL AS gstin_error;
SELECT easeinv.invoice_number('INV/{FY}/{N:5}', '2025-10-01', 7) AS invoice_number;
SELECT (easeinv.gst_line(3, 199.99, 18, true)).line_total AS gst_line;
SELECT easeinv.import_numeric(' 1.50 ') AS import_numeric, easeinv.import_text(' a ') AS import_text,
       easeinv.import_time('2025-10-01') IS NOT NULL AS import_time;
SELECT easeinv.restoring('easeinv.invoices') AS restoring, easeinv.protecting() AS protecting;
RESET ROLE;
-- the refusals of the append-only and guarded tables, as the owner (the app role may not even try)
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SAVEPOINT s;
UPDATE easeinv.stock_movements SET reason = 'changed';   -- ledger_guard
ROLLBACK TO s;
UPDATE easeinv.payments SET reference = 'changed';       -- append_only
ROLLBACK TO s;
DELETE FROM easeinv.products WHERE tenant_id IS NOT NULL; -- products_on_invoices: W is on invoices
ROLLBACK TO s;
COMMIT;
-- enable_tenancy, as the owner of a new table
CREATE TABLE public.planted_notes (tenant_id bigint NOT NULL, id bigint NOT NULL, body text, PRIMARY KEY (tenant_id, id));
SELECT count(*) > 0 AS enable_tenancy FROM easeinv.enable_tenancy('public.planted_notes');
DROP TABLE public.planted_notes;
-- adds_partition, as the partition event trigger asks it: a partition added to a protected tree
CREATE TABLE public.planted_tree (tenant_id bigint NOT NULL, id bigint NOT NULL, PRIMARY KEY (tenant_id, id))
    PARTITION BY LIST (tenant_id);
SELECT count(*) > 0 AS enable_tenancy FROM easeinv.enable_tenancy('public.planted_tree');
CREATE TABLE public.planted_tree_1 PARTITION OF public.planted_tree FOR VALUES IN (1);
SELECT easeinv.tenant_policy_intact('public.planted_tree_1') AS partition_protected;
DROP TABLE public.planted_tree;
RESET search_path;

-- what ran: the tenant's ledger and documents are as the calls said
SELECT count(*) AS movements FROM easeinv.stock_movements WHERE tenant_id = :t;
-- each names who posted it: the caller, not the owner the statements ran as
SELECT created_by, count(*) FROM easeinv.stock_movements WHERE tenant_id = :t GROUP BY 1;
SELECT number, status, grand_total FROM easeinv.invoices WHERE tenant_id = :t ORDER BY id;

-- every C function of the extension ran above (track_functions counts trigger functions too)
SELECT pg_stat_force_next_flush();
SELECT p.proname AS not_run
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
  LEFT JOIN pg_stat_user_functions s ON s.funcid = p.oid
 WHERE p.pronamespace = 'easeinv'::regnamespace AND l.lanname = 'c' AND coalesce(s.calls, 0) = 0
   -- the append-only triggers only ever raise, which the statistics do not count: their
   -- refusals are above
   AND p.proname <> ALL (ARRAY['ledger_guard', 'append_only'])
 ORDER BY 1;
SELECT count(*) > 30 AS c_functions_counted
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
  JOIN pg_stat_user_functions s ON s.funcid = p.oid
 WHERE p.pronamespace = 'easeinv'::regnamespace AND l.lanname = 'c';

DROP SCHEMA evil CASCADE;
RESET client_min_messages;
