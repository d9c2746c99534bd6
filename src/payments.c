/*-------------------------------------------------------------------------
 * payments.c
 *	  record_payment(), refund_payment() and the append_only() trigger.
 *
 * A payment, in one call:
 *	  1. the arguments are checked;
 *	  2. its idempotency key is looked up: a stored payment with the same
 *		 payload is returned (replayed = true) whatever has happened to the
 *		 invoice since; another payload is refused (23505, the detail names the
 *		 fields that differ);
 *	  3. the invoice is locked (FOR UPDATE), so payments of one invoice queue:
 *		 two racing for the last of the balance cannot both pass; the key is
 *		 looked up again (a session with the same key that committed while
 *		 this one waited makes it a replay, not an overpayment);
 *	  4. payments on drafts, cancelled invoices and credit notes are refused
 *		 (55000, 22023), and so is more than the balance due (23514);
 *	  5. the payment is inserted (ON CONFLICT DO NOTHING: a session that raced
 *		 with the same key committed first, and this call replays it) and the
 *		 invoice's amount_paid and status follow.
 * A refund takes back all or part of what is left of a payment, the same way.
 * Payments are append-only; a refund corrects a payment.
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
#include "gst.h"
#include "invoice.h"
#include "ledger.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(record_payment);
PG_FUNCTION_INFO_V1(refund_payment);
PG_FUNCTION_INFO_V1(append_only);

/* columns of easeinv.payment before replayed; the plans return the same list */
enum
{
	P_ID, P_KEY, P_KIND, P_INVOICE, P_AMOUNT, P_METHOD, P_PAID_AT, P_REFERENCE, P_REFUNDS,
	P_CREATED_AT, P_CREATED_BY, P_NCOLS
};

#define PAYMENT_COLUMNS \
	"p.id, p.idempotency_key, p.kind, p.invoice_id, p.amount, p.method, p.paid_at, p.reference, " \
	"p.refunds_id, p.created_at, p.created_by"

static const char *const methods[] = {"cash", "upi", "card", "bank_transfer", "cheque", "wallet", "other"};

/* a payment or refund request, checked */
typedef struct PaymentRequest
{
	text	   *key;
	bool		refund;
	int64		invoice;		/* a payment's invoice; a refund's, once found */
	int64		refunds;		/* a refund's payment */
	Datum		amount;
	bool		amount_given;
	char	   *method;
	TimestampTz paid_at;
	bool		paid_at_given;
	text	   *reference;
	char	   *created_by;		/* the caller, looked up before switching to the owner */
} PaymentRequest;

static char *
numstr(Datum n)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out, n));
}

static Datum
zero(void)
{
	return DirectFunctionCall1(int4_numeric, Int32GetDatum(0));
}

