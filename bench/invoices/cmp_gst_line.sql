-- per-line computation only: cmp.gst_line (PL/pgSQL) over the 500 lines of public.line_inputs
SELECT sum((cmp.gst_line(qty, unit_price, gst_rate, intra_state, discount_percent, discount_amount, cess_rate)).line_total) FROM public.line_inputs;
