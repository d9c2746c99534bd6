/*-------------------------------------------------------------------------
 * ledger.c
 *	  The stock ledger: move_stock(), reverse_movement() and the append-only
 *	  trigger on easeinv.stock_movements.
 *
 * A movement moves a positive quantity of one product from one location to
 * another.  Posting one, in a single call and so a single transaction:
 *	  1. the arguments are checked (nothing is read or written before that);
 *	  2. the movement is inserted with ON CONFLICT DO NOTHING (no target): if
 *		 its idempotency key is taken, the call is a replay, decided before any
 *		 other check: the same payload returns the stored movement (replayed =
 *		 true) whatever has happened to the stock since; another payload is
 *		 refused (23505) and the detail names the fields that differ.  Of two
 *		 sessions racing with one key, the second waits for the first and then
 *		 replays it.  (For a reversal, the other unique index refuses a second
 *		 reversal of the same movement.)
 *	  3. product and locations are checked in one statement (they must belong
 *		 to the tenant, exist and not be deleted; the product must track stock);
 *	  4. both stock_levels rows are upserted in one statement, lower location
 *		 id first so that sessions moving in opposite directions cannot
 *		 deadlock; an internal location whose available stock would go below
 *		 zero refuses the movement (23514) unless the tenant allows negative
 *		 stock.
 * Any refusal raises an error, which undoes everything the call wrote: a
 * refused movement stores nothing and its key stays free.
 *
 * The reads and writes run as the owner of the ledger (as PostgreSQL's own
 * foreign-key checks run as the table owner), so the application role needs
 * no write privilege on the ledger or the levels; every statement names the
 * tenant of the context explicitly.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "ledger.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "parser/parse_func.h"
#include "nodes/value.h"
#include "nodes/pg_list.h"
#include "utils/snapmgr.h"
#include "storage/lock.h"

PG_FUNCTION_INFO_V1(move_stock);
PG_FUNCTION_INFO_V1(reverse_movement);
PG_FUNCTION_INFO_V1(ledger_guard);
PG_FUNCTION_INFO_V1(level_add);
PG_FUNCTION_INFO_V1(location_history_exists);
PG_FUNCTION_INFO_V1(product_history_exists);

/* Columns of easeinv.movement, in order; the ledger queries return the same list. */
enum
{
	M_ID, M_KEY, M_PRODUCT, M_FROM, M_TO, M_QTY, M_REASON, M_REFTYPE, M_REFID,
	M_UNIT_COST, M_REVERSES, M_OCCURRED, M_CREATED, M_CREATED_BY, M_REPLAYED,
	M_NCOLS
};

#define MOVEMENT_COLUMNS \
	"id, idempotency_key, product_id, from_location_id, to_location_id, qty, reason, " \
	"reference_type, reference_id, unit_cost, reverses_id, occurred_at, created_at, created_by"

/* Saved SPI plans, prepared on first use and kept for the backend's life. */
typedef enum LedgerPlan
{
	PLAN_BY_KEY,
	PLAN_BY_ID,
	PLAN_REVERSAL_OF,
	PLAN_PRODUCT,
	PLAN_LOCATION,
	PLAN_INSERT,
	PLAN_LEVELS,
	PLAN_REFS,
	PLAN_NEGATIVE_OK,
	PLAN_COUNT
} LedgerPlan;

static SPIPlanPtr plans[PLAN_COUNT];

static SPIPlanPtr ledger_plan(LedgerPlan which);
static Oid	ledger_owner_lookup(void);
static HeapTuple find_movement(LedgerPlan plan, int64 tenant, Datum arg, TupleDesc *desc);
static void check_replay(HeapTuple stored, TupleDesc desc, MoveRequest *req);
static void report_reversed(int64 tenant, int64 original);
static void check_refs(int64 tenant, MoveRequest *req, bool *from_internal);
static void apply_levels(int64 tenant, MoveRequest *req, bool from_internal);
static void read_refs(LedgerPlan which, Datum *values, const char *what);
static bool equal_rows(HeapTuple a, HeapTuple b, TupleDesc desc);

/*
 * ledger_plan: the saved plan for one of the ledger's statements.  Every
 * statement schema-qualifies what it names and takes the tenant as $1.
 */
