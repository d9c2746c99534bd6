-- easeinv 0.5.0: hardening (restores that restore, guards that fire in every replication role,
-- documents' movements owned by their documents, rules fixed at movement time kept, text
-- verified in the database encoding, internal state out of users' reach).
\echo Use "ALTER EXTENSION easeinv UPDATE TO '0.5.0'" to load this file. \quit
