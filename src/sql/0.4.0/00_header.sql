-- easeinv 0.4.0: bulk imports.
\echo Use "ALTER EXTENSION easeinv UPDATE TO '0.4.0'" to load this file. \quit
