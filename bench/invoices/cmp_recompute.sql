-- totals, recompute: every line of a 500-line draft computed again and its header summed, by the
-- statement an application sends when it touches every line (qty = qty changes nothing, so every
-- run starts from the same data; rolled back).  A random invoice of the pool (pool.sql).
\set k random(1, :pool)
\set t 1 + (:k - 1) % :tenants
BEGIN;
SELECT set_config('easeinv.tenant_id', :t::text, true);
UPDATE cmp.invoice_lines SET qty = qty WHERE tenant_id = :t AND invoice_id = :k;
ROLLBACK;