static SPIPlanPtr
ledger_plan(LedgerPlan which)
{
	static const char *const sql[PLAN_COUNT] = {
		[PLAN_BY_KEY] = "SELECT " MOVEMENT_COLUMNS " FROM easeinv.stock_movements"
		" WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND idempotency_key OPERATOR(pg_catalog.=) $2",
		[PLAN_BY_ID] = "SELECT " MOVEMENT_COLUMNS " FROM easeinv.stock_movements"
		" WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $2",
		[PLAN_REVERSAL_OF] = "SELECT " MOVEMENT_COLUMNS " FROM easeinv.stock_movements"
		" WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND reverses_id OPERATOR(pg_catalog.=) $2",
		[PLAN_PRODUCT] = "SELECT track_stock, deleted_at IS NOT NULL FROM easeinv.products"
		" WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $2",
		[PLAN_LOCATION] = "SELECT kind OPERATOR(pg_catalog.=) ANY ('{warehouse,store,bin}'::pg_catalog.text[]), deleted_at IS NOT NULL"
		" FROM easeinv.locations"
		" WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $2",
		[PLAN_INSERT] = "INSERT INTO easeinv.stock_movements (tenant_id, idempotency_key, product_id,"
		" from_location_id, to_location_id, qty, reason, reference_type, reference_id, unit_cost,"
		" reverses_id, occurred_at, created_by)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
		/* no conflict target: the key, and also the one-reversal-per-movement index */
		" ON CONFLICT DO NOTHING"
		" RETURNING " MOVEMENT_COLUMNS,
		/* both level rows in one statement, in the order given: lower location id first */
		[PLAN_LEVELS] = "INSERT INTO easeinv.stock_levels AS l (tenant_id, product_id, location_id, on_hand)"
		" VALUES ($1, $2, $3, $4), ($1, $2, $5, $6)"
		" ON CONFLICT (tenant_id, product_id, location_id) DO UPDATE"
		" SET on_hand = easeinv.level_add(l.on_hand, excluded.on_hand, l.reserved, l.product_id, l.location_id),"
		" updated_at = pg_catalog.now()"
		" RETURNING l.location_id, l.on_hand OPERATOR(pg_catalog.-) l.reserved",
		/* product and both locations in one statement; NULLs where a row is missing */
		[PLAN_REFS] = "SELECT p.track_stock, p.deleted_at IS NOT NULL,"
		" f.kind OPERATOR(pg_catalog.=) ANY ('{warehouse,store,bin}'::pg_catalog.text[]), f.deleted_at IS NOT NULL,"
		" t.kind OPERATOR(pg_catalog.=) ANY ('{warehouse,store,bin}'::pg_catalog.text[]), t.deleted_at IS NOT NULL"
		" FROM (VALUES (1)) AS one (x)"
		" LEFT JOIN easeinv.products p ON p.tenant_id OPERATOR(pg_catalog.=) $1 AND p.id OPERATOR(pg_catalog.=) $2"
		" LEFT JOIN easeinv.locations f ON f.tenant_id OPERATOR(pg_catalog.=) $1 AND f.id OPERATOR(pg_catalog.=) $3"
		" LEFT JOIN easeinv.locations t ON t.tenant_id OPERATOR(pg_catalog.=) $1 AND t.id OPERATOR(pg_catalog.=) $4",
		[PLAN_NEGATIVE_OK] = "SELECT COALESCE((settings OPERATOR(pg_catalog.->>) 'allow_negative_stock')::boolean, false)"
		" FROM easeinv.tenants WHERE id OPERATOR(pg_catalog.=) $1",
	};
	static const int nargs[PLAN_COUNT] = {
		[PLAN_BY_KEY] = 2,[PLAN_BY_ID] = 2,[PLAN_REVERSAL_OF] = 2,[PLAN_PRODUCT] = 2,
		[PLAN_LOCATION] = 2,[PLAN_INSERT] = 13,[PLAN_LEVELS] = 6,[PLAN_REFS] = 4,[PLAN_NEGATIVE_OK] = 1,
	};
	static Oid	types_by_key[] = {INT8OID, TEXTOID};
	static Oid	types_by_id[] = {INT8OID, INT8OID};
	static Oid	types_insert[] = {INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID, NUMERICOID, TEXTOID,
	TEXTOID, TEXTOID, NUMERICOID, INT8OID, TIMESTAMPTZOID, TEXTOID};
	static Oid	types_levels[] = {INT8OID, INT8OID, INT8OID, NUMERICOID, INT8OID, NUMERICOID};
	static Oid	types_refs[] = {INT8OID, INT8OID, INT8OID, INT8OID};
	Oid		   *types;

	if (plans[which] != NULL)
		return plans[which];

	switch (which)
	{
		case PLAN_BY_KEY:
			types = types_by_key;
			break;
		case PLAN_INSERT:
			types = types_insert;
			break;
		case PLAN_LEVELS:
			types = types_levels;
			break;
		case PLAN_REFS:
			types = types_refs;
			break;
		default:
			types = types_by_id;	/* (bigint, bigint) or (bigint) */
			break;
	}
	plans[which] = prepare_kept(sql[which], nargs[which], types);
	return plans[which];
}

/*
 * Version skew.  Between installing a new library and ALTER EXTENSION easeinv
 * UPDATE, the library runs against the previous version's SQL objects.  The
 * statements of this library that call a function of the 0.5.0 script
 * (level_add) are rewritten, while it is missing, to what 0.4.0 did; the
 * imports' text check (import_text) is left out likewise (imports.c).  So an
 * upgrade never stops movements for the time between the two steps.  Asked
 * when a statement is prepared: plans kept before the update keep their form
 * until the backend ends.
 */
bool
easeinv_sql_050(void)
{
	static bool installed = false;
	Oid			args[5] = {NUMERICOID, NUMERICOID, NUMERICOID, INT8OID, INT8OID};

	if (!installed)
		installed = OidIsValid(LookupFuncName(list_make2(makeString(EASEINV_SCHEMA), makeString("level_add")),
											  5, args, true));
	return installed;
}

/*
 * sql_for_installed: the statement as the installed SQL objects can run it:
 * without 0.5.0's script, easeinv.level_add(a, b, c, p, l) becomes (a + b).
 */
char *
sql_for_installed(const char *sql)
{
	StringInfoData out;
	const char *p = sql;
	const char *call;

	if (easeinv_sql_050() || strstr(sql, "easeinv.level_add(") == NULL)
		return pstrdup(sql);
	initStringInfo(&out);
	while ((call = strstr(p, "easeinv.level_add(")) != NULL)
	{
		const char *a = call + strlen("easeinv.level_add(");
		const char *comma1 = strchr(a, ',');
		const char *comma2 = comma1 ? strchr(comma1 + 1, ',') : NULL;
		const char *close = comma2 ? strchr(comma2, ')') : NULL;

		if (close == NULL)
			elog(ERROR, "cannot rewrite easeinv.level_add in \"%s\"", sql);
		appendBinaryStringInfo(&out, p, call - p);
		appendStringInfoString(&out, "(");
		appendBinaryStringInfo(&out, a, comma1 - a);
		appendStringInfoString(&out, " OPERATOR(pg_catalog.+) ");
		appendBinaryStringInfo(&out, comma1 + 1, comma2 - comma1 - 1);
		appendStringInfoString(&out, ")");
		p = close + 1;
	}
	appendStringInfoString(&out, p);
	return out.data;
}

/* prepare_kept: an SPI plan prepared once and kept for the life of the backend. */
SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare(sql_for_installed(sql), nargs, types);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/* kept_plan: the plan in *slot, prepared and kept on first use. */
SPIPlanPtr
kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types)
{
	if (*slot == NULL)
		*slot = prepare_kept(sql, nargs, types);
	return *slot;
}

/* ledger_owner: the role that owns easeinv.stock_movements. */
Oid
ledger_owner(void)
{
	static LocalTransactionId cached_lxid = InvalidLocalTransactionId;
	static Oid	cached_owner = InvalidOid;

	/* looked up once per transaction: the calls of one transaction see one owner */
	if (cached_lxid != EASEINV_MY_LXID || !OidIsValid(cached_owner))
	{
		cached_owner = ledger_owner_lookup();
		cached_lxid = EASEINV_MY_LXID;
	}
	return cached_owner;
}

