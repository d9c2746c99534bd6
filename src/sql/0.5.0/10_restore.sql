
-------------------------------------------------------------------------------------------------
-- Restores.  pg_restore runs CREATE EXTENSION, which creates the tables with their triggers,
-- then loads every table with COPY.  The triggers that compute and freeze invoices would refuse
-- or rewrite the rows easeinv itself wrote, so a restore passes them through as dumped.  What
-- counts as a restore is decided in C (src/restore.c): a top-level COPY ... FROM into the table,
-- by a superuser, with row_security off (as pg_dump and pg_restore set it) and no tenant
-- context.  A restore only inserts; what the triggers refuse for updates and deletes stays
-- refused.
-------------------------------------------------------------------------------------------------
CREATE FUNCTION easeinv.restoring(rel regclass) RETURNS boolean
    AS 'MODULE_PATHNAME', 'restoring'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION easeinv.restoring(regclass) IS
    'true while pg_restore (a superuser''s top-level COPY FROM with row_security off and no tenant context) loads rel';

CREATE OR REPLACE FUNCTION easeinv.customers_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    why text;
BEGIN
    -- pg_restore loads customers as they were dumped (see easeinv.restoring)
    IF TG_OP = 'INSERT' AND easeinv.restoring(TG_RELID) THEN
        RETURN NEW;
    END IF;
    IF NEW.name IS NULL THEN
        RAISE EXCEPTION 'a customer needs a name'
            USING ERRCODE = '22004', HINT = 'Give the customer''s legal or trade name.';
    END IF;
    NEW.gstin := NULLIF(upper(btrim(NEW.gstin)), '');
    IF NEW.gstin IS NOT NULL THEN
        why := easeinv.gstin_error(NEW.gstin);
        IF why IS NOT NULL THEN
            RAISE EXCEPTION 'invalid GSTIN "%"', NEW.gstin
                USING ERRCODE = '22023', DETAIL = why,
                      HINT = 'Copy the GSTIN from the customer''s registration certificate, or leave it empty for a consumer.';
        END IF;
        IF NEW.state_code IS NULL THEN
            NEW.state_code := left(NEW.gstin, 2);
        ELSIF left(NEW.gstin, 2) <> NEW.state_code THEN
            RAISE EXCEPTION 'GSTIN "%" is registered in state %, not %', NEW.gstin, left(NEW.gstin, 2), NEW.state_code
                USING ERRCODE = '22023', HINT = 'The first two digits of a GSTIN are its state code; leave state_code empty to take it from the GSTIN.';
        END IF;
    END IF;
    IF NEW.state_code IS NULL THEN
        RAISE EXCEPTION 'customer "%" has no state code', NEW.name
            USING ERRCODE = '22023', HINT = 'Give state_code (96 for a customer abroad), or a GSTIN to take it from.';
    END IF;
    IF NEW.state_code !~ '^(0[1-9]|[12][0-9]|3[0-8]|96|97|99)$' THEN
        RAISE EXCEPTION 'invalid state code "%" for customer "%"', NEW.state_code, NEW.name
            USING ERRCODE = '22023',
                  HINT = 'Use a GST state code (01 to 38, 97, 99), or 96 for a customer abroad.';
    END IF;
    IF NEW.email IS NOT NULL AND NEW.email !~ '^[^@\s]+@[^@\s]+$' THEN
        RAISE EXCEPTION 'invalid email address "%"', NEW.email
            USING ERRCODE = '22023', HINT = 'An address looks like name@example.com; leave it empty if unknown.';
    END IF;
    IF NEW.phone IS NOT NULL AND NEW.phone !~ '^\+?[0-9 -]{6,20}$' THEN
        RAISE EXCEPTION 'invalid phone number "%"', NEW.phone
            USING ERRCODE = '22023', HINT = 'Digits, spaces and hyphens, optionally after a +, such as +91 98200 12345.';
    END IF;
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE FUNCTION easeinv.invoice_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    seller_state text;
    cust         record;
    orig         record;
    series_kind  text;
    is_sez       boolean := false;
