-- easeinv, hot workload: the hot product: tenant 1, product 1, moved between locations 1 and 2 in
-- a random direction by every client; qty 1-10.
-- A fresh idempotency key per transaction: 'mv-<random 62-bit number>-<client id>'.
\set t 1
\set p 1
\set d random(0, 1)
\set from 1 + :d
\set to 2 - :d
\set q random(1, 10)
\set r random(1, 4611686018427387903)
BEGIN;
SELECT set_config('easeinv.tenant_id', :t::text, true);
SELECT id, replayed FROM easeinv.move_stock('mv-' || :r::text || '-' || :client_id::text, :p, :from, :to, :q, 'bench');
COMMIT;
