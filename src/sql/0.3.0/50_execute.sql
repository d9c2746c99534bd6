
-------------------------------------------------------------------------------------------------
-- Who may call what.  The functions that write as the tables' owner (the ledger, reservations,
-- invoices, payments) are for the application and maintenance roles only: PUBLIC's default
-- EXECUTE would let any login that sets a tenant context write that tenant's ledger and invoices
-- (found by review).  The trigger functions are not called directly at all: PostgreSQL checks
-- EXECUTE when a trigger is created, not when it fires, so revoking it keeps anyone from
-- attaching them to tables of their own; the C ones also check the table they fire on.
-------------------------------------------------------------------------------------------------
REVOKE ALL ON FUNCTION
    easeinv.move_stock(text, bigint, bigint, bigint, numeric, text, text, text, numeric, timestamptz),
    easeinv.reverse_movement(text, bigint, text),
    easeinv.reserve_stock(text, bigint, bigint, numeric, text, text),
    easeinv.release_reservation(text, bigint),
    easeinv.consume_reservation(text, bigint, bigint, numeric),
    easeinv.issue_invoice(bigint),
    easeinv.cancel_invoice(bigint, text),
    easeinv.record_payment(text, bigint, numeric, text, timestamptz, text),
    easeinv.refund_payment(text, bigint, numeric, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    easeinv.move_stock(text, bigint, bigint, bigint, numeric, text, text, text, numeric, timestamptz),
    easeinv.reverse_movement(text, bigint, text),
    easeinv.reserve_stock(text, bigint, bigint, numeric, text, text),
    easeinv.release_reservation(text, bigint),
    easeinv.consume_reservation(text, bigint, bigint, numeric),
    easeinv.issue_invoice(bigint),
    easeinv.cancel_invoice(bigint, text),
    easeinv.record_payment(text, bigint, numeric, text, timestamptz, text),
    easeinv.refund_payment(text, bigint, numeric, text)
TO easeinv_app, easeinv_admin;

REVOKE ALL ON FUNCTION
    easeinv.ledger_guard(),
    easeinv.customers_check(),
    easeinv.invoice_guard(),
    easeinv.invoice_check(),
    easeinv.invoice_recompute(),
    easeinv.invoice_delete_lines(),
    easeinv.products_on_invoices(),
    easeinv.invoice_line_compute(),
    easeinv.invoice_totals(),
    easeinv.append_only()
FROM PUBLIC;