/* payment_by_key: the tenant's payment with this key, or NULL.  Inside SPI. */
static HeapTuple
payment_by_key(int64 tenant, text *key, TupleDesc *desc)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		v[2] = {Int64GetDatum(tenant), PointerGetDatum(key)};

	kept_plan(&plan, "SELECT " PAYMENT_COLUMNS " FROM easeinv.payments p "
			 "WHERE p.tenant_id = $1 AND p.idempotency_key = $2", 2, types);
	if (SPI_execute_plan(plan, v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading payments failed");
	if (SPI_processed == 0)
		return NULL;
	*desc = SPI_tuptable->tupdesc;
	return SPI_tuptable->vals[0];
}

static void check_payment_replay(HeapTuple stored, TupleDesc desc, PaymentRequest *req);

/*
 * stored_payment: when the key is stored already, set *result to the stored
 * payment (replayed) and return true; a different payload is refused (23505).
 * Inside SPI.
 */
static bool
stored_payment(FunctionCallInfo fcinfo, int64 tenant, PaymentRequest *req, MemoryContext cxt, Datum *result)
{
	TupleDesc	desc;
	HeapTuple	stored = payment_by_key(tenant, req->key, &desc);

	if (stored == NULL)
		return false;
	check_payment_replay(stored, desc, req);
	*result = result_replayed(fcinfo, stored, desc, P_NCOLS, true, cxt);
	return true;
}

/* check_payment_replay: refuse (23505) a stored payment whose payload differs. */
static void
check_payment_replay(HeapTuple stored, TupleDesc desc, PaymentRequest *req)
{
	StringInfoData diff;
	bool		isnull;
	Datum		d;

	initStringInfo(&diff);
#define DIFFERS(name, first, now) \
	appendStringInfo(&diff, "%s%s (first %s, now %s)", diff.len ? ", " : "", name, first, now)

	d = heap_getattr(stored, P_KIND + 1, desc, &isnull);
	if (strcmp(TextDatumGetCString(d), req->refund ? "refund" : "payment") != 0)
		DIFFERS("kind", TextDatumGetCString(d), req->refund ? "refund" : "payment");
	if (req->refund)
	{
		d = heap_getattr(stored, P_REFUNDS + 1, desc, &isnull);
		if (isnull || DatumGetInt64(d) != req->refunds)
			DIFFERS("payment_id", isnull ? "null" : psprintf(INT64_FORMAT, DatumGetInt64(d)),
					psprintf(INT64_FORMAT, req->refunds));
	}
	else
	{
		d = heap_getattr(stored, P_INVOICE + 1, desc, &isnull);
		if (DatumGetInt64(d) != req->invoice)
			DIFFERS("invoice_id", psprintf(INT64_FORMAT, DatumGetInt64(d)), psprintf(INT64_FORMAT, req->invoice));
		d = heap_getattr(stored, P_METHOD + 1, desc, &isnull);
		if (strcmp(TextDatumGetCString(d), req->method) != 0)
			DIFFERS("method", TextDatumGetCString(d), req->method);
		/* paid_at defaults to the time of the first call: compare it only when given */
		d = heap_getattr(stored, P_PAID_AT + 1, desc, &isnull);
		if (req->paid_at_given && DatumGetTimestampTz(d) != req->paid_at)
			DIFFERS("paid_at", DatumGetCString(DirectFunctionCall1(timestamptz_out, d)),
					DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(req->paid_at))));
	}
	/* a refund's amount defaults to what was left: compare it only when given */
	d = heap_getattr(stored, P_AMOUNT + 1, desc, &isnull);
	if (req->amount_given && !DatumGetBool(DirectFunctionCall2(numeric_eq, d, req->amount)))
		DIFFERS("amount", numstr(d), numstr(req->amount));
	d = heap_getattr(stored, P_REFERENCE + 1, desc, &isnull);
	if (!same_text(req->reference, d, isnull))
		DIFFERS("reference", isnull ? "null" : TextDatumGetCString(d),
				req->reference ? text_to_cstring(req->reference) : "null");
#undef DIFFERS

	if (diff.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("idempotency key \"%s\" was already used for a different %s",
						text_to_cstring(req->key), req->refund ? "refund" : "payment"),
				 errdetail("Differs: %s.", diff.data),
				 errhint("Retry with exactly the first payload to get the stored %s back, or use a new key.",
						 req->refund ? "refund" : "payment")));
}

/* the invoice as a payment needs it, locked */
typedef struct PayInvoice
{
	char	   *kind;
	char	   *status;
	char	   *label;
	Datum		balance_due;
} PayInvoice;

static void
lock_for_payment(int64 tenant, int64 id, PayInvoice *inv)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		v[2] = {Int64GetDatum(tenant), Int64GetDatum(id)};
	HeapTuple	t;
	TupleDesc	d;
	bool		isnull;

	kept_plan(&plan, "SELECT i.kind, i.status, coalesce(i.number, i.id::text), i.balance_due "
			 "FROM easeinv.invoices i WHERE i.tenant_id = $1 AND i.id = $2 FOR UPDATE OF i", 2, types);
	if (SPI_execute_plan(plan, v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "locking invoice failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invoice %lld does not exist", (long long) id),
				 errhint("Pass the id of an invoice of the current tenant.")));
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	inv->kind = SPI_getvalue(t, d, 1);
	inv->status = SPI_getvalue(t, d, 2);
	inv->label = SPI_getvalue(t, d, 3);
	inv->balance_due = SPI_getbinval(t, d, 4, &isnull);
}

/*
 * store_payment: insert the checked payment and move the invoice's amount
 * paid by delta (the amount, negative for a refund); a concurrent session
 * that stored the key first makes this a replay.  Returns the result.
 */
