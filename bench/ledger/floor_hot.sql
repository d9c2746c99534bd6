-- The floor (one statement), hot workload: the hot product: tenant 1, product 1, moved between
-- locations 1 and 2 in a random direction by every client; qty 1-10.
-- The movement row and both level upserts (lower location id first) in one statement, one round
-- trip like easeinv's single function call.  No checks, no RLS, no idempotency.  The tenant is
-- set as in the other scripts so that every system sends the same transaction shape.
\set t 1
\set p 1
\set d random(0, 1)
\set from 1 + :d
\set to 2 - :d
\set q random(1, 10)
\set r random(1, 4611686018427387903)
\set lo least(:from, :to)
\set hi greatest(:from, :to)
\set dlo case when :from < :to then -:q else :q end
\set dhi -:dlo
BEGIN;
SELECT set_config('easeinv.tenant_id', :t::text, true);
WITH m AS (
    INSERT INTO floor.stock_movements (tenant_id, idempotency_key, product_id, from_location_id,
                                       to_location_id, qty, reason, occurred_at, created_by)
    VALUES (:t, 'mv-' || :r::text || '-' || :client_id::text, :p, :from, :to, :q, 'bench', now(), current_user)
    RETURNING id),
lv AS (
    INSERT INTO floor.stock_levels AS l (tenant_id, product_id, location_id, on_hand)
    VALUES (:t, :p, :lo, :dlo), (:t, :p, :hi, :dhi)
    ON CONFLICT (tenant_id, product_id, location_id) DO UPDATE
       SET on_hand = l.on_hand + excluded.on_hand, updated_at = now())
SELECT id FROM m;
COMMIT;
