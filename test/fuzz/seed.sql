-- make fuzz: the data SQLsmith plays against.  Two tenants with products, locations, movements
-- (some reversed), reservations (held, consumed, released), customers, draft / issued / paid /
-- cancelled invoices, credit notes, payments and a refund, rows from the three bulk imports, and an
-- application table of their own under easeinv.enable_tenancy.  Everything is written the way the
-- application writes it: as the login role fuzz_app (member of easeinv_app only, subject to row
-- level security), one transaction per tenant with the tenant set in it.
--
-- Only what easeinv 0.4.0 has is used, so the seed works against whatever version is installed.
-- Run by test/fuzz/run-fuzz.sh as the superuser postgres: psql -v ON_ERROR_STOP=1 -f seed.sql.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;

SET easeinv.partitions = 4;            -- few partitions: cheaper plans, more queries per second
CREATE EXTENSION easeinv;

-- the tenants: Acme in Maharashtra (27) with a GSTIN, Beta in Karnataka (29) rounding its totals
SET ROLE easeinv_admin;
SELECT id AS t1 FROM easeinv.create_tenant('acme-traders', 'Acme Traders', '27', '27AAPFU0939F1ZV') \gset
SELECT id AS t2 FROM easeinv.create_tenant('beta-stores', 'Beta Stores', '29', NULL,
                                           '{"round_off": true, "timezone": "Asia/Kolkata"}') \gset
RESET ROLE;

-- the web app's login role: easeinv_app only, never superuser, never BYPASSRLS
CREATE ROLE fuzz_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
GRANT easeinv_app TO fuzz_app;

-- an application table of its own (partitioned by tenant), a plain one, and an invoker's view
CREATE TABLE public.orders (
    tenant_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    customer_id bigint,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'packed', 'shipped', 'void')),
    amount      numeric(15,2) NOT NULL DEFAULT 0,
    notes       text,
    placed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES easeinv.customers (tenant_id, id)
) PARTITION BY HASH (tenant_id);
SELECT easeinv.create_tenant_partitions('public.orders') AS partitions \gset
SELECT count(*) AS changes FROM easeinv.enable_tenancy('public.orders') \gset
CREATE TABLE public.notes (
    tenant_id bigint NOT NULL,
    id        bigint GENERATED ALWAYS AS IDENTITY,
    body      text NOT NULL,
    tags      text[],
    PRIMARY KEY (tenant_id, id)
);
SELECT count(*) AS changes FROM easeinv.enable_tenancy('public.notes') \gset
CREATE VIEW public.order_totals WITH (security_invoker = true) AS
    SELECT o.tenant_id, o.customer_id, count(*) AS orders, sum(o.amount) AS amount
      FROM public.orders o GROUP BY o.tenant_id, o.customer_id;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.orders, public.notes TO easeinv_app;
GRANT SELECT ON public.order_totals TO easeinv_app;

-- a valid GSTIN for state code st and serial n (base-36 Luhn mod 36 check character)
CREATE FUNCTION public.fuzz_gstin(st text, n int) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    alphabet constant text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
    body text := st || 'AAB' || chr(65 + n % 26) || chr(65 + (n / 26) % 26)
                 || lpad((n % 10000)::text, 4, '0') || chr(65 + (n * 7) % 26) || '1Z';
    s int := 0; p int;
BEGIN
    FOR i IN 1..14 LOOP
        p := (strpos(alphabet, substr(body, i, 1)) - 1) * (CASE WHEN i % 2 = 0 THEN 2 ELSE 1 END);
        s := s + p / 36 + p % 36;
    END LOOP;
    RETURN body || substr(alphabet, (36 - s % 36) % 36 + 1, 1);
END $$;

-- everything one tenant has; runs in a transaction whose tenant is set, as fuzz_app
CREATE PROCEDURE public.fuzz_seed(scale int) LANGUAGE plpgsql AS $$
DECLARE
    wh bigint; st bigint; bn bigint; sup bigint; cus bigint; adj bigint; scr bigint;
    inv bigint; cn bigint; pay bigint; r record; i int; n int;
    own_state text := (SELECT state_code FROM easeinv.tenants WHERE id = easeinv.current_tenant());
