-- RLS stays cheap: the tenant check is an initPlan evaluated once, the tenant-leading index is
-- used, and only the tenant's partition is scanned (run-time pruning: the other partitions are
-- "never executed").
\set SHOW_CONTEXT never
\i test/fixtures/tenants.sql
CREATE TABLE events (
    tenant_id bigint NOT NULL,
    id        bigint NOT NULL,
    kind      text NOT NULL,
    PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);
SELECT easeinv.create_tenant_partitions('events');
SELECT count(*) FROM easeinv.enable_tenancy('events');
CREATE INDEX ON events (tenant_id, kind);
INSERT INTO events (tenant_id, id, kind)
SELECT t, i, CASE WHEN i % 10 = 0 THEN 'rare' ELSE 'common' END
  FROM generate_series(1, 3) t, generate_series(1, 3000) i;
ANALYZE events;
GRANT SELECT ON events TO easeinv_app;

SET ROLE regress_web;
BEGIN;
SELECT easeinv.set_tenant(2);
-- a point lookup: one partition, its primary key, the initPlan once
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT * FROM events WHERE id = 42;
-- a secondary index that leads with tenant_id
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*) FROM events WHERE kind = 'rare';
-- the whole tenant
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*) FROM events;
SELECT count(*) FROM events;
-- an explicit tenant filter as well prunes at plan time
EXPLAIN (COSTS OFF)
SELECT * FROM events WHERE tenant_id = 2 AND id = 42;
COMMIT;
RESET ROLE;
