/*-------------------------------------------------------------------------
 * tenant.c
 *	  The tenant context of a transaction.
 *
 * A transaction gets its tenant from one of two places:
 *	  - the GUC easeinv.tenant_id, set transaction-locally by set_tenant(),
 *		SET LOCAL or set_config(..., true);
 *	  - the claim named by easeinv.jwt_claim (default "tenant_id") in the
 *		PostgREST-style GUC request.jwt.claims.
 * When both are present they must agree.  Both must be transaction-scoped
 * (SET LOCAL, set_config(..., true), set_tenant()): a value that outlives its
 * transaction (plain SET, ALTER ROLE ... SET, a connection option) would leak
 * into the next client's transaction behind a transaction pooler, so it is
 * refused.  Missing, blank, malformed,
 * non-positive, out-of-range, unknown and inactive tenants all fail closed
 * with SQLSTATE 42501 (insufficient_privilege) and a hint.
 *
 * The result is cached per transaction, keyed on the exact source strings, so
 * the parse and the lookup in easeinv.tenants happen once per transaction or
 * value change, not once per row.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(current_tenant);
PG_FUNCTION_INFO_V1(set_tenant);

/* JSON parser callbacks return an error code from PostgreSQL 16 on. */
#if PG_VERSION_NUM >= 160000
#define JSON_CB_TYPE	JsonParseErrorType
#define JSON_CB_OK		return JSON_SUCCESS
#else
#define JSON_CB_TYPE	void
#define JSON_CB_OK		return
#endif

#define TENANT_HINT \
	"Call easeinv.set_tenant(<id>) or SET LOCAL easeinv.tenant_id = '<id>' inside the transaction, " \
	"or send a JWT whose claims carry the tenant."

/* Longest source string we cache inline; longer ones are simply not cached. */
#define MAX_CACHED_GUC	32

typedef struct TenantCache
{
	bool		valid;
	LocalTransactionId lxid;	/* transaction the entry belongs to */
	char		guc[MAX_CACHED_GUC];	/* easeinv.tenant_id as seen */
	char	   *claims;			/* request.jwt.claims as seen (TopMemoryContext) */
	char		claim_name[64];	/* easeinv.jwt_claim as seen */
	int64		tenant;			/* resolved tenant, 0 for none */
} TenantCache;

static TenantCache cache;

/* State of the claims parser: we look for one key at the top level only. */
typedef struct ClaimSearch
{
	JsonLexContext *lex;
	const char *claim;			/* key to find */
	bool		in_claim;		/* the current top-level field is the claim */
	bool		found;
	JsonTokenType type;			/* scalar type, or JSON_TOKEN_OBJECT_START etc */
	char	   *value;			/* scalar token text */
} ClaimSearch;

static int64 parse_tenant_text(const char *text, const char *source);
static struct config_generic *lookup_guc(const char *name);
static void require_transaction_scope(const char *name);
static int64 tenant_from_claims(const char *claims);
static void check_tenant_active(int64 tenant);
static bool claims_equal(const char *a, const char *b);
static JSON_CB_TYPE claim_field_start(void *state, char *fname, bool isnull);
static JSON_CB_TYPE claim_scalar(void *state, char *token, JsonTokenType tokentype);
static JSON_CB_TYPE claim_struct_start(void *state);

/* easeinv_tenant_init: reset the cache when the library is loaded. */
void
easeinv_tenant_init(void)
{
	memset(&cache, 0, sizeof(cache));
}

/* claims_equal: NULL-safe string equality. */
static bool
claims_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/*
 * easeinv_resolve_tenant: the tenant of the current transaction.
 *
 * With TENANT_REQUIRED, no context raises 42501; with TENANT_OPTIONAL it
 * returns 0.  A context that is present but bad raises 42501 in both modes:
 * a malformed tenant is never mistaken for "no tenant".
 */