/* ledger_owner_lookup: the owner, from the catalog. */
static Oid
ledger_owner_lookup(void)
{
	Oid			nsp = get_namespace_oid(EASEINV_SCHEMA, false);
	Oid			relid = get_relname_relid("stock_movements", nsp);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("easeinv.stock_movements does not exist"),
				 errhint("ALTER EXTENSION easeinv UPDATE to version 0.2.0 or later.")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * ledger_begin: run what follows as the ledger's owner, inside SPI, with
 * search_path = pg_catalog, pg_temp and plan_cache_mode = force_generic_plan.  The ledger's statements all filter on
 * tenant_id = $1 over hash partitions: costed over every partition, a generic
 * plan never looks cheaper than a custom one, so without this each call would
 * plan its statements (and the foreign-key checks they fire) again.  The
 * generic plan still prunes to the tenant's partition at executor start.  The
 * setting is scoped like a function's SET clause: ledger_end() or an error
 * undoes it.
 */
void
ledger_begin(LedgerSession *session)
{
	session->guc_nest = NewGUCNestLevel();
	(void) set_config_option("plan_cache_mode", "force_generic_plan", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	/*
	 * The statements run as the owner: whatever they name must not be looked up
	 * in the caller's search_path (an operator planted there would run with the
	 * owner's rights).  They schema-qualify everything; this is the second line.
	 */
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	GetUserIdAndSecContext(&session->save_user, &session->save_sec);
	SetUserIdAndSecContext(ledger_owner(), session->save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* ledger_end: leave SPI, the owner's identity and the two settings. */
void
ledger_end(LedgerSession *session)
{
	SPI_finish();
	SetUserIdAndSecContext(session->save_user, session->save_sec);
	AtEOXact_GUC(true, session->guc_nest);
}

/* tenant_allows_negative: the tenant's settings say allow_negative_stock. */
bool
tenant_allows_negative(int64 tenant)
{
	Datum		tv[1] = {Int64GetDatum(tenant)};
	bool		isnull;
	int			rc = SPI_execute_plan(ledger_plan(PLAN_NEGATIVE_OK), tv, NULL, false, 1);

	return rc == SPI_OK_SELECT && SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* check_key: the idempotency key, 1 to 255 characters. */
text *
check_key(FunctionCallInfo fcinfo, int argno)
{
	text	   *key;
	int			len;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("idempotency key must not be null"),
				 errhint("Send a key that identifies this request, the same on every retry.")));
	key = PG_GETARG_TEXT_PP(argno);
	len = pg_mbstrlen_with_len(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	if (len < 1 || len > 255)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("idempotency key must have 1 to 255 characters, not %d", len),
				 errhint("Use a UUID or another key of at most 255 characters.")));
	/* the extension's own keys (an issued invoice's movements) cannot be taken first */
	if (VARSIZE_ANY_EXHDR(key) >= 8 && strncmp(VARDATA_ANY(key), "easeinv:", 8) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("idempotency keys starting with \"easeinv:\" are reserved"),
				 errhint("The extension derives such keys itself (an issued invoice's movements); use another key.")));
	return key;
}

/* check_id: a required id argument. */
int64
check_id(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return PG_GETARG_INT64(argno);
}

/* optional_text: an optional text argument of bounded length, NULL when absent. */
text *
optional_text(FunctionCallInfo fcinfo, int argno, const char *what, int maxlen)
{
	text	   *t;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	t = PG_GETARG_TEXT_PP(argno);
	if (pg_mbstrlen_with_len(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)) > maxlen)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must have at most %d characters", what, maxlen)));
	return t;
}

/*
 * check_quantity: a finite numeric, positive (or zero when allowed), with at
 * most 4 decimal places and at most 14 digits before the point, as
 * numeric(18,4) stores it.  Returns it unchanged.
 */
Datum
check_quantity(Datum qty, const char *what, bool allow_zero)
{
	Numeric		n = DatumGetNumeric(qty);
	int			scale;
	Datum		zero = DirectFunctionCall1(int4_numeric, Int32GetDatum(0));
	Datum		limit = DirectFunctionCall3(numeric_in, CStringGetDatum("100000000000000"),
											ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));

	if (numeric_is_nan(n) || numeric_is_inf(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number", what)));
	if (allow_zero ? DatumGetBool(DirectFunctionCall2(numeric_lt, qty, zero))
		: DatumGetBool(DirectFunctionCall2(numeric_le, qty, zero)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be %s, not %s", what, allow_zero ? "zero or more" : "positive",
						DatumGetCString(DirectFunctionCall1(numeric_out, qty))),
				 allow_zero ? errhint("Send the cost per unit, or leave it out.")
				 : errhint("A movement moves a positive quantity; correct a mistake with a reversing movement.")));
	/* significant decimals: 30.12500 is as good as 30.125 */
	scale = DatumGetInt32(DirectFunctionCall1(numeric_min_scale, qty));
	if (scale > 4)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %s has more than 4 decimal places", what,
						DatumGetCString(DirectFunctionCall1(numeric_out, qty))),
				 errhint("Quantities and costs are kept to 4 decimal places; round before sending.")));
	if (DatumGetBool(DirectFunctionCall2(numeric_ge, qty, limit)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s %s is too large", what,
						DatumGetCString(DirectFunctionCall1(numeric_out, qty))),
				 errdetail("The largest quantity is 99999999999999.9999.")));
	return qty;
}

/*
 * move_stock(idempotency_key, product_id, from_location_id, to_location_id, qty,
 *			  reason, reference_type, reference_id, unit_cost, occurred_at)
 * returns easeinv.movement.  VOLATILE, PARALLEL UNSAFE, not strict (NULLs are
 * refused with 22004 where they are not allowed).
 */
Datum
move_stock(PG_FUNCTION_ARGS)
{
	MoveRequest req;

	memset(&req, 0, sizeof(req));
	req.key = check_key(fcinfo, 0);
	req.product = check_id(fcinfo, 1, "product_id");
	req.from = check_id(fcinfo, 2, "from_location_id");
	req.to = check_id(fcinfo, 3, "to_location_id");
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("qty must not be null")));
	req.qty = check_quantity(PG_GETARG_DATUM(4), "qty", false);
	if (req.from == req.to)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_location_id and to_location_id are both %lld", (long long) req.from),
				 errhint("A movement goes from one location to another.")));
	req.reason = optional_text(fcinfo, 5, "reason", 500);
	req.ref_type = optional_text(fcinfo, 6, "reference_type", 64);
	req.ref_id = optional_text(fcinfo, 7, "reference_id", 255);
	req.unit_cost_null = PG_ARGISNULL(8);
	if (!req.unit_cost_null)
		req.unit_cost = check_quantity(PG_GETARG_DATUM(8), "unit_cost", true);
	req.occurred_given = !PG_ARGISNULL(9);
	req.occurred_at = req.occurred_given ? PG_GETARG_TIMESTAMPTZ(9) : GetCurrentTransactionStartTimestamp();
	if (req.occurred_given && TIMESTAMP_NOT_FINITE(req.occurred_at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("occurred_at must be a finite time")));

	return post_movement(fcinfo, &req);
}

