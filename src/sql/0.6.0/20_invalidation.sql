
-------------------------------------------------------------------------------------------------
-- Cache invalidation: NOTIFY easeinv_invalidate, payload tenantId:resourceType:resourceId, at
-- commit only (PostgreSQL sends nothing for a rolled-back transaction or subtransaction, and
-- one notification per distinct payload per transaction).  The extension's writers of stock
-- send stock:<product_id> (src/events.c); these statement triggers cover the tables the
-- application writes directly, past 100 rows of one tenant in one statement as resource:*.
-- LISTEN needs a session of its own: a listener connects to PostgreSQL directly, never through
-- pgbouncer in transaction pooling mode (README, Events).
-------------------------------------------------------------------------------------------------

CREATE FUNCTION easeinv.invalidate_cache() RETURNS trigger
    AS 'MODULE_PATHNAME', 'invalidate_cache'
    LANGUAGE C;
COMMENT ON FUNCTION easeinv.invalidate_cache() IS
    'statement trigger: NOTIFY easeinv_invalidate tenant:resource:id for the rows written (arguments: resource, id column)';

DO $triggers$
DECLARE
    t record;
    ev text;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('products', 'product', 'id'), ('customers', 'customer', 'id'),
                                   ('invoices', 'invoice', 'id'), ('invoice_lines', 'invoice', 'invoice_id'))
                           AS x (tbl, resource, idcol)
    LOOP
        FOREACH ev IN ARRAY ARRAY['insert', 'update', 'delete'] LOOP
            EXECUTE format('CREATE TRIGGER easeinv_%s_invalidate_%s AFTER %s ON easeinv.%I REFERENCING %s'
                           ' FOR EACH STATEMENT EXECUTE FUNCTION easeinv.invalidate_cache(%L, %L)',
                           t.tbl, ev, upper(ev), t.tbl,
                           CASE ev WHEN 'insert' THEN 'NEW TABLE AS new_rows'
                                   WHEN 'update' THEN 'OLD TABLE AS old_rows NEW TABLE AS new_rows'
                                   ELSE 'OLD TABLE AS old_rows' END,
                           t.resource, t.idcol);
            EXECUTE format('ALTER TABLE easeinv.%I ENABLE ALWAYS TRIGGER easeinv_%s_invalidate_%s', t.tbl, t.tbl, ev);
        END LOOP;
    END LOOP;
END
$triggers$;

-- tenant settings: an event and an invalidation.  SECURITY DEFINER: the outbox is written only
-- by the extension, and whoever may update a tenant's settings (easeinv_admin) may not insert
-- into it.
CREATE FUNCTION easeinv.tenant_settings_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    changed text[];
BEGIN
    SELECT coalesce(array_agg(k ORDER BY k), '{}') INTO changed
      FROM (SELECT key AS k FROM jsonb_each(NEW.settings)
            UNION SELECT key FROM jsonb_each(OLD.settings)) keys
     WHERE NEW.settings -> k IS DISTINCT FROM OLD.settings -> k;
    INSERT INTO easeinv.outbox (tenant_id, type, aggregate_type, aggregate_id, payload)
    VALUES (NEW.id, 'tenant.settings_changed', 'tenant', NEW.id::text,
            jsonb_build_object('tenant_id', NEW.id, 'settings', NEW.settings, 'changed', to_jsonb(changed)));
    IF current_setting('easeinv.notify')::boolean THEN
        PERFORM pg_notify('easeinv_invalidate', NEW.id::text || ':tenant:' || NEW.id::text);
    END IF;
    RETURN NULL;
END
$fn$;
REVOKE ALL ON FUNCTION easeinv.tenant_settings_changed() FROM PUBLIC;
COMMENT ON FUNCTION easeinv.tenant_settings_changed() IS
    'trigger on tenants: a tenant.settings_changed event and the tenant''s invalidation when its settings change';
CREATE TRIGGER easeinv_tenant_settings_changed AFTER UPDATE OF settings ON easeinv.tenants
    FOR EACH ROW WHEN (OLD.settings IS DISTINCT FROM NEW.settings)
    EXECUTE FUNCTION easeinv.tenant_settings_changed();
ALTER TABLE easeinv.tenants ENABLE ALWAYS TRIGGER easeinv_tenant_settings_changed;
