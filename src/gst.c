/*-------------------------------------------------------------------------
 * gst.c
 *	  GST amounts of an invoice line, exactly.
 *
 * gst_line(qty, unit_price, gst_rate, intra_state, discount_percent,
 * discount_amount, cess_rate) computes, in numeric (never floating point):
 *	  gross          = round(qty * unit_price, 2)
 *	  discount       = round(gross * discount_percent / 100, 2), or the given
 *					   discount_amount (at most 2 decimals, at most gross)
 *	  taxable_value  = gross - discount
 *	  intra-state:     cgst = sgst = round(taxable_value * gst_rate / 2 / 100, 2)
 *	  inter-state:     igst = round(taxable_value * gst_rate / 100, 2)
 *	  cess           = round(taxable_value * cess_rate / 100, 2)
 *	  line_total     = taxable_value + cgst + sgst + igst + cess
 * Rounding is to the paisa, half away from zero (PostgreSQL's round(numeric)).
 * So each tax equals its taxable value times its rate (halved for CGST and
 * SGST), as the e-invoice portal checks.  Amounts of 10^13 rupees or more are
 * refused (22003) rather than overflowing numeric(15,2) columns downstream.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"

#include "fmgr.h"
#include "funcapi.h"
#include "access/htup_details.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(gst_line);

static Datum num(const char *text);
static Datum nmul(Datum a, Datum b);
static Datum nround2(Datum a);
static bool nlt(Datum a, Datum b);
static int	nscale(Datum a);
static Datum numeric_arg(FunctionCallInfo fcinfo, int argno, const char *what, int max_scale,
						 const char *min, const char *max);

/* num: a numeric constant. */
static Datum
num(const char *text)
{
	return DirectFunctionCall3(numeric_in, CStringGetDatum(text), ObjectIdGetDatum(InvalidOid),
							   Int32GetDatum(-1));
}

/* nmul: a * b, exactly. */
static Datum
nmul(Datum a, Datum b)
{
	return DirectFunctionCall2(numeric_mul, a, b);
}

/* nround2: a rounded to 2 decimals, half away from zero. */
static Datum
nround2(Datum a)
{
	return DirectFunctionCall2(numeric_round, a, Int32GetDatum(2));
}

/* nlt: a < b. */
static bool
nlt(Datum a, Datum b)
{
	return DatumGetBool(DirectFunctionCall2(numeric_lt, a, b));
}

/* nscale: significant decimal places of a finite numeric (1.500 has 1). */
static int
nscale(Datum a)
{
	return DatumGetInt32(DirectFunctionCall1(numeric_min_scale, a));
}

/*
 * numeric_arg: a finite numeric argument within [min, max] with at most
 * max_scale decimals; NULL is refused (22004).
 */
static Datum
numeric_arg(FunctionCallInfo fcinfo, int argno, const char *what, int max_scale,
			const char *min, const char *max)
{
	Datum		v;
	Numeric		n;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	v = PG_GETARG_DATUM(argno);
	n = DatumGetNumeric(v);
	if (numeric_is_nan(n) || numeric_is_inf(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number", what)));
	if (nlt(v, num(min)) || nlt(num(max), v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %s is out of range", what, DatumGetCString(DirectFunctionCall1(numeric_out, v))),
				 errdetail("It must be from %s to %s.", min, max)));
	if (nscale(v) > max_scale)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %s has more than %d decimal places", what,
						DatumGetCString(DirectFunctionCall1(numeric_out, v)), max_scale)));
	return v;
}

/*
 * gst_line(qty, unit_price, gst_rate, intra_state, discount_percent,
 * discount_amount, cess_rate) returns easeinv.gst_amounts.  IMMUTABLE,
 * PARALLEL SAFE, not strict (the discounts and cess are optional).
 */
Datum
gst_line(PG_FUNCTION_ARGS)
{
	Datum		qty = numeric_arg(fcinfo, 0, "qty", 4, "0.0001", "99999999999999.9999");
	Datum		price = numeric_arg(fcinfo, 1, "unit_price", 4, "0", "99999999999999.9999");
	Datum		rate = numeric_arg(fcinfo, 2, "gst_rate", 2, "0", "100");
	bool		intra;
	Datum		hundred = num("100");
	Datum		two_hundred = num("200");
	Datum		zero = num("0");
	Datum		limit = num("10000000000000");
	Datum		gross;
	Datum		discount = zero;
	Datum		taxable;
	Datum		cgst = zero;
	Datum		sgst = zero;
	Datum		igst = zero;
	Datum		cess = zero;
	Datum		total;
	TupleDesc	desc;
	Datum		values[8];
	bool		nulls[8] = {false, false, false, false, false, false, false, false};
	int			i;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("intra_state must not be null"),
				 errhint("True when the place of supply is the seller's state (CGST + SGST), false otherwise (IGST).")));
	intra = PG_GETARG_BOOL(3);
	if (!PG_ARGISNULL(4) && !PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a line has a discount percent or a discount amount, not both")));

	gross = nmul(qty, price);
	if (!nlt(gross, limit))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("line amount %s is too large", DatumGetCString(DirectFunctionCall1(numeric_out, gross))),
				 errdetail("A line amount must be less than 10000000000000 rupees.")));
	gross = nround2(gross);

	if (!PG_ARGISNULL(4))
	{
		Datum		pct = numeric_arg(fcinfo, 4, "discount_percent", 4, "0", "100");

		discount = nround2(DirectFunctionCall2(numeric_div, nmul(gross, pct), hundred));
	}
	else if (!PG_ARGISNULL(5))
	{
		discount = numeric_arg(fcinfo, 5, "discount_amount", 2, "0", "99999999999999.99");
		if (nlt(gross, discount))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("discount %s is more than the line amount %s",
							DatumGetCString(DirectFunctionCall1(numeric_out, discount)),
							DatumGetCString(DirectFunctionCall1(numeric_out, gross)))));
	}
	taxable = DirectFunctionCall2(numeric_sub, gross, discount);

	if (intra)
	{
		cgst = nround2(DirectFunctionCall2(numeric_div, nmul(taxable, rate), two_hundred));
		sgst = cgst;
	}
	else
		igst = nround2(DirectFunctionCall2(numeric_div, nmul(taxable, rate), hundred));
	if (!PG_ARGISNULL(6))
	{
		Datum		cess_rate = numeric_arg(fcinfo, 6, "cess_rate", 4, "0", "400");

		cess = nround2(DirectFunctionCall2(numeric_div, nmul(taxable, cess_rate), hundred));
	}
	total = DirectFunctionCall2(numeric_add, taxable, cgst);
	total = DirectFunctionCall2(numeric_add, total, sgst);
	total = DirectFunctionCall2(numeric_add, total, igst);
	total = DirectFunctionCall2(numeric_add, total, cess);

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "easeinv.gst_amounts is not a composite type");
	desc = BlessTupleDesc(desc);
	values[0] = gross;
	values[1] = discount;
	values[2] = taxable;
	values[3] = cgst;
	values[4] = sgst;
	values[5] = igst;
	values[6] = cess;
	values[7] = total;
	/* two decimals everywhere: 5 is shown as 5.00 */
	for (i = 0; i < 8; i++)
		values[i] = nround2(values[i]);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
