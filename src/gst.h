/*-------------------------------------------------------------------------
 * gst.h
 *	  The GST amounts of an invoice line (gst.c), shared by easeinv.gst_line
 *	  and the invoice_lines trigger (invoice.c).
 *-------------------------------------------------------------------------
 */
#ifndef EASEINV_GST_H
#define EASEINV_GST_H

#include "postgres.h"
#include "compat.h"

EASEINV_HIDDEN_BEGIN

/* a line's inputs, numeric Datums */
typedef struct GstInput
{
	Datum		qty;
	Datum		unit_price;
	Datum		gst_rate;
	bool		intra_state;
	bool		has_discount_percent;
	Datum		discount_percent;
	bool		has_discount_amount;
	Datum		discount_amount;
	bool		has_cess_rate;
	Datum		cess_rate;
} GstInput;

/* the amounts, in the order of easeinv.gst_amounts */
typedef enum GstAmount
{
	GST_GROSS,
	GST_DISCOUNT,
	GST_TAXABLE,
	GST_CGST,
	GST_SGST,
	GST_IGST,
	GST_CESS,
	GST_TOTAL,
	GST_NAMOUNTS
} GstAmount;

extern Datum gst_check_numeric(Datum v, bool isnull, const char *what, int max_scale,
							   const char *min, const char *max);
extern void gst_check_inputs(GstInput *in);
extern void gst_compute(const GstInput *in, Datum out[GST_NAMOUNTS]);

EASEINV_HIDDEN_END

#endif							/* EASEINV_GST_H */
