/*-------------------------------------------------------------------------
 * easeinv.h
 *	  Declarations shared by the easeinv modules.
 *
 * Module map:
 *	  easeinv.c        library entry point and GUC definitions
 *	  tenant.c         tenant context: resolution, caching, set_tenant/current_tenant,
 *	                   the decision handed to parallel workers
 *	  guard.c          the tenant guard trigger attached to every tenant table
 *	                   (tenant stamping, text encoding, restored rows' partitions)
 *	  protect.c        enable_tenancy's wrapper and the partition event trigger's state
 *	  restore.c        recognising pg_restore's COPY
 *	  gstin.c          GSTIN validation (format and check digit)
 *	  ledger.c         the stock ledger, the movement gate, shared helpers (ledger.h)
 *	  reservations.c   reserve, release, consume
 *	  gst.c            GST line arithmetic (gst.h)
 *	  invoice.c        invoice numbers and the invoice triggers (invoice.h)
 *	  invoice_issue.c  issue and cancel
 *	  payments.c       payments, refunds, the append-only trigger
 *	  imports.c        bulk imports
 *-------------------------------------------------------------------------
 */
#ifndef EASEINV_H
#define EASEINV_H

#include "postgres.h"

#include "compat.h"

/* GUC variables (easeinv.c) */
extern char *easeinv_tenant_guc;		/* easeinv.tenant_id */
extern char *easeinv_jwt_claim;			/* easeinv.jwt_claim */
extern int	easeinv_partitions;			/* easeinv.partitions */

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

/* gstin.c */
extern bool gstin_check(const char *gstin, int len, const char **why);

#endif							/* EASEINV_H */
