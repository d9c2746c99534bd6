
-------------------------------------------------------------------------------------------------
-- The outbox: every domain write of the extension appends one event in its own transaction
-- (src/events.c); the application appends its own with easeinv.emit().  Named consumers claim
-- events with leases and acknowledge them; each consumer sees every event, at least once, in
-- order per aggregate.
--
-- Why not "the highest id I have seen": ids are taken at insert and transactions commit in
-- another order, so an event whose transaction commits after a higher id was read would be
-- skipped for ever.  Each event carries the id of the transaction that wrote it (txid), and each
-- consumer keeps, as its cursor, the snapshot of its last harvest: a harvest takes a new snapshot
-- and collects exactly the events visible in it and not in the cursor (every transaction becomes
-- visible in some snapshot exactly once; one in progress at the last harvest is collected by the
-- first harvest that sees it committed), into the consumer's deliveries.  Claims lease
-- deliveries (FOR UPDATE SKIP LOCKED); acks mark them acknowledged.  test/specs/outbox.spec runs
-- the interleaving that breaks an id cursor.
--
-- A restored dump, or a consumer's first harvest, has no cursor that means anything in this
-- cluster's transaction ids: the installation token below (written anew by every CREATE
-- EXTENSION, including a restore's) tells, and the harvest then collects every event the
-- consumer has no delivery for (the deliveries' primary key makes a second collection a no-op).
-------------------------------------------------------------------------------------------------

INSERT INTO easeinv.config (key, value) VALUES ('installation', pg_catalog.gen_random_uuid()::text);

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'easeinv_consumer') THEN
        CREATE ROLE easeinv_consumer NOLOGIN NOBYPASSRLS;
    END IF;
END
$roles$;
COMMENT ON ROLE easeinv_consumer IS
    'event consumers: claim and acknowledge every tenant''s outbox events, nothing else';

-- No CHECK constraints: the extension's own writers are C, and emit() checks the application's
-- type, aggregate and payload with a hint before anything is written; the regular expressions
-- of CHECKs cost move_stock about 11 us a movement (bench/events).
CREATE TABLE easeinv.outbox (
    tenant_id       bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    type            text NOT NULL,
    aggregate_type  text NOT NULL,
    aggregate_id    text NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    txid            bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
    PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);
-- Harvests read by transaction id, the purge by age.  Both grow with the insertion order, so
-- BRIN indexes (a few bytes per 16 pages, nothing to do on most inserts) find the newest rows:
-- a b-tree on txid cost move_stock about 7% of its throughput (bench/events).  txid is the
-- 64-bit xid8 as a bigint (there is no BRIN operator class for xid8).
CREATE INDEX outbox_txid ON easeinv.outbox USING brin (txid) WITH (pages_per_range = 16, autosummarize = on);
CREATE INDEX outbox_created ON easeinv.outbox USING brin (created_at) WITH (autosummarize = on);
COMMENT ON TABLE easeinv.outbox IS
    'domain events, appended in the transaction of the write (easeinv.emit for the application''s own); read with outbox_claim';
COMMENT ON COLUMN easeinv.outbox.txid IS
    'the transaction that appended the event (xid8 as bigint): harvests collect it once it is visible, never by id order';

