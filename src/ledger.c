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
#include "args.h"
#include "events.h"
#include "ledger.h"
#include "numbers.h"
#include "owner.h"
#include "plans.h"
#include "replay.h"
#include "result.h"
#include "triggers.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(move_stock);
PG_FUNCTION_INFO_V1(reverse_movement);
PG_FUNCTION_INFO_V1(ledger_guard);
PG_FUNCTION_INFO_V1(level_add);
PG_FUNCTION_INFO_V1(location_history_exists);
PG_FUNCTION_INFO_V1(product_history_exists);

/* Columns of easeinv.movement, 1-based as SPI counts them; the ledger queries return the same list. */
enum
{
	M_ID = 1, M_KEY, M_PRODUCT, M_FROM, M_TO, M_QTY, M_REASON, M_REFTYPE, M_REFID,
	M_UNIT_COST, M_REVERSES, M_OCCURRED, M_CREATED, M_CREATED_BY,
	M_NCOLS = M_CREATED_BY		/* then replayed, in the result */
};

#define MOVEMENT_COLUMNS \
	"id, idempotency_key, product_id, from_location_id, to_location_id, qty, reason, " \
	"reference_type, reference_id, unit_cost, reverses_id, occurred_at, created_at, created_by"

/* internal locations: the kinds that hold stock */
#define INTERNAL_KIND(k)	k ".kind = ANY ('{warehouse,store,bin}'::text[])"

/* The ledger's statements (plans.h; the rule of owner.c).  Each takes the tenant as $1. */
typedef enum LedgerStatement
{
	ST_BY_KEY,					/* the movement of a key: replays */
	ST_BY_ID,					/* a movement by id: reversals */
	ST_REVERSAL_OF,				/* the reversal of a movement */
	ST_PRODUCT,					/* one product's checks (reservations) */
	ST_LOCATION,				/* one location's checks (reservations) */
	ST_INSERT,					/* post a movement */
	ST_LEVELS,					/* the projection: both level rows */
	ST_REFS,					/* a movement's product and locations, at once */
	ST_NEGATIVE_OK,				/* the tenant's allow_negative_stock */
	ST_DOCUMENT,				/* the invoice a movement's key names */
	ST_LOCATION_HISTORY,		/* location_history_exists */
	ST_PRODUCT_HISTORY,			/* product_history_exists */
	ST_COUNT
} LedgerStatement;

