-- easeinv, single workload: a random product of a random tenant: half receipts supplier (8) ->
-- random internal location, half transfers between two random internal locations; qty 1-10.
-- A fresh, time-ordered idempotency key per transaction (as a UUIDv7 or a dated order number is):
\set t random(1, :tenants)
\set p random(1, :products)
\set nint 2 + :t % 3
\set a random(1, :nint)
\set recv random(0, 1)
\set from case when :recv = 1 then 8 else :a end
\set to case when :recv = 1 then :a else 1 + (:a + random(0, :nint - 2)) % :nint end
\set q random(1, 10)
\set r random(1, 4611686018427387903)
BEGIN;
SELECT set_config('easeinv.tenant_id', :t::text, true);
SELECT id, replayed FROM easeinv.move_stock('mv-' || to_char(clock_timestamp(), 'YYYYMMDDHH24MISSUS') || '-' || :client_id::text || '-' || :r::text, :p, :from, :to, :q, 'bench');
COMMIT;
