/*-------------------------------------------------------------------------
 * reservations.c
 *	  Stock reserved for orders: reserve(), release(), consume().
 *
 * A reservation holds a quantity of a product at an internal location for an
 * order: stock_levels.reserved grows by it, and available (on_hand minus
 * reserved) shrinks, so other movements cannot take it.  It ends by being
 * released (the rest of it goes back to available) or consumed (the reserved
 * stock leaves in a stock movement, in one or more parts).  Every call is
 * idempotent by its key, like move_stock:
 *	  - reserve: the key names the reservation; same key and payload returns
 *		it (replayed), another payload is refused (23505);
 *	  - release: the key is stored on the reservation; a retry returns it;
 *	  - consume: the key is the key of the movement it posts; a retry returns
 *		that movement as a replay and changes nothing.
 * Concurrent releases and consumptions of one reservation are serialized by
 * locking its row.  As in ledger.c, statements run as the ledger's owner and
 * name the tenant of the context explicitly.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "args.h"
#include "legacy.h"
#include "numbers.h"
#include "owner.h"
#include "plans.h"
#include "replay.h"
#include "result.h"
#include "triggers.h"
#include "ledger.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/numeric.h"
#include "lib/stringinfo.h"

PG_FUNCTION_INFO_V1(reserve_stock);
PG_FUNCTION_INFO_V1(release_reservation);
PG_FUNCTION_INFO_V1(consume_reservation);

#define RESERVATION_COLUMNS \
	"id, idempotency_key, product_id, location_id, qty, consumed, released, status, " \
	"reference_type, reference_id, release_key, created_at, updated_at"

/* columns of RESERVATION_COLUMNS, 1-based as SPI counts them */
enum
{
	R_ID = 1, R_KEY, R_PRODUCT, R_LOCATION, R_QTY, R_CONSUMED, R_RELEASED, R_STATUS,
	R_REFTYPE, R_REFID, R_RELEASE_KEY, R_CREATED, R_UPDATED, R_NCOLS = R_UPDATED
};

typedef enum ReservationPlan
{
	RPLAN_BY_KEY,
	RPLAN_BY_ID,
	RPLAN_LOCK,
	RPLAN_INSERT,
	RPLAN_UPDATE,
	RPLAN_RESERVED,
	RPLAN_UNRESERVE,
	RPLAN_COUNT
} ReservationPlan;

static SPIPlanPtr rplans[RPLAN_COUNT];

static SPIPlanPtr reservation_plan(ReservationPlan which);
static HeapTuple find_reservation(ReservationPlan plan, int64 tenant, Datum arg);
static HeapTuple lock_reservation(int64 tenant, int64 id);
static void add_reserved(int64 tenant, int64 product, int64 location, Datum delta, bool check);
static Datum remaining_of(HeapTuple tup, TupleDesc desc);
static int64 get_int8(HeapTuple tup, TupleDesc desc, int col);