static const PlanStatement statements[ST_COUNT] = {
	[ST_BY_KEY] = PLAN_SELECT_BY_KEY(MOVEMENT_COLUMNS, "easeinv.stock_movements"),
	[ST_BY_ID] = PLAN_SELECT_BY_ID(MOVEMENT_COLUMNS, "easeinv.stock_movements", ""),
	[ST_REVERSAL_OF] = {"SELECT " MOVEMENT_COLUMNS " FROM easeinv.stock_movements"
		" WHERE tenant_id = $1 AND reverses_id = $2", 2, {INT8OID, INT8OID}},
	[ST_PRODUCT] = {"SELECT p.track_stock, p.deleted_at IS NOT NULL, p.sku FROM easeinv.products p"
		" WHERE p.tenant_id = $1 AND p.id = $2", 2, {INT8OID, INT8OID}},
	[ST_LOCATION] = {"SELECT " INTERNAL_KIND("l") ", l.deleted_at IS NOT NULL FROM easeinv.locations l"
		" WHERE l.tenant_id = $1 AND l.id = $2", 2, {INT8OID, INT8OID}},
	[ST_INSERT] = {"INSERT INTO easeinv.stock_movements (tenant_id, idempotency_key, product_id,"
		" from_location_id, to_location_id, qty, reason, reference_type, reference_id, unit_cost,"
		" reverses_id, occurred_at, created_by)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
		/* no conflict target: the key, and also the one-reversal-per-movement index */
		" ON CONFLICT DO NOTHING"
		" RETURNING " MOVEMENT_COLUMNS, 13,
		{INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID, NUMERICOID, TEXTOID, TEXTOID, TEXTOID, NUMERICOID,
		INT8OID, TIMESTAMPTZOID, TEXTOID}},
	/* both level rows in one statement, in the order given: lower location id first */
	[ST_LEVELS] = {"INSERT INTO easeinv.stock_levels AS l (tenant_id, product_id, location_id, on_hand)"
		" VALUES ($1, $2, $3, $4), ($1, $2, $5, $6)"
		" ON CONFLICT (tenant_id, product_id, location_id) DO UPDATE"
		" SET on_hand = easeinv.level_add(l.on_hand, excluded.on_hand, l.reserved, l.product_id, l.location_id),"
		" updated_at = now()"
		" RETURNING l.location_id, l.on_hand - l.reserved, l.on_hand", 6,
		{INT8OID, INT8OID, INT8OID, NUMERICOID, INT8OID, NUMERICOID}},
	/* product and both locations in one statement; NULLs where a row is missing */
	[ST_REFS] = {"SELECT p.track_stock, p.deleted_at IS NOT NULL,"
		" " INTERNAL_KIND("f") ", f.deleted_at IS NOT NULL,"
		" " INTERNAL_KIND("t") ", t.deleted_at IS NOT NULL, p.sku"
		" FROM (VALUES (1)) AS one (x)"
		" LEFT JOIN easeinv.products p ON p.tenant_id = $1 AND p.id = $2"
		" LEFT JOIN easeinv.locations f ON f.tenant_id = $1 AND f.id = $3"
		" LEFT JOIN easeinv.locations t ON t.tenant_id = $1 AND t.id = $4", 4,
		{INT8OID, INT8OID, INT8OID, INT8OID}},
	[ST_NEGATIVE_OK] = {"SELECT COALESCE((t.settings ->> 'allow_negative_stock')::boolean, false)"
		" FROM easeinv.tenants t WHERE t.id = $1", 1, {INT8OID}},
	/* the document a movement's key names: its label and kind */
	[ST_DOCUMENT] = {"SELECT COALESCE(i.number, 'draft ' || i.id::text), i.kind FROM easeinv.invoices i"
		" WHERE i.tenant_id = $1 AND i.id = $2", 2, {INT8OID, INT8OID}},
	[ST_LOCATION_HISTORY] = {"SELECT EXISTS (SELECT 1 FROM easeinv.stock_levels s"
		" WHERE s.tenant_id = $1 AND s.location_id = $2)"
		" OR EXISTS (SELECT 1 FROM easeinv.stock_movements m"
		" WHERE m.tenant_id = $1 AND (m.from_location_id = $2 OR m.to_location_id = $2))"
		" OR EXISTS (SELECT 1 FROM easeinv.stock_reservations r"
		" WHERE r.tenant_id = $1 AND r.location_id = $2)", 2, {INT8OID, INT8OID}},
	[ST_PRODUCT_HISTORY] = {"SELECT EXISTS (SELECT 1 FROM easeinv.stock_levels s"
		" WHERE s.tenant_id = $1 AND s.product_id = $2)"
		" OR EXISTS (SELECT 1 FROM easeinv.stock_movements m"
		" WHERE m.tenant_id = $1 AND m.product_id = $2)"
		" OR EXISTS (SELECT 1 FROM easeinv.stock_reservations r"
		" WHERE r.tenant_id = $1 AND r.product_id = $2)"
		" OR EXISTS (SELECT 1 FROM easeinv.invoice_lines l JOIN easeinv.invoices i"
		" ON i.tenant_id = l.tenant_id AND i.id = l.invoice_id"
		" WHERE l.tenant_id = $1 AND l.product_id = $2 AND i.status <> 'draft')", 2, {INT8OID, INT8OID}},
};

static SPIPlanPtr plans[ST_COUNT];

#define PLAN(which)		plan_kept(statements, plans, (which))