static Datum
store_payment(FunctionCallInfo fcinfo, int64 tenant, PaymentRequest *req, MemoryContext cxt)
{
	static SPIPlanPtr insert_plan = NULL;
	static SPIPlanPtr paid_plan = NULL;
	Oid			itypes[10] = {INT8OID, TEXTOID, TEXTOID, INT8OID, NUMERICOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, INT8OID, TEXTOID};
	Datum		iv[10];
	char		inulls[10];
	Oid			ptypes[3] = {INT8OID, INT8OID, NUMERICOID};
	Datum		pv[3];
	Datum		result;
	int			rc;

	memset(inulls, ' ', sizeof(inulls));
	iv[0] = Int64GetDatum(tenant);
	iv[1] = PointerGetDatum(req->key);
	iv[2] = CStringGetTextDatum(req->refund ? "refund" : "payment");
	iv[3] = Int64GetDatum(req->invoice);
	iv[4] = req->amount;
	iv[5] = CStringGetTextDatum(req->method);
	iv[6] = TimestampTzGetDatum(req->paid_at);
	iv[7] = PointerGetDatum(req->reference);
	inulls[7] = req->reference ? ' ' : 'n';
	iv[8] = Int64GetDatum(req->refunds);
	inulls[8] = req->refund ? ' ' : 'n';
	iv[9] = CStringGetTextDatum(req->created_by);
	kept_plan(&insert_plan,
			 "INSERT INTO easeinv.payments AS p (tenant_id, idempotency_key, kind, invoice_id, amount, method, "
			 "paid_at, reference, refunds_id, created_by) "
			 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
			 "ON CONFLICT DO NOTHING RETURNING " PAYMENT_COLUMNS, 10, itypes);
	rc = SPI_execute_plan(insert_plan, iv, inulls, false, 1);
	if (rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "inserting a payment failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		if (!stored_payment(fcinfo, tenant, req, cxt, &result))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent payment with the same idempotency key"),
					 errhint("Retry the transaction; the retry returns the stored payment.")));
		return result;
	}
	result = result_replayed(fcinfo, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, P_NCOLS, false, cxt);

	pv[0] = Int64GetDatum(tenant);
	pv[1] = Int64GetDatum(req->invoice);
	pv[2] = req->refund ? DirectFunctionCall1(numeric_uminus, req->amount) : req->amount;
	kept_plan(&paid_plan,
			 "UPDATE easeinv.invoices i SET amount_paid = i.amount_paid + $3, "
			 "status = " INVOICE_STATUS_SQL("(i.amount_paid + $3)", "i.amount_credited", "i.grand_total") " "
			 "WHERE i.tenant_id = $1 AND i.id = $2", 3, ptypes);
	rc = invoice_internal_execute(paid_plan, pv, NULL);
	if (rc != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "updating the invoice's payments failed");
	return result;
}

/*
 * record_payment(idempotency_key text, invoice_id bigint, amount numeric,
 * method text, paid_at timestamptz, reference text) returns easeinv.payment.
 */
Datum
record_payment(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	PaymentRequest req;
	int64		tenant;
	OwnerScope session;
	PayInvoice	inv;
	Datum		result;
	int			i;

	memset(&req, 0, sizeof(req));
	req.key = arg_key(fcinfo, 0);
	req.invoice = arg_id(fcinfo, 1, "invoice_id");
	req.amount = gst_check_numeric(PG_GETARG_DATUM(2), PG_ARGISNULL(2), "amount", 2, "0.01", "9999999999999.99");
	req.amount_given = true;
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("method must not be null"),
				 errhint("Pass cash, upi, card, bank_transfer, cheque, wallet or other.")));
	req.method = text_to_cstring(PG_GETARG_TEXT_PP(3));
	for (i = 0; i < (int) lengthof(methods); i++)
		if (strcmp(req.method, methods[i]) == 0)
			break;
	if (i == (int) lengthof(methods))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown payment method \"%s\"", req.method),
				 errhint("Pass cash, upi, card, bank_transfer, cheque, wallet or other.")));
	req.paid_at_given = !PG_ARGISNULL(4);
	req.paid_at = req.paid_at_given ? PG_GETARG_TIMESTAMPTZ(4) : GetCurrentTransactionStartTimestamp();
	if (TIMESTAMP_NOT_FINITE(req.paid_at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("paid_at must be a finite time")));
	req.reference = arg_text(fcinfo, 5, "reference", 200);
	tenant = tenant_resolve(TENANT_REQUIRED);
	req.created_by = GetUserNameFromId(GetUserId(), false);

	owner_begin(&session);
	if (stored_payment(fcinfo, tenant, &req, cxt, &result))
	{
		owner_end(&session);
		return result;
	}

	lock_for_payment(tenant, req.invoice, &inv);
	/*
	 * A session with the same key may have committed while this one waited
	 * for the invoice: that is a replay, decided before the balance is looked at.
	 */
	if (stored_payment(fcinfo, tenant, &req, cxt, &result))
	{
		owner_end(&session);
		return result;
	}
	if (strcmp(inv.kind, "invoice") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is a credit note: payments are recorded against invoices", inv.label),
				 errhint("Money paid back on a credit note is a refund of a payment of its invoice.")));
	if (strcmp(inv.status, "draft") == 0 || strcmp(inv.status, "cancelled") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("invoice %s is %s: it takes no payments", inv.label, inv.status),
				 errhint("Payments are recorded against issued invoices.")));
	if (DatumGetBool(DirectFunctionCall2(numeric_gt, req.amount, inv.balance_due)))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("payment of %s is more than the balance due %s of invoice %s",
						numstr(DirectFunctionCall2(numeric_round, req.amount, Int32GetDatum(2))),
						numstr(inv.balance_due), inv.label),
				 errhint("Record at most the balance due.")));

	result = store_payment(fcinfo, tenant, &req, cxt);
	owner_end(&session);
	return result;
}

