/*-------------------------------------------------------------------------
 * triggers.c
 *	  The first step of every trigger function (it must be called as one)
 *	  and the refusal of the append-only tables (stock movements, payments).
 *-------------------------------------------------------------------------
 */
#include "easeinv.h"
#include "triggers.h"

/* trigger_data: the TriggerData of a trigger call; refuses any other call. */
TriggerData *
trigger_data(FunctionCallInfo fcinfo, const char *function)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("easeinv.%s() can only be called as a trigger", function)));
	return (TriggerData *) fcinfo->context;
}

/*
 * trigger_refuse_change: the body of an append-only trigger function: refuses
 * the UPDATE, DELETE or TRUNCATE it fires for (42501), naming what is
 * append-only.
 */
void
trigger_refuse_change(FunctionCallInfo fcinfo, const char *function, const char *what, const char *hint)
{
	TriggerData *td = trigger_data(fcinfo, function);

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s are append-only: %s is not allowed", what,
					TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? "UPDATE" :
					TRIGGER_FIRED_BY_TRUNCATE(td->tg_event) ? "TRUNCATE" : "DELETE"),
			 errhint("%s", hint)));
	pg_unreachable();
}
