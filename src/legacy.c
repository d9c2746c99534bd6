/* legacy.c: TRANSITIONAL (see legacy.h). */
#include "easeinv.h"
#include "legacy.h"
#include "plans.h"

SPIPlanPtr
kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types)
{
	if (*slot == NULL)
		*slot = plan_prepare_kept(sql, nargs, types);
	return *slot;
}

bool
same_text(text *a, Datum b, bool bnull)
{
	text	   *bt;

	if (a == NULL || bnull)
		return a == NULL && bnull;
	bt = DatumGetTextPP(b);
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(bt) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(bt), VARSIZE_ANY_EXHDR(a)) == 0;
}
