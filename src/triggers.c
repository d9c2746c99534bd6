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
 * trigger_fired: trigger_data, and the trigger must fire at the time and
 * level given (TRIGGER_TIME_BEFORE or TRIGGER_TIME_AFTER; row or statement);
 * hint, when not NULL, says how to attach it.
 */
TriggerData *
trigger_fired(FunctionCallInfo fcinfo, const char *function, bool before, bool row, const char *hint)
{
	TriggerData *td = trigger_data(fcinfo, function);
	bool		is_before = TRIGGER_FIRED_BEFORE(td->tg_event);
	bool		is_row = TRIGGER_FIRED_FOR_ROW(td->tg_event);

	if (is_before != before || is_row != row || (!before && TRIGGER_FIRED_INSTEAD(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("easeinv.%s() must be fired %s, FOR EACH %s", function,
						before ? "BEFORE" : "AFTER", row ? "ROW" : "STATEMENT"),
				 hint ? errhint("%s", hint) : 0));
	return td;
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
