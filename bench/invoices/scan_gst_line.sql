-- per-line computation, the floor: the same scan and sum with gross only (qty * unit_price), no
-- function call; what every gst_line workload pays besides the computation
SELECT sum(qty * unit_price) FROM public.line_inputs;
