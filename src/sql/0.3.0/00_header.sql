-- easeinv 0.3.0: GST invoicing.
\echo Use "ALTER EXTENSION easeinv UPDATE TO '0.3.0'" to load this file. \quit
