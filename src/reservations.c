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
#include "numbers.h"
#include "owner.h"
#include "plans.h"
#include "replay.h"
#include "result.h"
#include "events.h"
#include "ledger.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"

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

/* The reservation statements (plans.h; the rule of owner.c).  Each takes the tenant as $1. */
typedef enum ReservationStatement
{
	ST_BY_KEY,					/* the reservation of a key: replays */
	ST_LOCK,					/* the same, locked for a release or consumption */
	ST_INSERT,					/* a new reservation */
	ST_UPDATE,					/* consumed or released grows */
	ST_RESERVED,				/* stock_levels.reserved grows (upsert) */
	ST_UNRESERVE,				/* stock_levels.reserved shrinks */
	ST_COUNT
} ReservationStatement;

static const PlanStatement statements[ST_COUNT] = {
	[ST_BY_KEY] = PLAN_SELECT_BY_KEY(RESERVATION_COLUMNS, "easeinv.stock_reservations"),
	[ST_LOCK] = PLAN_SELECT_BY_ID(RESERVATION_COLUMNS, "easeinv.stock_reservations", " FOR UPDATE"),
	[ST_INSERT] = {"INSERT INTO easeinv.stock_reservations (tenant_id, idempotency_key, product_id,"
		" location_id, qty, reference_type, reference_id) VALUES ($1, $2, $3, $4, $5, $6, $7)"
		" ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING " RESERVATION_COLUMNS, 7,
		{INT8OID, TEXTOID, INT8OID, INT8OID, NUMERICOID, TEXTOID, TEXTOID}},
	/* $3 more consumed, $4 more released, $5 the release key (NULL for a consumption) */
	[ST_UPDATE] = {"UPDATE easeinv.stock_reservations"
		" SET consumed = consumed + $3, released = released + $4,"
		" release_key = COALESCE(release_key, $5),"
		" status = CASE WHEN qty > consumed + $3 + released + $4 THEN 'active'"
		"          WHEN released + $4 > 0 THEN 'released'"
		"          ELSE 'consumed' END,"
		" updated_at = now()"
		" WHERE tenant_id = $1 AND id = $2"
		" RETURNING " RESERVATION_COLUMNS, 5, {INT8OID, INT8OID, NUMERICOID, NUMERICOID, TEXTOID}},
	[ST_RESERVED] = {"INSERT INTO easeinv.stock_levels AS l (tenant_id, product_id, location_id, reserved)"
		" VALUES ($1, $2, $3, $4)"
		" ON CONFLICT (tenant_id, product_id, location_id) DO UPDATE"
		" SET reserved = easeinv.level_add(l.reserved, excluded.reserved, l.on_hand, l.product_id, l.location_id),"
		" updated_at = now()"
		" RETURNING l.on_hand - l.reserved", 4, {INT8OID, INT8OID, INT8OID, NUMERICOID}},
	/* a decrement: the row exists, and an upsert's proposed row would fail reserved >= 0 */
	[ST_UNRESERVE] = {"UPDATE easeinv.stock_levels AS l"
		" SET reserved = easeinv.level_add(l.reserved, $4, l.on_hand, l.product_id, l.location_id),"
		" updated_at = now()"
		" WHERE l.tenant_id = $1 AND l.product_id = $2 AND l.location_id = $3"
		" RETURNING l.on_hand - l.reserved", 4, {INT8OID, INT8OID, INT8OID, NUMERICOID}},
};

static SPIPlanPtr plans[ST_COUNT];

#define PLAN(which)		plan_kept(statements, plans, (which))

/* A reserve_stock() call, checked. */
typedef struct ReserveRequest
{
	text	   *key;
	int64		product;
	int64		location;
	Datum		qty;
	text	   *ref_type;
	text	   *ref_id;
} ReserveRequest;

static HeapTuple find_reservation(ReservationStatement which, int64 tenant, Datum arg, TupleDesc *desc);
static HeapTuple lock_reservation(int64 tenant, int64 id, TupleDesc *desc);
static Datum add_reserved(int64 tenant, int64 product, int64 location, Datum delta, bool check);
static void emit_reservation(int64 tenant, const char *type, HeapTuple row, TupleDesc desc, const char *sku,
							 Datum qty, Datum available);
