/*-------------------------------------------------------------------------
 * tenant.c
 *	  The tenant context of a transaction.
 *
 * A transaction gets its tenant from one of two places:
 *	  - the GUC easeinv.tenant_id, set transaction-locally by set_tenant(),
 *		SET LOCAL or set_config(..., true);
 *	  - the claim named by easeinv.jwt_claim (default "tenant_id") in the
 *		PostgREST-style GUC request.jwt.claims.
 * When both are present they must agree.  Only a transaction-scoped value
 * counts (SET LOCAL, set_config(..., true), set_tenant(), a function's SET
 * clause).  A value that outlives its transaction (plain SET, ALTER ROLE ...
 * SET, a connection option) is what one client leaves behind on a server
 * connection of a transaction pooler for the next client: it never becomes a
 * context, and it never denies another source either.  It is ignored; when no
 * transaction-scoped source is left, the usual 42501 "no tenant context"
 * says in its detail that a session-level value was present and ignored.
 * Missing, blank, malformed, non-positive, out-of-range, unknown and inactive
 * tenants all fail closed with SQLSTATE 42501 (insufficient_privilege) and a
 * hint.  A claims document naming the tenant claim twice is refused (JSON
 * parsers disagree on which one wins).
 *
 * Parallel workers get the leader's GUC values but not their history (the
 * GUC stack that says SET LOCAL from SET).  So the leader decides: before a
 * parallel plan runs (ExecutorRun_hook: ExecutorStart may be what loads this
 * library, when the plan's first call of current_tenant() is initialized), it
 * writes which of its sources are transaction-scoped into the internal GUC
 * easeinv.parallel_scope, which PostgreSQL copies to the workers with the
 * other GUCs; users cannot set it (its check hook refuses every value not
 * written by this file).  A worker trusts that decision for a source only
 * when its value is exactly the one the decision was made for; without one
 * it treats the source as session-level (fail closed).  The one change a
 * worker can make itself is a function's SET clause run in the worker (SET
 * and SET LOCAL are refused during a parallel operation): that counts, as in
 * the leader.
 *
 * The result is cached per transaction, keyed on the exact source strings and
 * their scopes, so the parse and the lookup in easeinv.tenants happen once per
 * transaction or change, not once per row.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "executor/executor.h"
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
PG_FUNCTION_INFO_V1(current_tenant_if_any);

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
	int			guc_scope;		/* SourceScope of easeinv.tenant_id as seen */
	int			claims_scope;	/* SourceScope of request.jwt.claims as seen */
	int64		tenant;			/* resolved tenant, 0 for none */
	bool		guc_ignored;	/* a session-level easeinv.tenant_id was ignored */
	bool		claims_ignored; /* a session-level request.jwt.claims was ignored */
} TenantCache;

static TenantCache cache;

/* Where a tenant source's value comes from. */
typedef enum SourceScope
{
	SCOPE_ABSENT,				/* blank or unset */
	SCOPE_TRANSACTION,			/* set for this transaction: it counts */
	SCOPE_SESSION				/* outlives the transaction: ignored */
} SourceScope;

/* easeinv.parallel_scope is "gc:<hash of easeinv.tenant_id>:<hash of request.jwt.claims>" */
#define SCOPE_DECISION_LEN	20

/* easeinv.parallel_scope: the leader's decision for its workers (see the header) */
static char *parallel_scope_guc = NULL;
static bool parallel_scope_writing = false;
static ExecutorRun_hook_type prev_executor_run = NULL;

/* State of the claims parser: we look for one key at the top level only. */
typedef struct ClaimSearch
{
	JsonLexContext *lex;
	const char *claim;			/* key to find */
	bool		in_claim;		/* the current top-level field is the claim */
	bool		found;
	bool		repeated;		/* the claim appears more than once */
	JsonTokenType type;			/* scalar type, or JSON_TOKEN_OBJECT_START etc */
	char	   *value;			/* scalar token text */
} ClaimSearch;

static int64 parse_tenant_text(const char *text, const char *source);
static SourceScope source_scope(const char *name, const char *value, const char *claims);
static SourceScope leader_scope(const char *name);
static char *scope_decision(const char *guc, const char *claims);
static bool check_parallel_scope(char **newval, void **extra, GucSource source);
static void tenant_executor_run(COMPAT_EXECUTOR_RUN_PARAMS);
static int64 tenant_from_claims(const char *claims);
static void no_context_error(const char *claims, bool guc_ignored, bool claims_ignored) pg_attribute_noreturn();
static void check_tenant_active(int64 tenant);
static bool claims_equal(const char *a, const char *b);
static COMPAT_JSON_CB_TYPE claim_field_start(void *state, char *fname, bool isnull);
static COMPAT_JSON_CB_TYPE claim_scalar(void *state, char *token, JsonTokenType tokentype);
static COMPAT_JSON_CB_TYPE claim_struct_start(void *state);

