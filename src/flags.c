/*-------------------------------------------------------------------------
 * flags.c
 *	  Feature flags: feature_enabled(name) for the current tenant, cheap
 *	  enough to call per row, and feature_bucket(name, tenant).
 *
 * The flags are read once per command of a transaction (a statement that
 * calls feature_enabled for a million rows reads them once) into the
 * backend's memory, as the extension's owner; the decision is then a lookup
 * and a hash (0.6.0's 40_flags.sql states the rule).  The hash is FNV-1a, 64
 * bits, of the bytes "name:tenant" (tenant in decimal), modulo 10000: fixed
 * here, not PostgreSQL's hash functions, so that it never changes with a
 * platform or a release and the application can compute it too.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "args.h"
#include "owner.h"
#include "plans.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(feature_enabled);
PG_FUNCTION_INFO_V1(feature_bucket);

typedef struct Flag
{
	char	   *name;
	bool		enabled;
	int			rollout;		/* percent * 100: 0 to 10000 */
	int			nallow;
	int64	   *allow;
	int			ndeny;
	int64	   *deny;
} Flag;

typedef enum FlagStatement
{
	ST_FLAGS,					/* every flag */
	ST_COUNT
} FlagStatement;

static const PlanStatement statements[ST_COUNT] = {
	[ST_FLAGS] = {"SELECT name, enabled, (rollout_percent * 100)::integer, allow_tenants, deny_tenants"
		" FROM easeinv.feature_flags", 0, {InvalidOid}},
};

static SPIPlanPtr plans[ST_COUNT];

#define PLAN(which)		plan_kept(statements, plans, (which))

/* the flags as read at (lxid, command) */
static MemoryContext flags_cxt = NULL;
static Flag *flags = NULL;
static int	nflags = 0;
static LocalTransactionId flags_lxid = InvalidLocalTransactionId;
static CommandId flags_cid = InvalidCommandId;

static void load_flags(void);
static int64 *tenant_array(HeapTuple row, TupleDesc desc, int col, int *n);
static bool listed(const int64 *list, int n, int64 tenant);
static uint32 bucket(const char *name, int64 tenant);

/* bucket: FNV-1a 64 of "name:tenant", modulo 10000 */
static uint32
bucket(const char *name, int64 tenant)
{
	char		buf[32];
	uint64		h = UINT64CONST(14695981039346656037);
	const unsigned char *p;

	for (p = (const unsigned char *) name; *p; p++)
		h = (h ^ *p) * UINT64CONST(1099511628211);
	snprintf(buf, sizeof(buf), ":" INT64_FORMAT, tenant);
	for (p = (const unsigned char *) buf; *p; p++)
		h = (h ^ *p) * UINT64CONST(1099511628211);
	return (uint32) (h % 10000);
}

/* tenant_array: a bigint[] column as a C array in flags_cxt (NULL elements left out) */
static int64 *
tenant_array(HeapTuple row, TupleDesc desc, int col, int *n)
{
	bool		isnull;
	Datum		d = SPI_getbinval(row, desc, col, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			count;
	int64	   *out;
	int			i;

	*n = 0;
	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(d), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &count);
	out = MemoryContextAlloc(flags_cxt, sizeof(int64) * Max(count, 1));
	for (i = 0; i < count; i++)
		if (!nulls[i])
			out[(*n)++] = DatumGetInt64(elems[i]);
	return out;
}

/* load_flags: read every flag, unless read already in this command */
static void
load_flags(void)
{
	OwnerScope	scope;
	uint64		i;

	if (flags_lxid == COMPAT_MY_LXID && flags_cid == GetCurrentCommandId(false))
		return;
	if (flags_cxt == NULL)
		flags_cxt = AllocSetContextCreate(TopMemoryContext, "easeinv feature flags", ALLOCSET_SMALL_SIZES);
	MemoryContextReset(flags_cxt);
	flags = NULL;
	nflags = 0;
	flags_lxid = InvalidLocalTransactionId;

	owner_begin(&scope);
	if (SPI_execute_plan(PLAN(ST_FLAGS), NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading easeinv.feature_flags failed");
	flags = MemoryContextAllocZero(flags_cxt, sizeof(Flag) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Flag	   *f = &flags[nflags++];

		f->name = MemoryContextStrdup(flags_cxt, TextDatumGetCString(SPI_getbinval(row, desc, 1, &isnull)));
		f->enabled = DatumGetBool(SPI_getbinval(row, desc, 2, &isnull));
		f->rollout = DatumGetInt32(SPI_getbinval(row, desc, 3, &isnull));
		f->allow = tenant_array(row, desc, 4, &f->nallow);
		f->deny = tenant_array(row, desc, 5, &f->ndeny);
	}
	owner_end(&scope);
	flags_lxid = COMPAT_MY_LXID;
	flags_cid = GetCurrentCommandId(false);
}

static bool
listed(const int64 *list, int n, int64 tenant)
{
	int			i;

	for (i = 0; i < n; i++)
		if (list[i] == tenant)
			return true;
	return false;
}

/*
 * feature_enabled(name text, strict boolean) returns boolean: see the file
 * header.  STABLE, PARALLEL RESTRICTED, not strict (NULL name is 22004).
 */
Datum
feature_enabled(PG_FUNCTION_ARGS)
{
	char	   *name = arg_cstring(fcinfo, 0, "name");
	bool		strict = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	int64		tenant = tenant_resolve(TENANT_OPTIONAL);
	Flag	   *f = NULL;
	int			i;

	load_flags();
	for (i = 0; i < nflags; i++)
		if (strcmp(flags[i].name, name) == 0)
		{
			f = &flags[i];
			break;
		}
	if (f == NULL)
	{
		if (strict)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown feature flag \"%s\"", name),
					 errhint("Create it in easeinv.feature_flags, or call feature_enabled without strict to get false.")));
		PG_RETURN_BOOL(false);
	}
	if (!f->enabled)
		PG_RETURN_BOOL(false);
	if (tenant == 0)
		PG_RETURN_BOOL(f->rollout >= 10000);
	if (listed(f->deny, f->ndeny, tenant))
		PG_RETURN_BOOL(false);
	if (listed(f->allow, f->nallow, tenant))
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(bucket(f->name, tenant) < (uint32) f->rollout);
}

/* feature_bucket(name text, tenant bigint) returns integer.  IMMUTABLE, STRICT, PARALLEL SAFE. */
Datum
feature_bucket(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_INT32((int32) bucket(name, PG_GETARG_INT64(1)));
}