static Datum remaining_of(HeapTuple tup, TupleDesc desc);
static int64 get_int8(HeapTuple tup, TupleDesc desc, int col);
static HeapTuple insert_reservation(int64 tenant, ReserveRequest *req, TupleDesc *desc, char **sku);
static void check_reserve_replay(HeapTuple stored, TupleDesc desc, ReserveRequest *req);
static void refuse_nothing_left(int64 id, Datum remaining, const char *what, HeapTuple tup, TupleDesc desc);
static HeapTuple update_reservation(int64 tenant, int64 id, Datum consumed, Datum released, text *release_key);

/* find_reservation: the reservation a plan finds for (tenant, arg), or NULL. */
static HeapTuple
find_reservation(ReservationStatement which, int64 tenant, Datum arg, TupleDesc *desc)
{
	Datum		values[2] = {Int64GetDatum(tenant), arg};

	return plan_row(PLAN(which), values, NULL, false, SPI_OK_SELECT, "reading stock reservations", desc);
}


/*
 * lock_reservation: the tenant's reservation, locked FOR UPDATE so that its
 * releases and consumptions go one at a time; 22023 when there is none.
 */
static HeapTuple
lock_reservation(int64 tenant, int64 id, TupleDesc *desc)
{
	HeapTuple	tup = find_reservation(ST_LOCK, tenant, Int64GetDatum(id), desc);

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

	return num_sub(num_sub(qty, consumed), released);
}

/*
 * add_reserved: add delta to stock_levels.reserved of one product and location;
 * when check is set, refuse (23514) if available goes below zero, unless the
 * tenant allows negative stock.
 */
static Datum
add_reserved(int64 tenant, int64 product, int64 location, Datum delta, bool check)
{
	Datum		values[4] = {Int64GetDatum(tenant), Int64GetDatum(product), Int64GetDatum(location), delta};
	Datum		available;
	bool		isnull;
	bool		increment = num_gt(delta, NUM_ZERO);
	int			rc = SPI_execute_plan(PLAN(increment ? ST_RESERVED : ST_UNRESERVE), values, NULL, false, 1);

	if (rc != (increment ? SPI_OK_INSERT_RETURNING : SPI_OK_UPDATE_RETURNING) || SPI_processed != 1)
		elog(ERROR, "updating reserved stock failed: %s", SPI_result_code_string(rc));
	available = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!check || !num_lt(available, NUM_ZERO) || ledger_allows_negative(tenant))
		return available;
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("insufficient stock of product %lld at location %lld to reserve",
					(long long) product, (long long) location),
			 errdetail("Reserving %s would leave %s available.", num_str(delta), num_str(available)),
			 errhint("Reserve less, or receive stock first.")));
	return available;
}
/*
 * emit_reservation: the outbox event of a reservation that changed (row is
 * its new state; qty what was reserved or released now), aggregate
 * stock:<product_id> like the movements, and the invalidation of the stock.
 */
static void
emit_reservation(int64 tenant, const char *type, HeapTuple row, TupleDesc desc, const char *sku,
				 Datum qty, Datum available)
{
	EventPayload p;
	bool		isnull;
	int64		product = get_int8(row, desc, R_PRODUCT);
	char		buf[32];
	Datum		d;

	event_begin(&p);
	event_int8(&p, "reservation_id", get_int8(row, desc, R_ID));
	event_int8(&p, "product_id", product);
	if (sku != NULL)
		event_text(&p, "sku", sku);
	event_int8(&p, "location_id", get_int8(row, desc, R_LOCATION));
	event_numeric(&p, "qty", qty, false);
	event_text(&p, "status", TextDatumGetCString(SPI_getbinval(row, desc, R_STATUS, &isnull)));
	d = SPI_getbinval(row, desc, R_REFTYPE, &isnull);
	event_text(&p, "reference_type", isnull ? NULL : TextDatumGetCString(d));
	d = SPI_getbinval(row, desc, R_REFID, &isnull);
	event_text(&p, "reference_id", isnull ? NULL : TextDatumGetCString(d));
	event_numeric(&p, "available", available, false);
	snprintf(buf, sizeof(buf), INT64_FORMAT, product);
	(void) events_emit(tenant, type, "stock", buf, event_end(&p));
	events_invalidate(tenant, "stock", product);
}