/*
 * tenant_init: reset the cache when the library is loaded, define the
 * internal GUC that carries the leader's decision to parallel workers, and
 * install the hook that writes it.
 */
void
tenant_init(void)
{
	memset(&cache, 0, sizeof(cache));

	DefineCustomStringVariable("easeinv.parallel_scope",
							   "Internal: which tenant sources the leader of a parallel query found transaction-scoped.",
							   "Written by easeinv only; any other value is refused.",
							   &parallel_scope_guc,
							   "",
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE | GUC_NO_RESET_ALL,
							   check_parallel_scope, NULL, NULL);

	prev_executor_run = ExecutorRun_hook;
	ExecutorRun_hook = tenant_executor_run;
}

/*
 * check_parallel_scope: only this file writes easeinv.parallel_scope (and
 * PostgreSQL, copying the leader's value into a parallel worker).  The empty
 * default is always fine: it means "no decision", which fails closed.
 */
static bool
check_parallel_scope(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' || parallel_scope_writing || InitializingParallelWorker)
		return true;
	GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
	GUC_check_errmsg("easeinv.parallel_scope is internal to easeinv");
	GUC_check_errdetail("It carries the tenant decision of a parallel query's leader to its workers.");
	GUC_check_errhint("Set the tenant with easeinv.set_tenant() or SET LOCAL easeinv.tenant_id.");
	return false;
}

/*
 * scope_decision: the leader's decision as written into easeinv.parallel_scope:
 * one letter per source (t transaction, s session, - absent) and hashes of
 * the values it was made for, so that a worker applies it only to them.
 */
static char *
scope_decision(const char *guc, const char *claims)
{
	char		g = "-ts"[leader_scope(EASEINV_TENANT_GUC)];
	char		c = "-ts"[leader_scope(EASEINV_JWT_CLAIMS_GUC)];

	if (guc[0] == '\0')
		g = '-';
	if (claims == NULL)
		c = '-';
	return psprintf("%c%c:%08x:%08x", g, c,
					hash_bytes((const unsigned char *) guc, strlen(guc)),
					claims ? hash_bytes((const unsigned char *) claims, strlen(claims)) : 0);
}

/*
 * tenant_executor_run: before a plan that may start parallel workers runs,
 * write the leader's decision for them.  Not in ExecutorStart: initializing
 * the plan is what loads this library when the plan holds the session's first
 * call of one of its functions, so a hook there would miss that plan.  Not
 * inside a parallel operation (GUCs are frozen there, and the decision written
 * before it still holds).
 */
