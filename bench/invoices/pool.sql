-- The invoices the totals workloads recompute: :pool drafts of 500 lines (public.bench_lines) in
-- each system, built by the same statements as the application would send them, as the
-- application role would (tenant context set, no amounts given).  Invoice k (id k in both
-- systems) belongs to tenant 1 + (k - 1) % :tenants and is for customer 1 + ((k - 1) / 2) % 2, so
-- the first four are: no round-off and intra-state, round-off and intra-state, no round-off and
-- inter-state, round-off and inter-state.  run.sh compares them (the proof) before any workload.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT set_config('bench.pool', :'pool', false), set_config('bench.tenants', :'tenants', false);
DO $$
DECLARE
    pool    integer := current_setting('bench.pool')::integer;
    tenants integer := current_setting('bench.tenants')::integer;
    t       integer;
BEGIN
    FOR k IN 1 .. pool LOOP
        t := 1 + (k - 1) % tenants;
        PERFORM set_config('easeinv.tenant_id', t::text, true);
        INSERT INTO easeinv.invoices (id, customer_id, location_id) VALUES (k, 1 + ((k - 1) / 2) % 2, 1);
        INSERT INTO easeinv.invoice_lines (invoice_id, line_no, product_id, description, hsn_sac, qty, unit_price,
                                           discount_percent, discount_amount, gst_rate, cess_rate)
        SELECT k, l.line_no, l.product_id, l.description, l.hsn_sac, l.qty, l.unit_price,
               l.discount_percent, l.discount_amount, l.gst_rate, l.cess_rate
          FROM public.bench_lines l;
        INSERT INTO cmp.invoices (id, customer_id, location_id) VALUES (k, 1 + ((k - 1) / 2) % 2, 1);
        INSERT INTO cmp.invoice_lines (invoice_id, line_no, product_id, description, hsn_sac, qty, unit_price,
                                       discount_percent, discount_amount, gst_rate, cess_rate)
        SELECT k, l.line_no, l.product_id, l.description, l.hsn_sac, l.qty, l.unit_price,
               l.discount_percent, l.discount_amount, l.gst_rate, l.cess_rate
          FROM public.bench_lines l;
    END LOOP;
END
$$;
SELECT setval(pg_get_serial_sequence('easeinv.invoices', 'id'), :pool);
SELECT setval(pg_get_serial_sequence('cmp.invoices', 'id'), :pool);
