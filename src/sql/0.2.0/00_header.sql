-- easeinv 0.2.0: the inventory ledger.
\echo Use "ALTER EXTENSION easeinv UPDATE TO '0.2.0'" to load this file. \quit
