-- comparator, replay workload: a key of the pre-inserted set (setup.sql: 'replay-<n>' per tenant)
-- with
-- the payload it was first stored with, recomputed from n, so every call is a replay.
\set t random(1, :tenants)
\set n random(1, :replay_keys)
\set nint 2 + :t % 3
\set p 1 + (:n * 7) % :products
\set from 1 + :n % :nint
\set to 1 + (:n + 1) % :nint
\set q 1 + :n % 10
BEGIN;
SELECT set_config('easeinv.tenant_id', :t::text, true);
SELECT id, replayed FROM comparator.move_stock('replay-' || :n::text, :p, :from, :to, :q, 'bench');
COMMIT;