/*
 * update_reservation: add to a locked reservation's consumed and released
 * (and set its release key); returns the new row.
 */
static HeapTuple
update_reservation(int64 tenant, int64 id, Datum consumed, Datum released, text *release_key)
{
	Datum		values[5] = {Int64GetDatum(tenant), Int64GetDatum(id), consumed, released,
	PointerGetDatum(release_key)};
	char		nulls[5] = {' ', ' ', ' ', ' ', release_key ? ' ' : 'n'};
	int			rc = SPI_execute_plan(PLAN(ST_UPDATE), values, nulls, false, 1);

	if (rc != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
		elog(ERROR, "updating a stock reservation failed: %s", SPI_result_code_string(rc));
	return SPI_tuptable->vals[0];
}

/*
 * refuse_nothing_left: a reservation with nothing left (fully consumed or
 * released) cannot be released or consumed: a wrong state (55000).
 */
static void
refuse_nothing_left(int64 id, Datum remaining, const char *what, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	char	   *status;

	if (num_gt(remaining, NUM_ZERO))
		return;
	status = TextDatumGetCString(SPI_getbinval(tup, desc, R_STATUS, &isnull));
	if (strcmp(what, "release") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stock reservation %lld is fully consumed; nothing is left to release", (long long) id)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("stock reservation %lld has nothing left to %s", (long long) id, what),
			 errdetail("It is %s.", status)));
}



/*
 * reserve_stock(idempotency_key, product_id, location_id, qty, reference_type,
 * reference_id) returns easeinv.reservation.
 */
Datum
reserve_stock(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	ReserveRequest req;
	int64		tenant;
	OwnerScope session;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		replayed;
	Datum		result;
	char	   *sku = NULL;

	/* 1. the arguments */
	req.key = arg_key(fcinfo, 0);
	req.product = arg_id(fcinfo, 1, "product_id");
	req.location = arg_id(fcinfo, 2, "location_id");
	/* in the order the checks ran before 0.5.0: the references, then the quantity */
	req.ref_type = arg_text(fcinfo, 4, "reference_type", 64);
	req.ref_id = arg_text(fcinfo, 5, "reference_id", 255);
	req.qty = arg_quantity(fcinfo, 3, "qty");
	tenant = tenant_resolve(TENANT_REQUIRED);
	/* whether the location holds stock decides the check below: pass the movement gate */
	ledger_gate(tenant, false);

	owner_begin(&session);
	/* 2. a replay returns the stored reservation, if the payload is the same */
	tup = find_reservation(ST_BY_KEY, tenant, PointerGetDatum(req.key), &desc);
	replayed = tup != NULL;
	if (!replayed)
		tup = insert_reservation(tenant, &req, &desc, &sku);
	if (tup == NULL)
	{
		/* 3. a concurrent session with the same key committed first */
		tup = find_reservation(ST_BY_KEY, tenant, PointerGetDatum(req.key), &desc);
		if (tup == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent reservation with the same idempotency key"),
					 errhint("Retry the transaction; the retry returns the stored reservation.")));
		replayed = true;
	}
	if (replayed)
		check_reserve_replay(tup, desc, &req);
	result = result_replayed(fcinfo, tup, desc, R_NCOLS, replayed, cxt);
	/* 4. a new reservation holds its stock; its event */
	if (!replayed)
		emit_reservation(tenant, "stock.reserved", tup, desc, sku, req.qty,
						 add_reserved(tenant, req.product, req.location, req.qty, true));
	owner_end(&session);
	return result;
}

/*
 * insert_reservation: check the product and location and insert the
 * reservation; NULL when a concurrent session took the key first.
 */
