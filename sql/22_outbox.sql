-- The outbox: emit under the tenant rules, named consumers that each see every event, claims
-- with leases in order per aggregate, acks, the purge and its usage counts, rollbacks and replays
-- that append nothing, and the app role's view of its tenant's events only.
\set SHOW_CONTEXT never
\i test/fixtures/base.sql
SET client_min_messages = warning;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_worker') THEN CREATE ROLE regress_worker LOGIN; END IF;
END $$;
GRANT easeinv_consumer TO regress_worker;
SELECT id AS t FROM easeinv.create_tenant('outbox-a', 'Outbox A', '27') \gset
SELECT id AS t2 FROM easeinv.create_tenant('outbox-b', 'Outbox B', '29') \gset

-- emit: the current tenant's outbox, in the caller's transaction
SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT easeinv.emit('order.placed', 'order', 'SO-1', '{"total": 10}') > 0 AS emitted;
SELECT easeinv.emit('order.shipped', 'order', 'SO-1', '{}') > 0 AS emitted;
SELECT easeinv.emit('order.placed', 'order', 'SO-2') > 0 AS emitted;
COMMIT;
BEGIN;
SELECT easeinv.set_tenant(:t2) IS NOT NULL AS ok;
SELECT easeinv.emit('order.placed', 'order', 'B-1', '{"total": 99}') > 0 AS emitted;
COMMIT;
-- a rolled-back emit leaves nothing
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT easeinv.emit('order.placed', 'order', 'SO-GONE') > 0 AS emitted;
ROLLBACK;
-- no context: refused; bad arguments: refused with a hint; the extension's own types: refused
SELECT easeinv.emit('order.placed', 'order', 'X');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SAVEPOINT s;
SELECT easeinv.emit('stock.moved', 'stock', '1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.emit('Order Placed', 'order', '1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.emit('order', 'order', '1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.emit('order.placed', 'Order', '1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.emit('order.placed', 'order', '');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.emit('order.placed', 'order', '1', '[1, 2]');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.emit(NULL, 'order', '1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.emit('order.placed', 'order', '1', NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- the app writes the outbox only through emit
INSERT INTO easeinv.outbox (tenant_id, type, aggregate_type, aggregate_id) VALUES (:t, 'stock.moved', 'stock', '1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- and reads its own tenant's events only
SELECT type, aggregate_type, aggregate_id, payload FROM easeinv.outbox ORDER BY id;
COMMIT;

-- a tenant's consumer: its own tenant's events, in order, one per aggregate at a time
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT aggregate_id, type, payload, attempts FROM easeinv.outbox_claim('cache', 10);
-- SO-1's second event waits for its first; SO-2's is leased: nothing more now
SELECT count(*) AS more FROM easeinv.outbox_claim('cache', 10);
COMMIT;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT easeinv.outbox_ack('cache', array_agg(id)) AS acked
  FROM easeinv.outbox WHERE aggregate_id = 'SO-1' AND type = 'order.placed';
-- acking again counts nothing
SELECT easeinv.outbox_ack('cache', array_agg(id)) AS acked_again
  FROM easeinv.outbox WHERE aggregate_id = 'SO-1' AND type = 'order.placed';
SELECT aggregate_id, type FROM easeinv.outbox_claim('cache', 10);
COMMIT;
RESET ROLE;

-- a consumer of every tenant: a member of easeinv_consumer without a context
SET ROLE regress_worker;
SELECT tenant_id = :t AS first_tenant, aggregate_id, type FROM easeinv.outbox_claim_all('search', 100, '1 millisecond') ORDER BY id;
-- reading the tables directly is not its to do
SELECT count(*) FROM easeinv.outbox;
\echo :LAST_ERROR_SQLSTATE
-- the leases ran out: the next claim gets them again (attempts 2), and acks them
SELECT pg_sleep(0.02);
SELECT easeinv.outbox_ack_all('search', array_agg(id)) AS acked, max(attempts) AS attempts
  FROM easeinv.outbox_claim_all('search', 100) x;
RESET ROLE;
-- the app role cannot consume every tenant's events: not without a context, not through the
-- functions of every tenant (EXECUTE is easeinv_consumer's and easeinv_admin's), not even from
-- code a consumer's session runs (a SECURITY DEFINER function of the app's calls them as the app)
SET ROLE regress_web;
SELECT * FROM easeinv.outbox_claim('search', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM easeinv.outbox_claim_all('search', 10);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
CREATE SCHEMA regress_app AUTHORIZATION regress_web;
SET ROLE regress_web;
CREATE FUNCTION regress_app.steal() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    AS $$ SELECT count(*) FROM easeinv.outbox_claim_all('evil', 10000) $$;
GRANT USAGE ON SCHEMA regress_app TO PUBLIC;
RESET ROLE;
SET ROLE regress_worker;
SELECT regress_app.steal();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP SCHEMA regress_app CASCADE;
-- a consumer of every tenant does not write events, nor does a role without grants
SET ROLE regress_worker;
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SELECT easeinv.emit('app.forged', 'order', 'Z');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET ROLE;

-- leases: a claim with a short lease, expired, is claimed again (attempts 2)
SET ROLE regress_worker;
SELECT easeinv.outbox_register_all('audit');
SELECT count(*) AS leased FROM easeinv.outbox_claim_all('audit', 1, '10 milliseconds');
SELECT pg_sleep(0.05);
SELECT aggregate_id, attempts FROM easeinv.outbox_claim_all('audit', 1);
-- bad arguments
SELECT * FROM easeinv.outbox_claim_all('Bad Name', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM easeinv.outbox_claim_all('audit', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM easeinv.outbox_claim_all('audit', 1, '0 seconds'::interval);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- the purge keeps what a consumer has not acknowledged ('audit' has acked nothing, 'cache'
-- covers tenant t only), and counts what it deletes into usage
SELECT easeinv.outbox_purge('0 seconds') AS purged_while_audit_lags;
SET ROLE regress_worker;
SELECT easeinv.outbox_unregister_all('audit');
RESET ROLE;
SELECT easeinv.outbox_purge('0 seconds') AS purged;
SELECT tenant_id = :t AS tenant_a, aggregate_id FROM easeinv.outbox ORDER BY id;
SELECT tenant_id = :t AS tenant_a, events FROM easeinv.tenant_usage ORDER BY 1 DESC;
SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(:t2) IS NOT NULL AS ok;
SELECT tenant_id = :t2 AS own, events FROM easeinv.tenant_usage;
COMMIT;
RESET ROLE;

-- tenant settings: an event
UPDATE easeinv.tenants SET settings = settings || '{"round_off": true}' WHERE id = :t;
UPDATE easeinv.tenants SET name = 'Outbox A Ltd' WHERE id = :t;   -- not the settings: no event
SELECT type, payload - 'tenant_id' AS payload FROM easeinv.outbox WHERE type LIKE 'tenant.%';

-- in replica mode (a superuser's session_replication_role = replica) the events are appended as ever
SET session_replication_role = replica;
UPDATE easeinv.tenants SET settings = settings || '{"round_off": false}' WHERE id = :t;
RESET session_replication_role;
SELECT count(*) AS settings_events FROM easeinv.outbox WHERE type = 'tenant.settings_changed';

-- a session-level tenant (what a pooler hands the next client) is no context for emit
SET ROLE regress_web;
SET easeinv.tenant_id = '1';
SELECT easeinv.emit('order.placed', 'order', 'POOLED');
\echo :LAST_ERROR_SQLSTATE
RESET easeinv.tenant_id;

-- the consumer functions' other refusals, and emit's size limit
BEGIN;
SELECT easeinv.set_tenant(:t) IS NOT NULL AS ok;
SAVEPOINT s;
SELECT easeinv.outbox_ack('cache', NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.outbox_ack('Bad Name', '{1}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.outbox_register(NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.outbox_unregister('Bad Name');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.outbox_claim('cache', 10001);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.outbox_claim('cache', 1, '2 days');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT easeinv.emit('order.big', 'order', 'BIG', jsonb_build_object('blob', repeat('x', 1100000)));
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- the application registers and unregisters its own consumers (its tenant's scope only)
SELECT easeinv.outbox_register('app-feed') AS registered, easeinv.outbox_register('app-feed') AS again,
       easeinv.outbox_unregister('app-feed') AS unregistered, easeinv.outbox_unregister('app-feed') AS gone;
-- and purges nothing: outbox_purge is the maintenance role's
SELECT easeinv.outbox_purge();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET ROLE;
SELECT easeinv.outbox_purge(batch_size => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.outbox_purge('-1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT easeinv.feature_bucket(NULL, 1) IS NULL AS bucket_of_null;
RESET client_min_messages;
