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
#include "numbers.h"
#include "result.h"
#include "gst.h"

#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(gst_line);

/* to the paisa, half away from zero */
#define ROUND2(a)	num_round((a), 2)

/*
 * gst_check_numeric: a finite numeric within [min, max] with at most
 * max_scale decimals; NULL is refused (22004).  min and max are numeric
 * literals.
 */
Datum
gst_check_numeric(Datum v, bool isnull, const char *what, int max_scale, const char *min, const char *max)
{
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	if (!num_is_finite(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number", what)));
	if (num_lt(v, num_const(min)) || num_lt(num_const(max), v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %s is out of range", what, num_str(v)),
				 errdetail("It must be from %s to %s.", min, max)));
	if (num_scale(v) > max_scale)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %s has more than %d decimal places", what, num_str(v), max_scale)));
	return v;
}

/*
 * gst_check_inputs: every input of a line within its range (the errors name
 * the argument); the two discounts are exclusive.
 */
void
gst_check_inputs(GstInput *in)
{
	gst_check_numeric(in->qty, false, "qty", 4, "0.0001", "99999999999999.9999");
	gst_check_numeric(in->unit_price, false, "unit_price", 4, "0", "99999999999999.9999");
	gst_check_numeric(in->gst_rate, false, "gst_rate", 2, "0", "100");
	if (in->has_discount_percent && in->has_discount_amount)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a line has a discount percent or a discount amount, not both")));
	if (in->has_discount_percent)
		gst_check_numeric(in->discount_percent, false, "discount_percent", 4, "0", "100");
	if (in->has_discount_amount)
		gst_check_numeric(in->discount_amount, false, "discount_amount", 2, "0", "99999999999999.99");
	if (in->has_cess_rate)
		gst_check_numeric(in->cess_rate, false, "cess_rate", 4, "0", "400");
}

/*
 * gst_compute: the amounts of a checked line (the file header's rules), each
 * with two decimals, in the current memory context.
 */
void
gst_compute(const GstInput *in, Datum out[GST_NAMOUNTS])
{
	Datum		gross;
	Datum		discount;
	Datum		taxable;
	Datum		cgst;
	Datum		sgst;
	Datum		igst;
	Datum		cess;
	Datum		total;
	int			i;

	discount = cgst = sgst = igst = cess = NUM_ZERO;

	gross = num_mul(in->qty, in->unit_price);
	if (!num_lt(gross, num_const("10000000000000")))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("line amount %s is too large", num_str(gross)),
				 errdetail("A line amount must be less than 10000000000000 rupees.")));
	gross = ROUND2(gross);

	if (in->has_discount_percent)
		discount = ROUND2(num_div(num_mul(gross, in->discount_percent), num_const("100")));
	else if (in->has_discount_amount)
	{
		discount = in->discount_amount;
		if (num_lt(gross, discount))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("discount %s is more than the line amount %s", num_str(discount), num_str(gross))));
	}
	taxable = num_sub(gross, discount);

	if (in->intra_state)
	{
		cgst = ROUND2(num_div(num_mul(taxable, in->gst_rate), num_const("200")));
		sgst = cgst;
	}
	else
		igst = ROUND2(num_div(num_mul(taxable, in->gst_rate), num_const("100")));
	if (in->has_cess_rate)
		cess = ROUND2(num_div(num_mul(taxable, in->cess_rate), num_const("100")));
	total = num_add(taxable, cgst);
	total = num_add(total, sgst);
	total = num_add(total, igst);
	total = num_add(total, cess);

	out[GST_GROSS] = gross;
	out[GST_DISCOUNT] = discount;
	out[GST_TAXABLE] = taxable;
	out[GST_CGST] = cgst;
	out[GST_SGST] = sgst;
	out[GST_IGST] = igst;
	out[GST_CESS] = cess;
	out[GST_TOTAL] = total;
	/* two decimals everywhere: 5 is shown as 5.00 */
	for (i = 0; i < GST_NAMOUNTS; i++)
		out[i] = ROUND2(out[i]);
}

/*
 * gst_line(qty, unit_price, gst_rate, intra_state, discount_percent,
 * discount_amount, cess_rate) returns easeinv.gst_amounts.  IMMUTABLE,
 * PARALLEL SAFE, not strict (the discounts and cess are optional).
 */
Datum
gst_line(PG_FUNCTION_ARGS)
{
	GstInput	in;
	Datum		values[GST_NAMOUNTS];
	bool		nulls[GST_NAMOUNTS];

	memset(&in, 0, sizeof(in));
	memset(nulls, 0, sizeof(nulls));
	in.qty = gst_check_numeric(PG_GETARG_DATUM(0), PG_ARGISNULL(0), "qty", 4, "0.0001", "99999999999999.9999");
	in.unit_price = gst_check_numeric(PG_GETARG_DATUM(1), PG_ARGISNULL(1), "unit_price", 4, "0", "99999999999999.9999");
	in.gst_rate = gst_check_numeric(PG_GETARG_DATUM(2), PG_ARGISNULL(2), "gst_rate", 2, "0", "100");
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("intra_state must not be null"),
				 errhint("True when the place of supply is the seller's state (CGST + SGST), false otherwise (IGST).")));
	in.intra_state = PG_GETARG_BOOL(3);
	in.has_discount_percent = !PG_ARGISNULL(4);
	in.discount_percent = in.has_discount_percent ? PG_GETARG_DATUM(4) : (Datum) 0;
	in.has_discount_amount = !PG_ARGISNULL(5);
	in.discount_amount = in.has_discount_amount ? PG_GETARG_DATUM(5) : (Datum) 0;
	in.has_cess_rate = !PG_ARGISNULL(6);
	in.cess_rate = in.has_cess_rate ? PG_GETARG_DATUM(6) : (Datum) 0;
	gst_check_inputs(&in);
	gst_compute(&in, values);

	PG_RETURN_DATUM(result_row(fcinfo, values, nulls, GST_NAMOUNTS, CurrentMemoryContext));
}
