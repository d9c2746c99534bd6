/*-------------------------------------------------------------------------
 * result.c
 *	  Composite results of the C functions: the row types easeinv.movement,
 *	  reservation, payment, invoice_result (a stored row and replayed),
 *	  gst_amounts, import_summary.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "result.h"

#include "access/htup_details.h"
#include "funcapi.h"

/* result_row: the function's result type, checked, filled with values. */
Datum
result_row(FunctionCallInfo fcinfo, Datum *values, bool *nulls, int ncols, MemoryContext cxt)
{
	MemoryContext old;
	TupleDesc	rdesc;
	Datum		d;

	if (fcinfo == NULL)
		return (Datum) 0;
	old = MemoryContextSwitchTo(cxt);
	if (get_call_result_type(fcinfo, NULL, &rdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "function result type must be composite");
	rdesc = BlessTupleDesc(rdesc);
	if (rdesc->natts != ncols)
		elog(ERROR, "result type has %d columns, expected %d", rdesc->natts, ncols);
	/* the Datum too is made in cxt: a row with TOASTed values is flattened here */
	d = HeapTupleGetDatum(heap_form_tuple(rdesc, values, nulls));
	MemoryContextSwitchTo(old);
	return d;
}

/* result_replayed: a stored row's first ncols columns, then replayed. */
Datum
result_replayed(FunctionCallInfo fcinfo, HeapTuple stored, TupleDesc desc, int ncols,
				bool replayed, MemoryContext cxt)
{
	MemoryContext old;
	Datum	   *values;
	bool	   *nulls;
	int			i;
	Datum		d;

	if (fcinfo == NULL)
		return (Datum) 0;
	old = MemoryContextSwitchTo(cxt);
	values = palloc(sizeof(Datum) * (ncols + 1));
	nulls = palloc(sizeof(bool) * (ncols + 1));
	for (i = 0; i < ncols; i++)
		values[i] = heap_getattr(stored, i + 1, desc, &nulls[i]);
	values[ncols] = BoolGetDatum(replayed);
	nulls[ncols] = false;
	d = result_row(fcinfo, values, nulls, ncols + 1, cxt);
	MemoryContextSwitchTo(old);
	return d;
}