/*
 * reverse_movement(idempotency_key, movement_id, reason) returns
 * easeinv.movement: the movement that undoes movement_id (same product and
 * quantity, the two locations swapped).  A movement is reversed at most once.
 */
Datum
reverse_movement(PG_FUNCTION_ARGS)
{
	text	   *key = check_key(fcinfo, 0);
	int64		original = check_id(fcinfo, 1, "movement_id");
	text	   *reason = optional_text(fcinfo, 2, "reason", 500);

	return post_reversal(fcinfo, key, original, reason, false);
}

/*
 * refuse_document_movement: a movement posted by a document (its key is
 * easeinv:invoice:<id>:... for an invoice's or credit note's issue, or
 * easeinv:cancel:<id>:... for a cancellation) belongs to it: reversing it by
 * hand would let a credit note or a cancel return the same goods twice.
 * Inside SPI, as the ledger owner.
 */
static void
refuse_document_movement(int64 tenant, int64 original, const char *key)
{
	bool		cancel = strncmp(key, "easeinv:cancel:", 15) == 0;
	const char *p;
	int64		invoice = 0;
	char	   *label = NULL;

	if (strncmp(key, "easeinv:invoice:", 16) != 0 && !cancel)
		return;
	for (p = key + (cancel ? 15 : 16); *p >= '0' && *p <= '9' && invoice < PG_INT64_MAX / 10; p++)
		invoice = invoice * 10 + (*p - '0');
	{
		Oid			types[2] = {INT8OID, INT8OID};
		Datum		v[2] = {Int64GetDatum(tenant), Int64GetDatum(invoice)};
		bool		isnull;

		if (SPI_execute_with_args("SELECT COALESCE(i.number, 'draft ' OPERATOR(pg_catalog.||) i.id::pg_catalog.text), "
								  "i.kind FROM easeinv.invoices i "
								  "WHERE i.tenant_id OPERATOR(pg_catalog.=) $1 AND i.id OPERATOR(pg_catalog.=) $2",
								  2, types, v, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
			label = psprintf("%s %s",
							 strcmp(TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)),
									"credit_note") == 0 ? "credit note" : "invoice",
							 TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	}
	if (label == NULL)
		label = psprintf("invoice %lld", (long long) invoice);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("stock movement %lld belongs to %s%s", (long long) original,
					cancel ? "the cancellation of " : "", label),
			 errdetail("Movements easeinv posted for a document are reversed only by that document "
					   "(key \"%s\").", key),
			 cancel ? errhint("A cancellation is final; issue a new invoice to sell the goods again.")
			 : errhint("Cancel the invoice with easeinv.cancel_invoice(), or return goods with a credit note.")));
}

/*
 * post_reversal: post the reversal of a movement of the current tenant under
 * a checked key; fcinfo NULL when no result is wanted.  Only the document
 * that posted a movement (by_document) may reverse it.
 */
Datum
post_reversal(FunctionCallInfo fcinfo, text *key, int64 original, text *reason, bool by_document)
{
	MoveRequest req;
	int64		tenant;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	LedgerSession session;
	MemoryContext cxt = CurrentMemoryContext;

	memset(&req, 0, sizeof(req));
	req.key = key;
	req.reason = reason;
	tenant = easeinv_resolve_tenant(TENANT_REQUIRED);

	ledger_begin(&session);
	tup = find_movement(PLAN_BY_ID, tenant, Int64GetDatum(original), &desc);
	if (tup == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stock movement %lld does not exist", (long long) original),
				 errhint("Pass the id of a movement of the current tenant.")));
	if (!by_document)
	{
		bool		keynull;

		refuse_document_movement(tenant, original,
								 TextDatumGetCString(heap_getattr(tup, M_KEY + 1, desc, &keynull)));
	}

	/* copy what the reversal needs out of SPI memory */
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		req.product = DatumGetInt64(heap_getattr(tup, M_PRODUCT + 1, desc, &isnull));
		req.from = DatumGetInt64(heap_getattr(tup, M_TO + 1, desc, &isnull));
		req.to = DatumGetInt64(heap_getattr(tup, M_FROM + 1, desc, &isnull));
		req.qty = datumCopy(heap_getattr(tup, M_QTY + 1, desc, &isnull), false, -1);
		req.unit_cost = heap_getattr(tup, M_UNIT_COST + 1, desc, &req.unit_cost_null);
		if (!req.unit_cost_null)
			req.unit_cost = datumCopy(req.unit_cost, false, -1);
		MemoryContextSwitchTo(old);
	}
	ledger_end(&session);

	req.reverses = original;
	req.ref_type = cstring_to_text("reversal");
	{
		char		buf[32];

		snprintf(buf, sizeof(buf), INT64_FORMAT, original);
		req.ref_id = cstring_to_text(buf);
	}
	if (req.reason == NULL)
		req.reason = cstring_to_text("reversal");
	req.occurred_at = GetCurrentTransactionStartTimestamp();
	return post_movement(fcinfo, &req);
}

/*
 * post_movement: steps 2 to 4 of the file header for a checked request.
 */