/* reservation_plan: the saved plan of one of the reservation statements. */
static SPIPlanPtr
reservation_plan(ReservationPlan which)
{
	static const char *const sql[RPLAN_COUNT] = {
		[RPLAN_BY_KEY] = "SELECT " RESERVATION_COLUMNS " FROM easeinv.stock_reservations"
		" WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND idempotency_key OPERATOR(pg_catalog.=) $2",
		[RPLAN_BY_ID] = "SELECT " RESERVATION_COLUMNS " FROM easeinv.stock_reservations"
		" WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $2",
		[RPLAN_LOCK] = "SELECT " RESERVATION_COLUMNS " FROM easeinv.stock_reservations"
		" WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $2 FOR UPDATE",
		[RPLAN_INSERT] = "INSERT INTO easeinv.stock_reservations (tenant_id, idempotency_key, product_id,"
		" location_id, qty, reference_type, reference_id) VALUES ($1, $2, $3, $4, $5, $6, $7)"
		" ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING " RESERVATION_COLUMNS,
		[RPLAN_UPDATE] = "UPDATE easeinv.stock_reservations"
		" SET consumed = consumed OPERATOR(pg_catalog.+) $3, released = released OPERATOR(pg_catalog.+) $4,"
		" release_key = COALESCE(release_key, $5),"
		/* OPERATOR() syntax gives every operator one precedence: parenthesize */
		" status = CASE WHEN qty OPERATOR(pg_catalog.>)"
		"                    (((consumed OPERATOR(pg_catalog.+) $3) OPERATOR(pg_catalog.+) released)"
		"                     OPERATOR(pg_catalog.+) $4) THEN 'active'"
		"          WHEN (released OPERATOR(pg_catalog.+) $4) OPERATOR(pg_catalog.>) 0 THEN 'released'"
		"          ELSE 'consumed' END,"
		" updated_at = pg_catalog.now()"
		" WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $2"
		" RETURNING " RESERVATION_COLUMNS,
		[RPLAN_RESERVED] = "INSERT INTO easeinv.stock_levels AS l (tenant_id, product_id, location_id, reserved)"
		" VALUES ($1, $2, $3, $4)"
		" ON CONFLICT (tenant_id, product_id, location_id) DO UPDATE"
		" SET reserved = easeinv.level_add(l.reserved, excluded.reserved, l.on_hand, l.product_id, l.location_id), updated_at = pg_catalog.now()"
		" RETURNING l.on_hand OPERATOR(pg_catalog.-) l.reserved",
		/* a decrement: the row exists, and an upsert's proposed row would fail reserved >= 0 */
		[RPLAN_UNRESERVE] = "UPDATE easeinv.stock_levels AS l"
		" SET reserved = easeinv.level_add(l.reserved, $4, l.on_hand, l.product_id, l.location_id), updated_at = pg_catalog.now()"
		" WHERE l.tenant_id OPERATOR(pg_catalog.=) $1 AND l.product_id OPERATOR(pg_catalog.=) $2"
		" AND l.location_id OPERATOR(pg_catalog.=) $3"
		" RETURNING l.on_hand OPERATOR(pg_catalog.-) l.reserved",
	};
	static Oid	t_key[] = {INT8OID, TEXTOID};
	static Oid	t_id[] = {INT8OID, INT8OID};
	static Oid	t_insert[] = {INT8OID, TEXTOID, INT8OID, INT8OID, NUMERICOID, TEXTOID, TEXTOID};
	static Oid	t_update[] = {INT8OID, INT8OID, NUMERICOID, NUMERICOID, TEXTOID};
	static Oid	t_reserved[] = {INT8OID, INT8OID, INT8OID, NUMERICOID};
	Oid		   *types = t_id;
	int			nargs = 2;

	if (rplans[which] != NULL)
		return rplans[which];
	switch (which)
	{
		case RPLAN_BY_KEY:
			types = t_key;
			break;
		case RPLAN_INSERT:
			types = t_insert;
			nargs = 7;
			break;
		case RPLAN_UPDATE:
			types = t_update;
			nargs = 5;
			break;
		case RPLAN_RESERVED:
		case RPLAN_UNRESERVE:
			types = t_reserved;
			nargs = 4;
			break;
		default:
			break;
	}
	rplans[which] = plan_prepare_kept(sql[which], nargs, types);
	return rplans[which];
}

/* find_reservation: the reservation a plan finds for (tenant, arg), or NULL. */
static HeapTuple
find_reservation(ReservationPlan plan, int64 tenant, Datum arg)
{
	Datum		values[2] = {Int64GetDatum(tenant), arg};
	int			rc = SPI_execute_plan(reservation_plan(plan), values, NULL, false, 1);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading stock reservations failed: %s", SPI_result_code_string(rc));
	return SPI_processed == 0 ? NULL : SPI_tuptable->vals[0];
}

/*
 * lock_reservation: the tenant's reservation, locked FOR UPDATE so that its
 * releases and consumptions go one at a time; 22023 when there is none.
 */
static HeapTuple
lock_reservation(int64 tenant, int64 id)
{
	HeapTuple	tup = find_reservation(RPLAN_LOCK, tenant, Int64GetDatum(id));

	if (tup == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stock reservation %lld does not exist", (long long) id),
				 errhint("Pass the id of a reservation of the current tenant.")));
	return tup;
}

/* get_int8: a bigint column of a reservation row. */
static int64
get_int8(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;

	return DatumGetInt64(SPI_getbinval(tup, desc, col, &isnull));
}

