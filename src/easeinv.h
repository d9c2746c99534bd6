/*-------------------------------------------------------------------------
 * easeinv.h
 *	  Declarations shared by the easeinv modules.
 *
 * Module map (every file of src/; a .h next to a .c declares what it exports,
 * with the file's prefix on every exported name):
 *
 *	Shared infrastructure
 *	  easeinv.h        this map, the GUC variables, tenant.c/restore.c/gstin.c exports
 *	  compat.h         every PG_VERSION_NUM shim (compiled against 15 only)
 *	  easeinv.c        library entry point and GUC definitions
 *	  owner.c/h        running SQL as the owner: identity, pinned search_path,
 *	                   generic plans, GUC nest level; THE rule for SQL run from C
 *	  plans.c/h        kept plans: one statement table per file (PlanStatement),
 *	                   and the rewrite of statements for the installed SQL version
 *	  args.c/h         argument checks of the entry points (keys, ids, texts,
 *	                   quantities, times)
 *	  numbers.c/h      numeric arithmetic and comparisons (num_*), cached literals
 *	  replay.c/h       the replay comparison of idempotent writes (23505 naming
 *	                   every field that differs)
 *	  result.c/h       composite results (a row, a stored row plus replayed)
 *	  triggers.c/h     the first step of every trigger function, append-only refusals
 *
 *	Tenancy
 *	  tenant.c         tenant context: resolution, caching, set_tenant/current_tenant,
 *	                   the decision handed to parallel workers
 *	  guard.c          the tenant guard trigger attached to every tenant table
 *	                   (tenant stamping, text encoding, restored rows' partitions)
 *	  protect.c        enable_tenancy's wrapper; the partition event trigger's state,
 *	                   and which commands add partitions (adds_partition)
 *	  restore.c        recognising pg_restore's COPY
 *	  gstin.c          GSTIN validation (format and check digit)
 *
 *	Inventory
 *	  ledger.c/h       the stock ledger (move_stock, reverse_movement, the
 *	                   projection), the movement gate, history lookups
 *	  reservations.c   reserve, release, consume
 *	  imports.c        bulk imports: staging, checks, one statement per kind
 *
 *	Events (0.6.0)
 *	  events.c/h       the outbox (payloads, emit), cache invalidation (NOTIFY),
 *	                   the consumers' scope
 *	  flags.c          feature flags: feature_enabled, feature_bucket
 *
 *	Invoicing
 *	  gst.c/h          GST line arithmetic
 *	  invoice.c/h      invoice numbers, the invoice triggers and their caches
 *	  invoice_issue.c  issue and cancel
 *	  payments.c       payments, refunds, the append-only trigger
 *-------------------------------------------------------------------------
 */
#ifndef EASEINV_H
#define EASEINV_H

#include "postgres.h"

#include "compat.h"

EASEINV_HIDDEN_BEGIN

/* GUC variables (easeinv.c) */
extern char *easeinv_tenant_guc;		/* easeinv.tenant_id */
extern char *easeinv_jwt_claim;			/* easeinv.jwt_claim */
extern int	easeinv_partitions;			/* easeinv.partitions */
extern bool easeinv_notify;				/* easeinv.notify */
extern int	easeinv_outbox_retention;	/* easeinv.outbox_retention, minutes */

#define EASEINV_SCHEMA			"easeinv"
#define EASEINV_TENANT_GUC		"easeinv.tenant_id"
#define EASEINV_JWT_CLAIMS_GUC	"request.jwt.claims"
#define EASEINV_MAX_PARTITIONS	256

/* tenant.c */
typedef enum TenantLookup
{
	TENANT_REQUIRED,			/* raise 42501 when there is no context */
	TENANT_OPTIONAL				/* return 0 when there is no context */
} TenantLookup;

extern int64 tenant_resolve(TenantLookup mode);
extern bool tenant_role_bypasses_rls(void);
extern void tenant_init(void);

/*
 * objsubids of the advisory lock tags that are easeinv's own (pg_advisory_lock
 * uses 1 and 2); the two keys are a tenant id's halves.  Shown in pg_locks.
 */
#define EASEINV_LOCK_IMPORT		17737	/* a running import of the tenant (imports.c) */
#define EASEINV_LOCK_MOVEMENTS	17738	/* the tenant's movement gate (ledger.c) */

/* restore.c: the running statement is pg_restore's COPY into this table */
extern bool restore_in_progress(Oid relid);

EASEINV_HIDDEN_END

#endif							/* EASEINV_H */