Datum
post_movement(FunctionCallInfo fcinfo, MoveRequest *req)
{
	MemoryContext cxt = CurrentMemoryContext;
	int64		tenant = easeinv_resolve_tenant(TENANT_REQUIRED);
	char	   *created_by = GetUserNameFromId(GetUserId(), false);
	LedgerSession session;
	HeapTuple	stored;
	TupleDesc	desc;
	bool		from_internal;
	Datum		values[13];
	char		nulls[13];
	int			rc;
	Datum		result;

	if (req->from == req->to)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_location_id and to_location_id are both %lld", (long long) req->from),
				 errhint("A movement goes from one location to another.")));

	/* what decides the checks below (kinds, track_stock) cannot change while we post */
	movement_gate(tenant, false);
	ledger_begin(&session);

	/*
	 * 2 and 4. Insert first.  ON CONFLICT DO NOTHING, with no target, covers the
	 * key and the one-reversal-per-movement index: a conflict on the key is a
	 * replay, found before any other check runs, as the rules require (a
	 * concurrent session with the same key is waited for, then replayed).  If
	 * a check below refuses the movement, the error undoes this insert.
	 */
	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(tenant);
	values[1] = PointerGetDatum(req->key);
	values[2] = Int64GetDatum(req->product);
	values[3] = Int64GetDatum(req->from);
	values[4] = Int64GetDatum(req->to);
	values[5] = req->qty;
	values[6] = PointerGetDatum(req->reason);
	nulls[6] = req->reason ? ' ' : 'n';
	values[7] = PointerGetDatum(req->ref_type);
	nulls[7] = req->ref_type ? ' ' : 'n';
	values[8] = PointerGetDatum(req->ref_id);
	nulls[8] = req->ref_id ? ' ' : 'n';
	values[9] = req->unit_cost;
	nulls[9] = req->unit_cost_null ? 'n' : ' ';
	values[10] = Int64GetDatum(req->reverses);
	nulls[10] = req->reverses ? ' ' : 'n';
	values[11] = TimestampTzGetDatum(req->occurred_at);
	values[12] = CStringGetTextDatum(created_by);

	rc = SPI_execute_plan(ledger_plan(PLAN_INSERT), values, nulls, false, 1);
	if (rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "inserting a stock movement failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		/*
		 * The key is taken: ours is a replay of its movement.  Otherwise the
		 * movement being reversed already has a reversal (the other unique index).
		 */
		stored = find_movement(PLAN_BY_KEY, tenant, PointerGetDatum(req->key), &desc);
		if (stored == NULL && req->reverses != 0)
			report_reversed(tenant, req->reverses);
		if (stored == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent movement with the same idempotency key"),
					 errhint("Retry the transaction; the retry returns the stored movement.")));
		check_replay(stored, desc, req);
		result = result_with_replayed(fcinfo, stored, desc, M_REPLAYED, true, cxt);
		ledger_end(&session);
		return result;
	}
	stored = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	result = result_with_replayed(fcinfo, stored, desc, M_REPLAYED, false, cxt);

	/* 3. what the movement refers to */
	check_refs(tenant, req, &from_internal);

	/* 5. the projection */
	apply_levels(tenant, req, from_internal);

	ledger_end(&session);
	return result;
}

/* report_reversed: refuse (23505) when the movement already has a reversal. */
static void
report_reversed(int64 tenant, int64 original)
{
	TupleDesc	desc;
	HeapTuple	prior = find_movement(PLAN_REVERSAL_OF, tenant, Int64GetDatum(original), &desc);
	bool		isnull;

	if (prior != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("stock movement %lld is already reversed by movement %lld",
						(long long) original,
						(long long) DatumGetInt64(heap_getattr(prior, M_ID + 1, desc, &isnull))),
				 errhint("A movement is reversed once; retry with the key of that reversal to get it back.")));
}

/* find_movement: the movement found by a ledger plan (tenant, arg), or NULL. */
static HeapTuple
find_movement(LedgerPlan plan, int64 tenant, Datum arg, TupleDesc *desc)
{
	Datum		values[2];
	int			rc;

	values[0] = Int64GetDatum(tenant);
	values[1] = arg;
	rc = SPI_execute_plan(ledger_plan(plan), values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading the stock ledger failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return NULL;
	*desc = SPI_tuptable->tupdesc;
	return SPI_tuptable->vals[0];
}

/*
 * movement_by_key: inside SPI, whether the tenant's ledger has a movement with
 * this key; if so and qty is not NULL, *qty is its quantity (in SPI memory).
 */
bool
movement_by_key(int64 tenant, text *key, Datum *qty)
{
	TupleDesc	desc;
	HeapTuple	tup = find_movement(PLAN_BY_KEY, tenant, PointerGetDatum(key), &desc);
	bool		isnull;

	if (tup != NULL && qty != NULL)
		*qty = heap_getattr(tup, M_QTY + 1, desc, &isnull);
	return tup != NULL;
}

/* same_text: two optional texts are equal byte for byte (a payload is the same or not). */
bool
same_text(text *a, Datum b, bool bnull)
{
	text	   *bt;

	if (a == NULL || bnull)
		return a == NULL && bnull;
	bt = DatumGetTextPP(b);
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(bt) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(bt), VARSIZE_ANY_EXHDR(a)) == 0;
}

/*
 * check_replay: the stored movement for this key must carry the same payload;
 * otherwise refuse, naming every field that differs.
 */
static void
check_replay(HeapTuple stored, TupleDesc desc, MoveRequest *req)
{
	StringInfoData diff;
	bool		isnull;
	Datum		d;

	initStringInfo(&diff);
#define DIFFERS(name, first, now) \
	appendStringInfo(&diff, "%s%s (first %s, now %s)", diff.len ? ", " : "", name, first, now)

	d = heap_getattr(stored, M_PRODUCT + 1, desc, &isnull);
	if (DatumGetInt64(d) != req->product)
		DIFFERS("product_id", psprintf(INT64_FORMAT, DatumGetInt64(d)), psprintf(INT64_FORMAT, req->product));
	d = heap_getattr(stored, M_FROM + 1, desc, &isnull);
	if (DatumGetInt64(d) != req->from)
		DIFFERS("from_location_id", psprintf(INT64_FORMAT, DatumGetInt64(d)), psprintf(INT64_FORMAT, req->from));
	d = heap_getattr(stored, M_TO + 1, desc, &isnull);
	if (DatumGetInt64(d) != req->to)
		DIFFERS("to_location_id", psprintf(INT64_FORMAT, DatumGetInt64(d)), psprintf(INT64_FORMAT, req->to));
	d = heap_getattr(stored, M_QTY + 1, desc, &isnull);
	if (!DatumGetBool(DirectFunctionCall2(numeric_eq, d, req->qty)))
		DIFFERS("qty", DatumGetCString(DirectFunctionCall1(numeric_out, d)),
				DatumGetCString(DirectFunctionCall1(numeric_out, req->qty)));
	d = heap_getattr(stored, M_REASON + 1, desc, &isnull);
	if (!same_text(req->reason, d, isnull))
		DIFFERS("reason", isnull ? "null" : TextDatumGetCString(d),
				req->reason ? text_to_cstring(req->reason) : "null");
	d = heap_getattr(stored, M_REFTYPE + 1, desc, &isnull);
	if (!same_text(req->ref_type, d, isnull))
		DIFFERS("reference_type", isnull ? "null" : TextDatumGetCString(d),
				req->ref_type ? text_to_cstring(req->ref_type) : "null");
	d = heap_getattr(stored, M_REFID + 1, desc, &isnull);
	if (!same_text(req->ref_id, d, isnull))
		DIFFERS("reference_id", isnull ? "null" : TextDatumGetCString(d),
				req->ref_id ? text_to_cstring(req->ref_id) : "null");
	d = heap_getattr(stored, M_UNIT_COST + 1, desc, &isnull);
	if (isnull != req->unit_cost_null ||
		(!isnull && !DatumGetBool(DirectFunctionCall2(numeric_eq, d, req->unit_cost))))
		DIFFERS("unit_cost", isnull ? "null" : DatumGetCString(DirectFunctionCall1(numeric_out, d)),
				req->unit_cost_null ? "null" : DatumGetCString(DirectFunctionCall1(numeric_out, req->unit_cost)));
	d = heap_getattr(stored, M_REVERSES + 1, desc, &isnull);
	if ((isnull ? 0 : DatumGetInt64(d)) != req->reverses)
		DIFFERS("reverses_id", isnull ? "null" : psprintf(INT64_FORMAT, DatumGetInt64(d)),
				req->reverses ? psprintf(INT64_FORMAT, req->reverses) : "null");
	/* occurred_at defaults to the time of the first call: compare it only when given */
	d = heap_getattr(stored, M_OCCURRED + 1, desc, &isnull);
	if (req->occurred_given && DatumGetTimestampTz(d) != req->occurred_at)
		DIFFERS("occurred_at", DatumGetCString(DirectFunctionCall1(timestamptz_out, d)),
				DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(req->occurred_at))));
