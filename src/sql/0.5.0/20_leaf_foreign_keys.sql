
-------------------------------------------------------------------------------------------------
-- Foreign keys between two partitioned tables are declared leaf to leaf.  Both tables are hash
-- partitioned by tenant_id with the same count, so a row and the row it references are in the
-- partitions of the same number, and the leaf-to-leaf key is exactly the parent-to-parent one.
-- Declared on the parents, the keys are invisible to pg_dump's ordering of the leaves' data
-- (it orders configuration tables by the keys between them, and the parents hold no data), so a
-- serial pg_restore would load the leaves in name order and only by luck before what they
-- reference.  Declared on the leaves, pg_dump orders the data by them.  (A parallel pg_restore
-- --jobs ignores that order, since pg_dump gives each table's data a dependency on its table
-- only: easeinv.pre_restore() and post_restore() set the keys aside around it.  A leaf's check
-- also reads one partition instead of planning against all of them.)  Foreign keys
-- within one table (credit note to invoice, refund to payment) stay on the parent: a leaf
-- references only itself, and a COPY checks its keys once it has loaded the whole leaf.
-------------------------------------------------------------------------------------------------
CREATE FUNCTION easeinv.leaf_foreign_key(child regclass, cols text, parent regclass, refcols text,
                                         suffix text)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    leaf record;
    ref  regclass;
BEGIN
    -- the key on the parents (and its clones on the leaves) goes first
    FOR leaf IN
        SELECT k.conname FROM pg_constraint k
         WHERE k.conrelid = child AND k.contype = 'f' AND k.confrelid = parent AND k.conparentid = 0
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', child, leaf.conname);
    END LOOP;
    FOR leaf IN
        SELECT c.oid::regclass AS rel, c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = child
         ORDER BY c.relname
    LOOP
        SELECT c.oid::regclass INTO ref
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = parent AND pg_get_expr(c.relpartbound, c.oid) = leaf.bound;
        IF ref IS NULL THEN
            RAISE EXCEPTION 'table % has no partition for %', parent, leaf.bound
                USING ERRCODE = '55000',
                      HINT = 'Both tables must be hash partitioned by tenant_id with the same count.';
        END IF;
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I FOREIGN KEY (%s) REFERENCES %s (%s)',
                       leaf.rel, leaf.relname || '_' || suffix || '_fkey', cols, ref, refcols);
    END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION easeinv.leaf_foreign_key(regclass, text, regclass, text, text) FROM PUBLIC;
COMMENT ON FUNCTION easeinv.leaf_foreign_key(regclass, text, regclass, text, text) IS
    'extension scripts only: declare a foreign key between two tenant-partitioned tables leaf to leaf';

SELECT easeinv.leaf_foreign_key('easeinv.stock_levels', 'tenant_id, product_id',
                                'easeinv.products', 'tenant_id, id', 'product');
SELECT easeinv.leaf_foreign_key('easeinv.stock_reservations', 'tenant_id, product_id',
                                'easeinv.products', 'tenant_id, id', 'product');
SELECT easeinv.leaf_foreign_key('easeinv.invoices', 'tenant_id, customer_id',
                                'easeinv.customers', 'tenant_id, id', 'customer');
SELECT easeinv.leaf_foreign_key('easeinv.payments', 'tenant_id, invoice_id',
                                'easeinv.invoices', 'tenant_id, id', 'invoice');