static HeapTuple find_movement(LedgerStatement which, int64 tenant, Datum arg, TupleDesc *desc);
static void check_replay(HeapTuple stored, TupleDesc desc, MoveRequest *req);
static HeapTuple insert_movement(int64 tenant, MoveRequest *req, const char *created_by, TupleDesc *desc);
static HeapTuple replayed_movement(int64 tenant, MoveRequest *req, TupleDesc *desc);
static void report_reversed(int64 tenant, int64 original);
static char *check_refs(int64 tenant, MoveRequest *req, bool *from_internal);
static SPITupleTable *apply_levels(int64 tenant, MoveRequest *req, bool from_internal);
static void emit_movement(int64 tenant, MoveRequest *req, HeapTuple stored, TupleDesc desc, const char *sku,
						  SPITupleTable *levels);
static void read_refs(LedgerStatement which, Datum *values, const char *what);
static bool equal_rows(HeapTuple a, HeapTuple b, TupleDesc desc);
static void require_product(int64 product, bool missing, bool deleted, bool tracks);
static bool require_location(int64 location, const char *role, bool missing, bool deleted, bool internal);

/* ledger_allows_negative: the tenant's settings say allow_negative_stock. */
bool
ledger_allows_negative(int64 tenant)
{
	Datum		tv[1] = {Int64GetDatum(tenant)};
	bool		isnull;
	int			rc = SPI_execute_plan(PLAN(ST_NEGATIVE_OK), tv, NULL, false, 1);

	return rc == SPI_OK_SELECT && SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* refuse_same_locations: a movement goes from one location to another (22023). */
static void
refuse_same_locations(int64 from, int64 to)
{
	if (from == to)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_location_id and to_location_id are both %lld", (long long) from),
				 errhint("A movement goes from one location to another.")));
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
	req.key = arg_key(fcinfo, 0);
	req.product = arg_id(fcinfo, 1, "product_id");
	req.from = arg_id(fcinfo, 2, "from_location_id");
	req.to = arg_id(fcinfo, 3, "to_location_id");
	req.qty = arg_quantity(fcinfo, 4, "qty");
	refuse_same_locations(req.from, req.to);
	req.reason = arg_text(fcinfo, 5, "reason", 500);
	req.ref_type = arg_text(fcinfo, 6, "reference_type", 64);
	req.ref_id = arg_text(fcinfo, 7, "reference_id", 255);
	req.unit_cost_null = PG_ARGISNULL(8);
	if (!req.unit_cost_null)
		req.unit_cost = arg_check_quantity(PG_GETARG_DATUM(8), "unit_cost", true);
	req.occurred_at = arg_time(fcinfo, 9, "occurred_at", &req.occurred_given);

	return ledger_post_movement(fcinfo, &req);
}

/*
 * reverse_movement(idempotency_key, movement_id, reason) returns
 * easeinv.movement: the movement that undoes movement_id (same product and
 * quantity, the two locations swapped).  A movement is reversed at most once.
 */