int64
easeinv_resolve_tenant(TenantLookup mode)
{
	const char *guc = easeinv_tenant_guc ? easeinv_tenant_guc : "";
	const char *claims = GetConfigOption(EASEINV_JWT_CLAIMS_GUC, true, false);
	int64		from_guc = 0;
	int64		from_claims = 0;
	int64		tenant;

	if (claims != NULL && claims[0] == '\0')
		claims = NULL;

	if (cache.valid &&
		cache.lxid == EASEINV_MY_LXID &&
		strcmp(cache.guc, guc) == 0 &&
		strcmp(cache.claim_name, easeinv_jwt_claim) == 0 &&
		claims_equal(cache.claims, claims))
	{
		tenant = cache.tenant;
	}
	else
	{
		cache.valid = false;

		if (guc[0] != '\0')
		{
			require_transaction_scope(EASEINV_TENANT_GUC);
			from_guc = parse_tenant_text(guc, EASEINV_TENANT_GUC);
		}
		if (claims != NULL)
			from_claims = tenant_from_claims(claims);

		if (from_guc != 0 && from_claims != 0 && from_guc != from_claims)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("tenant context conflict"),
					 errdetail("easeinv.tenant_id is %lld but the JWT claim \"%s\" is %lld.",
							   (long long) from_guc, easeinv_jwt_claim,
							   (long long) from_claims),
					 errhint("A request authenticated by a JWT may only act for the JWT's tenant.")));

		tenant = from_guc != 0 ? from_guc : from_claims;
		if (tenant != 0)
			check_tenant_active(tenant);

		/* Remember the answer for the rest of the transaction. */
		if (strlen(guc) < MAX_CACHED_GUC)
		{
			if (cache.claims)
			{
				pfree(cache.claims);
				cache.claims = NULL;
			}
			cache.claims = claims ? MemoryContextStrdup(TopMemoryContext, claims) : NULL;
			strlcpy(cache.guc, guc, MAX_CACHED_GUC);
			strlcpy(cache.claim_name, easeinv_jwt_claim, sizeof(cache.claim_name));
			cache.lxid = EASEINV_MY_LXID;
			cache.tenant = tenant;
			cache.valid = true;
		}
	}

	if (tenant == 0 && mode == TENANT_REQUIRED)
	{
		if (claims != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("no tenant context"),
					 errdetail("request.jwt.claims has no \"%s\" claim and easeinv.tenant_id is not set.",
							   easeinv_jwt_claim),
					 errhint(TENANT_HINT)));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("no tenant context"),
				 errdetail("Tenant data can only be read or written inside a tenant context."),
				 errhint(TENANT_HINT)));
	}
	return tenant;
}

/* lookup_guc: the GUC's record, or NULL when it does not exist. */
static struct config_generic *
lookup_guc(const char *name)
{
#if PG_VERSION_NUM >= 160000
	return find_option(name, false, true, ERROR);
#else
	struct config_generic **vars = get_guc_variables();
	int			n = GetNumConfigOptions();
	int			i;

	for (i = 0; i < n; i++)
		if (pg_strcasecmp(vars[i]->name, name) == 0)
			return vars[i];
	return NULL;
#endif
}

/*
 * require_transaction_scope: the non-blank value of GUC `name` must have been
 * set in the current transaction, with SET LOCAL, set_config(..., true), or a
 * function's SET clause.  A value with no entry on the GUC's stack comes from
 * before this transaction (SET, ALTER ROLE/DATABASE ... SET, PGOPTIONS,
 * postgresql.conf), and a plain SET inside the transaction (state GUC_SET)
 * survives its end: both would carry one client's tenant into another
 * client's transaction behind pgbouncer, so both are refused.
 *
 * Parallel workers get their GUC values copied without the stack; the leader
 * has already applied this check, so workers skip it.
 */
static void
require_transaction_scope(const char *name)
{
	struct config_generic *gconf;
	GucStack   *stack;
	bool		scoped;

	if (IsParallelWorker())
		return;
	gconf = lookup_guc(name);
	if (gconf == NULL)
		return;

	scoped = (gconf->stack != NULL);
	for (stack = gconf->stack; stack != NULL; stack = stack->prev)
		if (stack->state == GUC_SET || stack->state == GUC_SET_LOCAL)
			scoped = false;
	if (!scoped)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("tenant context must be set for the transaction, not the session"),
				 errdetail("%s was set with SET (not SET LOCAL), ALTER ROLE ... SET, or a connection option; "
						   "behind a transaction pooler it would leak into other clients' transactions.",
						   name),
				 errhint("Use easeinv.set_tenant(<id>) or SET LOCAL inside the transaction, and RESET %s.",
						 name)));
}

/*
 * parse_tenant_text: a tenant id written as decimal digits, positive and
 * within bigint (leading zeros allowed).  Anything else is 42501.
 */