#undef DIFFERS

	if (diff.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("idempotency key \"%s\" was already used for a different movement",
						text_to_cstring(req->key)),
				 errdetail("Differs: %s.", diff.data),
				 errhint("Retry with exactly the first payload to get the stored movement back, or use a new key for a new movement.")));
	pfree(diff.data);
}

/*
 * read_refs: run one of the plans that read what decides a movement's checks
 * (product, locations).  In READ COMMITTED each statement sees what was
 * committed before it, which is after the movement gate was passed.  Under
 * REPEATABLE READ or SERIALIZABLE the transaction's snapshot may predate a
 * change of kind or track_stock that the gate waited for: the plan runs again
 * with the latest snapshot, and a difference is a serialization failure
 * (40001; the retry reads the new value).  Leaves the first result in
 * SPI_tuptable.
 */
static void
read_refs(LedgerPlan which, Datum *values, const char *what)
{
	SPITupleTable *first;
	uint64		n;
	int			rc = SPI_execute_plan(ledger_plan(which), values, NULL, false, 1);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading %s failed: %s", what, SPI_result_code_string(rc));
	if (!IsolationUsesXactSnapshot())
		return;
	first = SPI_tuptable;
	n = SPI_processed;
	rc = SPI_execute_snapshot(ledger_plan(which), values, NULL, GetLatestSnapshot(), InvalidSnapshot,
							  true, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading %s failed: %s", what, SPI_result_code_string(rc));
	if (SPI_processed != n ||
		(n == 1 && !equal_rows(first->vals[0], SPI_tuptable->vals[0], first->tupdesc)))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent change of %s", what),
				 errdetail("A location's kind or a product's track_stock changed after this transaction began."),
				 errhint("Retry the transaction.")));
	SPI_tuptable = first;
	SPI_processed = n;
}

/* equal_rows: two rows of one descriptor hold the same values (all columns) */
static bool
equal_rows(HeapTuple a, HeapTuple b, TupleDesc desc)
{
	int			i;

	for (i = 1; i <= desc->natts; i++)
	{
		bool		anull;
		bool		bnull;
		Datum		av = heap_getattr(a, i, desc, &anull);
		Datum		bv = heap_getattr(b, i, desc, &bnull);
		Form_pg_attribute att = TupleDescAttr(desc, i - 1);

		if (anull != bnull || (!anull && !datum_image_eq(av, bv, att->attbyval, att->attlen)))
			return false;
	}
	return true;
}

/* check_product: the tenant's product exists, is not deleted and tracks stock. */
void
check_product(int64 tenant, int64 product)
{
	Datum		values[2] = {Int64GetDatum(tenant), Int64GetDatum(product)};
	bool		isnull;

	read_refs(PLAN_PRODUCT, values, "the product");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("product %lld does not exist", (long long) product),
				 errhint("Pass the id of a product of the current tenant.")));
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("product %lld is deleted", (long long) product),
				 errhint("Restore the product (deleted_at = NULL) before moving its stock.")));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("product %lld does not track stock", (long long) product),
				 errhint("Set track_stock on the product to keep a ledger of it.")));
}

/*
 * check_location: the tenant's location exists and is not deleted; returns
 * whether it is internal (warehouse, store, bin).
 */
bool
check_location(int64 tenant, int64 location, const char *role)
{
	Datum		values[2] = {Int64GetDatum(tenant), Int64GetDatum(location)};
	bool		isnull;

	read_refs(PLAN_LOCATION, values, "the location");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("location %lld (%s) does not exist", (long long) location, role),
				 errhint("Pass the id of a location of the current tenant.")));
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("location %lld (%s) is deleted", (long long) location, role)));
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * check_refs: the product and both locations of a request, in one statement:
 * the tenant's, existing, not deleted, and the product tracks stock.  Sets
 * whether the from location is internal.
 */
static void
check_refs(int64 tenant, MoveRequest *req, bool *from_internal)
{
	Datum		values[4] = {Int64GetDatum(tenant), Int64GetDatum(req->product),
	Int64GetDatum(req->from), Int64GetDatum(req->to)};
	bool		isnull[6];
	Datum		col[6];
	int			i;

	read_refs(PLAN_REFS, values, "the product or locations");
	if (SPI_processed != 1)
		elog(ERROR, "reading products and locations returned %llu rows", (unsigned long long) SPI_processed);
	for (i = 0; i < 6; i++)
		col[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull[i]);

	if (isnull[0])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("product %lld does not exist", (long long) req->product),
				 errhint("Pass the id of a product of the current tenant.")));
	if (DatumGetBool(col[1]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("product %lld is deleted", (long long) req->product),
				 errhint("Restore the product (deleted_at = NULL) before moving its stock.")));
	if (!DatumGetBool(col[0]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("product %lld does not track stock", (long long) req->product),
				 errhint("Set track_stock on the product to keep a ledger of it.")));
	for (i = 2; i <= 4; i += 2)
	{
		int64		location = (i == 2) ? req->from : req->to;
		const char *role = (i == 2) ? "from_location_id" : "to_location_id";

		if (isnull[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("location %lld (%s) does not exist", (long long) location, role),
					 errhint("Pass the id of a location of the current tenant.")));
		if (DatumGetBool(col[i + 1]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("location %lld (%s) is deleted", (long long) location, role)));
	}
	*from_internal = DatumGetBool(col[2]);
}

/*
 * apply_levels: add the movement to both stock_levels rows, lower location id
 * first (sessions moving in opposite directions cannot deadlock).  An internal
 * from location whose available stock goes below zero refuses the movement,
 * unless the tenant's settings allow negative stock.
 */