/* remaining_of: qty - consumed - released of a reservation row. */
static Datum
remaining_of(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum		qty = SPI_getbinval(tup, desc, R_QTY, &isnull);
	Datum		consumed = SPI_getbinval(tup, desc, R_CONSUMED, &isnull);
	Datum		released = SPI_getbinval(tup, desc, R_RELEASED, &isnull);

	return DirectFunctionCall2(numeric_sub, DirectFunctionCall2(numeric_sub, qty, consumed), released);
}

/*
 * add_reserved: add delta to stock_levels.reserved of one product and location;
 * when check is set, refuse (23514) if available goes below zero, unless the
 * tenant allows negative stock.
 */
static void
add_reserved(int64 tenant, int64 product, int64 location, Datum delta, bool check)
{
	Datum		values[4] = {Int64GetDatum(tenant), Int64GetDatum(product), Int64GetDatum(location), delta};
	Datum		zero = DirectFunctionCall1(int4_numeric, Int32GetDatum(0));
	Datum		available;
	bool		isnull;
	bool		increment = DatumGetBool(DirectFunctionCall2(numeric_gt, delta, zero));
	int			rc = SPI_execute_plan(reservation_plan(increment ? RPLAN_RESERVED : RPLAN_UNRESERVE),
									  values, NULL, false, 1);

	if (rc != (increment ? SPI_OK_INSERT_RETURNING : SPI_OK_UPDATE_RETURNING) || SPI_processed != 1)
		elog(ERROR, "updating reserved stock failed: %s", SPI_result_code_string(rc));
	available = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!check || !DatumGetBool(DirectFunctionCall2(numeric_lt, available, zero)))
		return;
	if (ledger_allows_negative(tenant))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("insufficient stock of product %lld at location %lld to reserve",
					(long long) product, (long long) location),
			 errdetail("Reserving %s would leave %s available.",
					   DatumGetCString(DirectFunctionCall1(numeric_out, delta)),
					   DatumGetCString(DirectFunctionCall1(numeric_out, available))),
			 errhint("Reserve less, or receive stock first.")));
}

/*
 * reserve_stock(idempotency_key, product_id, location_id, qty, reference_type,
 * reference_id) returns easeinv.reservation.
 */
