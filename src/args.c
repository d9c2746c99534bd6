/*-------------------------------------------------------------------------
 * args.c
 *	  Argument checks shared by the C functions that write (the ledger,
 *	  reservations, invoices, payments): each refuses a bad argument with a
 *	  stable SQLSTATE and a hint, before the function reads or writes
 *	  anything.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "args.h"
#include "numbers.h"

#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

/* arg_key: the idempotency key, 1 to 255 characters. */
text *
arg_key(FunctionCallInfo fcinfo, int argno)
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

/* arg_required: refuse a NULL for a required argument (22004). */
static void
arg_required(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
}

/* arg_id: a required id argument. */
int64
arg_id(FunctionCallInfo fcinfo, int argno, const char *what)
{
	arg_required(fcinfo, argno, what);
	return PG_GETARG_INT64(argno);
}

/* arg_text: an optional text argument of bounded length, NULL when absent. */
text *
arg_text(FunctionCallInfo fcinfo, int argno, const char *what, int maxlen)
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

/* arg_cstring: a required text argument, as a C string. */
char *
arg_cstring(FunctionCallInfo fcinfo, int argno, const char *what)
{
	arg_required(fcinfo, argno, what);
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* arg_quantity: a required positive quantity. */
Datum
arg_quantity(FunctionCallInfo fcinfo, int argno, const char *what)
{
	arg_required(fcinfo, argno, what);
	return arg_check_quantity(PG_GETARG_DATUM(argno), what, false);
}

/*
 * arg_time: an optional finite timestamptz; when it is absent, the start of
 * the transaction (the time a retry of the call would also get).
 */
TimestampTz
arg_time(FunctionCallInfo fcinfo, int argno, const char *what, bool *given)
{
	TimestampTz t;

	*given = PG_NARGS() > argno && !PG_ARGISNULL(argno);
	if (!*given)
		return GetCurrentTransactionStartTimestamp();
	t = PG_GETARG_TIMESTAMPTZ(argno);
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite time", what)));
	return t;
}

/*
 * arg_check_quantity: a finite numeric, positive (or zero when allowed), with
 * at most 4 decimal places and at most 14 digits before the point, as
 * numeric(18,4) stores it.  Returns it unchanged.
 */
Datum
arg_check_quantity(Datum qty, const char *what, bool allow_zero)
{
	if (!num_is_finite(qty))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number", what)));
	if (allow_zero ? num_lt(qty, NUM_ZERO) : num_le(qty, NUM_ZERO))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be %s, not %s", what, allow_zero ? "zero or more" : "positive", num_str(qty)),
				 allow_zero ? errhint("Send the cost per unit, or leave it out.")
				 : errhint("A movement moves a positive quantity; correct a mistake with a reversing movement.")));
	/* significant decimals: 30.12500 is as good as 30.125 */
	if (num_scale(qty) > 4)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %s has more than 4 decimal places", what, num_str(qty)),
				 errhint("Quantities and costs are kept to 4 decimal places; round before sending.")));
	if (num_ge(qty, num_const("100000000000000")))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s %s is too large", what, num_str(qty)),
				 errdetail("The largest quantity is 99999999999999.9999.")));
	return qty;
}