/*
 * refund_payment(idempotency_key text, payment_id bigint, amount numeric,
 * reference text) returns easeinv.payment.
 */
Datum
refund_payment(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	PaymentRequest req;
	int64		tenant;
	OwnerScope session;
	PayInvoice	inv;
	Datum		result;
	Datum		left;
	bool		isnull;
	static SPIPlanPtr payment_plan = NULL;

	memset(&req, 0, sizeof(req));
	req.refund = true;
	req.key = arg_key(fcinfo, 0);
	req.refunds = arg_id(fcinfo, 1, "payment_id");
	req.amount_given = !PG_ARGISNULL(2);
	if (req.amount_given)
		req.amount = gst_check_numeric(PG_GETARG_DATUM(2), false, "amount", 2, "0.01", "9999999999999.99");
	req.reference = arg_text(fcinfo, 3, "reference", 200);
	req.paid_at = GetCurrentTransactionStartTimestamp();
	tenant = tenant_resolve(TENANT_REQUIRED);
	req.created_by = GetUserNameFromId(GetUserId(), false);

	owner_begin(&session);
	if (stored_payment(fcinfo, tenant, &req, cxt, &result))
	{
		owner_end(&session);
		return result;
	}

	/* the payment: its invoice and method */
	{
		Oid			types[2] = {INT8OID, INT8OID};
		Datum		v[2] = {Int64GetDatum(tenant), Int64GetDatum(req.refunds)};

		kept_plan(&payment_plan, "SELECT p.invoice_id, p.method, p.kind FROM easeinv.payments p "
				 "WHERE p.tenant_id = $1 AND p.id = $2", 2, types);
		if (SPI_execute_plan(payment_plan, v, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading payments failed");
		if (SPI_processed == 0 ||
			strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3), "payment") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("payment %lld does not exist", (long long) req.refunds),
					 errhint("Pass the id of a payment (not a refund) of the current tenant.")));
		req.invoice = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		req.method = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	}

	/* what is left of it, with the invoice locked so refunds of it queue */
	lock_for_payment(tenant, req.invoice, &inv);
	/* a session with the same key may have committed while this one waited */
	if (stored_payment(fcinfo, tenant, &req, cxt, &result))
	{
		owner_end(&session);
		return result;
	}
	{
		static SPIPlanPtr left_plan = NULL;
		Oid			types[2] = {INT8OID, INT8OID};
		Datum		v[2] = {Int64GetDatum(tenant), Int64GetDatum(req.refunds)};

		kept_plan(&left_plan, "SELECT p.amount - coalesce((SELECT sum(r.amount) FROM easeinv.payments r "
				 "WHERE r.tenant_id = p.tenant_id AND r.invoice_id = p.invoice_id AND r.refunds_id = p.id), 0) "
				 "FROM easeinv.payments p WHERE p.tenant_id = $1 AND p.id = $2", 2, types);
		if (SPI_execute_plan(left_plan, v, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "reading refunds failed");
		left = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	}
	if (!DatumGetBool(DirectFunctionCall2(numeric_gt, left, zero())))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("payment %lld is refunded in full", (long long) req.refunds),
				 errhint("Retry with the key of the refund to get it back.")));
	if (!req.amount_given)
		req.amount = left;
	else if (DatumGetBool(DirectFunctionCall2(numeric_gt, req.amount, left)))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("refund of %s is more than the %s left of payment %lld",
						numstr(req.amount), numstr(left), (long long) req.refunds),
				 errhint("Refund at most what is left of the payment.")));

	result = store_payment(fcinfo, tenant, &req, cxt);
	owner_end(&session);
	return result;
}

/*
 * append_only() returns trigger: BEFORE UPDATE OR DELETE FOR EACH ROW.
 */
Datum
append_only(PG_FUNCTION_ARGS)
{
	/* the trigger's argument names the table (a partition's own name would confuse) */
	TriggerData *td = CALLED_AS_TRIGGER(fcinfo) ? (TriggerData *) fcinfo->context : NULL;

	/* a second argument, where given, is the hint (the TRUNCATE guards of other tables) */
	trigger_refuse_change(fcinfo, "append_only",
				  td && td->tg_trigger->tgnargs > 0 ? td->tg_trigger->tgargs[0] : "rows of this table",
				  td && td->tg_trigger->tgnargs > 1 ? td->tg_trigger->tgargs[1] :
				  "Correct a payment with easeinv.refund_payment().");
	PG_RETURN_NULL();
}
