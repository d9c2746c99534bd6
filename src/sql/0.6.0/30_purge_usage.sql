
-------------------------------------------------------------------------------------------------
-- Retention and per-tenant usage.  outbox_purge() deletes events older than
-- easeinv.outbox_retention that every consumer covering their tenant has acknowledged, in
-- batches, with their deliveries, and adds them to usage_daily in the same statement: the usage
-- of a day is usage_daily plus the events of that day still in the outbox, so nothing is counted
-- twice or lost, and no writer ever updates a counter (no hot row per tenant).
-------------------------------------------------------------------------------------------------

CREATE TABLE easeinv.usage_daily (
    tenant_id       bigint NOT NULL,
    day             date NOT NULL,
    movements       bigint NOT NULL DEFAULT 0,
    reservations    bigint NOT NULL DEFAULT 0,
    invoices        bigint NOT NULL DEFAULT 0,
    payments        bigint NOT NULL DEFAULT 0,
    imports         bigint NOT NULL DEFAULT 0,
    import_rows     bigint NOT NULL DEFAULT 0,
    events          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
) PARTITION BY HASH (tenant_id);
COMMENT ON TABLE easeinv.usage_daily IS
    'per tenant and day (Asia/Kolkata), the usage counted from purged outbox events; see the view tenant_usage';
SELECT easeinv.create_tenant_partitions('easeinv.usage_daily');
SELECT count(*) FROM easeinv.enable_tenancy('easeinv.usage_daily');
SELECT easeinv.register_for_dump('easeinv.usage_daily');

