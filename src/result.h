/*-------------------------------------------------------------------------
 * result.h
 *	  Building a C function's composite result (result.c).
 *-------------------------------------------------------------------------
 */
#ifndef EASEINV_RESULT_H
#define EASEINV_RESULT_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "fmgr.h"
#include "compat.h"

EASEINV_HIDDEN_BEGIN

/*
 * result_row: the function's composite result from values and nulls (as many
 * as the result type has columns), made in cxt (the caller's memory context:
 * it must outlive SPI_finish).  fcinfo NULL: a caller in C that wants no
 * result; returns 0.
 */
extern Datum result_row(FunctionCallInfo fcinfo, Datum *values, bool *nulls, int ncols, MemoryContext cxt);

/* the same from a stored row's first ncols columns, then a last column, replayed */
extern Datum result_replayed(FunctionCallInfo fcinfo, HeapTuple stored, TupleDesc desc, int ncols,
							 bool replayed, MemoryContext cxt);

EASEINV_HIDDEN_END

#endif							/* EASEINV_RESULT_H */
