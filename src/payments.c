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
#include "numbers.h"
#include "owner.h"
#include "plans.h"
#include "replay.h"
#include "result.h"
#include "triggers.h"
#include "gst.h"
#include "events.h"
#include "invoice.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(record_payment);
PG_FUNCTION_INFO_V1(refund_payment);
PG_FUNCTION_INFO_V1(append_only);

/* Columns of easeinv.payment, 1-based as SPI counts them; the plans return the same list. */
enum
{
	P_ID = 1, P_KEY, P_KIND, P_INVOICE, P_AMOUNT, P_METHOD, P_PAID_AT, P_REFERENCE, P_REFUNDS,
	P_CREATED_AT, P_CREATED_BY,
	P_NCOLS = P_CREATED_BY		/* then replayed, in the result */
};

#define PAYMENT_COLUMNS \
	"p.id, p.idempotency_key, p.kind, p.invoice_id, p.amount, p.method, p.paid_at, p.reference, " \
	"p.refunds_id, p.created_at, p.created_by"

/* The statements of payments and refunds (plans.h; the rule of owner.c).  Each takes the tenant as $1. */
typedef enum PaymentStatement
{
	ST_BY_KEY,					/* the payment of a key: replays */
	ST_INSERT,					/* a payment or refund */
	ST_PAID,					/* the invoice's amount paid and status follow */
	ST_REFUNDED,				/* the payment a refund refunds */
	ST_LEFT,					/* what is left of a payment after its refunds */
	ST_COUNT
} PaymentStatement;

static const PlanStatement statements[ST_COUNT] = {
	[ST_BY_KEY] = {"SELECT " PAYMENT_COLUMNS " FROM easeinv.payments p "
		"WHERE p.tenant_id = $1 AND p.idempotency_key = $2", 2, {INT8OID, TEXTOID}},
	[ST_INSERT] = {"INSERT INTO easeinv.payments AS p (tenant_id, idempotency_key, kind, invoice_id, amount, method, "
		"paid_at, reference, refunds_id, created_by) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
		"ON CONFLICT DO NOTHING RETURNING " PAYMENT_COLUMNS, 10,
		{INT8OID, TEXTOID, TEXTOID, INT8OID, NUMERICOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, INT8OID, TEXTOID}},
	/* the invoice's amount paid moves by $3 (negative for a refund), and its status follows */
	[ST_PAID] = {"UPDATE easeinv.invoices i SET amount_paid = i.amount_paid + $3, "
		"status = " INVOICE_STATUS_SQL("(i.amount_paid + $3)", "i.amount_credited", "i.grand_total") " "
		"WHERE i.tenant_id = $1 AND i.id = $2 "
		"RETURNING i.number, i.amount_paid, i.balance_due, i.status", 3, {INT8OID, INT8OID, NUMERICOID}},
	/* the payment a refund refunds: its invoice and method */
	[ST_REFUNDED] = {"SELECT p.invoice_id, p.method, p.kind FROM easeinv.payments p "
		"WHERE p.tenant_id = $1 AND p.id = $2", 2, {INT8OID, INT8OID}},
	/* what is left of a payment after its refunds */
	[ST_LEFT] = {"SELECT p.amount - coalesce((SELECT sum(r.amount) FROM easeinv.payments r "
		"WHERE r.tenant_id = p.tenant_id AND r.invoice_id = p.invoice_id AND r.refunds_id = p.id), 0) "
		"FROM easeinv.payments p WHERE p.tenant_id = $1 AND p.id = $2", 2, {INT8OID, INT8OID}},
};

static SPIPlanPtr plans[ST_COUNT];

#define PLAN(which)		plan_kept(statements, plans, (which))

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

