-- easeinv: one tenant's import through the API (run.sh renders this template: @TENANT@ the
-- tenant, @CSV@ the file, @DIR@ the run's directory; lines starting with '--mem ' are kept,
-- without the prefix, when the importing backend's memory is sampled).  Runs as bench_app
-- (granted easeinv_app).  Prints one line:
--   RESULT easeinv <tenant> <t0> <t1> <t2> <t3> <t4> <rows> <applied> <replayed> <rejected> <levels>
-- t0 before BEGIN, t1 after begin_import, t2 after the COPY, t3 after apply_import, t4 after
-- COMMIT (server clock, seconds).
--mem SELECT pg_backend_pid() AS pid \gset
--mem \o @DIR@/mem/pid
--mem \qecho :pid
--mem \o
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
BEGIN;
SELECT easeinv.set_tenant(@TENANT@) AS tenant \gset
SELECT easeinv.begin_import('movements') AS copy_command \gset
SELECT extract(epoch FROM clock_timestamp()) AS t1 \gset
\copy import_movements FROM '@CSV@' WITH (FORMAT csv, HEADER)
--mem \! touch @DIR@/mem/apply-start
SELECT extract(epoch FROM clock_timestamp()) AS t2 \gset
SELECT rows, applied, replayed, rejected, levels FROM easeinv.apply_import('movements') \gset
SELECT extract(epoch FROM clock_timestamp()) AS t3 \gset
--mem \! touch @DIR@/mem/apply-end
COMMIT;
SELECT extract(epoch FROM clock_timestamp()) AS t4 \gset
\echo RESULT easeinv @TENANT@ :t0 :t1 :t2 :t3 :t4 :rows :applied :replayed :rejected :levels