static HeapTuple
insert_reservation(int64 tenant, ReserveRequest *req, TupleDesc *desc, char **sku)
{
	Datum		values[7] = {Int64GetDatum(tenant), PointerGetDatum(req->key), Int64GetDatum(req->product),
		Int64GetDatum(req->location), req->qty, PointerGetDatum(req->ref_type), PointerGetDatum(req->ref_id)};
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', req->ref_type ? ' ' : 'n', req->ref_id ? ' ' : 'n'};

	*sku = ledger_check_product(tenant, req->product);
	if (!ledger_check_location(tenant, req->location, "location_id"))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("location %lld is not an internal location", (long long) req->location),
				 errhint("Stock is reserved where it is kept: a warehouse, store or bin.")));
	return plan_row(PLAN(ST_INSERT), values, nulls, false, SPI_OK_INSERT_RETURNING,
					"inserting a stock reservation", desc);
}

/* check_reserve_replay: the stored reservation of the key has the same payload. */
static void
check_reserve_replay(HeapTuple stored, TupleDesc desc, ReserveRequest *req)
{
	ReplayCheck rc;

	replay_begin(&rc, stored, desc);
	replay_int8(&rc, "product_id", R_PRODUCT, req->product, false);
	replay_int8(&rc, "location_id", R_LOCATION, req->location, false);
	replay_numeric(&rc, "qty", R_QTY, req->qty, false);
	replay_reference(&rc, R_REFTYPE, R_REFID, req->ref_type, req->ref_id);
	replay_end(&rc, req->key, "reservation", "Retry with exactly the first payload, or use a new key.");
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

	owner_begin(&session);

	tup = lock_reservation(tenant, id, &desc);
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
	refuse_nothing_left(id, remaining, "release", tup, desc);
	{
		int64		product = get_int8(tup, desc, R_PRODUCT);
		int64		location = get_int8(tup, desc, R_LOCATION);

		TupleDesc	rdesc;

		tup = update_reservation(tenant, id, NUM_ZERO, remaining, key);
		rdesc = SPI_tuptable->tupdesc;
		result = result_replayed(fcinfo, tup, rdesc, R_NCOLS, false, cxt);
		emit_reservation(tenant, "stock.released", tup, rdesc, NULL, remaining,
						 add_reserved(tenant, product, location, num_neg(remaining), false));
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
	MemoryContext cxt = CurrentMemoryContext;
	bool		qty_given;

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
	tup = lock_reservation(tenant, id, &desc);
	req.product = get_int8(tup, desc, R_PRODUCT);
	req.from = get_int8(tup, desc, R_LOCATION);
	remaining = remaining_of(tup, desc);

	/*
	 * A retry of a consumption that happened: ledger_post_movement replays it.  With no
	 * qty given, the retry means what the first call meant, the stored quantity.
	 */
	if (!ledger_movement_by_key(tenant, req.key, qty_given ? NULL : &req.qty))
	{
		if (!qty_given)
			req.qty = remaining;
		refuse_nothing_left(id, remaining, "consume", tup, desc);
		if (num_gt(req.qty, remaining))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot consume %s of stock reservation %lld: %s is left",
							num_str(req.qty), (long long) id, num_str(remaining))));
		if (req.from == req.to)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("to_location_id %lld is the reservation's own location", (long long) req.to),
					 errhint("Consuming a reservation moves the stock somewhere else, such as a customer location.")));
		(void) update_reservation(tenant, id, req.qty, NUM_ZERO, NULL);
		/* both level rows first, in the common order, then the reserved stock */
		ledger_lock_levels(tenant, req.product, req.from, req.to);
		add_reserved(tenant, req.product, req.from, num_neg(req.qty), false);
	}

	/* what the movement needs must outlive SPI_finish */
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		char		buf[32];

		req.qty = datumCopy(req.qty, false, -1);
		snprintf(buf, sizeof(buf), INT64_FORMAT, id);
		req.ref_id = cstring_to_text(buf);
		req.ref_type = cstring_to_text("reservation");
		req.event = "stock.consumed";
		req.reservation = id;
		MemoryContextSwitchTo(old);
	}
	req.unit_cost_null = true;
	req.occurred_at = GetCurrentTransactionStartTimestamp();
	owner_end(&session);
	return ledger_post_movement(fcinfo, &req);
}