BEGIN
    -- pg_restore loads invoices as they were dumped (see easeinv.restoring)
    IF TG_OP = 'INSERT' AND easeinv.restoring(TG_RELID) THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.status <> 'draft' THEN
        RETURN NEW;     -- the extension's own update of an issued invoice (the guard let it through)
    END IF;
    SELECT t.state_code INTO seller_state FROM easeinv.tenants t WHERE t.id = NEW.tenant_id;
    IF NEW.invoice_date IS NULL OR NEW.invoice_date NOT BETWEEN DATE '2017-07-01' AND DATE '2999-12-31' THEN
        RAISE EXCEPTION 'invalid invoice date %', coalesce(NEW.invoice_date::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'A GST invoice is dated from 2017-07-01 (GST''s start) on.';
    END IF;

    IF NEW.kind = 'credit_note' THEN
        IF NEW.original_invoice_id IS NULL THEN
            RAISE EXCEPTION 'a credit note needs original_invoice_id'
                USING ERRCODE = '22023', HINT = 'Pass the id of the issued invoice the credit note reduces.';
        END IF;
        SELECT i.kind, i.status, i.number, i.customer_id, i.place_of_supply, i.intra_state INTO orig
          FROM easeinv.invoices i WHERE i.tenant_id = NEW.tenant_id AND i.id = NEW.original_invoice_id;
        IF NOT FOUND OR orig.kind <> 'invoice' THEN
            RAISE EXCEPTION 'invoice % does not exist', NEW.original_invoice_id
                USING ERRCODE = '22023', HINT = 'A credit note refers to an invoice of the current tenant.';
        END IF;
        IF orig.status IN ('draft', 'cancelled') THEN
            RAISE EXCEPTION 'invoice % is %: it cannot have a credit note', coalesce(orig.number, NEW.original_invoice_id::text), orig.status
                USING ERRCODE = '55000', HINT = 'A credit note reduces an issued invoice; change or delete a draft instead.';
        END IF;
        -- a credit note is supplied as its invoice was
        NEW.customer_id := orig.customer_id;
        NEW.place_of_supply := orig.place_of_supply;
        NEW.intra_state := orig.intra_state;
    ELSE
        IF NEW.original_invoice_id IS NOT NULL THEN
            RAISE EXCEPTION 'only a credit note has original_invoice_id'
                USING ERRCODE = '22023', HINT = 'Set kind to credit_note, or leave original_invoice_id empty.';
        END IF;
        IF NEW.customer_id IS NOT NULL THEN
            SELECT c.state_code, c.is_sez, c.deleted_at, c.name INTO cust
              FROM easeinv.customers c WHERE c.tenant_id = NEW.tenant_id AND c.id = NEW.customer_id;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'customer % does not exist', NEW.customer_id
                    USING ERRCODE = '22023', HINT = 'Pass the id of a customer of the current tenant that is not deleted.';
            ELSIF cust.deleted_at IS NOT NULL THEN
                RAISE EXCEPTION 'customer % is deleted', NEW.customer_id
                    USING ERRCODE = '55000', HINT = 'Restore the customer (deleted_at = NULL), or bill another customer.';
            END IF;
            is_sez := cust.is_sez;
            IF NEW.place_of_supply IS NULL OR (TG_OP = 'UPDATE' AND NEW.customer_id IS DISTINCT FROM OLD.customer_id
                                                AND NEW.place_of_supply IS NOT DISTINCT FROM OLD.place_of_supply) THEN
                NEW.place_of_supply := cust.state_code;
            END IF;
        END IF;
        -- a consumer at the counter: supplied where the seller is
        NEW.place_of_supply := coalesce(NEW.place_of_supply, seller_state);
        IF NEW.place_of_supply !~ '^(0[1-9]|[12][0-9]|3[0-8]|96|97|99)$' THEN
            RAISE EXCEPTION 'invalid place of supply "%"', NEW.place_of_supply
                USING ERRCODE = '22023', HINT = 'Use a GST state code (01 to 38, 97, 99), or 96 for a supply abroad.';
        END IF;
        -- intra-state: CGST + SGST; an SEZ unit and an export (96) are inter-state whatever the states
        NEW.intra_state := NEW.place_of_supply = seller_state AND NOT is_sez;
    END IF;

    NEW.series := coalesce(NEW.series, CASE NEW.kind WHEN 'invoice' THEN 'INV' ELSE 'CN' END);
    SELECT s.kind INTO series_kind FROM easeinv.invoice_series s
     WHERE s.tenant_id = NEW.tenant_id AND s.code = NEW.series;
    IF NOT FOUND AND NEW.series IN ('INV', 'CN') THEN
        -- the default series, made on first use
        series_kind := CASE NEW.series WHEN 'INV' THEN 'invoice' ELSE 'credit_note' END;
        INSERT INTO easeinv.invoice_series (tenant_id, code, kind, format, description)
        VALUES (NEW.tenant_id, NEW.series, series_kind, NEW.series || '/{FY}/{N:6}', 'default series')
        ON CONFLICT DO NOTHING;
    ELSIF NOT FOUND THEN
        RAISE EXCEPTION 'invoice series "%" does not exist', NEW.series
            USING ERRCODE = '22023', HINT = 'Create it in easeinv.invoice_series, or use the default INV (credit notes: CN).';
    END IF;
    IF series_kind <> NEW.kind THEN
        RAISE EXCEPTION 'series "%" numbers %s, not %s', NEW.series, replace(series_kind, '_', ' '), replace(NEW.kind, '_', ' ')
            USING ERRCODE = '22023', HINT = 'Invoices and credit notes are numbered in series of their own.';
    END IF;
    RETURN NEW;
END
$fn$;