Datum
reserve_stock(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	text	   *key = arg_key(fcinfo, 0);
	int64		product = arg_id(fcinfo, 1, "product_id");
	int64		location = arg_id(fcinfo, 2, "location_id");
	Datum		qty;
	text	   *ref_type = arg_text(fcinfo, 4, "reference_type", 64);
	text	   *ref_id = arg_text(fcinfo, 5, "reference_id", 255);
	int64		tenant;
	OwnerScope session;
	HeapTuple	tup;
	Datum		result;
	bool		replayed = false;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("qty must not be null")));
	qty = arg_check_quantity(PG_GETARG_DATUM(3), "qty", false);
	tenant = tenant_resolve(TENANT_REQUIRED);
	/* whether the location holds stock decides the check below: pass the movement gate */
	ledger_gate(tenant, false);

	owner_begin(&session);

	tup = find_reservation(RPLAN_BY_KEY, tenant, PointerGetDatum(key));
	if (tup == NULL)
	{
		Datum		values[7];
		char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ref_type ? ' ' : 'n', ref_id ? ' ' : 'n'};
		int			rc;

		ledger_check_product(tenant, product);
		if (!ledger_check_location(tenant, location, "location_id"))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("location %lld is not an internal location", (long long) location),
					 errhint("Stock is reserved where it is kept: a warehouse, store or bin.")));
		values[0] = Int64GetDatum(tenant);
		values[1] = PointerGetDatum(key);
		values[2] = Int64GetDatum(product);
		values[3] = Int64GetDatum(location);
		values[4] = qty;
		values[5] = PointerGetDatum(ref_type);
		values[6] = PointerGetDatum(ref_id);
		rc = SPI_execute_plan(reservation_plan(RPLAN_INSERT), values, nulls, false, 1);
		if (rc != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "inserting a stock reservation failed: %s", SPI_result_code_string(rc));
		if (SPI_processed == 1)
		{
			tup = SPI_tuptable->vals[0];
			result = result_replayed(fcinfo, tup, SPI_tuptable->tupdesc, R_NCOLS, false, cxt);
			add_reserved(tenant, product, location, qty, true);
			owner_end(&session);
			return result;
		}
		/* a concurrent session with the same key committed first */
		tup = find_reservation(RPLAN_BY_KEY, tenant, PointerGetDatum(key));
		if (tup == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent reservation with the same idempotency key"),
					 errhint("Retry the transaction; the retry returns the stored reservation.")));
	}

	/* a replay: the payload must be the same */
	{
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;
		StringInfoData diff;

		initStringInfo(&diff);
		if (get_int8(tup, desc, R_PRODUCT) != product)
			appendStringInfo(&diff, "%sproduct_id (first %lld, now %lld)", diff.len ? ", " : "",
							 (long long) get_int8(tup, desc, R_PRODUCT), (long long) product);
		if (get_int8(tup, desc, R_LOCATION) != location)
			appendStringInfo(&diff, "%slocation_id (first %lld, now %lld)", diff.len ? ", " : "",
							 (long long) get_int8(tup, desc, R_LOCATION), (long long) location);
		d = SPI_getbinval(tup, desc, R_QTY, &isnull);
		if (!DatumGetBool(DirectFunctionCall2(numeric_eq, d, qty)))
			appendStringInfo(&diff, "%sqty (first %s, now %s)", diff.len ? ", " : "",
							 DatumGetCString(DirectFunctionCall1(numeric_out, d)),
							 DatumGetCString(DirectFunctionCall1(numeric_out, qty)));
		d = SPI_getbinval(tup, desc, R_REFTYPE, &isnull);
		if (!same_text(ref_type, d, isnull))
			appendStringInfo(&diff, "%sreference_type (first %s, now %s)", diff.len ? ", " : "",
							 isnull ? "null" : TextDatumGetCString(d), ref_type ? text_to_cstring(ref_type) : "null");
		d = SPI_getbinval(tup, desc, R_REFID, &isnull);
		if (!same_text(ref_id, d, isnull))
			appendStringInfo(&diff, "%sreference_id (first %s, now %s)", diff.len ? ", " : "",
							 isnull ? "null" : TextDatumGetCString(d), ref_id ? text_to_cstring(ref_id) : "null");
		if (diff.len > 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("idempotency key \"%s\" was already used for a different reservation",
							text_to_cstring(key)),
					 errdetail("Differs: %s.", diff.data),
					 errhint("Retry with exactly the first payload, or use a new key.")));
		replayed = true;
		result = result_replayed(fcinfo, tup, desc, R_NCOLS, replayed, cxt);
	}
	owner_end(&session);
	return result;
}

/*
 * release_reservation(idempotency_key, reservation_id) returns
 * easeinv.reservation: what is left of the reservation goes back to available.
 */
