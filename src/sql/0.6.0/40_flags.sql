
-------------------------------------------------------------------------------------------------
-- Feature flags: a switch, a rollout percentage and tenant allow/deny lists per flag.  For a
-- tenant, feature_enabled(name) is: the switch on, and the tenant not denied, and allowed or in
-- the rollout, where "in the rollout" is feature_bucket(name, tenant) < percent * 100: a stable
-- hash (FNV-1a, 64 bits, of "name:tenant", modulo 10000), the same in every session and
-- release, so a tenant's answer never flips and raising the percentage only adds tenants.
-- Without a tenant context a flag is on only when it is on for everyone (switch on, 100%).
-------------------------------------------------------------------------------------------------

CREATE TABLE easeinv.feature_flags (
    name            text PRIMARY KEY
                    CONSTRAINT feature_flags_name_format CHECK (name ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    enabled         boolean NOT NULL DEFAULT false,
    rollout_percent numeric(5,2) NOT NULL DEFAULT 0
                    CONSTRAINT feature_flags_rollout CHECK (rollout_percent BETWEEN 0 AND 100),
    allow_tenants   bigint[] NOT NULL DEFAULT '{}',
    deny_tenants    bigint[] NOT NULL DEFAULT '{}',
    description     text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE easeinv.feature_flags IS
    'feature flags: enabled is the switch; rollout_percent, allow_tenants and deny_tenants decide per tenant (feature_enabled)';
SELECT easeinv.register_for_dump('easeinv.feature_flags');
GRANT SELECT, INSERT, UPDATE, DELETE ON easeinv.feature_flags TO easeinv_admin;

CREATE FUNCTION easeinv.feature_bucket(name text, tenant bigint) RETURNS integer
    AS 'MODULE_PATHNAME', 'feature_bucket'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION easeinv.feature_bucket(text, bigint) IS
    'the tenant''s bucket (0-9999) for a flag: in the rollout when below rollout_percent * 100';

-- PARALLEL RESTRICTED: it reads the flags (once per statement) as the extension's owner.
CREATE FUNCTION easeinv.feature_enabled(name text, strict boolean DEFAULT false) RETURNS boolean
    AS 'MODULE_PATHNAME', 'feature_enabled'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION easeinv.feature_enabled(text, boolean) IS
    'whether the flag is on for the current tenant (without a context: on for everyone); an unknown flag is false, or 22023 when strict';