BEGIN
    INSERT INTO easeinv.locations (code, name, kind) VALUES ('WH-1', 'Main warehouse', 'warehouse') RETURNING id INTO wh;
    INSERT INTO easeinv.locations (code, name, kind) VALUES ('ST-1', 'City store', 'store') RETURNING id INTO st;
    INSERT INTO easeinv.locations (code, name, kind, parent_id) VALUES ('WH-1-A1', 'Aisle 1 bin', 'bin', wh) RETURNING id INTO bn;
    INSERT INTO easeinv.locations (code, name, kind) VALUES ('SUP', 'Suppliers', 'supplier') RETURNING id INTO sup;
    INSERT INTO easeinv.locations (code, name, kind) VALUES ('CUS', 'Customers', 'customer') RETURNING id INTO cus;
    INSERT INTO easeinv.locations (code, name, kind) VALUES ('ADJ', 'Stock adjustments', 'adjustment') RETURNING id INTO adj;
    INSERT INTO easeinv.locations (code, name, kind) VALUES ('SCRAP', 'Scrap', 'scrap') RETURNING id INTO scr;
    INSERT INTO easeinv.locations (code, name, kind) VALUES ('TRANSIT', 'In transit', 'transit');
    INSERT INTO easeinv.locations (code, name, kind, deleted_at) VALUES ('OLD-ST', 'Closed store', 'store', now() - interval '30 days');

    -- products: every tenth does not track stock, a few are soft-deleted, rates in force today
    INSERT INTO easeinv.products (sku, name, hsn_code, unit, gst_rate, track_stock)
    SELECT 'SKU-' || lpad(g::text, 5, '0'), 'Product ' || g || ' ' || (ARRAY['tea', 'rice', 'wire', 'tablet', 'shirt', 'laptop'])[1 + g % 6],
           (ARRAY['0902', '1006', '854449', '30049099', '6109', '84713010'])[1 + g % 6],
           (ARRAY['NOS', 'KGS', 'MTR', 'BOX', 'PCS'])[1 + g % 5],
           (ARRAY[5, 5, 18, 18, 40, 0, 3, 0.25])[1 + g % 8], g % 10 <> 0
      FROM generate_series(1, 30 * scale) g;
    UPDATE easeinv.products SET deleted_at = now() WHERE sku IN ('SKU-00007', 'SKU-00013');

    -- stock: receipts, transfers, sales, scrap and adjustments through the ledger's own path
    FOR r IN SELECT id, row_number() OVER (ORDER BY id) AS k FROM easeinv.products WHERE track_stock AND deleted_at IS NULL LOOP
        PERFORM easeinv.move_stock('grn-' || r.id, r.id, sup, wh, 100 + r.k * 3, reason => 'purchase',
                                   reference_type => 'po', reference_id => 'PO-' || r.k, unit_cost => 10 + r.k % 90,
                                   occurred_at => now() - (r.k % 90 || ' days')::interval);
        PERFORM easeinv.move_stock('xfer-' || r.id, r.id, wh, st, 20 + r.k % 7);
        PERFORM easeinv.move_stock('bin-' || r.id, r.id, wh, bn, 5.5);
        PERFORM easeinv.move_stock('sale-' || r.id, r.id, st, cus, 1 + r.k % 5, reason => 'counter sale');
        IF r.k % 4 = 0 THEN
            PERFORM easeinv.move_stock('scrap-' || r.id, r.id, wh, scr, 0.25, reason => 'damaged');
        END IF;
        IF r.k % 6 = 0 THEN
            PERFORM easeinv.move_stock('count-' || r.id, r.id, adj, wh, 2, reason => 'stock count');
        END IF;
    END LOOP;
    FOR r IN SELECT id FROM easeinv.stock_movements WHERE idempotency_key LIKE 'bin-%' ORDER BY id LIMIT 3 LOOP
        PERFORM easeinv.reverse_movement('undo-' || r.id, r.id, reason => 'wrong bin');
    END LOOP;

    -- reservations: some held, one consumed in part, one in full, one released
    n := 0;
    FOR r IN SELECT product_id FROM easeinv.stock_levels WHERE location_id = wh AND available > 20 ORDER BY product_id LIMIT 8 LOOP
        n := n + 1;
        PERFORM easeinv.reserve_stock('so-' || n, r.product_id, wh, 3 + n, 'sales_order', 'SO-' || n);
    END LOOP;
    SELECT id INTO i FROM easeinv.stock_reservations ORDER BY id LIMIT 1;
    PERFORM easeinv.consume_reservation('ship-so-1', i, cus, 2);
    SELECT id INTO i FROM easeinv.stock_reservations ORDER BY id OFFSET 1 LIMIT 1;
    PERFORM easeinv.consume_reservation('ship-so-2', i, cus);
    SELECT id INTO i FROM easeinv.stock_reservations ORDER BY id OFFSET 2 LIMIT 1;
    PERFORM easeinv.release_reservation('cancel-so-3', i);

    -- customers: registered businesses in the tenant's state and others, an SEZ unit, consumers,
    -- one abroad, one soft-deleted
    INSERT INTO easeinv.customers (name, gstin, email, phone)
    SELECT 'Business ' || g, public.fuzz_gstin((ARRAY[own_state, '07', '33', '27', '29'])[1 + g % 5], g * 31 + scale),
           'accounts' || g || '@example.in', '+91 98' || lpad(g::text, 8, '0')
      FROM generate_series(1, 8 * scale) g;
    INSERT INTO easeinv.customers (name, gstin, is_sez) VALUES ('SEZ unit', public.fuzz_gstin('24', 999 + scale), true);
    INSERT INTO easeinv.customers (name, state_code)
    SELECT 'Walk-in ' || g, own_state FROM generate_series(1, 3) g;
    INSERT INTO easeinv.customers (name, state_code, email) VALUES ('Overseas buyer', '96', 'buyer@example.com');
    INSERT INTO easeinv.customers (name, state_code, deleted_at) VALUES ('Gone customer', own_state, now());

    -- invoices: drafts with product and service lines; most issued, some paid in full or in part
    n := 0;
    FOR r IN SELECT id, row_number() OVER (ORDER BY id) AS k FROM easeinv.customers WHERE deleted_at IS NULL ORDER BY id LOOP
        n := n + 1;
        INSERT INTO easeinv.invoices (customer_id, location_id, invoice_date, notes)
        VALUES (r.id, CASE WHEN r.k % 3 = 0 THEN st ELSE wh END, current_date - (r.k % 45)::int, 'order ' || r.k)
        RETURNING id INTO inv;
        INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price, discount_percent)
        SELECT inv, p.id, 1 + (p.id % 3), 99.99 + p.id, CASE WHEN p.id % 4 = 0 THEN 10 END
          FROM easeinv.products p
         WHERE p.track_stock AND p.deleted_at IS NULL AND p.id % 7 = r.k % 7
         ORDER BY p.id LIMIT 1 + r.k % 4;
        IF r.k % 2 = 0 THEN
            INSERT INTO easeinv.invoice_lines (invoice_id, description, hsn_sac, qty, unit_price, gst_rate, discount_amount)
            VALUES (inv, 'Installation', '998719', 1, 750, 18, 50);
        END IF;
        IF r.k % 5 <> 4 THEN
            PERFORM easeinv.issue_invoice(inv);
            IF r.k % 3 = 0 THEN
                PERFORM easeinv.record_payment('pay-full-' || inv, inv,
                                               (SELECT balance_due FROM easeinv.invoices WHERE id = inv), 'upi', reference => 'UTR ' || inv);
            ELSIF r.k % 3 = 1 THEN
                PERFORM easeinv.record_payment('pay-part-' || inv, inv, 100, 'cash');
            END IF;
        END IF;
    END LOOP;
    -- a walk-in sale without a customer, left as a draft, and an empty draft
    INSERT INTO easeinv.invoices (location_id) VALUES (st) RETURNING id INTO inv;
    INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price)
    SELECT inv, id, 2, 45.50 FROM easeinv.products WHERE track_stock AND deleted_at IS NULL ORDER BY id LIMIT 2;
    INSERT INTO easeinv.invoices (customer_id) SELECT min(id) FROM easeinv.customers;

    -- cancelled invoices: one issued and cancelled, one paid, refunded and cancelled
    SELECT id INTO inv FROM easeinv.invoices WHERE status = 'issued' AND amount_paid = 0 ORDER BY id LIMIT 1;
    PERFORM easeinv.cancel_invoice(inv, 'customer changed the order');
    SELECT id INTO inv FROM easeinv.invoices WHERE status = 'partially_paid' ORDER BY id LIMIT 1;
    SELECT id INTO pay FROM easeinv.payments WHERE invoice_id = inv;
    PERFORM easeinv.refund_payment('refund-' || pay, pay, reference => 'returned in cash');
    PERFORM easeinv.cancel_invoice(inv, 'paid twice by mistake');

    -- credit notes: goods returned on an issued invoice (issued), a price adjustment (issued),
    -- and a draft one
    SELECT i.id INTO inv FROM easeinv.invoices i
     WHERE i.status IN ('issued', 'partially_paid') AND i.kind = 'invoice'
       AND EXISTS (SELECT FROM easeinv.invoice_lines l WHERE l.invoice_id = i.id AND l.product_id IS NOT NULL)
     ORDER BY i.id DESC LIMIT 1;
    INSERT INTO easeinv.invoices (kind, original_invoice_id, notes) VALUES ('credit_note', inv, 'returned damaged') RETURNING id INTO cn;
    INSERT INTO easeinv.invoice_lines (invoice_id, product_id, qty, unit_price)
    SELECT cn, product_id, 1, unit_price FROM easeinv.invoice_lines WHERE invoice_id = inv AND product_id IS NOT NULL ORDER BY line_no LIMIT 1;
    PERFORM easeinv.issue_invoice(cn);
    INSERT INTO easeinv.invoices (kind, original_invoice_id) VALUES ('credit_note', inv) RETURNING id INTO cn;
    INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate)
    VALUES (cn, 'Price adjustment', 1, 10, 18);
    PERFORM easeinv.issue_invoice(cn);
    INSERT INTO easeinv.invoices (kind, original_invoice_id) VALUES ('credit_note', inv) RETURNING id INTO cn;
    INSERT INTO easeinv.invoice_lines (invoice_id, description, qty, unit_price, gst_rate)
    VALUES (cn, 'Goodwill', 1, 5, 18);

    -- a series of its own
    INSERT INTO easeinv.invoice_series (code, kind, format, description) VALUES ('EXP', 'invoice', 'EX/{FYYY}/{N}', 'exports');

    -- the bulk imports: products, opening stock into the store, movements (one bad row skipped)
    PERFORM easeinv.begin_import('products');
    EXECUTE $q$INSERT INTO import_products
        SELECT 'IMP-' || g, 'Imported ' || g, '0902', 'nos', CASE WHEN g % 2 = 0 THEN '5' ELSE '18%' END, 'yes'
          FROM generate_series(1, $1) g$q$ USING 10 * scale;
    PERFORM easeinv.apply_import('products');
    PERFORM easeinv.begin_import('opening_stock');
    EXECUTE $q$INSERT INTO import_opening_stock
        SELECT 'IMP-' || g, 'ST-1', (20 + g % 9)::text, '12.50', '2026-04-01' FROM generate_series(1, $1) g$q$ USING 10 * scale;
    PERFORM easeinv.apply_import('opening_stock');
    PERFORM easeinv.begin_import('movements');
    EXECUTE $q$INSERT INTO import_movements
        SELECT 'imp-mv-' || g, 'IMP-' || (1 + g % 10), 'ST-1', 'CUS', '1', '', 'import', 'csv', 'row ' || g, '2026-05-01 10:00+05:30'
          FROM generate_series(1, $1) g
        UNION ALL SELECT 'imp-bad', 'NO-SUCH-SKU', 'ST-1', 'CUS', '-1', 'x', '', '', '', 'yesterday'$q$ USING 20 * scale;
    PERFORM easeinv.apply_import('movements', skip_bad => true);

    -- the application's own rows
    INSERT INTO public.orders (customer_id, status, amount, notes)
    SELECT c.id, (ARRAY['open', 'packed', 'shipped', 'void'])[1 + c.id % 4], 100 * c.id, 'order of ' || c.name
      FROM easeinv.customers c;
    INSERT INTO public.notes (body, tags)
    SELECT 'note ' || g, ARRAY['tag' || g % 3] FROM generate_series(1, 5 * scale) g;
