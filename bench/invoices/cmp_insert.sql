-- totals, insert: a new draft for a random tenant and customer (intra- or inter-state), then its
-- 500 lines (public.bench_lines) in one INSERT ... SELECT: every line computed, the header summed
-- once by the statement trigger.  Rolled back, so every run starts from the same data.
\set t random(1, :tenants)
\set c random(1, 2)
BEGIN;
SELECT set_config('easeinv.tenant_id', :t::text, true);
INSERT INTO cmp.invoices (customer_id, location_id) VALUES (:c, 1) RETURNING id AS inv \gset
INSERT INTO cmp.invoice_lines (invoice_id, line_no, product_id, description, hsn_sac, qty, unit_price, discount_percent, discount_amount, gst_rate, cess_rate) SELECT :inv, l.line_no, l.product_id, l.description, l.hsn_sac, l.qty, l.unit_price, l.discount_percent, l.discount_amount, l.gst_rate, l.cess_rate FROM public.bench_lines l;
ROLLBACK;
