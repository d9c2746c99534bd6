/*-------------------------------------------------------------------------
 * replay.h
 *	  Comparing a retry's payload with what its idempotency key stored
 *	  (replay.c), for movements, reservations and payments.
 *
 *	  ReplayCheck rc;
 *	  replay_begin(&rc, stored, desc);
 *	  replay_int8(&rc, "product_id", M_PRODUCT, req->product, false);
 *	  ...
 *	  replay_end(&rc, key, "movement", hint);	-- 23505 naming every field that differs
 *
 * Column numbers are 1-based, as SPI counts them.
 *-------------------------------------------------------------------------
 */
#ifndef EASEINV_REPLAY_H
#define EASEINV_REPLAY_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "compat.h"

EASEINV_HIDDEN_BEGIN

typedef struct ReplayCheck
{
	HeapTuple	stored;
	TupleDesc	desc;
	StringInfoData diff;		/* "field (first a, now b), ..." */
} ReplayCheck;

extern void replay_begin(ReplayCheck *rc, HeapTuple stored, TupleDesc desc);

/* each compares the stored column with the retry's value; now_null: the retry's is null */
extern void replay_int8(ReplayCheck *rc, const char *field, int col, int64 now, bool now_null);
extern void replay_numeric(ReplayCheck *rc, const char *field, int col, Datum now, bool now_null);
extern void replay_timestamptz(ReplayCheck *rc, const char *field, int col, TimestampTz now);
/* a text column; now NULL: the retry's is null (compared byte for byte) */
extern void replay_text(ReplayCheck *rc, const char *field, int col, text *now);
extern void replay_reference(ReplayCheck *rc, int type_col, int id_col, text *ref_type, text *ref_id);
extern void replay_cstring(ReplayCheck *rc, const char *field, int col, const char *now);

/* a field that differs, for a comparison of the caller's own */
extern void replay_differs(ReplayCheck *rc, const char *field, const char *first, const char *now);

/*
 * replay_end: refuse (23505) when a field differs: "idempotency key "k" was
 * already used for a different <what>", the fields in the detail, the hint.
 */
extern void replay_end(ReplayCheck *rc, text *key, const char *what, const char *hint);

EASEINV_HIDDEN_END

#endif							/* EASEINV_REPLAY_H */