Datum
reverse_movement(PG_FUNCTION_ARGS)
{
	text	   *key = arg_key(fcinfo, 0);
	int64		original = arg_id(fcinfo, 1, "movement_id");
	text	   *reason = arg_text(fcinfo, 2, "reason", 500);

	return ledger_post_reversal(fcinfo, key, original, reason, false);
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
		Datum		v[2] = {Int64GetDatum(tenant), Int64GetDatum(invoice)};
		bool		isnull;

		if (SPI_execute_plan(PLAN(ST_DOCUMENT), v, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
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
 * ledger_post_reversal: post the reversal of a movement of the current tenant under
 * a checked key; fcinfo NULL when no result is wanted.  Only the document
 * that posted a movement (by_document) may reverse it.
 */
Datum
ledger_post_reversal(FunctionCallInfo fcinfo, text *key, int64 original, text *reason, bool by_document)
{
	MoveRequest req;
	int64		tenant;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	OwnerScope session;
	MemoryContext cxt = CurrentMemoryContext;

	memset(&req, 0, sizeof(req));
	req.key = key;
	req.reason = reason;
	tenant = tenant_resolve(TENANT_REQUIRED);

	owner_begin(&session);
	tup = find_movement(ST_BY_ID, tenant, Int64GetDatum(original), &desc);
	if (tup == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stock movement %lld does not exist", (long long) original),
				 errhint("Pass the id of a movement of the current tenant.")));
	if (!by_document)
	{
		bool		keynull;

		refuse_document_movement(tenant, original,
								 TextDatumGetCString(heap_getattr(tup, M_KEY, desc, &keynull)));
	}

	/* copy what the reversal needs out of SPI memory */
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		req.product = DatumGetInt64(heap_getattr(tup, M_PRODUCT, desc, &isnull));
		req.from = DatumGetInt64(heap_getattr(tup, M_TO, desc, &isnull));
		req.to = DatumGetInt64(heap_getattr(tup, M_FROM, desc, &isnull));
		req.qty = datumCopy(heap_getattr(tup, M_QTY, desc, &isnull), false, -1);
		req.unit_cost = heap_getattr(tup, M_UNIT_COST, desc, &req.unit_cost_null);
		if (!req.unit_cost_null)
			req.unit_cost = datumCopy(req.unit_cost, false, -1);
		MemoryContextSwitchTo(old);
	}
	owner_end(&session);

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
	return ledger_post_movement(fcinfo, &req);
}

/*
 * ledger_post_movement: steps 2 to 4 of the file header for a checked request.
 */
Datum
ledger_post_movement(FunctionCallInfo fcinfo, MoveRequest *req)
{
	MemoryContext cxt = CurrentMemoryContext;
	int64		tenant = tenant_resolve(TENANT_REQUIRED);
	char	   *created_by = GetUserNameFromId(GetUserId(), false);	/* the caller, before owner_begin */
	OwnerScope session;
	HeapTuple	stored;
	TupleDesc	desc;
	bool		from_internal;
	Datum		result;
	char	   *sku;
	SPITupleTable *levels;

	refuse_same_locations(req->from, req->to);

	/* what decides the checks below (kinds, track_stock) cannot change while we post */
	ledger_gate(tenant, false);
	owner_begin(&session);

	/* 2. insert first: a conflict on the key is a replay */
	stored = insert_movement(tenant, req, created_by, &desc);
	if (stored == NULL)
	{
		stored = replayed_movement(tenant, req, &desc);
		result = result_replayed(fcinfo, stored, desc, M_NCOLS, true, cxt);
		owner_end(&session);
		return result;
	}
	result = result_replayed(fcinfo, stored, desc, M_NCOLS, false, cxt);

	/* 3. what the movement refers to */
	sku = check_refs(tenant, req, &from_internal);

	/* 4. the projection */
	levels = apply_levels(tenant, req, from_internal);

	/* 5. the event and the cache invalidation (events.c) */
	emit_movement(tenant, req, stored, desc, sku, levels);

	owner_end(&session);
	return result;
}
/*
 * emit_movement: the outbox event of a posted movement (stock.moved, or
 * stock.reversed, or the request's), aggregate stock:<product_id>, with the
 * product's SKU and both locations' new levels; and the invalidation of
 * stock:<product_id>.
 */
static void
emit_movement(int64 tenant, MoveRequest *req, HeapTuple stored, TupleDesc desc, const char *sku,
			  SPITupleTable *levels)
{
	EventPayload p;
	bool		isnull;
	uint64		i;
	int64		id = DatumGetInt64(heap_getattr(stored, M_ID, desc, &isnull));
	char		product[32];
	Datum		cost;

	event_begin(&p);
	event_int8(&p, "movement_id", id);
	event_int8(&p, "product_id", req->product);
	event_text(&p, "sku", sku);
	event_int8(&p, "from_location_id", req->from);
	event_int8(&p, "to_location_id", req->to);
	event_numeric(&p, "qty", heap_getattr(stored, M_QTY, desc, &isnull), false);
	cost = heap_getattr(stored, M_UNIT_COST, desc, &isnull);
	event_numeric(&p, "unit_cost", cost, isnull);
	event_text(&p, "reason", req->reason ? text_to_cstring(req->reason) : NULL);
	event_text(&p, "reference_type", req->ref_type ? text_to_cstring(req->ref_type) : NULL);
	event_text(&p, "reference_id", req->ref_id ? text_to_cstring(req->ref_id) : NULL);
	event_id(&p, "reverses_id", req->reverses);
	if (req->reservation != 0)
		event_int8(&p, "reservation_id", req->reservation);
	event_time(&p, "occurred_at", req->occurred_at);
	event_open(&p, "levels", true);
	for (i = 0; i < levels->numvals; i++)
	{
		HeapTuple	row = levels->vals[i];

		event_open(&p, NULL, false);
		event_int8(&p, "location_id", DatumGetInt64(SPI_getbinval(row, levels->tupdesc, 1, &isnull)));
		event_numeric(&p, "on_hand", SPI_getbinval(row, levels->tupdesc, 3, &isnull), false);
		event_numeric(&p, "available", SPI_getbinval(row, levels->tupdesc, 2, &isnull), false);
		event_close(&p, false);
	}
	event_close(&p, true);
	snprintf(product, sizeof(product), INT64_FORMAT, req->product);
	(void) events_emit(tenant, req->event ? req->event : req->reverses ? "stock.reversed" : "stock.moved",
					   "stock", product, event_end(&p));
	events_invalidate(tenant, "stock", req->product);
}


/*
 * insert_movement: insert the movement; NULL when the key (or the
 * one-reversal-per-movement index) is taken.  ON CONFLICT DO NOTHING, with no
 * target, covers both: a conflict on the key is a replay, found before any
 * other check runs, as the rules require (a concurrent session with the same
 * key is waited for, then replayed).  If a later check refuses the movement,
 * the error undoes this insert.
 */
static HeapTuple
insert_movement(int64 tenant, MoveRequest *req, const char *created_by, TupleDesc *desc)
{
	Datum		values[13] = {Int64GetDatum(tenant), PointerGetDatum(req->key), Int64GetDatum(req->product),
		Int64GetDatum(req->from), Int64GetDatum(req->to), req->qty, PointerGetDatum(req->reason),
		PointerGetDatum(req->ref_type), PointerGetDatum(req->ref_id), req->unit_cost,
		Int64GetDatum(req->reverses), TimestampTzGetDatum(req->occurred_at), CStringGetTextDatum(created_by)};
	char		nulls[13];

	memset(nulls, ' ', sizeof(nulls));
	nulls[6] = req->reason ? ' ' : 'n';
	nulls[7] = req->ref_type ? ' ' : 'n';
	nulls[8] = req->ref_id ? ' ' : 'n';
	nulls[9] = req->unit_cost_null ? 'n' : ' ';
	nulls[10] = req->reverses ? ' ' : 'n';
	return plan_row(PLAN(ST_INSERT), values, nulls, false, SPI_OK_INSERT_RETURNING, "inserting a stock movement", desc);
}

/*
 * replayed_movement: the insert conflicted.  Either the key is taken, and ours
 * is a replay of its movement (the payload must be the same), or the movement
 * being reversed already has a reversal (the other unique index).
 */
static HeapTuple
replayed_movement(int64 tenant, MoveRequest *req, TupleDesc *desc)
{
	HeapTuple	stored = find_movement(ST_BY_KEY, tenant, PointerGetDatum(req->key), desc);

	if (stored == NULL && req->reverses != 0)
		report_reversed(tenant, req->reverses);
	if (stored == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent movement with the same idempotency key"),
				 errhint("Retry the transaction; the retry returns the stored movement.")));
	check_replay(stored, *desc, req);
	return stored;
}