/* payment_by_key: the tenant's payment with this key, or NULL.  Inside SPI. */
static HeapTuple
payment_by_key(int64 tenant, text *key, TupleDesc *desc)
{
	Datum		v[2] = {Int64GetDatum(tenant), PointerGetDatum(key)};

	if (SPI_execute_plan(PLAN(ST_BY_KEY), v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading payments failed");
	if (SPI_processed == 0)
		return NULL;
	*desc = SPI_tuptable->tupdesc;
	return SPI_tuptable->vals[0];
}

/* check_payment_replay: refuse (23505) a stored payment whose payload differs. */
static void
check_payment_replay(HeapTuple stored, TupleDesc desc, PaymentRequest *req)
{
	const char *what = req->refund ? "refund" : "payment";
	ReplayCheck rc;

	replay_begin(&rc, stored, desc);
	replay_cstring(&rc, "kind", P_KIND, what);
	if (req->refund)
		replay_int8(&rc, "payment_id", P_REFUNDS, req->refunds, false);
	else
	{
		replay_int8(&rc, "invoice_id", P_INVOICE, req->invoice, false);
		replay_cstring(&rc, "method", P_METHOD, req->method);
		/* paid_at defaults to the time of the first call: compare it only when given */
		if (req->paid_at_given)
			replay_timestamptz(&rc, "paid_at", P_PAID_AT, req->paid_at);
	}
	/* a refund's amount defaults to what was left: compare it only when given */
	if (req->amount_given)
		replay_numeric(&rc, "amount", P_AMOUNT, req->amount, false);
	replay_text(&rc, "reference", P_REFERENCE, req->reference);
	replay_end(&rc, req->key, what,
			   psprintf("Retry with exactly the first payload to get the stored %s back, or use a new key.", what));
}

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

/* read_refunded: a refund's payment (not a refund itself): its invoice and method.  Inside SPI. */
static void
read_refunded(int64 tenant, PaymentRequest *req)
{
	Datum		v[2] = {Int64GetDatum(tenant), Int64GetDatum(req->refunds)};
	bool		isnull;

	if (SPI_execute_plan(PLAN(ST_REFUNDED), v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading payments failed");
	if (SPI_processed == 0 ||
		strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3), "payment") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payment %lld does not exist", (long long) req->refunds),
				 errhint("Pass the id of a payment (not a refund) of the current tenant.")));
	req->invoice = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	req->method = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);	/* SPI memory: until owner_end */
}

/* check_payment: an issued invoice takes payments up to its balance due. */
static void
check_payment(PaymentRequest *req, const InvoiceRow *inv)
{
	char	   *kind = invoice_col_text(inv, INVOICE_COL_KIND);
	char	   *status = invoice_col_text(inv, INVOICE_COL_STATUS);
	char	   *label = invoice_label(inv);
	bool		isnull;
	Datum		balance_due = invoice_col(inv, INVOICE_COL_BALANCE_DUE, &isnull);

	if (strcmp(kind, "invoice") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is a credit note: payments are recorded against invoices", label),
				 errhint("Money paid back on a credit note is a refund of a payment of its invoice.")));
	if (strcmp(status, "draft") == 0 || strcmp(status, "cancelled") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("invoice %s is %s: it takes no payments", label, status),
				 errhint("Payments are recorded against issued invoices.")));
	if (num_gt(req->amount, balance_due))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("payment of %s is more than the balance due %s of invoice %s",
						num_str(num_round(req->amount, 2)), num_str(balance_due), label),
				 errhint("Record at most the balance due.")));
}

/* check_refund: a refund takes back at most what is left of its payment (all of it by default). */
static void
check_refund(int64 tenant, PaymentRequest *req)
{
	Datum		v[2] = {Int64GetDatum(tenant), Int64GetDatum(req->refunds)};
	bool		isnull;
	Datum		left;

	if (SPI_execute_plan(PLAN(ST_LEFT), v, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading refunds failed");
	left = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!num_gt(left, NUM_ZERO))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("payment %lld is refunded in full", (long long) req->refunds),
				 errhint("Retry with the key of the refund to get it back.")));
	if (!req->amount_given)
		req->amount = left;
	else if (num_gt(req->amount, left))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("refund of %s is more than the %s left of payment %lld",
						num_str(req->amount), num_str(left), (long long) req->refunds),
				 errhint("Refund at most what is left of the payment.")));
}

