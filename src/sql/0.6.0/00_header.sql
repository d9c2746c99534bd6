-- easeinv 0.6.0: events (a transactional outbox with named consumers, cache invalidation on
-- commit, feature flags, per-tenant usage).
\echo Use "ALTER EXTENSION easeinv UPDATE TO '0.6.0'" to load this file. \quit