/* report_reversed: refuse (23505) when the movement already has a reversal. */
static void
report_reversed(int64 tenant, int64 original)
{
	TupleDesc	desc;
	HeapTuple	prior = find_movement(ST_REVERSAL_OF, tenant, Int64GetDatum(original), &desc);
	bool		isnull;

	if (prior != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("stock movement %lld is already reversed by movement %lld",
						(long long) original,
						(long long) DatumGetInt64(heap_getattr(prior, M_ID, desc, &isnull))),
				 errhint("A movement is reversed once; retry with the key of that reversal to get it back.")));
}

/* find_movement: the movement found by a ledger plan (tenant, arg), or NULL. */
static HeapTuple
find_movement(LedgerStatement which, int64 tenant, Datum arg, TupleDesc *desc)
{
	Datum		values[2] = {Int64GetDatum(tenant), arg};

	return plan_row(PLAN(which), values, NULL, false, SPI_OK_SELECT, "reading the stock ledger", desc);
}


/*
 * movement_by_key: inside SPI, whether the tenant's ledger has a movement with
 * this key; if so and qty is not NULL, *qty is its quantity (in SPI memory).
 */
bool
ledger_movement_by_key(int64 tenant, text *key, Datum *qty)
{
	TupleDesc	desc;
	HeapTuple	tup = find_movement(ST_BY_KEY, tenant, PointerGetDatum(key), &desc);
	bool		isnull;

	if (tup != NULL && qty != NULL)
		*qty = heap_getattr(tup, M_QTY, desc, &isnull);
	return tup != NULL;
}