/*
 * emit_payment: payment.recorded or payment.refunded, aggregate the invoice
 * (a payment changes its balance), with the invoice's number, amount paid,
 * balance and status after it; and the invoice's invalidation.
 */
static void
emit_payment(int64 tenant, PaymentRequest *req, HeapTuple payment, TupleDesc pdesc, HeapTuple invoice,
			 TupleDesc idesc)
{
	EventPayload p;
	bool		isnull;
	char		buf[32];

	event_begin(&p);
	event_int8(&p, "payment_id", DatumGetInt64(heap_getattr(payment, P_ID, pdesc, &isnull)));
	event_text(&p, "kind", req->refund ? "refund" : "payment");
	event_int8(&p, "invoice_id", req->invoice);
	event_text(&p, "invoice_number", TextDatumGetCString(SPI_getbinval(invoice, idesc, 1, &isnull)));
	event_numeric(&p, "amount", heap_getattr(payment, P_AMOUNT, pdesc, &isnull), false);
	event_text(&p, "method", req->method);
	event_time(&p, "paid_at", req->paid_at);
	event_text(&p, "reference", req->reference ? text_to_cstring(req->reference) : NULL);
	event_id(&p, "refunds_id", req->refunds);
	event_numeric(&p, "amount_paid", SPI_getbinval(invoice, idesc, 2, &isnull), false);
	event_numeric(&p, "balance_due", SPI_getbinval(invoice, idesc, 3, &isnull), false);
	event_text(&p, "status", TextDatumGetCString(SPI_getbinval(invoice, idesc, 4, &isnull)));
	snprintf(buf, sizeof(buf), INT64_FORMAT, req->invoice);
	(void) events_emit(tenant, req->refund ? "payment.refunded" : "payment.recorded", "invoice", buf, event_end(&p));
	events_invalidate(tenant, "invoice", req->invoice);
}

/*
 * store_payment: insert the checked payment and move the invoice's amount
 * paid by delta (the amount, negative for a refund); a concurrent session
 * that stored the key first makes this a replay.  Returns the result.
 */
static Datum
store_payment(FunctionCallInfo fcinfo, int64 tenant, PaymentRequest *req, MemoryContext cxt)
{
	Datum		iv[10];
	char		inulls[10];
	Datum		pv[3];
	Datum		result;
	int			rc;
	HeapTuple	payment;
	TupleDesc	pdesc;

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
	rc = SPI_execute_plan(PLAN(ST_INSERT), iv, inulls, false, 1);
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
	payment = SPI_tuptable->vals[0];
	pdesc = SPI_tuptable->tupdesc;
	result = result_replayed(fcinfo, payment, pdesc, P_NCOLS, false, cxt);

	pv[0] = Int64GetDatum(tenant);
	pv[1] = Int64GetDatum(req->invoice);
	pv[2] = req->refund ? num_neg(req->amount) : req->amount;
	rc = invoice_internal_execute(PLAN(ST_PAID), pv, NULL);
	if (rc != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
		elog(ERROR, "updating the invoice's payments failed");
	emit_payment(tenant, req, payment, pdesc, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	return result;
}

/*
 * post_payment: steps 2 to 5 of the file header for a checked payment or
 * refund.  Returns easeinv.payment.
 */
static Datum
post_payment(FunctionCallInfo fcinfo, PaymentRequest *req)
{
	MemoryContext cxt = CurrentMemoryContext;
	int64		tenant = tenant_resolve(TENANT_REQUIRED);
	OwnerScope	session;
	InvoiceRow	inv;
	Datum		result;

	req->created_by = GetUserNameFromId(GetUserId(), false);
	owner_begin(&session);
	/* 2 */
	if (stored_payment(fcinfo, tenant, req, cxt, &result))
	{
		owner_end(&session);
		return result;
	}
	/* 3: a refund's invoice is its payment's; refunds of one payment queue on it too */
	if (req->refund)
		read_refunded(tenant, req);
	if (!invoice_lock(tenant, req->invoice, &inv))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invoice %lld does not exist", (long long) req->invoice),
				 errhint("Pass the id of an invoice of the current tenant.")));
	/*
	 * A session with the same key may have committed while this one waited
	 * for the invoice: that is a replay, decided before the balance is looked at.
	 */
	if (stored_payment(fcinfo, tenant, req, cxt, &result))
	{
		owner_end(&session);
		return result;
	}
	/* 4 */
	if (req->refund)
		check_refund(tenant, req);
	else
		check_payment(req, &inv);
	/* 5 */
	result = store_payment(fcinfo, tenant, req, cxt);
	owner_end(&session);
	return result;
}