static int64
parse_tenant_text(const char *text, const char *source)
{
	const char *p = text;
	uint64		v = 0;

	if (*p == '\0')
		goto bad;
	for (; *p; p++)
	{
		uint64		digit;

		if (*p < '0' || *p > '9')
			goto bad;
		digit = (uint64) (*p - '0');
		/* check before multiplying: a wrapped value could name a real tenant */
		if (v > ((uint64) PG_INT64_MAX - digit) / 10)
			goto bad;
		v = v * 10 + digit;
	}
	if (v == 0)
		goto bad;
	return (int64) v;

bad:
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("invalid tenant context \"%s\"", text),
			 errdetail("%s must be a tenant id: a positive whole number within bigint.", source),
			 errhint(TENANT_HINT)));
	return 0;					/* keep compiler quiet */
}

/* claim_field_start: note whether a top-level key is the tenant claim. */
static JSON_CB_TYPE
claim_field_start(void *state, char *fname, bool isnull)
{
	ClaimSearch *cs = (ClaimSearch *) state;

	/* lex_level is 1 while reading the keys of the top-level object */
	cs->in_claim = (cs->lex->lex_level == 1 && strcmp(fname, cs->claim) == 0);
	if (cs->in_claim)
	{
		cs->found = true;
		cs->type = JSON_TOKEN_NULL;
		cs->value = NULL;
	}
	JSON_CB_OK;
}

/* claim_struct_start: the claim's value is an object or array, not a tenant. */
static JSON_CB_TYPE
claim_struct_start(void *state)
{
	ClaimSearch *cs = (ClaimSearch *) state;

	if (cs->in_claim && cs->lex->lex_level == 1)
	{
		cs->type = JSON_TOKEN_OBJECT_START;
		cs->in_claim = false;
	}
	JSON_CB_OK;
}

/* claim_scalar: capture the claim's scalar value. */
static JSON_CB_TYPE
claim_scalar(void *state, char *token, JsonTokenType tokentype)
{
	ClaimSearch *cs = (ClaimSearch *) state;

	if (cs->in_claim && cs->lex->lex_level == 1)
	{
		cs->type = tokentype;
		cs->value = token;
		cs->in_claim = false;
	}
	JSON_CB_OK;
}

/*
 * tenant_from_claims: the tenant claim of a request.jwt.claims document, or 0
 * when the claim is absent or JSON null.  Malformed JSON and claims that are
 * not a whole number (or a string of one) are refused.
 */
static int64
tenant_from_claims(const char *claims)
{
	ClaimSearch cs;
	JsonSemAction sem;
	JsonLexContext *lex;
	JsonParseErrorType rc;
	char	   *copy = pstrdup(claims);

	require_transaction_scope(EASEINV_JWT_CLAIMS_GUC);
	memset(&cs, 0, sizeof(cs));
	memset(&sem, 0, sizeof(sem));
#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, copy, strlen(copy), GetDatabaseEncoding(), true);
#else
	lex = makeJsonLexContextCstringLen(copy, strlen(copy), GetDatabaseEncoding(), true);
#endif
	cs.lex = lex;
	cs.claim = easeinv_jwt_claim ? easeinv_jwt_claim : "tenant_id";
	sem.semstate = &cs;
	sem.object_field_start = claim_field_start;
	sem.object_start = claim_struct_start;
	sem.array_start = claim_struct_start;
	sem.scalar = claim_scalar;

	rc = pg_parse_json(lex, &sem);
	if (rc != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("invalid request.jwt.claims"),
				 errdetail("The claims are not valid JSON: %s", json_errdetail(rc, lex)),
				 errhint("request.jwt.claims must be the JSON claims of a verified JWT.")));
	if (lex->token_type != JSON_TOKEN_END)
		elog(ERROR, "JSON parse of request.jwt.claims stopped early");

	if (!cs.found || cs.type == JSON_TOKEN_NULL)
		return 0;

	if ((cs.type == JSON_TOKEN_NUMBER || cs.type == JSON_TOKEN_STRING) && cs.value != NULL)
	{
		char		label[128];

		snprintf(label, sizeof(label), "The JWT claim \"%s\"", cs.claim);
		return parse_tenant_text(cs.value, label);
	}

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("invalid tenant claim in request.jwt.claims"),
			 errdetail("The JWT claim \"%s\" must be a tenant id, a positive whole number.", cs.claim),
			 errhint(TENANT_HINT)));
	return 0;					/* keep compiler quiet */
}

