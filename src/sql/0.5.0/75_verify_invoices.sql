
-------------------------------------------------------------------------------------------------
-- verify_invoices: what the invoice triggers keep true, proven over the stored rows (as
-- verify_stock proves the levels).  Rows loaded around the triggers (a restore, which passes them
-- as dumped, or a superuser in a data-only load) are only as good as what was dumped; this says
-- whether they agree with each other.  One row per problem; no rows: every invoice is consistent.
-- It sees what the caller sees: the current tenant, or every tenant for the maintenance role.
--   header:    an invoice's amounts are the sums of its lines (round-off within +-0.50 of the
--              lines' total, the grand total the lines' total plus it)
--   paid:      amount_paid is its payments less its refunds
--   credited:  amount_credited is the grand totals of its issued credit notes
--   status:    the status follows paid + credited against the grand total; balance_due >= 0
--   line:      each line's amounts are what easeinv.gst_line computes from its inputs
--   orphan:    every line belongs to an invoice, every line's product exists
--   stock:     every stocked line of an issued invoice or credit note has its movement, of its
--              product and quantity, under the key easeinv:invoice:<id>:line:<n>; every movement
--              under such a key belongs to an existing invoice's line
-------------------------------------------------------------------------------------------------
CREATE FUNCTION easeinv.verify_invoices()
RETURNS TABLE (tenant_id bigint, invoice_id bigint, number text, problem text, detail text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH sums AS (
    SELECT l.tenant_id, l.invoice_id, sum(l.gross) AS g, sum(l.discount) AS d, sum(l.taxable_value) AS t,
           sum(l.cgst) AS c, sum(l.sgst) AS s, sum(l.igst) AS i, sum(l.cess) AS e, sum(l.line_total) AS tot,
           count(*) AS n
      FROM easeinv.invoice_lines l
     GROUP BY l.tenant_id, l.invoice_id
),
paid AS (
    SELECT p.tenant_id, p.invoice_id,
           sum(CASE p.kind WHEN 'payment' THEN p.amount ELSE -p.amount END) AS net
      FROM easeinv.payments p
     GROUP BY p.tenant_id, p.invoice_id
),
credited AS (
    SELECT c.tenant_id, c.original_invoice_id AS invoice_id, sum(c.grand_total) AS total
      FROM easeinv.invoices c
     WHERE c.kind = 'credit_note' AND c.status NOT IN ('draft', 'cancelled')
     GROUP BY c.tenant_id, c.original_invoice_id
),
problems AS (
    SELECT v.tenant_id, v.id, v.number, 'header' AS problem,
           format('subtotal %s, discount %s, taxable %s, CGST %s, SGST %s, IGST %s, cess %s, grand total %s (round-off %s); '
                  'the lines make %s, %s, %s, %s, %s, %s, %s, %s',
                  v.subtotal, v.discount, v.taxable_value, v.cgst, v.sgst, v.igst, v.cess, v.grand_total, v.round_off,
                  coalesce(s.g, 0), coalesce(s.d, 0), coalesce(s.t, 0), coalesce(s.c, 0), coalesce(s.s, 0),
                  coalesce(s.i, 0), coalesce(s.e, 0), coalesce(s.tot, 0)) AS detail
      FROM easeinv.invoices v
      LEFT JOIN sums s ON s.tenant_id = v.tenant_id AND s.invoice_id = v.id
     WHERE (v.subtotal, v.discount, v.taxable_value, v.cgst, v.sgst, v.igst, v.cess)
           IS DISTINCT FROM (coalesce(s.g, 0), coalesce(s.d, 0), coalesce(s.t, 0), coalesce(s.c, 0),
                             coalesce(s.s, 0), coalesce(s.i, 0), coalesce(s.e, 0))
        OR v.grand_total <> coalesce(s.tot, 0) + v.round_off
        OR abs(v.round_off) > 0.50
    UNION ALL
    SELECT v.tenant_id, v.id, v.number, 'paid',
           format('amount_paid %s; its payments less refunds make %s', v.amount_paid, coalesce(p.net, 0))
      FROM easeinv.invoices v
      LEFT JOIN paid p ON p.tenant_id = v.tenant_id AND p.invoice_id = v.id
     WHERE v.amount_paid <> coalesce(p.net, 0)
    UNION ALL
    SELECT v.tenant_id, v.id, v.number, 'credited',
           format('amount_credited %s; its issued credit notes make %s', v.amount_credited, coalesce(c.total, 0))
      FROM easeinv.invoices v
      LEFT JOIN credited c ON c.tenant_id = v.tenant_id AND c.invoice_id = v.id
     WHERE v.kind = 'invoice' AND v.amount_credited <> coalesce(c.total, 0)
    UNION ALL
    SELECT v.tenant_id, v.id, v.number, 'status',
           format('status %s with grand total %s, paid %s, credited %s, balance due %s',
                  v.status, v.grand_total, v.amount_paid, v.amount_credited, v.balance_due)
      FROM easeinv.invoices v
     WHERE v.balance_due < 0
        OR (v.kind = 'invoice' AND v.status IN ('issued', 'partially_paid', 'paid')
            AND v.status <> CASE WHEN v.amount_paid + v.amount_credited <= 0 THEN 'issued'
                                 WHEN v.amount_paid + v.amount_credited < v.grand_total THEN 'partially_paid'
                                 ELSE 'paid' END)
        OR (v.kind = 'credit_note' AND v.status NOT IN ('draft', 'issued', 'cancelled'))
    UNION ALL
    SELECT v.tenant_id, v.id, v.number, 'line',
           format('line %s: gross %s, discount %s, taxable %s, CGST %s, SGST %s, IGST %s, cess %s, total %s; '
                  'its inputs make %s, %s, %s, %s, %s, %s, %s, %s', l.line_no,
                  l.gross, l.discount, l.taxable_value, l.cgst, l.sgst, l.igst, l.cess, l.line_total,
                  g.gross, g.discount, g.taxable_value, g.cgst, g.sgst, g.igst, g.cess, g.line_total)
      FROM easeinv.invoices v
      JOIN easeinv.invoice_lines l ON l.tenant_id = v.tenant_id AND l.invoice_id = v.id
     CROSS JOIN LATERAL easeinv.gst_line(l.qty, l.unit_price, l.gst_rate, v.intra_state,
                                         l.discount_percent, l.discount_amount, l.cess_rate) g
     WHERE (l.gross, l.discount, l.taxable_value, l.cgst, l.sgst, l.igst, l.cess, l.line_total)
           IS DISTINCT FROM (g.gross, g.discount, g.taxable_value, g.cgst, g.sgst, g.igst, g.cess, g.line_total)
    UNION ALL
    SELECT l.tenant_id, l.invoice_id, NULL, 'orphan', format('line %s of an invoice that does not exist', l.line_no)
      FROM easeinv.invoice_lines l
     WHERE NOT EXISTS (SELECT 1 FROM easeinv.invoices v WHERE v.tenant_id = l.tenant_id AND v.id = l.invoice_id)
    UNION ALL
    SELECT v.tenant_id, v.id, v.number, 'orphan', format('line %s names product %s, which does not exist', l.line_no, l.product_id)
      FROM easeinv.invoices v
      JOIN easeinv.invoice_lines l ON l.tenant_id = v.tenant_id AND l.invoice_id = v.id
     WHERE l.product_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM easeinv.products p WHERE p.tenant_id = l.tenant_id AND p.id = l.product_id)
    UNION ALL
    SELECT m.tenant_id, NULL::bigint, NULL, 'stock',
           format('movement %s (%s) names no line of an existing invoice', m.id, m.idempotency_key)
      FROM easeinv.stock_movements m
     WHERE m.idempotency_key LIKE 'easeinv:invoice:%'
       AND NOT EXISTS (SELECT 1 FROM easeinv.invoice_lines l
                        WHERE l.tenant_id = m.tenant_id
                          AND m.idempotency_key = 'easeinv:invoice:' || l.invoice_id || ':line:' || l.line_no)
    UNION ALL
    SELECT v.tenant_id, v.id, v.number, 'stock',
           format('line %s (product %s, qty %s) has %s', l.line_no, l.product_id, l.qty,
                  CASE WHEN m.id IS NULL THEN 'no movement' ELSE format('movement %s of qty %s', m.id, m.qty) END)
      FROM easeinv.invoices v
      JOIN easeinv.invoice_lines l ON l.tenant_id = v.tenant_id AND l.invoice_id = v.id
      JOIN easeinv.products pr ON pr.tenant_id = l.tenant_id AND pr.id = l.product_id AND pr.track_stock
      LEFT JOIN easeinv.stock_movements m
             ON m.tenant_id = l.tenant_id
            AND m.idempotency_key = 'easeinv:invoice:' || v.id || ':line:' || l.line_no
     WHERE v.status <> 'draft' AND (m.id IS NULL OR m.qty <> l.qty OR m.product_id <> l.product_id)
)
SELECT * FROM problems ORDER BY 1, 2 NULLS FIRST, 4, 5
$fn$;
COMMENT ON FUNCTION easeinv.verify_invoices() IS
    'each inconsistency of the stored invoices (header vs lines, paid, credited, status, posted stock); no rows means none';