/*
 * check_replay: the stored movement for this key must carry the same payload;
 * otherwise refuse, naming every field that differs.
 */
static void
check_replay(HeapTuple stored, TupleDesc desc, MoveRequest *req)
{
	ReplayCheck rc;

	replay_begin(&rc, stored, desc);
	replay_int8(&rc, "product_id", M_PRODUCT, req->product, false);
	replay_int8(&rc, "from_location_id", M_FROM, req->from, false);
	replay_int8(&rc, "to_location_id", M_TO, req->to, false);
	replay_numeric(&rc, "qty", M_QTY, req->qty, false);
	replay_text(&rc, "reason", M_REASON, req->reason);
	replay_reference(&rc, M_REFTYPE, M_REFID, req->ref_type, req->ref_id);
	replay_numeric(&rc, "unit_cost", M_UNIT_COST, req->unit_cost, req->unit_cost_null);
	replay_int8(&rc, "reverses_id", M_REVERSES, req->reverses, req->reverses == 0);
	/* occurred_at defaults to the time of the first call: compare it only when given */
	if (req->occurred_given)
		replay_timestamptz(&rc, "occurred_at", M_OCCURRED, req->occurred_at);
	replay_end(&rc, req->key, "movement",
			   "Retry with exactly the first payload to get the stored movement back, or use a new key for a new movement.");
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
read_refs(LedgerStatement which, Datum *values, const char *what)
{
	SPITupleTable *first;
	uint64		n;
	int			rc = SPI_execute_plan(PLAN(which), values, NULL, false, 1);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading %s failed: %s", what, SPI_result_code_string(rc));
	if (!IsolationUsesXactSnapshot())
		return;
	first = SPI_tuptable;
	n = SPI_processed;
	rc = SPI_execute_snapshot(PLAN(which), values, NULL, GetLatestSnapshot(), InvalidSnapshot,
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

/*
 * require_product: refuse a product that is missing (or another tenant's:
 * the two look the same), deleted, or not tracking stock.
 */
static void
require_product(int64 product, bool missing, bool deleted, bool tracks)
{
	if (missing)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("product %lld does not exist", (long long) product),
				 errhint("Pass the id of a product of the current tenant.")));
	if (deleted)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("product %lld is deleted", (long long) product),
				 errhint("Restore the product (deleted_at = NULL) before moving its stock.")));
	if (!tracks)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("product %lld does not track stock", (long long) product),
				 errhint("Set track_stock on the product to keep a ledger of it.")));
}

/* require_location: refuse a location that is missing or deleted; returns internal. */
static bool
require_location(int64 location, const char *role, bool missing, bool deleted, bool internal)
{
	if (missing)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("location %lld (%s) does not exist", (long long) location, role),
				 errhint("Pass the id of a location of the current tenant.")));
	if (deleted)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("location %lld (%s) is deleted", (long long) location, role),
				 errhint("Restore the location (deleted_at = NULL) to use it again.")));
	return internal;
}