static void
apply_levels(int64 tenant, MoveRequest *req, bool from_internal)
{
	Datum		out = DirectFunctionCall1(numeric_uminus, req->qty);
	bool		from_first = req->from < req->to;
	Datum		values[6];
	Datum		available = (Datum) 0;
	Datum		zero = DirectFunctionCall1(int4_numeric, Int32GetDatum(0));
	bool		isnull;
	uint64		i;
	int			rc;

	values[0] = Int64GetDatum(tenant);
	values[1] = Int64GetDatum(req->product);
	values[2] = Int64GetDatum(from_first ? req->from : req->to);
	values[3] = from_first ? out : req->qty;
	values[4] = Int64GetDatum(from_first ? req->to : req->from);
	values[5] = from_first ? req->qty : out;
	rc = SPI_execute_plan(ledger_plan(PLAN_LEVELS), values, NULL, false, 2);
	if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 2)
		elog(ERROR, "updating stock_levels failed: %s", SPI_result_code_string(rc));
	if (!from_internal)
		return;
	for (i = 0; i < SPI_processed; i++)
		if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)) == req->from)
			available = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
	if (!DatumGetBool(DirectFunctionCall2(numeric_lt, available, zero)))
		return;
	if (tenant_allows_negative(tenant))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("insufficient stock of product %lld at location %lld",
					(long long) req->product, (long long) req->from),
			 errdetail("Moving %s would leave %s available.",
					   DatumGetCString(DirectFunctionCall1(numeric_out, req->qty)),
					   DatumGetCString(DirectFunctionCall1(numeric_out, available))),
			 errhint("Receive stock first, move less, or allow negative stock in the tenant's settings "
					 "(allow_negative_stock).")));
}

/*
 * lock_levels: inside SPI, create if missing and lock both stock_levels rows of
 * a product at two locations, lower location id first: the order every writer
 * of the levels takes them in, so that none can deadlock with another.
 */
void
lock_levels(int64 tenant, int64 product, int64 a, int64 b)
{
	Datum		zero = DirectFunctionCall1(int4_numeric, Int32GetDatum(0));
	Datum		values[6] = {Int64GetDatum(tenant), Int64GetDatum(product),
	Int64GetDatum(a < b ? a : b), zero, Int64GetDatum(a < b ? b : a), zero};
	int			rc = SPI_execute_plan(ledger_plan(PLAN_LEVELS), values, NULL, false, 2);

	if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 2)
		elog(ERROR, "locking stock_levels failed: %s", SPI_result_code_string(rc));
}

/*
 * result_with_replayed: the function's composite result built from a stored
 * row (its first ncols columns, in order) and a last column, replayed.  Built
 * in cxt, the caller's memory context: it must outlive SPI_finish.
 */
Datum
result_with_replayed(FunctionCallInfo fcinfo, HeapTuple stored, TupleDesc desc, int ncols,
					 bool replayed, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	TupleDesc	rdesc;
	Datum	   *values;
	bool	   *nulls;
	int			i;
	HeapTuple	result;
	Datum		d;

	/* a caller in C that needs no result (issue_invoice posting stock) */
	if (fcinfo == NULL)
	{
		MemoryContextSwitchTo(old);
		return (Datum) 0;
	}
	if (get_call_result_type(fcinfo, NULL, &rdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "function result type must be composite");
	rdesc = BlessTupleDesc(rdesc);
	if (rdesc->natts != ncols + 1)
		elog(ERROR, "result type has %d columns, expected %d", rdesc->natts, ncols + 1);
	values = palloc(sizeof(Datum) * (ncols + 1));
	nulls = palloc(sizeof(bool) * (ncols + 1));
	for (i = 0; i < ncols; i++)
		values[i] = heap_getattr(stored, i + 1, desc, &nulls[i]);
	values[ncols] = BoolGetDatum(replayed);
	nulls[ncols] = false;
	result = heap_form_tuple(rdesc, values, nulls);
	/* the Datum too is made in cxt: a row with TOASTed values is flattened here */
	d = HeapTupleGetDatum(result);
	MemoryContextSwitchTo(old);
	return d;
}

/*
 * ledger_guard() returns trigger: BEFORE UPDATE OR DELETE on stock_movements.
 * The ledger is append-only for everyone.
 */
Datum
ledger_guard(PG_FUNCTION_ARGS)
{
	refuse_change(fcinfo, "ledger_guard", "stock movements",
				  "Correct a movement with easeinv.reverse_movement(), which posts the opposite movement.");
	PG_RETURN_NULL();
}

/*
 * refuse_change: the body of an append-only trigger function: refuses the
 * UPDATE or DELETE it fires for (42501), naming what is append-only.
 */
void
refuse_change(FunctionCallInfo fcinfo, const char *function, const char *what, const char *hint)
{
	TriggerData *td;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("easeinv.%s() can only be called as a trigger", function)));
	td = (TriggerData *) fcinfo->context;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s are append-only: %s is not allowed", what,
					TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? "UPDATE" :
					TRIGGER_FIRED_BY_TRUNCATE(td->tg_event) ? "TRUNCATE" : "DELETE"),
			 errhint("%s", hint)));
}

/*
 * level_add(level numeric, delta numeric, counterpart numeric, product_id
 * bigint, location_id bigint) returns numeric: a stock level (on_hand or
 * reserved) plus a change, refused (22003, naming the product and location)
 * when the sum, or available (on_hand - reserved, with counterpart the other
 * of the two), would leave numeric(18,4), where PostgreSQL would only say
 * "numeric field overflow".  IMMUTABLE, STRICT, PARALLEL SAFE.  Used by every
 * writer of stock_levels.
 */
Datum
level_add(PG_FUNCTION_ARGS)
{
	static Datum limit = (Datum) 0;	/* 10^14, parsed once per backend */
	Datum		sum = DirectFunctionCall2(numeric_add, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1));
	Datum		gap = DirectFunctionCall2(numeric_sub, sum, PG_GETARG_DATUM(2));
	bool		sum_out;

	if (limit == (Datum) 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		limit = DirectFunctionCall3(numeric_in, CStringGetDatum("100000000000000"),
									ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		MemoryContextSwitchTo(old);
	}
	sum_out = DatumGetBool(DirectFunctionCall2(numeric_ge, DirectFunctionCall1(numeric_abs, sum), limit));

	if (sum_out || DatumGetBool(DirectFunctionCall2(numeric_ge, DirectFunctionCall1(numeric_abs, gap), limit)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the stock level of product %lld at location %lld would be out of range",
						(long long) PG_GETARG_INT64(3), (long long) PG_GETARG_INT64(4)),
				 sum_out ?
				 errdetail("%s and %s make %s; a stock level has at most 14 digits before the point.",
						   DatumGetCString(DirectFunctionCall1(numeric_out, PG_GETARG_DATUM(0))),
						   DatumGetCString(DirectFunctionCall1(numeric_out, PG_GETARG_DATUM(1))),
						   DatumGetCString(DirectFunctionCall1(numeric_out, sum))) :
				 errdetail("On hand and reserved would differ by %s; available, their difference, has at most 14 digits before the point.",
						   DatumGetCString(DirectFunctionCall1(numeric_out,
															   DirectFunctionCall1(numeric_abs, gap)))),
				 errhint("Check the quantity; nothing was posted.")));
	return sum;
}