Datum
release_reservation(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	text	   *key = arg_key(fcinfo, 0);
	int64		id = arg_id(fcinfo, 1, "reservation_id");
	int64		tenant = tenant_resolve(TENANT_REQUIRED);
	OwnerScope session;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		release_key;
	Datum		remaining;
	Datum		result;
	Datum		zero = DirectFunctionCall1(int4_numeric, Int32GetDatum(0));

	owner_begin(&session);

	tup = lock_reservation(tenant, id);
	desc = SPI_tuptable->tupdesc;
	release_key = SPI_getbinval(tup, desc, R_RELEASE_KEY, &isnull);
	if (!isnull)
	{
		if (strcmp(TextDatumGetCString(release_key), text_to_cstring(key)) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("stock reservation %lld was already released with another key", (long long) id),
					 errhint("Retry with the key of that release to get it back.")));
		result = result_replayed(fcinfo, tup, desc, R_NCOLS, true, cxt);
		owner_end(&session);
		return result;
	}
	remaining = remaining_of(tup, desc);
	if (!DatumGetBool(DirectFunctionCall2(numeric_gt, remaining, zero)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stock reservation %lld is fully consumed; nothing is left to release", (long long) id)));
	{
		int64		product = get_int8(tup, desc, R_PRODUCT);
		int64		location = get_int8(tup, desc, R_LOCATION);
		Datum		values[5] = {Int64GetDatum(tenant), Int64GetDatum(id), zero, remaining, PointerGetDatum(key)};
		int			rc;

		rc = SPI_execute_plan(reservation_plan(RPLAN_UPDATE), values, NULL, false, 1);
		if (rc != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
			elog(ERROR, "releasing a stock reservation failed: %s", SPI_result_code_string(rc));
		result = result_replayed(fcinfo, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, R_NCOLS, false, cxt);
		add_reserved(tenant, product, location, DirectFunctionCall1(numeric_uminus, remaining), false);
	}
	owner_end(&session);
	return result;
}

/*
 * consume_reservation(idempotency_key, reservation_id, to_location_id, qty)
 * returns easeinv.movement: qty (default: all that is left) of the reserved
 * stock leaves its location for to_location_id in a movement whose key is
 * idempotency_key.
 */
Datum
consume_reservation(PG_FUNCTION_ARGS)
{
	MoveRequest req;
	int64		id;
	int64		tenant;
	OwnerScope session;
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		remaining;
	Datum		zero = DirectFunctionCall1(int4_numeric, Int32GetDatum(0));
	MemoryContext cxt = CurrentMemoryContext;
	bool		qty_given;
	bool		isnull;

	memset(&req, 0, sizeof(req));
	req.key = arg_key(fcinfo, 0);
	id = arg_id(fcinfo, 1, "reservation_id");
	req.to = arg_id(fcinfo, 2, "to_location_id");
	qty_given = !PG_ARGISNULL(3);
	if (qty_given)
		req.qty = arg_check_quantity(PG_GETARG_DATUM(3), "qty", false);
	tenant = tenant_resolve(TENANT_REQUIRED);

	owner_begin(&session);

	/* lock the reservation: consumptions and releases of it go one at a time */
	tup = lock_reservation(tenant, id);
	desc = SPI_tuptable->tupdesc;
	req.product = get_int8(tup, desc, R_PRODUCT);
	req.from = get_int8(tup, desc, R_LOCATION);
	remaining = remaining_of(tup, desc);

	/*
	 * A retry of a consumption that happened: post_movement replays it.  With no
	 * qty given, the retry means what the first call meant, the stored quantity.
	 */
	if (!ledger_movement_by_key(tenant, req.key, qty_given ? NULL : &req.qty))
	{
		Datum		values[5];
		char		nulls[5] = {' ', ' ', ' ', ' ', 'n'};
		int			rc;

		if (!qty_given)
			req.qty = remaining;
		if (!DatumGetBool(DirectFunctionCall2(numeric_gt, remaining, zero)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("stock reservation %lld has nothing left to consume", (long long) id),
					 errdetail("It is %s.", TextDatumGetCString(SPI_getbinval(tup, desc, R_STATUS, &isnull)))));
		if (DatumGetBool(DirectFunctionCall2(numeric_gt, req.qty, remaining)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot consume %s of stock reservation %lld: %s is left",
							DatumGetCString(DirectFunctionCall1(numeric_out, req.qty)), (long long) id,
							DatumGetCString(DirectFunctionCall1(numeric_out, remaining)))));
		if (req.from == req.to)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("to_location_id %lld is the reservation's own location", (long long) req.to),
					 errhint("Consuming a reservation moves the stock somewhere else, such as a customer location.")));
		values[0] = Int64GetDatum(tenant);
		values[1] = Int64GetDatum(id);
		values[2] = req.qty;
		values[3] = zero;
		values[4] = (Datum) 0;
		rc = SPI_execute_plan(reservation_plan(RPLAN_UPDATE), values, nulls, false, 1);
		if (rc != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
			elog(ERROR, "consuming a stock reservation failed: %s", SPI_result_code_string(rc));
		/* both level rows first, in the common order, then the reserved stock */
		ledger_lock_levels(tenant, req.product, req.from, req.to);
		add_reserved(tenant, req.product, req.from, DirectFunctionCall1(numeric_uminus, req.qty), false);
	}

	/* what the movement needs must outlive SPI_finish */
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		char		buf[32];

		req.qty = datumCopy(req.qty, false, -1);
		snprintf(buf, sizeof(buf), INT64_FORMAT, id);
		req.ref_id = cstring_to_text(buf);
		req.ref_type = cstring_to_text("reservation");
		MemoryContextSwitchTo(old);
	}
	req.unit_cost_null = true;
	req.occurred_at = GetCurrentTransactionStartTimestamp();
	owner_end(&session);
	return ledger_post_movement(fcinfo, &req);
}
