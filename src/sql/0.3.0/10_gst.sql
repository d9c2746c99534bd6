
-------------------------------------------------------------------------------------------------
-- GST amounts of an invoice line, computed exactly in C (src/gst.c has the rules).
-------------------------------------------------------------------------------------------------
CREATE TYPE easeinv.gst_amounts AS (
    gross         numeric,
    discount      numeric,
    taxable_value numeric,
    cgst          numeric,
    sgst          numeric,
    igst          numeric,
    cess          numeric,
    line_total    numeric
);

CREATE FUNCTION easeinv.gst_line(qty numeric, unit_price numeric, gst_rate numeric, intra_state boolean,
                                 discount_percent numeric DEFAULT NULL, discount_amount numeric DEFAULT NULL,
                                 cess_rate numeric DEFAULT NULL)
RETURNS easeinv.gst_amounts
    AS 'MODULE_PATHNAME', 'gst_line'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION easeinv.gst_line(numeric, numeric, numeric, boolean, numeric, numeric, numeric) IS
    'taxable value, CGST+SGST (intra-state) or IGST, cess and total of an invoice line, to the paisa';