/*
 * check_tenant_active: the tenant must exist in easeinv.tenants with status
 * 'active'.  The row is read directly through the primary key index, below
 * row level security: this is how the policy on easeinv.tenants itself can
 * call current_tenant() without recursing.  It reveals, to anyone who may
 * call set_tenant() or current_tenant() (PUBLIC: the policies need it),
 * whether a tenant id exists and whether it is active; nothing else.
 */
static void
check_tenant_active(int64 tenant)
{
	Oid			nsp = get_namespace_oid(EASEINV_SCHEMA, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("tenants", nsp) : InvalidOid;
	Relation	rel;
	Oid			pkey;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *status = NULL;
	Snapshot	snapshot;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"easeinv\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION easeinv.")));

	rel = table_open(relid, AccessShareLock);
#if PG_VERSION_NUM >= 180000
	pkey = RelationGetPrimaryKeyIndex(rel, false);
#else
	pkey = RelationGetPrimaryKeyIndex(rel);
#endif
	if (!OidIsValid(pkey))
		elog(ERROR, "easeinv.tenants has no primary key");

	snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(tenant));
	scan = systable_beginscan(rel, pkey, true, snapshot, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		int			attno = SPI_fnumber(RelationGetDescr(rel), "status");
		bool		isnull;
		Datum		d;

		if (attno <= 0)
			elog(ERROR, "easeinv.tenants has no status column");
		d = heap_getattr(tuple, attno, RelationGetDescr(rel), &isnull);
		status = isnull ? pstrdup("") : TextDatumGetCString(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (status == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("tenant %lld does not exist", (long long) tenant),
				 errhint("Use the id of a tenant in easeinv.tenants; an administrator creates tenants with easeinv.create_tenant().")));
	if (strcmp(status, "active") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("tenant %lld is %s", (long long) tenant, status),
				 errdetail("Only active tenants can read or write data."),
				 errhint("An administrator can reactivate it with easeinv.set_tenant_status().")));
	pfree(status);
}

/* easeinv_role_bypasses_rls: true for superusers and BYPASSRLS roles. */
bool
easeinv_role_bypasses_rls(void)
{
	Oid			role = GetUserId();

	return superuser_arg(role) || has_bypassrls_privilege(role);
}

/*
 * current_tenant() returns bigint: the tenant of this transaction, or 42501.
 * STABLE, PARALLEL SAFE; the policies wrap it in a scalar subquery so it runs
 * once per statement as an initPlan.
 */
Datum
current_tenant(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(easeinv_resolve_tenant(TENANT_REQUIRED));
}

/*
 * set_tenant(tenant bigint) returns bigint: validate the tenant and make it the
 * context of the current transaction (like SET LOCAL).  Refuses a tenant that
 * disagrees with the JWT claim.
 */
Datum
set_tenant(PG_FUNCTION_ARGS)
{
	int64		tenant;
	int64		from_claims = 0;
	const char *claims;
	char		buf[32];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tenant id must not be null"),
				 errhint("Pass the id of an active tenant.")));
	tenant = PG_GETARG_INT64(0);
	if (tenant <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("invalid tenant id %lld", (long long) tenant),
				 errdetail("Tenant ids are positive."),
				 errhint("Pass the id of an active tenant.")));

	claims = GetConfigOption(EASEINV_JWT_CLAIMS_GUC, true, false);
	if (claims != NULL && claims[0] != '\0')
		from_claims = tenant_from_claims(claims);
	if (from_claims != 0 && from_claims != tenant)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("tenant context conflict"),
				 errdetail("set_tenant(%lld) was called but the JWT claim \"%s\" is %lld.",
						   (long long) tenant, easeinv_jwt_claim, (long long) from_claims),
				 errhint("A request authenticated by a JWT may only act for the JWT's tenant.")));

	check_tenant_active(tenant);

	if (!IsTransactionBlock())
		ereport(WARNING,
				(errcode(ERRCODE_NO_ACTIVE_SQL_TRANSACTION),
				 errmsg("easeinv.set_tenant() outside a transaction block lasts only for this statement"),
				 errhint("Call it after BEGIN; the context ends with the transaction.")));

	snprintf(buf, sizeof(buf), INT64_FORMAT, tenant);
	(void) set_config_option(EASEINV_TENANT_GUC, buf, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	PG_RETURN_INT64(tenant);
}