END $$;

SET ROLE fuzz_app;
BEGIN;
SELECT easeinv.set_tenant(:t1) \gset
CALL public.fuzz_seed(3);
COMMIT;
BEGIN;
SELECT easeinv.set_tenant(:t2) \gset
CALL public.fuzz_seed(2);
COMMIT;
RESET ROLE;

DROP PROCEDURE public.fuzz_seed(int);
DROP FUNCTION public.fuzz_gstin(text, int);

-- the projection is exact and every tenant table is protected, or the seed is wrong
DO $$
BEGIN
    IF EXISTS (SELECT FROM easeinv.verify_stock()) THEN
        RAISE EXCEPTION 'seed: stock_levels differ from the ledger';
    END IF;
    IF EXISTS (SELECT FROM easeinv.audit_tenancy()) THEN
        RAISE EXCEPTION 'seed: audit_tenancy reports problems';
    END IF;
END $$;
ANALYZE;

\unset QUIET
SELECT t.slug,
       (SELECT count(*) FROM easeinv.products p WHERE p.tenant_id = t.id) AS products,
       (SELECT count(*) FROM easeinv.stock_movements m WHERE m.tenant_id = t.id) AS movements,
       (SELECT count(*) FROM easeinv.stock_reservations r WHERE r.tenant_id = t.id) AS reservations,
       (SELECT count(*) FROM easeinv.customers c WHERE c.tenant_id = t.id) AS customers,
       (SELECT string_agg(s || ' ' || n, ', ' ORDER BY s) FROM
          (SELECT i.kind || '/' || i.status AS s, count(*) AS n FROM easeinv.invoices i
            WHERE i.tenant_id = t.id GROUP BY 1) x) AS invoices,
       (SELECT count(*) FROM easeinv.payments y WHERE y.tenant_id = t.id) AS payments,
       (SELECT count(*) FROM public.orders o WHERE o.tenant_id = t.id) AS orders
  FROM easeinv.tenants t ORDER BY t.id;