static void
tenant_executor_run(COMPAT_EXECUTOR_RUN_PARAMS)
{
	if (queryDesc->plannedstmt != NULL && queryDesc->plannedstmt->parallelModeNeeded &&
		!IsInParallelMode() && !IsParallelWorker() && IsTransactionState())
	{
		const char *guc = easeinv_tenant_guc ? easeinv_tenant_guc : "";
		const char *claims = GetConfigOption(EASEINV_JWT_CLAIMS_GUC, true, false);
		char	   *volatile decision;

		if (claims != NULL && claims[0] == '\0')
			claims = NULL;
		decision = scope_decision(guc, claims);
		if (parallel_scope_guc == NULL || strcmp(parallel_scope_guc, decision) != 0)
		{
			parallel_scope_writing = true;
			PG_TRY();
			{
				(void) set_config_option("easeinv.parallel_scope", decision, PGC_USERSET, PGC_S_SESSION,
										 GUC_ACTION_LOCAL, true, 0, false);
			}
			PG_FINALLY();
			{
				parallel_scope_writing = false;
			}
			PG_END_TRY();
		}
		pfree(decision);
	}
	if (prev_executor_run)
		prev_executor_run(COMPAT_EXECUTOR_RUN_ARGS);
	else
		standard_ExecutorRun(COMPAT_EXECUTOR_RUN_ARGS);
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
 * tenant_resolve: the tenant of the current transaction.
 *
 * With TENANT_REQUIRED, no context raises 42501; with TENANT_OPTIONAL it
 * returns 0.  A context that is present but bad raises 42501 in both modes:
 * a malformed tenant is never mistaken for "no tenant".  Session-level values
 * are ignored (see the file header).
 */
int64
tenant_resolve(TenantLookup mode)
{
	const char *guc = easeinv_tenant_guc ? easeinv_tenant_guc : "";
	const char *claims = GetConfigOption(EASEINV_JWT_CLAIMS_GUC, true, false);
	int64		from_guc = 0;
	int64		from_claims = 0;
	int64		tenant;
	bool		guc_ignored = false;
	bool		claims_ignored = false;
	SourceScope guc_scope;
	SourceScope claims_scope;

	if (claims != NULL && claims[0] == '\0')
		claims = NULL;

	/*
	 * The scopes are part of the key: the same string can turn session-level
	 * within a transaction (a plain SET of the value, ROLLBACK TO SAVEPOINT
	 * back to a session value equal to the rolled-back one).
	 */
	guc_scope = guc[0] != '\0' ? source_scope(EASEINV_TENANT_GUC, guc, claims) : SCOPE_ABSENT;
	claims_scope = claims != NULL ? source_scope(EASEINV_JWT_CLAIMS_GUC, guc, claims) : SCOPE_ABSENT;

	if (cache.valid &&
		cache.lxid == COMPAT_MY_LXID &&
		cache.guc_scope == (int) guc_scope &&
		cache.claims_scope == (int) claims_scope &&
		strcmp(cache.guc, guc) == 0 &&
		strcmp(cache.claim_name, easeinv_jwt_claim) == 0 &&
		claims_equal(cache.claims, claims))
	{
		tenant = cache.tenant;
		guc_ignored = cache.guc_ignored;
		claims_ignored = cache.claims_ignored;
	}
	else
	{
		cache.valid = false;

		if (guc_scope == SCOPE_TRANSACTION)
			from_guc = parse_tenant_text(guc, EASEINV_TENANT_GUC);
		else if (guc_scope == SCOPE_SESSION)
			guc_ignored = true;
		if (claims_scope == SCOPE_TRANSACTION)
			from_claims = tenant_from_claims(claims);
		else if (claims_scope == SCOPE_SESSION)
			claims_ignored = true;

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
			cache.lxid = COMPAT_MY_LXID;
			cache.guc_scope = (int) guc_scope;
			cache.claims_scope = (int) claims_scope;
			cache.tenant = tenant;
			cache.guc_ignored = guc_ignored;
			cache.claims_ignored = claims_ignored;
			cache.valid = true;
		}
	}

	if (tenant == 0 && mode == TENANT_REQUIRED)
		no_context_error(claims, guc_ignored, claims_ignored);
	return tenant;
}

/*
 * no_context_error: 42501 for a transaction with no tenant context, saying
 * which session-level values were present and ignored.
 */
static void
no_context_error(const char *claims, bool guc_ignored, bool claims_ignored)
{
	if (guc_ignored || claims_ignored)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("no tenant context"),
				 guc_ignored && claims_ignored ?
				 errdetail("Session-level values of " EASEINV_TENANT_GUC " and " EASEINV_JWT_CLAIMS_GUC
						   " were present and ignored: only a value set for the transaction is a tenant "
						   "context (behind a transaction pooler a session-level value belongs to an "
						   "earlier client).") :
				 errdetail("A session-level value of %s was present and ignored: only a value set for the "
						   "transaction is a tenant context (behind a transaction pooler a session-level "
						   "value belongs to an earlier client).",
						   guc_ignored ? EASEINV_TENANT_GUC : EASEINV_JWT_CLAIMS_GUC),
				 errhint("Call easeinv.set_tenant(<id>) or SET LOCAL easeinv.tenant_id = '<id>' inside the "
						 "transaction, and RESET the session-level value.")));
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


/*
 * leader_scope: where the non-blank value of GUC `name` comes from, read from
 * the GUC's stack in the current transaction.  The top entry is the latest
 * change: SET LOCAL or set_config(..., true) (GUC_LOCAL), SET LOCAL over an
 * earlier SET (GUC_SET_LOCAL) and a function's SET clause (GUC_SAVE) end with
 * the transaction; a plain SET inside it (GUC_SET) survives it, and a value
 * with no entry at all comes from before the transaction (SET, ALTER ROLE/
 * DATABASE ... SET, PGOPTIONS, postgresql.conf).
 */
static SourceScope
leader_scope(const char *name)
{
	struct config_generic *gconf = compat_find_guc(name);

	if (gconf == NULL || gconf->stack == NULL)
		return SCOPE_SESSION;
	switch (gconf->stack->state)
	{
		case GUC_SAVE:
		case GUC_LOCAL:
		case GUC_SET_LOCAL:
			return SCOPE_TRANSACTION;
		case GUC_SET:
			break;
	}
	return SCOPE_SESSION;
}