-- a named consumer, for every tenant (scope 0) or one tenant (scope = its id)
CREATE TABLE easeinv.outbox_consumers (
    name            text NOT NULL
                    CONSTRAINT outbox_consumers_name_format CHECK (name ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    scope           bigint NOT NULL CONSTRAINT outbox_consumers_scope CHECK (scope >= 0),
    cursor          pg_snapshot,
    installation    text,
    registered_at   timestamptz NOT NULL DEFAULT now(),
    harvested_at    timestamptz,
    PRIMARY KEY (name, scope)
);
COMMENT ON TABLE easeinv.outbox_consumers IS
    'outbox consumers and their cursors (the snapshot of their last harvest); scope 0 is every tenant';

CREATE TABLE easeinv.outbox_deliveries (
    tenant_id       bigint NOT NULL,
    consumer        text NOT NULL,
    scope           bigint NOT NULL,
    event_id        bigint NOT NULL,
    aggregate_type  text NOT NULL,
    aggregate_id    text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    leased_until    timestamptz,
    acked_at        timestamptz,
    PRIMARY KEY (tenant_id, consumer, scope, event_id)
) PARTITION BY HASH (tenant_id);
-- what is not acknowledged yet, in order; the same per aggregate (an earlier event holds back a later one)
CREATE INDEX outbox_deliveries_pending ON easeinv.outbox_deliveries (consumer, scope, event_id)
    WHERE acked_at IS NULL;
CREATE INDEX outbox_deliveries_aggregate ON easeinv.outbox_deliveries
    (consumer, scope, tenant_id, aggregate_type, aggregate_id, event_id) WHERE acked_at IS NULL;
COMMENT ON TABLE easeinv.outbox_deliveries IS
    'the events each consumer has collected: leased by a claim, acknowledged by an ack; purged with the event';

SELECT easeinv.create_tenant_partitions('easeinv.outbox');
SELECT easeinv.create_tenant_partitions('easeinv.outbox_deliveries');
SELECT count(*) FROM easeinv.enable_tenancy('easeinv.outbox');
SELECT count(*) FROM easeinv.enable_tenancy('easeinv.outbox_deliveries');
SELECT easeinv.register_for_dump('easeinv.outbox');
SELECT easeinv.register_for_dump('easeinv.outbox_deliveries');
SELECT easeinv.register_for_dump('easeinv.outbox_consumers');

-- the application reads its tenant's events (row level security); only the extension writes them
GRANT SELECT ON easeinv.outbox TO easeinv_app;
GRANT SELECT ON easeinv.outbox, easeinv.outbox_deliveries, easeinv.outbox_consumers TO easeinv_admin;

CREATE FUNCTION easeinv.emit(type text, aggregate_type text, aggregate_id text, payload jsonb DEFAULT '{}')
RETURNS bigint
    AS 'MODULE_PATHNAME', 'emit'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION easeinv.emit(text, text, text, jsonb) IS
    'appends an event of the application''s to the current tenant''s outbox, in the caller''s transaction; returns its id';

-- outbox_check_consumer: the name format, refused with a hint (22023) rather than a CHECK violation
CREATE FUNCTION easeinv.outbox_check_consumer(consumer text) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF consumer IS NULL THEN
        RAISE EXCEPTION 'consumer must not be null'
            USING ERRCODE = '22004', HINT = 'Name the consumer, such as ''search-indexer''.';
    END IF;
    IF consumer !~ '^[a-z][a-z0-9_.-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid consumer name "%"', consumer
            USING ERRCODE = '22023',
                  HINT = 'A consumer name is 1 to 63 lower-case letters, digits, ".", "_" or "-", starting with a letter, such as "search-indexer".';
    END IF;
END
$fn$;

-- outbox_harvest: collect into the consumer's deliveries what became visible since its cursor.
-- The caller holds the consumer's row locked.
CREATE FUNCTION easeinv.outbox_harvest(consumer text, scope bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    c       record;
    snap    pg_snapshot := pg_current_snapshot();
    token   text := (SELECT value FROM easeinv.config WHERE key = 'installation');
    collect_all    boolean;
    n       bigint;
BEGIN
    SELECT o.cursor, o.installation INTO c FROM easeinv.outbox_consumers o
     WHERE o.name = consumer AND o.scope = outbox_harvest.scope;
    -- no cursor yet, a cursor of another installation (a restore), or of a transaction id space
    -- ahead of this one: collect everything not collected yet
    collect_all := c.cursor IS NULL OR c.installation IS DISTINCT FROM token
            OR pg_snapshot_xmax(c.cursor) > pg_snapshot_xmax(snap);
    -- three statements rather than one with ORs, so that each can use the txid index (BRIN) and a
    -- tenant's consumer reads its tenant's partition only
    IF collect_all AND scope = 0 THEN
        INSERT INTO easeinv.outbox_deliveries (tenant_id, consumer, scope, event_id, aggregate_type, aggregate_id)
        SELECT e.tenant_id, consumer, 0, e.id, e.aggregate_type, e.aggregate_id FROM easeinv.outbox e
         WHERE pg_visible_in_snapshot(e.txid::text::xid8, snap)
        ON CONFLICT DO NOTHING;
    ELSIF collect_all THEN
        INSERT INTO easeinv.outbox_deliveries (tenant_id, consumer, scope, event_id, aggregate_type, aggregate_id)
        SELECT e.tenant_id, consumer, outbox_harvest.scope, e.id, e.aggregate_type, e.aggregate_id FROM easeinv.outbox e
         WHERE e.tenant_id = outbox_harvest.scope AND pg_visible_in_snapshot(e.txid::text::xid8, snap)
        ON CONFLICT DO NOTHING;
    ELSE
        -- what became visible since the cursor: the lower bound is written into the statement,
        -- so that it is planned with it (a generic plan would not know the BRIN index on txid
        -- narrows it to the newest pages, and read the whole outbox)
        EXECUTE format(
            'INSERT INTO easeinv.outbox_deliveries (tenant_id, consumer, scope, event_id, aggregate_type, aggregate_id)'
            ' SELECT e.tenant_id, $1, $2, e.id, e.aggregate_type, e.aggregate_id FROM easeinv.outbox e'
            ' WHERE e.txid >= %s %s'
            '   AND NOT pg_visible_in_snapshot(e.txid::text::xid8, $3)'
            '   AND pg_visible_in_snapshot(e.txid::text::xid8, $4)'
            ' ON CONFLICT DO NOTHING',
            pg_snapshot_xmin(c.cursor)::text::bigint,
            CASE WHEN scope = 0 THEN '' ELSE format('AND e.tenant_id = %s', scope) END)
        USING consumer, scope, c.cursor, snap;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    -- a large harvest (a first one, a backlog) changes the deliveries more than the statistics
    -- know; the claims that follow would be planned for an empty table (seconds each, until
    -- autovacuum analyzes it)
    IF n >= 10000 THEN
        ANALYZE easeinv.outbox_deliveries;
    END IF;
    UPDATE easeinv.outbox_consumers o SET cursor = snap, installation = token, harvested_at = now()
     WHERE o.name = consumer AND o.scope = outbox_harvest.scope;
    RETURN n;
END
$fn$;

-- The consumer functions, for a scope s: a tenant, or 0 for every tenant.  Internal: called by
-- the SECURITY DEFINER wrappers below, which decide the scope (never from who the session is).
CREATE FUNCTION easeinv.outbox_claim_in(s bigint, consumer text, batch_size integer, lease interval)
RETURNS TABLE (id bigint, tenant_id bigint, type text, aggregate_type text, aggregate_id text,
               payload jsonb, created_at timestamptz, attempts integer)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM easeinv.outbox_check_consumer(consumer);
    IF batch_size IS NULL OR batch_size NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'batch_size must be from 1 to 10000, not %', coalesce(batch_size::text, 'null')
            USING ERRCODE = '22023', HINT = 'Claim up to 10000 events at a time.';
    END IF;
    IF lease IS NULL OR lease <= interval '0' OR lease > interval '1 day' THEN
        RAISE EXCEPTION 'lease must be more than 0 and at most 1 day, not %', coalesce(lease::text, 'null')
            USING ERRCODE = '22023', HINT = 'A lease is how long a claimed event is the claimer''s before another claim may take it.';
    END IF;
    -- registered on first use (the insert only when missing: it would wait for a running harvest)
    IF NOT EXISTS (SELECT 1 FROM easeinv.outbox_consumers o WHERE o.name = consumer AND o.scope = s) THEN
        INSERT INTO easeinv.outbox_consumers (name, scope) VALUES (consumer, s) ON CONFLICT DO NOTHING;
    END IF;
    -- one harvest at a time per consumer; a claim that finds one running claims what is collected
    PERFORM 1 FROM easeinv.outbox_consumers o WHERE o.name = consumer AND o.scope = s FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
        PERFORM easeinv.outbox_harvest(consumer, s);
    END IF;
    -- The oldest unacknowledged deliveries, a window of 20 batches: an event is claimable when it
    -- is the first of its aggregate in the window (what holds it back has a smaller id, so it is
    -- in the window too) and not leased.  The window keeps a claim cheap however many events
    -- wait behind busy aggregates; the oldest unacknowledged event always heads the window.
    RETURN QUERY
    WITH win AS (
        SELECT w.tenant_id, w.event_id, w.leased_until,
               row_number() OVER (PARTITION BY w.tenant_id, w.aggregate_type, w.aggregate_id
                                  ORDER BY w.event_id) AS nth
          FROM (SELECT d.tenant_id, d.event_id, d.aggregate_type, d.aggregate_id, d.leased_until
                  FROM easeinv.outbox_deliveries d
                 WHERE d.consumer = outbox_claim_in.consumer AND d.scope = s AND d.acked_at IS NULL
                 ORDER BY d.event_id
                 LIMIT least(batch_size * 20, 100000)) w),
    candidates AS (
        SELECT win.tenant_id, win.event_id FROM win
         WHERE win.nth = 1 AND (win.leased_until IS NULL OR win.leased_until <= clock_timestamp())
         ORDER BY win.event_id
         LIMIT batch_size),
    picked AS (
        SELECT d.tenant_id, d.event_id
          FROM easeinv.outbox_deliveries d JOIN candidates c
            ON d.tenant_id = c.tenant_id AND d.event_id = c.event_id
         WHERE d.consumer = outbox_claim_in.consumer AND d.scope = s
           FOR UPDATE OF d SKIP LOCKED),
    leased AS (
        -- the lease is decided again on the row as it is now (another claim may have leased it)
        UPDATE easeinv.outbox_deliveries d
           SET leased_until = clock_timestamp() + lease, attempts = d.attempts + 1
          FROM picked
         WHERE d.tenant_id = picked.tenant_id AND d.consumer = outbox_claim_in.consumer AND d.scope = s
           AND d.event_id = picked.event_id AND d.acked_at IS NULL
           AND (d.leased_until IS NULL OR d.leased_until <= clock_timestamp())
        RETURNING d.tenant_id, d.event_id, d.attempts)
    SELECT e.id, e.tenant_id, e.type, e.aggregate_type, e.aggregate_id, e.payload, e.created_at, l.attempts
      FROM leased l
      JOIN easeinv.outbox e ON e.tenant_id = l.tenant_id AND e.id = l.event_id
     ORDER BY e.id;
END
$fn$;


CREATE FUNCTION easeinv.outbox_ack_in(s bigint, consumer text, ids bigint[]) RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    PERFORM easeinv.outbox_check_consumer(consumer);
    IF ids IS NULL THEN
        RAISE EXCEPTION 'ids must not be null'
            USING ERRCODE = '22004', HINT = 'Pass the ids outbox_claim returned, such as ARRAY[101, 102].';
    END IF;
    UPDATE easeinv.outbox_deliveries d SET acked_at = clock_timestamp(), leased_until = NULL
     WHERE d.consumer = outbox_ack_in.consumer AND d.scope = s AND d.event_id = ANY (ids)
       AND d.acked_at IS NULL AND (s = 0 OR d.tenant_id = s);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;


-- Registering before events flow makes the purge keep them.
CREATE FUNCTION easeinv.outbox_register_in(s bigint, consumer text) RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    PERFORM easeinv.outbox_check_consumer(consumer);
    INSERT INTO easeinv.outbox_consumers (name, scope) VALUES (consumer, s) ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n = 1;
END
$fn$;


-- A consumer that is gone must not hold back the purge.
CREATE FUNCTION easeinv.outbox_unregister_in(s bigint, consumer text) RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    PERFORM easeinv.outbox_check_consumer(consumer);
    DELETE FROM easeinv.outbox_deliveries d WHERE d.consumer = outbox_unregister_in.consumer AND d.scope = s;
    DELETE FROM easeinv.outbox_consumers o WHERE o.name = consumer AND o.scope = s;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n = 1;
END
$fn$;


-- The wrappers.  SECURITY DEFINER: they run the internal functions, which read every tenant's
-- events and write delivery state, as the owner; every statement names the scope.  The scope is
-- decided by which wrapper is called, checked by EXECUTE privilege (the role calling it, even
-- from inside another SECURITY DEFINER function), never by who the session is:
--   outbox_claim, outbox_ack, outbox_register, outbox_unregister: the current tenant's events
--     (42501 without a tenant context); easeinv_app and easeinv_admin;
--   outbox_claim_all, outbox_ack_all, outbox_register_all, outbox_unregister_all: every
--     tenant's; easeinv_consumer and easeinv_admin only.
CREATE FUNCTION easeinv.outbox_claim(consumer text, batch_size integer DEFAULT 100,
                                     lease interval DEFAULT '30 seconds')
RETURNS TABLE (id bigint, tenant_id bigint, type text, aggregate_type text, aggregate_id text,
               payload jsonb, created_at timestamptz, attempts integer)
LANGUAGE sql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT * FROM easeinv.outbox_claim_in(easeinv.current_tenant(), consumer, batch_size, lease) $fn$;
CREATE FUNCTION easeinv.outbox_claim_all(consumer text, batch_size integer DEFAULT 100,
                                         lease interval DEFAULT '30 seconds')
RETURNS TABLE (id bigint, tenant_id bigint, type text, aggregate_type text, aggregate_id text,
               payload jsonb, created_at timestamptz, attempts integer)
LANGUAGE sql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT * FROM easeinv.outbox_claim_in(0, consumer, batch_size, lease) $fn$;
CREATE FUNCTION easeinv.outbox_ack(consumer text, ids bigint[]) RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT easeinv.outbox_ack_in(easeinv.current_tenant(), consumer, ids) $fn$;
CREATE FUNCTION easeinv.outbox_ack_all(consumer text, ids bigint[]) RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT easeinv.outbox_ack_in(0, consumer, ids) $fn$;
CREATE FUNCTION easeinv.outbox_register(consumer text) RETURNS boolean
LANGUAGE sql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT easeinv.outbox_register_in(easeinv.current_tenant(), consumer) $fn$;
CREATE FUNCTION easeinv.outbox_register_all(consumer text) RETURNS boolean
LANGUAGE sql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT easeinv.outbox_register_in(0, consumer) $fn$;
CREATE FUNCTION easeinv.outbox_unregister(consumer text) RETURNS boolean
LANGUAGE sql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT easeinv.outbox_unregister_in(easeinv.current_tenant(), consumer) $fn$;
CREATE FUNCTION easeinv.outbox_unregister_all(consumer text) RETURNS boolean
LANGUAGE sql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT easeinv.outbox_unregister_in(0, consumer) $fn$;
COMMENT ON FUNCTION easeinv.outbox_claim(text, integer, interval) IS
    'leases up to batch_size of the current tenant''s events the consumer has not acknowledged, in id order, one at a time per aggregate; at least once';
COMMENT ON FUNCTION easeinv.outbox_claim_all(text, integer, interval) IS
    'outbox_claim for every tenant''s events (easeinv_consumer, easeinv_admin)';
COMMENT ON FUNCTION easeinv.outbox_ack(text, bigint[]) IS
    'acknowledges claimed events (ids the consumer has no lease on, or acknowledged before, are not counted); returns how many';
COMMENT ON FUNCTION easeinv.outbox_register(text) IS
    'registers a consumer of the current tenant: from now on the purge keeps what it has not acknowledged';
COMMENT ON FUNCTION easeinv.outbox_unregister(text) IS
    'removes a consumer and its deliveries, so that the purge no longer waits for it';

REVOKE ALL ON FUNCTION easeinv.outbox_harvest(text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION easeinv.outbox_claim_in(bigint, text, integer, interval), easeinv.outbox_ack_in(bigint, text, bigint[]),
                       easeinv.outbox_register_in(bigint, text), easeinv.outbox_unregister_in(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION easeinv.outbox_claim(text, integer, interval), easeinv.outbox_ack(text, bigint[]),
                       easeinv.outbox_register(text), easeinv.outbox_unregister(text),
                       easeinv.outbox_claim_all(text, integer, interval), easeinv.outbox_ack_all(text, bigint[]),
                       easeinv.outbox_register_all(text), easeinv.outbox_unregister_all(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easeinv.outbox_claim(text, integer, interval), easeinv.outbox_ack(text, bigint[]),
                          easeinv.outbox_register(text), easeinv.outbox_unregister(text)
    TO easeinv_app, easeinv_admin;
GRANT EXECUTE ON FUNCTION easeinv.outbox_claim_all(text, integer, interval), easeinv.outbox_ack_all(text, bigint[]),
                          easeinv.outbox_register_all(text), easeinv.outbox_unregister_all(text)
    TO easeinv_consumer, easeinv_admin;
-- the application's events: the application's role (and maintenance), not PUBLIC
REVOKE ALL ON FUNCTION easeinv.emit(text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easeinv.emit(text, text, text, jsonb) TO easeinv_app, easeinv_admin;
