
-------------------------------------------------------------------------------------------------
-- stock_flow: the series the Stock Flow Chart draws.  For one product at one location (or, with
-- location NULL, across all of the tenant's internal locations, where transfers between them
-- cancel out): per day, week (ISO, from Monday) or month, what came in, what went out, and the
-- balance at the end of the bucket.  Every bucket of the range is present, empty ones included.
-- Dates are the tenant's: settings.timezone, Asia/Kolkata by default.  Set-based SQL over the
-- (tenant_id, product_id, occurred_at) index.
-------------------------------------------------------------------------------------------------
CREATE FUNCTION easeinv.stock_flow(product_id bigint, location_id bigint, from_date date, to_date date,
                                   bucket text DEFAULT 'day')
RETURNS TABLE (bucket_start date, qty_in numeric, qty_out numeric, closing_balance numeric)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    tz       text;
    tenant   bigint := easeinv.current_tenant();
    step     interval;
    unit     text;
    first    date;
    buckets  bigint;
BEGIN
    IF product_id IS NULL OR from_date IS NULL OR to_date IS NULL OR bucket IS NULL THEN
        RAISE EXCEPTION 'product_id, from_date, to_date and bucket must not be null'
            USING ERRCODE = '22004', HINT = 'location_id may be null: all internal locations.';
    END IF;
    IF bucket NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'invalid bucket "%"', bucket
            USING ERRCODE = '22023', HINT = 'Use day, week or month.';
    END IF;
    IF from_date > to_date THEN
        RAISE EXCEPTION 'from_date % is after to_date %', from_date, to_date
            USING ERRCODE = '22023', HINT = 'Swap them.';
    END IF;
    IF to_date - from_date > 3660 THEN
        RAISE EXCEPTION 'the range from % to % is longer than ten years', from_date, to_date
            USING ERRCODE = '22023', HINT = 'Ask for at most ten years at a time.';
    END IF;
    SELECT COALESCE(t.settings ->> 'timezone', 'Asia/Kolkata') INTO tz FROM easeinv.tenants t WHERE t.id = tenant;
    step := ('1 ' || bucket)::interval;
    unit := bucket;
    first := date_trunc(unit, from_date)::date;

    RETURN QUERY
    WITH locs AS (
        SELECT l.id, (l.kind IN ('warehouse', 'store', 'bin')) AS internal
          FROM easeinv.locations l
         WHERE l.tenant_id = tenant
    ),
    flows AS (
        SELECT date_trunc(unit, (m.occurred_at AT TIME ZONE tz)::date)::date AS b,
               (m.occurred_at AT TIME ZONE tz)::date AS d,
               CASE WHEN stock_flow.location_id IS NOT NULL THEN
                        CASE WHEN m.to_location_id = stock_flow.location_id THEN m.qty ELSE 0 END
                    WHEN ti.internal AND NOT fi.internal THEN m.qty ELSE 0 END AS q_in,
               CASE WHEN stock_flow.location_id IS NOT NULL THEN
                        CASE WHEN m.from_location_id = stock_flow.location_id THEN m.qty ELSE 0 END
                    WHEN fi.internal AND NOT ti.internal THEN m.qty ELSE 0 END AS q_out
          FROM easeinv.stock_movements m
          JOIN locs fi ON fi.id = m.from_location_id
          JOIN locs ti ON ti.id = m.to_location_id
         WHERE m.tenant_id = tenant
           AND m.product_id = stock_flow.product_id
           AND m.occurred_at < ((to_date + 1)::timestamp AT TIME ZONE tz)
           AND (stock_flow.location_id IS NULL
                OR m.from_location_id = stock_flow.location_id OR m.to_location_id = stock_flow.location_id)
    ),
    opening AS (
        SELECT COALESCE(sum(f.q_in - f.q_out), 0) AS bal FROM flows f WHERE f.d < from_date
    ),
    per_bucket AS (
        SELECT f.b, sum(f.q_in) AS q_in, sum(f.q_out) AS q_out
          FROM flows f WHERE f.d >= from_date GROUP BY f.b
    ),
    series AS (
        SELECT g::date AS b FROM generate_series(first::timestamp, to_date::timestamp, step) g
    )
    SELECT s.b,
           COALESCE(p.q_in, 0)::numeric(18,4),
           COALESCE(p.q_out, 0)::numeric(18,4),
           ((SELECT bal FROM opening)
            + sum(COALESCE(p.q_in, 0) - COALESCE(p.q_out, 0)) OVER (ORDER BY s.b))::numeric(18,4)
      FROM series s LEFT JOIN per_bucket p ON p.b = s.b
     ORDER BY s.b;
END
$fn$;
COMMENT ON FUNCTION easeinv.stock_flow(bigint, bigint, date, date, text) IS
    'in, out and closing balance per day, week or month for a product at a location (NULL: all internal locations)';