/* check_method: the method argument, one of those the table allows (22004 when null, 22023 otherwise) */
static char *
check_method(FunctionCallInfo fcinfo, int argno)
{
	char	   *method = PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
	int			i;

	for (i = 0; method != NULL && i < (int) lengthof(methods); i++)
		if (strcmp(method, methods[i]) == 0)
			return method;
	ereport(ERROR,
			(errcode(method ? ERRCODE_INVALID_PARAMETER_VALUE : ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 method ? errmsg("unknown payment method \"%s\"", method) : errmsg("method must not be null"),
			 errhint("Pass cash, upi, card, bank_transfer, cheque, wallet or other.")));
	pg_unreachable();
}

/*
 * record_payment(idempotency_key text, invoice_id bigint, amount numeric,
 * method text, paid_at timestamptz, reference text) returns easeinv.payment.
 */
Datum
record_payment(PG_FUNCTION_ARGS)
{
	PaymentRequest req;

	memset(&req, 0, sizeof(req));
	req.key = arg_key(fcinfo, 0);
	req.invoice = arg_id(fcinfo, 1, "invoice_id");
	req.amount = gst_check_numeric(PG_GETARG_DATUM(2), PG_ARGISNULL(2), "amount", 2, "0.01", "9999999999999.99");
	req.amount_given = true;
	req.method = check_method(fcinfo, 3);
	req.paid_at = arg_time(fcinfo, 4, "paid_at", &req.paid_at_given);
	req.reference = arg_text(fcinfo, 5, "reference", 200);
	return post_payment(fcinfo, &req);
}

/*
 * refund_payment(idempotency_key text, payment_id bigint, amount numeric,
 * reference text) returns easeinv.payment.
 */
Datum
refund_payment(PG_FUNCTION_ARGS)
{
	PaymentRequest req;

	memset(&req, 0, sizeof(req));
	req.refund = true;
	req.key = arg_key(fcinfo, 0);
	req.refunds = arg_id(fcinfo, 1, "payment_id");
	req.amount_given = !PG_ARGISNULL(2);
	if (req.amount_given)
		req.amount = gst_check_numeric(PG_GETARG_DATUM(2), false, "amount", 2, "0.01", "9999999999999.99");
	req.reference = arg_text(fcinfo, 3, "reference", 200);
	req.paid_at = GetCurrentTransactionStartTimestamp();
	return post_payment(fcinfo, &req);
}

/*
 * append_only() returns trigger: BEFORE UPDATE OR DELETE FOR EACH ROW.
 * The trigger's first argument names the table (a partition's own name would
 * confuse); a second, where given, is the hint (the TRUNCATE guards of other
 * tables).
 */
Datum
append_only(PG_FUNCTION_ARGS)
{
	Trigger    *tg = trigger_data(fcinfo, "append_only")->tg_trigger;

	trigger_refuse_change(fcinfo, "append_only",
						  tg->tgnargs > 0 ? tg->tgargs[0] : "rows of this table",
						  tg->tgnargs > 1 ? tg->tgargs[1] : "Correct a payment with easeinv.refund_payment().");
	PG_RETURN_NULL();
}
