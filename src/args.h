/*-------------------------------------------------------------------------
 * args.h
 *	  Checks of a C function's arguments (args.c): NULLs refused with 22004,
 *	  bad values with 22023, out of range with 22003, before anything is read
 *	  or written.
 *-------------------------------------------------------------------------
 */
#ifndef EASEINV_ARGS_H
#define EASEINV_ARGS_H

#include "postgres.h"

#include "fmgr.h"
#include "compat.h"

EASEINV_HIDDEN_BEGIN

/* an idempotency key: 1 to 255 characters, not one of the extension's own ("easeinv:...") */
extern text *arg_key(FunctionCallInfo fcinfo, int argno);

/* a required id */
extern int64 arg_id(FunctionCallInfo fcinfo, int argno, const char *what);

/* an optional text of at most maxlen characters; NULL when absent or null */
extern text *arg_text(FunctionCallInfo fcinfo, int argno, const char *what, int maxlen);

/* a required quantity: arg_check_quantity(value, what, false) */
extern char *arg_cstring(FunctionCallInfo fcinfo, int argno, const char *what);
extern Datum arg_quantity(FunctionCallInfo fcinfo, int argno, const char *what);

/* an optional finite time; *given says whether it was passed */
extern TimestampTz arg_time(FunctionCallInfo fcinfo, int argno, const char *what, bool *given);

/*
 * a quantity or cost as numeric(18,4) stores it: finite, positive (or zero
 * when allow_zero), at most 4 decimals and 14 digits before the point
 */
extern Datum arg_check_quantity(Datum qty, const char *what, bool allow_zero);

EASEINV_HIDDEN_END

#endif							/* EASEINV_ARGS_H */
