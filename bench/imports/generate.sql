-- The CSV files every system imports (run.sh runs this once, as superuser: server-side COPY TO).
-- psql variables: dir (the run's directory, written by the server), a_products, a_rows,
-- b_tenants, b_products, b_rows, locations.
--   :dir/a.csv          scenario A: tenant 1, :a_rows movements
--   :dir/b/<t>.csv      scenario B: tenant t (2 .. :b_tenants + 1), :b_rows movements each
-- Header and columns as easeinv.begin_import('movements') expects.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT set_config('bench.dir', :'dir', false), set_config('bench.locations', :'locations', false),
       set_config('bench.b_tenants', :'b_tenants', false), set_config('bench.b_products', :'b_products', false),
       set_config('bench.b_rows', :'b_rows', false);
\set a_csv :dir/a.csv
COPY (SELECT * FROM bench.movements(1, :a_products, :locations, :a_rows)) TO :'a_csv' WITH (FORMAT csv, HEADER);
DO $gen$
BEGIN
    FOR t IN 2 .. current_setting('bench.b_tenants')::integer + 1 LOOP
        EXECUTE format('COPY (SELECT * FROM bench.movements(%s, %s, %s, %s)) TO %L WITH (FORMAT csv, HEADER)',
                       t, current_setting('bench.b_products'), current_setting('bench.locations'),
                       current_setting('bench.b_rows'), current_setting('bench.dir') || '/b/' || t || '.csv');
    END LOOP;
END
$gen$;
