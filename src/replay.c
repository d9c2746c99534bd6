/*-------------------------------------------------------------------------
 * replay.c
 *	  The replay comparison of every idempotent write: a retry with the key
 *	  of a stored row must carry the same payload; otherwise it is refused
 *	  (23505) and the detail names each field that differs, with the first
 *	  value and the new one, so the client can see its own mistake.
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "numbers.h"
#include "replay.h"

#include "access/htup_details.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

void
replay_begin(ReplayCheck *rc, HeapTuple stored, TupleDesc desc)
{
	rc->stored = stored;
	rc->desc = desc;
	initStringInfo(&rc->diff);
}

void
replay_differs(ReplayCheck *rc, const char *field, const char *first, const char *now)
{
	appendStringInfo(&rc->diff, "%s%s (first %s, now %s)", rc->diff.len ? ", " : "", field, first, now);
}

/* stored: column col of the stored row */
static Datum
stored(ReplayCheck *rc, int col, bool *isnull)
{
	return heap_getattr(rc->stored, col, rc->desc, isnull);
}

void
replay_int8(ReplayCheck *rc, const char *field, int col, int64 now, bool now_null)
{
	bool		isnull;
	Datum		d = stored(rc, col, &isnull);

	if (isnull != now_null || (!isnull && DatumGetInt64(d) != now))
		replay_differs(rc, field, isnull ? "null" : psprintf(INT64_FORMAT, DatumGetInt64(d)),
					   now_null ? "null" : psprintf(INT64_FORMAT, now));
}

void
replay_numeric(ReplayCheck *rc, const char *field, int col, Datum now, bool now_null)
{
	bool		isnull;
	Datum		d = stored(rc, col, &isnull);

	if (isnull != now_null || (!isnull && !num_eq(d, now)))
		replay_differs(rc, field, isnull ? "null" : num_str(d), now_null ? "null" : num_str(now));
}

void
replay_timestamptz(ReplayCheck *rc, const char *field, int col, TimestampTz now)
{
	bool		isnull;
	Datum		d = stored(rc, col, &isnull);

	if (isnull || DatumGetTimestampTz(d) != now)
		replay_differs(rc, field,
					   isnull ? "null" : DatumGetCString(DirectFunctionCall1(timestamptz_out, d)),
					   DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(now))));
}

void
replay_text(ReplayCheck *rc, const char *field, int col, text *now)
{
	bool		isnull;
	Datum		d = stored(rc, col, &isnull);
	text	   *t = isnull ? NULL : DatumGetTextPP(d);
	bool		same;

	if (now == NULL || t == NULL)
		same = now == NULL && t == NULL;
	else
		same = VARSIZE_ANY_EXHDR(now) == VARSIZE_ANY_EXHDR(t) &&
			memcmp(VARDATA_ANY(now), VARDATA_ANY(t), VARSIZE_ANY_EXHDR(now)) == 0;
	if (!same)
		replay_differs(rc, field, t ? text_to_cstring(t) : "null", now ? text_to_cstring(now) : "null");
}

/* replay_reference: the pair reference_type, reference_id (movements, reservations) */
void
replay_reference(ReplayCheck *rc, int type_col, int id_col, text *ref_type, text *ref_id)
{
	replay_text(rc, "reference_type", type_col, ref_type);
	replay_text(rc, "reference_id", id_col, ref_id);
}

void
replay_cstring(ReplayCheck *rc, const char *field, int col, const char *now)
{
	bool		isnull;
	Datum		d = stored(rc, col, &isnull);
	char	   *first = isnull ? NULL : TextDatumGetCString(d);

	if (first == NULL || strcmp(first, now) != 0)
		replay_differs(rc, field, first ? first : "null", now);
}

void
replay_end(ReplayCheck *rc, text *key, const char *what, const char *hint)
{
	if (rc->diff.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("idempotency key \"%s\" was already used for a different %s",
						text_to_cstring(key), what),
				 errdetail("Differs: %s.", rc->diff.data),
				 errhint("%s", hint)));
	pfree(rc->diff.data);
}