/*
 * movement_gate: the tenant's movement gate, a lock of the transaction on an
 * advisory tag of easeinv's own (objsubid EASEINV_LOCK_MOVEMENTS, keys the
 * tenant id's halves; no tuple is locked or written).
 *
 * Whether a location is internal and whether a product tracks stock decide
 * how a movement is checked (negative stock, posting at all).  Every writer
 * of movements and reservations takes the gate shared before it reads them,
 * and holds it to its commit; the guards that would change them for a
 * location or product without history (location_history_exists,
 * product_history_exists) take it exclusive, so they wait for every movement
 * of the tenant in flight and then see it, and a movement that starts
 * meanwhile waits for them and then reads the new kind.  Shared holders never
 * wait for each other; only that tenant's writers wait, and only while such a
 * change (rare: a location or product not used yet) commits.  Reading the
 * rows FOR KEY SHARE would do the same at the price of a tuple lock, often a
 * MultiXact, on the busiest rows at every movement.
 */
void
movement_gate(int64 tenant, bool exclusive)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) ((uint64) tenant >> 32), (uint32) tenant,
						 EASEINV_LOCK_MOVEMENTS);
	(void) LockAcquire(&tag, exclusive ? ExclusiveLock : ShareLock, false, false);
}

/*
 * history_exists: the body of location_history_exists and
 * product_history_exists: whether the tenant's ledger or levels (or, for a
 * product, the lines of its issued invoices) mention the row.  Looked up
 * first as the transaction sees it; when nothing is found, again after
 * taking the movement gate exclusive, with the latest snapshot (a movement
 * committed while we waited counts, in any isolation level).
 */
static bool
history_exists(FunctionCallInfo fcinfo, const char *sql, const char *what)
{
	int64		tenant;
	int64		id;
	int64		context;
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2];
	LedgerSession session;
	SPIPlanPtr	plan;
	bool		found;
	int			pass;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tenant and %s must not be null", what)));
	tenant = PG_GETARG_INT64(0);
	id = PG_GETARG_INT64(1);
	/* the gate of another tenant is not the caller's to hold */
	context = easeinv_resolve_tenant(TENANT_OPTIONAL);
	if (context == 0 && !easeinv_role_bypasses_rls())
		(void) easeinv_resolve_tenant(TENANT_REQUIRED);	/* raises 42501: no context */
	if (context != 0 && context != tenant)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s history of tenant %lld cannot be read in the context of tenant %lld",
						what, (long long) tenant, (long long) context),
				 errhint("Switch context with easeinv.set_tenant().")));

	values[0] = Int64GetDatum(tenant);
	values[1] = Int64GetDatum(id);
	ledger_begin(&session);
	plan = SPI_prepare(sql, 2, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	found = false;
	for (pass = 0; pass < 2 && !found; pass++)
	{
		bool		isnull;
		int			rc;

		if (pass == 1)
		{
			movement_gate(tenant, true);
			rc = SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(), InvalidSnapshot,
									  true, false, 1);
		}
		else
			rc = SPI_execute_plan(plan, values, NULL, true, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "reading the history of a %s failed", what);
		found = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	ledger_end(&session);
	return found;
}

/*
 * location_history_exists(tenant bigint, location bigint) returns boolean:
 * whether stock ever moved at the location (or a level row names it); see
 * history_exists.  For the guard on locations.kind; VOLATILE, PARALLEL UNSAFE.
 */
Datum
location_history_exists(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(history_exists(fcinfo,
								  "SELECT EXISTS (SELECT 1 FROM easeinv.stock_levels s"
								  " WHERE s.tenant_id OPERATOR(pg_catalog.=) $1 AND s.location_id OPERATOR(pg_catalog.=) $2)"
								  " OR EXISTS (SELECT 1 FROM easeinv.stock_movements m"
								  " WHERE m.tenant_id OPERATOR(pg_catalog.=) $1"
								  " AND (m.from_location_id OPERATOR(pg_catalog.=) $2 OR m.to_location_id OPERATOR(pg_catalog.=) $2))"
								  " OR EXISTS (SELECT 1 FROM easeinv.stock_reservations r"
								  " WHERE r.tenant_id OPERATOR(pg_catalog.=) $1 AND r.location_id OPERATOR(pg_catalog.=) $2)",
								  "location"));
}

/*
 * product_history_exists(tenant bigint, product bigint) returns boolean:
 * whether the product has movements, levels, reservations or lines on an
 * issued or cancelled invoice; see history_exists.  For the guard on
 * products.track_stock; VOLATILE, PARALLEL UNSAFE.
 */
Datum
product_history_exists(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(history_exists(fcinfo,
								  "SELECT EXISTS (SELECT 1 FROM easeinv.stock_levels s"
								  " WHERE s.tenant_id OPERATOR(pg_catalog.=) $1 AND s.product_id OPERATOR(pg_catalog.=) $2)"
								  " OR EXISTS (SELECT 1 FROM easeinv.stock_movements m"
								  " WHERE m.tenant_id OPERATOR(pg_catalog.=) $1 AND m.product_id OPERATOR(pg_catalog.=) $2)"
								  " OR EXISTS (SELECT 1 FROM easeinv.stock_reservations r"
								  " WHERE r.tenant_id OPERATOR(pg_catalog.=) $1 AND r.product_id OPERATOR(pg_catalog.=) $2)"
								  " OR EXISTS (SELECT 1 FROM easeinv.invoice_lines l JOIN easeinv.invoices i"
								  " ON i.tenant_id OPERATOR(pg_catalog.=) l.tenant_id AND i.id OPERATOR(pg_catalog.=) l.invoice_id"
								  " WHERE l.tenant_id OPERATOR(pg_catalog.=) $1 AND l.product_id OPERATOR(pg_catalog.=) $2"
								  " AND i.status OPERATOR(pg_catalog.<>) 'draft')",
								  "product"));
}