/* bool_col: column col (1-based) of the first row of the last SPI result; NULL is false. */
static bool
bool_col(int col, bool *isnull)
{
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);

	return !*isnull && DatumGetBool(d);
}

/* ledger_check_product: the tenant's product exists, is not deleted and tracks stock. */
char *
ledger_check_product(int64 tenant, int64 product)
{
	Datum		values[2] = {Int64GetDatum(tenant), Int64GetDatum(product)};
	bool		isnull;
	bool		missing;

	read_refs(ST_PRODUCT, values, "the product");
	missing = SPI_processed == 0;
	require_product(product, missing, !missing && bool_col(2, &isnull), missing || bool_col(1, &isnull));
	return TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
}

/*
 * ledger_check_location: the tenant's location exists and is not deleted;
 * returns whether it is internal (warehouse, store, bin).
 */
bool
ledger_check_location(int64 tenant, int64 location, const char *role)
{
	Datum		values[2] = {Int64GetDatum(tenant), Int64GetDatum(location)};
	bool		isnull;
	bool		missing;

	read_refs(ST_LOCATION, values, "the location");
	missing = SPI_processed == 0;
	return require_location(location, role, missing, !missing && bool_col(2, &isnull),
							!missing && bool_col(1, &isnull));
}

/*
 * check_refs: the product and both locations of a request, in one statement:
 * the tenant's, existing, not deleted, and the product tracks stock.  Sets
 * whether the from location is internal.
 */
static char *
check_refs(int64 tenant, MoveRequest *req, bool *from_internal)
{
	Datum		values[4] = {Int64GetDatum(tenant), Int64GetDatum(req->product),
	Int64GetDatum(req->from), Int64GetDatum(req->to)};
	bool		v[6];
	bool		missing[6];
	int			i;

	read_refs(ST_REFS, values, "the product or locations");
	if (SPI_processed != 1)
		elog(ERROR, "reading products and locations returned %llu rows", (unsigned long long) SPI_processed);
	/* columns: track_stock, deleted of the product, then internal, deleted of each location */
	for (i = 0; i < 6; i++)
		v[i] = bool_col(i + 1, &missing[i]);
	require_product(req->product, missing[0], v[1], v[0]);
	*from_internal = require_location(req->from, "from_location_id", missing[2], v[3], v[2]);
	(void) require_location(req->to, "to_location_id", missing[4], v[5], false);
	return TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7, &missing[0]));
}


/*
 * apply_levels: add the movement to both stock_levels rows, lower location id
 * first (sessions moving in opposite directions cannot deadlock).  An internal
 * from location whose available stock goes below zero refuses the movement,
 * unless the tenant's settings allow negative stock.
 */
static SPITupleTable *
apply_levels(int64 tenant, MoveRequest *req, bool from_internal)
{
	Datum		out = num_neg(req->qty);
	bool		from_first = req->from < req->to;
	Datum		values[6];
	Datum		available = (Datum) 0;
	bool		isnull;
	uint64		i;
	SPITupleTable *levels;
	int			rc;

	values[0] = Int64GetDatum(tenant);
	values[1] = Int64GetDatum(req->product);
	values[2] = Int64GetDatum(from_first ? req->from : req->to);
	values[3] = from_first ? out : req->qty;
	values[4] = Int64GetDatum(from_first ? req->to : req->from);
	values[5] = from_first ? req->qty : out;
	rc = SPI_execute_plan(PLAN(ST_LEVELS), values, NULL, false, 2);
	if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 2)
		elog(ERROR, "updating stock_levels failed: %s", SPI_result_code_string(rc));
	levels = SPI_tuptable;
	if (!from_internal)
		return levels;
	for (i = 0; i < SPI_processed; i++)
		if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)) == req->from)
			available = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
	if (!num_lt(available, NUM_ZERO) || ledger_allows_negative(tenant))
		return levels;
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("insufficient stock of product %lld at location %lld",
					(long long) req->product, (long long) req->from),
			 errdetail("Moving %s would leave %s available.",
					   num_str(req->qty), num_str(available)),
			 errhint("Receive stock first, move less, or allow negative stock in the tenant's settings "
					 "(allow_negative_stock).")));
	return levels;
}