/*
 * source_scope: whether the non-blank value of a tenant source counts.  In a
 * parallel worker: a function's SET clause run in the worker counts (it is
 * the only entry a worker's GUC stack can hold: SET and SET LOCAL are refused
 * during a parallel operation, and the leader's values arrive without their
 * stack); otherwise the leader's decision in easeinv.parallel_scope for this
 * source, when it was made for exactly the value this worker sees; otherwise
 * session-level.
 */
static SourceScope
source_scope(const char *name, const char *guc, const char *claims)
{
	bool		is_guc = strcmp(name, EASEINV_TENANT_GUC) == 0;
	const char *value = is_guc ? guc : claims;
	char		hash[9];

	if (!IsParallelWorker())
		return leader_scope(name);
	if (leader_scope(name) == SCOPE_TRANSACTION)
		return SCOPE_TRANSACTION;

	if (parallel_scope_guc == NULL || strlen(parallel_scope_guc) != SCOPE_DECISION_LEN || value == NULL)
		return SCOPE_SESSION;
	/* the hash must match: the decision was made for this value */
	snprintf(hash, sizeof(hash), "%08x", hash_bytes((const unsigned char *) value, strlen(value)));
	if (strncmp(parallel_scope_guc + (is_guc ? 3 : 12), hash, 8) != 0)
		return SCOPE_SESSION;
	return parallel_scope_guc[is_guc ? 0 : 1] == 't' ? SCOPE_TRANSACTION : SCOPE_SESSION;
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
static COMPAT_JSON_CB_TYPE
claim_field_start(void *state, char *fname, bool isnull)
{
	ClaimSearch *cs = (ClaimSearch *) state;

	/* lex_level is 1 while reading the keys of the top-level object */
	cs->in_claim = (cs->lex->lex_level == 1 && strcmp(fname, cs->claim) == 0);
	if (cs->in_claim)
	{
		if (cs->found)
			cs->repeated = true;
		cs->found = true;
		cs->type = JSON_TOKEN_NULL;
		cs->value = NULL;
	}
	COMPAT_JSON_CB_OK;
}

/* claim_struct_start: the claim's value is an object or array, not a tenant. */
static COMPAT_JSON_CB_TYPE
claim_struct_start(void *state)
{
	ClaimSearch *cs = (ClaimSearch *) state;

	if (cs->in_claim && cs->lex->lex_level == 1)
	{
		cs->type = JSON_TOKEN_OBJECT_START;
		cs->in_claim = false;
	}
	COMPAT_JSON_CB_OK;
}

/* claim_scalar: capture the claim's scalar value. */
static COMPAT_JSON_CB_TYPE
claim_scalar(void *state, char *token, JsonTokenType tokentype)
{
	ClaimSearch *cs = (ClaimSearch *) state;

	if (cs->in_claim && cs->lex->lex_level == 1)
	{
		cs->type = tokentype;
		cs->value = token;
		cs->in_claim = false;
	}
	COMPAT_JSON_CB_OK;
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

	memset(&cs, 0, sizeof(cs));
	memset(&sem, 0, sizeof(sem));
	lex = compat_json_lexer(copy, strlen(copy), true);
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

	/* {"tenant_id": 1, "tenant_id": 2}: parsers disagree on which one wins, so refuse */
	if (cs.repeated)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("invalid tenant claim in request.jwt.claims"),
				 errdetail("The JWT claim \"%s\" appears more than once.", cs.claim),
				 errhint("Issue tokens whose claims name the tenant once.")));

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
	pkey = compat_primary_key_index(rel);
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

/* tenant_role_bypasses_rls: true for superusers and BYPASSRLS roles. */
bool
tenant_role_bypasses_rls(void)
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
	PG_RETURN_INT64(tenant_resolve(TENANT_REQUIRED));
}

/*
 * current_tenant_if_any() returns bigint: the tenant of this transaction, or
 * NULL when there is no context (a context that is present but bad is still
 * 42501).  For views that show nothing, rather than an error, without a
 * context.  STABLE, PARALLEL SAFE.
 */
Datum
current_tenant_if_any(PG_FUNCTION_ARGS)
{
	int64		tenant = tenant_resolve(TENANT_OPTIONAL);

	if (tenant == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(tenant);
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
	if (claims != NULL && claims[0] != '\0' &&
		source_scope(EASEINV_JWT_CLAIMS_GUC, easeinv_tenant_guc ? easeinv_tenant_guc : "", claims) == SCOPE_TRANSACTION)
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
