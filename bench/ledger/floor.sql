-- The floor: the same rows written by bare SQL, with nothing easeinv adds.
--
-- floor.stock_movements and floor.stock_levels have easeinv's columns (types, NOT NULL, defaults,
-- identity, the generated available column), the same hash partitioning by tenant (16
-- partitions) and the same primary keys.  They have no row level security, no triggers, no
-- foreign keys, no CHECK constraints and no idempotency key (no unique (tenant_id,
-- idempotency_key), no lookup before writing).  They keep the one secondary index a ledger needs
-- to be read at all, (tenant_id, product_id, occurred_at): it is not a check, and leaving it out
-- would make the floor a table nobody could query by product.  The partial unique index on
-- reverses_id is a check (a movement is reversed once) and is left out.
--
-- One movement is one INSERT of the ledger row plus the two stock_levels upserts, lower location
-- id first.  The workload scripts send it in two shapes (see floor_single.sql and
-- floor3_single.sql); the single statement is the floor the targets are measured against.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE SCHEMA floor;

CREATE TABLE floor.stock_movements (
    LIKE easeinv.stock_movements INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED,
    PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);
CREATE INDEX stock_movements_product_time ON floor.stock_movements (tenant_id, product_id, occurred_at);
SELECT easeinv.create_tenant_partitions('floor.stock_movements');

CREATE TABLE floor.stock_levels (
    LIKE easeinv.stock_levels INCLUDING DEFAULTS INCLUDING GENERATED,
    PRIMARY KEY (tenant_id, product_id, location_id)
) PARTITION BY HASH (tenant_id);
SELECT easeinv.create_tenant_partitions('floor.stock_levels');

-- the same starting data as easeinv's
INSERT INTO floor.stock_movements OVERRIDING SYSTEM VALUE SELECT * FROM easeinv.stock_movements;
SELECT setval(pg_get_serial_sequence('floor.stock_movements', 'id'),
              (SELECT max(id) FROM floor.stock_movements));
INSERT INTO floor.stock_levels (tenant_id, product_id, location_id, on_hand, reserved, updated_at)
SELECT tenant_id, product_id, location_id, on_hand, reserved, updated_at FROM easeinv.stock_levels;

GRANT USAGE ON SCHEMA floor TO easeinv_app;
GRANT SELECT, INSERT ON floor.stock_movements TO easeinv_app;
GRANT SELECT, INSERT, UPDATE ON floor.stock_levels TO easeinv_app;
GRANT USAGE ON SEQUENCE floor.stock_movements_id_seq TO easeinv_app;

-- the floor must really be bare: no RLS, no trigger, no foreign key, no unique key but the PK
DO $check$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class c
                WHERE c.relnamespace = 'floor'::regnamespace AND c.relrowsecurity)
       OR EXISTS (SELECT 1 FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
                   WHERE c.relnamespace = 'floor'::regnamespace)
       OR EXISTS (SELECT 1 FROM pg_constraint k
                   WHERE k.connamespace = 'floor'::regnamespace AND k.contype NOT IN ('p', 'n'))
       OR EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
                   WHERE c.relnamespace = 'floor'::regnamespace AND i.indisunique AND NOT i.indisprimary)
    THEN
        RAISE EXCEPTION 'the floor tables are not bare';
    END IF;
END
$check$;
