/*-------------------------------------------------------------------------
 * easeinv.c
 *	  Library entry point: defines the easeinv.* GUCs and reserves the prefix.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

char	   *easeinv_tenant_guc = NULL;
char	   *easeinv_jwt_claim = NULL;
int			easeinv_partitions = 16;
bool		easeinv_notify = true;
int			easeinv_outbox_retention = 7 * 24 * 60;

void		_PG_init(void);

static bool check_jwt_claim(char **newval, void **extra, GucSource source);

/*
 * _PG_init: register the GUCs.  The tenant context GUC is a plain string so that
 * SET LOCAL, set_config() and set_tenant() all work through pgbouncer in
 * transaction mode; it is parsed and validated lazily by tenant.c, once per
 * transaction or value change.
 */
void
_PG_init(void)
{
	DefineCustomStringVariable("easeinv.tenant_id",
							   "Tenant of the current transaction.",
							   "Set it with easeinv.set_tenant(id) or SET LOCAL; "
							   "blank means no tenant context.",
							   &easeinv_tenant_guc,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("easeinv.jwt_claim",
							   "Name of the tenant claim in request.jwt.claims.",
							   NULL,
							   &easeinv_jwt_claim,
							   "tenant_id",
							   PGC_SUSET,
							   0,
							   check_jwt_claim, NULL, NULL);

	DefineCustomIntVariable("easeinv.partitions",
							"Hash partitions per large tenant table, read by CREATE EXTENSION.",
							"Changing it later does not repartition existing tables.",
							&easeinv_partitions,
							16,
							1,
							EASEINV_MAX_PARTITIONS,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("easeinv.notify",
							 "Send NOTIFY easeinv_invalidate at commit for every changed resource.",
							 "Off sends no cache invalidations (the outbox is written either way).",
							 &easeinv_notify,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("easeinv.outbox_retention",
							"How long acknowledged outbox events are kept before outbox_purge() deletes them.",
							NULL,
							&easeinv_outbox_retention,
							7 * 24 * 60,
							1,
							10 * 366 * 24 * 60,
							PGC_SUSET,
							GUC_UNIT_MIN,
							NULL, NULL, NULL);

	tenant_init();

	MarkGUCPrefixReserved("easeinv");
}

/* check_jwt_claim: the claim name must be a non-empty JSON object key. */
static bool
check_jwt_claim(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
	{
		GUC_check_errdetail("The claim name must not be empty.");
		return false;
	}
	if (strlen(*newval) > 63)
	{
		GUC_check_errdetail("The claim name must be at most 63 bytes.");
		return false;
	}
	return true;
}