/*
 * ledger_lock_levels: inside SPI, create if missing and lock both stock_levels rows of
 * a product at two locations, lower location id first: the order every writer
 * of the levels takes them in, so that none can deadlock with another.
 */
void
ledger_lock_levels(int64 tenant, int64 product, int64 a, int64 b)
{
	Datum		zero = NUM_ZERO;
	Datum		values[6] = {Int64GetDatum(tenant), Int64GetDatum(product),
	Int64GetDatum(a < b ? a : b), zero, Int64GetDatum(a < b ? b : a), zero};
	int			rc = SPI_execute_plan(PLAN(ST_LEVELS), values, NULL, false, 2);

	if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 2)
		elog(ERROR, "locking stock_levels failed: %s", SPI_result_code_string(rc));
}

/*
 * ledger_guard() returns trigger: BEFORE UPDATE OR DELETE on stock_movements.
 * The ledger is append-only for everyone.
 */
Datum
ledger_guard(PG_FUNCTION_ARGS)
{
	trigger_refuse_change(fcinfo, "ledger_guard", "stock movements",
				  "Correct a movement with easeinv.reverse_movement(), which posts the opposite movement.");
	PG_RETURN_NULL();
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
	Datum		limit = num_const("100000000000000");	/* 10^14 */
	Datum		sum = num_add(PG_GETARG_DATUM(0), PG_GETARG_DATUM(1));
	Datum		gap = num_sub(sum, PG_GETARG_DATUM(2));
	bool		sum_out = num_ge(num_abs(sum), limit);

	if (sum_out || num_ge(num_abs(gap), limit))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the stock level of product %lld at location %lld would be out of range",
						(long long) PG_GETARG_INT64(3), (long long) PG_GETARG_INT64(4)),
				 sum_out ?
				 errdetail("%s and %s make %s; a stock level has at most 14 digits before the point.",
						   num_str(PG_GETARG_DATUM(0)), num_str(PG_GETARG_DATUM(1)), num_str(sum)) :
				 errdetail("On hand and reserved would differ by %s; available, their difference, has at most 14 digits before the point.",
						   num_str(num_abs(gap))),
				 errhint("Check the quantity; nothing was posted.")));
	return sum;
}


/*
 * ledger_gate: the tenant's movement gate, a lock of the transaction on an
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
ledger_gate(int64 tenant, bool exclusive)
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
history_exists(FunctionCallInfo fcinfo, LedgerStatement which, const char *what)
{
	int64		tenant;
	int64		id;
	int64		context;
	Datum		values[2];
	OwnerScope session;
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
	context = tenant_resolve(TENANT_OPTIONAL);
	if (context == 0 && !tenant_role_bypasses_rls())
		(void) tenant_resolve(TENANT_REQUIRED);	/* raises 42501: no context */
	if (context != 0 && context != tenant)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s history of tenant %lld cannot be read in the context of tenant %lld",
						what, (long long) tenant, (long long) context),
				 errhint("Switch context with easeinv.set_tenant().")));

	values[0] = Int64GetDatum(tenant);
	values[1] = Int64GetDatum(id);
	owner_begin(&session);
	plan = PLAN(which);
	found = false;
	for (pass = 0; pass < 2 && !found; pass++)
	{
		bool		isnull;
		int			rc;

		if (pass == 1)
		{
			ledger_gate(tenant, true);
			rc = SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(), InvalidSnapshot,
									  true, false, 1);
		}
		else
			rc = SPI_execute_plan(plan, values, NULL, true, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "reading the history of a %s failed", what);
		found = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	owner_end(&session);
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
	PG_RETURN_BOOL(history_exists(fcinfo, ST_LOCATION_HISTORY, "location"));
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
	PG_RETURN_BOOL(history_exists(fcinfo, ST_PRODUCT_HISTORY, "product"));
}
