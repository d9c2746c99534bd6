
-------------------------------------------------------------------------------------------------
-- GST rates and when they are valid.  Reference data shared by all tenants (not a tenant table):
-- an invoice line's rate must be valid on the invoice date.  Seeded with the slabs in force:
--   from 2017-07-01 (GST's start): nil, 5, 12, 18, 28, and the special rates 0.25 (rough precious
--     and semi-precious stones) and 3 (gold, silver, jewellery);
--   from 2025-09-22 (56th GST Council, notifications 9/2025 and 10/2025-Central Tax (Rate) of
--     2025-09-17): 12 is no longer a slab (its goods moved to 5 or 18), 40 is the rate for luxury
--     and demerit goods; 28 continues for tobacco and related products.
-- Administrators add rates as they are notified: INSERT into easeinv.gst_rates (easeinv_admin).
-------------------------------------------------------------------------------------------------
CREATE TABLE easeinv.gst_rates (
    rate        numeric(5,2) NOT NULL CONSTRAINT gst_rates_range CHECK (rate >= 0 AND rate <= 100),
    valid_from  date NOT NULL,
    valid_to    date,
    description text NOT NULL,
    seeded      boolean NOT NULL DEFAULT false,     -- inserted by the extension's scripts
    PRIMARY KEY (rate, valid_from),
    CONSTRAINT gst_rates_period CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
COMMENT ON TABLE easeinv.gst_rates IS 'GST rates and their validity dates (reference data, all tenants)';
INSERT INTO easeinv.gst_rates (rate, valid_from, valid_to, description, seeded) VALUES
    (0,    '2017-07-01', NULL,         'nil rate and exempt supplies', true),
    (0.25, '2017-07-01', NULL,         'special rate: rough precious and semi-precious stones', true),
    (3,    '2017-07-01', NULL,         'special rate: gold, silver, jewellery', true),
    (5,    '2017-07-01', NULL,         'lower slab', true),
    (12,   '2017-07-01', '2025-09-21', 'slab until the 2025 rationalisation', true),
    (18,   '2017-07-01', NULL,         'standard slab', true),
    (28,   '2017-07-01', NULL,         'highest slab until 2025-09-21; since then tobacco and related products', true),
    (40,   '2025-09-22', NULL,         'luxury and demerit goods', true);
-- pg_dump keeps the rows administrators added; CREATE EXTENSION writes the seeded ones again
SELECT pg_catalog.pg_extension_config_dump('easeinv.gst_rates', 'WHERE NOT seeded');
GRANT SELECT ON easeinv.gst_rates TO PUBLIC;
GRANT INSERT, UPDATE ON easeinv.gst_rates TO easeinv_admin;

-- gst_rate_valid: whether a rate may be charged on a date
CREATE FUNCTION easeinv.gst_rate_valid(rate numeric, on_date date) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT EXISTS (SELECT 1 FROM easeinv.gst_rates g
                WHERE g.rate = gst_rate_valid.rate AND g.valid_from <= on_date
                  AND (g.valid_to IS NULL OR g.valid_to >= on_date))
$fn$;
COMMENT ON FUNCTION easeinv.gst_rate_valid(numeric, date) IS
    'true when the GST rate is in force on the date (easeinv.gst_rates)';