-- usage_of: what one event counts for (the columns of usage_daily)
CREATE FUNCTION easeinv.usage_of(type text, payload jsonb,
    OUT movements bigint, OUT reservations bigint, OUT invoices bigint, OUT payments bigint,
    OUT imports bigint, OUT import_rows bigint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT (type IN ('stock.moved', 'stock.reversed', 'stock.consumed'))::int::bigint
             + CASE WHEN type = 'import.applied' AND payload ->> 'kind' IN ('movements', 'opening_stock')
                    THEN coalesce((payload ->> 'applied')::bigint, 0) ELSE 0 END,
           (type = 'stock.reserved')::int::bigint,
           (type IN ('invoice.issued', 'credit_note.issued'))::int::bigint,
           (type IN ('payment.recorded', 'payment.refunded'))::int::bigint,
           (type = 'import.applied')::int::bigint,
           CASE WHEN type = 'import.applied' THEN coalesce((payload ->> 'rows')::bigint, 0) ELSE 0 END
$fn$;

-- SECURITY DEFINER: the outbox, deliveries and usage are written by the extension only; the
-- maintenance role (and pg_cron's job) runs the purge without any privilege on them.
-- outbox_purge(older_than, batch_size): delete acknowledged events older than older_than
-- (default easeinv.outbox_retention), batch_size at a time (each batch its own statement, so the
-- dead rows of one can be vacuumed while the next runs); returns how many were deleted.
CREATE FUNCTION easeinv.outbox_purge(older_than interval DEFAULT NULL, batch_size integer DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    cutoff timestamptz := now() - coalesce(older_than, current_setting('easeinv.outbox_retention')::interval);
    n      bigint;
    total  bigint := 0;
BEGIN
    IF batch_size IS NULL OR batch_size NOT BETWEEN 1 AND 1000000 THEN
        RAISE EXCEPTION 'batch_size must be from 1 to 1000000'
            USING ERRCODE = '22023', HINT = 'Leave it out for batches of 10000 events.';
    END IF;
    IF older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must not be negative'
            USING ERRCODE = '22023', HINT = 'Pass an age such as ''7 days'', or leave it out for easeinv.outbox_retention.';
    END IF;
    LOOP
        WITH doomed AS (
            SELECT e.tenant_id, e.id FROM easeinv.outbox e
             WHERE e.created_at < cutoff
               -- acknowledged by every consumer that covers the tenant (collected, then acked)
               AND NOT EXISTS (
                   SELECT 1 FROM easeinv.outbox_consumers c
                    WHERE (c.scope = 0 OR c.scope = e.tenant_id)
                      AND NOT EXISTS (SELECT 1 FROM easeinv.outbox_deliveries d
                                       WHERE d.tenant_id = e.tenant_id AND d.consumer = c.name
                                         AND d.scope = c.scope AND d.event_id = e.id
                                         AND d.acked_at IS NOT NULL))
             LIMIT batch_size),
        gone AS (
            DELETE FROM easeinv.outbox e USING doomed
             WHERE e.tenant_id = doomed.tenant_id AND e.id = doomed.id
            RETURNING e.tenant_id, e.id, e.type, e.payload, e.created_at),
        deliveries AS (
            DELETE FROM easeinv.outbox_deliveries d USING gone
             WHERE d.tenant_id = gone.tenant_id AND d.event_id = gone.id),
        counted AS (
            INSERT INTO easeinv.usage_daily AS u (tenant_id, day, movements, reservations, invoices,
                                                 payments, imports, import_rows, events)
            SELECT g.tenant_id, (g.created_at AT TIME ZONE 'Asia/Kolkata')::date,
                   sum(x.movements), sum(x.reservations), sum(x.invoices), sum(x.payments),
                   sum(x.imports), sum(x.import_rows), count(*)
              FROM gone g, LATERAL easeinv.usage_of(g.type, g.payload) x
             GROUP BY 1, 2
            ON CONFLICT (tenant_id, day) DO UPDATE
               SET movements = u.movements + excluded.movements,
                   reservations = u.reservations + excluded.reservations,
                   invoices = u.invoices + excluded.invoices, payments = u.payments + excluded.payments,
                   imports = u.imports + excluded.imports, import_rows = u.import_rows + excluded.import_rows,
                   events = u.events + excluded.events)
        SELECT count(*) INTO n FROM gone;
        total := total + n;
        EXIT WHEN n < batch_size;
    END LOOP;
    RETURN total;
END
$fn$;
REVOKE ALL ON FUNCTION easeinv.outbox_purge(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easeinv.outbox_purge(interval, integer) TO easeinv_admin;
COMMENT ON FUNCTION easeinv.outbox_purge(interval, integer) IS
    'deletes outbox events older than older_than (easeinv.outbox_retention) that every consumer acknowledged, counting them into usage_daily';

-- per tenant and day: the purged events' counts plus those still in the outbox.  A tenant sees
-- its own rows (row level security on both tables, security_invoker); easeinv_admin sees all.
CREATE VIEW easeinv.tenant_usage WITH (security_invoker = true) AS
SELECT tenant_id, day, sum(movements)::bigint AS movements, sum(reservations)::bigint AS reservations,
       sum(invoices)::bigint AS invoices, sum(payments)::bigint AS payments, sum(imports)::bigint AS imports,
       sum(import_rows)::bigint AS import_rows, sum(events)::bigint AS events
  FROM (SELECT u.tenant_id, u.day, u.movements, u.reservations, u.invoices, u.payments, u.imports,
               u.import_rows, u.events
          FROM easeinv.usage_daily u
        UNION ALL
        SELECT e.tenant_id, (e.created_at AT TIME ZONE 'Asia/Kolkata')::date, x.movements, x.reservations,
               x.invoices, x.payments, x.imports, x.import_rows, 1
          FROM easeinv.outbox e, LATERAL easeinv.usage_of(e.type, e.payload) x) all_usage
 GROUP BY tenant_id, day;
COMMENT ON VIEW easeinv.tenant_usage IS
    'per tenant and day (Asia/Kolkata): movements (with imported ones), reservations, invoices and credit notes issued, payments and refunds, imports and their rows, events';
GRANT SELECT ON easeinv.usage_daily, easeinv.tenant_usage TO easeinv_app, easeinv_admin;
